//! Identifier generators: `uuid_v5` (a method), `uuid_v7()`, `nanoid()` and
//! `ksuid()`. Built by hand on `sha1` and the OS random source the crate already
//! uses, rather than pulling extra `uuid` features in for the whole workspace.

use super::methods::expected;
use crate::value::Value;
use sha1::{Digest, Sha1};
use uuid::Uuid;

/// `nanoid`'s default alphabet (URL-safe, 64 symbols).
const NANOID_ALPHABET: &str = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// KSUID timestamps count seconds from this Unix time (the format's epoch).
const KSUID_EPOCH: i64 = 1_400_000_000;

/// `n` random bytes from the OS generator (via v4 UUIDs, 16 bytes at a time;
/// their version/variant bits are fixed, so only the 122 free bits are drawn
/// from: bytes 6 and 8 are taken from a second UUID's free byte).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        let a = *Uuid::new_v4().as_bytes();
        let b = *Uuid::new_v4().as_bytes();
        for (i, byte) in a.iter().enumerate() {
            // Bytes 6 and 8 carry the version and variant; replace them.
            out.push(if i == 6 || i == 8 { b[i + 1] } else { *byte });
        }
    }
    out.truncate(n);
    out
}

/// `uuid_v5(ns?)` on a string: a name-based UUID. `ns` is `dns`, `url`, `oid`,
/// `x500` or a UUID; without it the nil UUID is the namespace. Null stays null.
pub fn uuid_v5(t: &Value, ns: Option<&Value>) -> Result<Value, String> {
    let name = match t {
        Value::Null => return Ok(Value::Null),
        Value::String(s) => s.as_bytes(),
        Value::Bytes(b) => b.as_slice(),
        v => return Err(expected("string", v)),
    };
    let ns = match ns {
        None | Some(Value::Null) => Uuid::nil(),
        Some(Value::String(s)) => match s.as_str() {
            "dns" => Uuid::NAMESPACE_DNS,
            "url" => Uuid::NAMESPACE_URL,
            "oid" => Uuid::NAMESPACE_OID,
            "x500" => Uuid::NAMESPACE_X500,
            other => Uuid::parse_str(other)
                .map_err(|e| format!("invalid namespace UUID {other:?}: {e}"))?,
        },
        Some(v) => return Err(expected("string", v)),
    };
    let mut h = Sha1::new();
    h.update(ns.as_bytes());
    h.update(name);
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Value::String(Uuid::from_bytes(b).to_string()))
}

/// `uuid_v7()`: a time-ordered UUID from the current time (or `unix_ms`).
pub fn uuid_v7(unix_ms: Option<i64>) -> Result<Value, String> {
    let ms = match unix_ms {
        Some(ms) => ms,
        None => {
            let (s, n) = crate::time::now_unix();
            s.saturating_mul(1000)
                .saturating_add(i64::from(n / 1_000_000))
        }
    };
    let ms = u64::try_from(ms).map_err(|_| "uuid_v7 needs a time after 1970".to_string())?;
    if ms >= 1 << 48 {
        return Err("uuid_v7 time is too far in the future".into());
    }
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&random_bytes(10));
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Value::String(Uuid::from_bytes(b).to_string()))
}

/// `nanoid(length = 21, alphabet?)`: random symbols of `alphabet`, drawn
/// without modulo bias.
pub fn nanoid(length: i64, alphabet: Option<&str>) -> Result<Value, String> {
    let symbols: Vec<char> = alphabet.unwrap_or(NANOID_ALPHABET).chars().collect();
    if symbols.is_empty() || symbols.len() > 255 {
        return Err("alphabet must hold between 1 and 255 symbols".into());
    }
    let len = usize::try_from(length)
        .ok()
        .filter(|l| (1..=1 << 16).contains(l))
        .ok_or_else(|| format!("invalid nanoid length {length}"))?;
    // Mask random bytes to the smallest power of two covering the alphabet and
    // reject the overshoot, so every symbol is equally likely.
    let mask = (symbols.len().next_power_of_two() - 1).max(1);
    let mut out = String::with_capacity(len);
    while out.chars().count() < len {
        for byte in random_bytes(len * 2) {
            let i = usize::from(byte) & mask;
            if let Some(c) = symbols.get(i) {
                out.push(*c);
                if out.chars().count() == len {
                    break;
                }
            }
        }
    }
    Ok(Value::String(out))
}

/// `ksuid()`: 27 base62 characters encoding a 4-byte timestamp (seconds since
/// the KSUID epoch) and 16 random bytes.
pub fn ksuid() -> Value {
    let secs = crate::time::now_unix().0.saturating_sub(KSUID_EPOCH);
    let stamp = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
    let mut raw = stamp.to_be_bytes().to_vec();
    raw.extend(random_bytes(16));
    Value::String(base62_fixed(&raw, 27))
}

/// Big-endian bytes as base62 (`0-9A-Za-z`), left-padded with `0` to `width`.
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut num: Vec<u8> = bytes.to_vec();
    let mut out = Vec::new();
    // Repeated long division of the byte string by 62.
    while num.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        out.push(DIGITS[rem as usize]);
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v5_is_deterministic_per_namespace() {
        let a = uuid_v5(&Value::from("weir"), Some(&Value::from("url"))).unwrap();
        let b = uuid_v5(&Value::from("weir"), Some(&Value::from("url"))).unwrap();
        let c = uuid_v5(&Value::from("weir"), Some(&Value::from("dns"))).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // RFC 4122 appendix B's example: "www.example.com" in the DNS namespace.
        assert_eq!(
            uuid_v5(&Value::from("www.example.com"), Some(&Value::from("dns"))).unwrap(),
            Value::from("2ed6657d-e927-568b-95e1-2665a8aea6a2")
        );
        assert_eq!(uuid_v5(&Value::Null, None).unwrap(), Value::Null);
        assert!(uuid_v5(&Value::from("x"), Some(&Value::from("nope"))).is_err());
        assert!(uuid_v5(&Value::Int(3), None).is_err());
    }

    #[test]
    fn uuid_v7_orders_by_time() {
        let a = crate::json::to_go_string(&uuid_v7(Some(1_000)).unwrap());
        let b = crate::json::to_go_string(&uuid_v7(Some(2_000)).unwrap());
        assert!(a < b);
        assert_eq!(&a[14..15], "7");
        assert!(a.starts_with("00000000-03e8"));
        assert!(uuid_v7(Some(-1)).is_err());
        assert!(uuid_v7(None).is_ok());
    }

    #[test]
    fn nanoid_and_ksuid_shapes() {
        let n = crate::json::to_go_string(&nanoid(21, None).unwrap());
        assert_eq!(n.len(), 21);
        assert!(n.chars().all(|c| NANOID_ALPHABET.contains(c)));
        let n = crate::json::to_go_string(&nanoid(8, Some("ab")).unwrap());
        assert!(n.len() == 8 && n.chars().all(|c| c == 'a' || c == 'b'));
        assert!(nanoid(0, None).is_err());
        assert!(nanoid(3, Some("")).is_err());
        let k = crate::json::to_go_string(&ksuid());
        assert_eq!(k.len(), 27);
        assert_eq!(base62_fixed(&[0, 0, 0, 62], 3), "010");
    }
}
