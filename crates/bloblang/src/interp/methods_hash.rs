//! `hash(algorithm, key?, polynomial?)`: digests as bytes, as Bento returns them.

use hmac::{Mac, SimpleHmac};
use sha2::Digest;

/// Hashes `data`. `key` is used by the `hmac_*` algorithms, `polynomial` by
/// `crc32` (`IEEE`, `Castagnoli` or `Koopman`).
pub fn hash(data: &[u8], algorithm: &str, key: &[u8], polynomial: &str) -> Result<Vec<u8>, String> {
    Ok(match algorithm {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha3_256" => sha3::Sha3_256::digest(data).to_vec(),
        "sha3_512" => sha3::Sha3_512::digest(data).to_vec(),
        "hmac_md5" => hmac::<md5::Md5>(key, data)?,
        "hmac_sha1" => hmac::<sha1::Sha1>(key, data)?,
        "hmac_sha256" => hmac::<sha2::Sha256>(key, data)?,
        "hmac_sha512" => hmac::<sha2::Sha512>(key, data)?,
        "crc32" => crc32(data, polynomial)?.to_be_bytes().to_vec(),
        // Go's hash/fnv New32 is FNV-1 (multiply, then xor); Bento prints the sum in decimal.
        "fnv32" => fnv1_32(data).to_string().into_bytes(),
        "xxhash64" => xxhash_rust::xxh64::xxh64(data, 0).to_string().into_bytes(),
        other => return Err(format!("unrecognised hash type: {other}")),
    })
}

fn hmac<D>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String>
where
    D: Digest + hmac::digest::core_api::BlockSizeUser,
{
    let mut mac =
        <SimpleHmac<D> as hmac::digest::KeyInit>::new_from_slice(key).map_err(|e| e.to_string())?;
    Mac::update(&mut mac, data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Table-free reflected CRC-32 over one of Go's predefined polynomials.
fn crc32(data: &[u8], polynomial: &str) -> Result<u32, String> {
    let poly: u32 = match polynomial {
        "" | "IEEE" => 0xEDB8_8320,
        "Castagnoli" => 0x82F6_3B78,
        "Koopman" => 0xEB31_D82E,
        other => return Err(format!("unsupported crc32 hash polynomial {other}")),
    };
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    Ok(!crc)
}

fn fnv1_32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_digests() {
        let h = |a: &str, k: &str, p: &str| hash(b"hello world", a, k.as_bytes(), p).unwrap();
        assert_eq!(
            hex(&h("sha1", "", "")),
            "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"
        );
        assert_eq!(
            hex(&h("hmac_sha1", "static-key", "")),
            "d87e5f068fa08fe90bb95bc7c8344cb809179d76"
        );
        assert_eq!(hex(&h("md5", "", "")), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(hex(&h("crc32", "", "")), "0d4a1185");
        assert_eq!(hex(&h("crc32", "", "Castagnoli")), "c99465aa");
        assert_eq!(hex(&h("crc32", "", "Koopman")), "df373d3c");
        assert_eq!(h("fnv32", "", ""), b"1418570095");
        assert_eq!(h("xxhash64", "", ""), b"5020219685658847592");
        assert!(hash(b"", "nope", b"", "").is_err());
    }
}
