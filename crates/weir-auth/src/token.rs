//! Key tokens and their hashes, as Tyk makes them: a generated key is base64 of
//! `{"org":…,"id":…,"h":…}` (`h` names the hash function), or the legacy `org + id`; at rest a
//! key is named by its hash, chosen by the token's own `h` (legacy tokens: murmur32).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

/// `{"` in base64: a token that starts so may be a JSON token.
const JSON_TOKEN_PREFIX: &str = "ey";

/// The hash a token names when its `h` is not one Tyk knows (Tyk falls back to it, logging).
pub const DEFAULT_HASH: HashAlgorithm = HashAlgorithm::Murmur64;

/// Tyk's `hash_key_function` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `murmur32`, also what an empty name means (legacy keys).
    Murmur32,
    /// `murmur64`: the first half of MurmurHash3 x64 128.
    Murmur64,
    /// `murmur128`.
    Murmur128,
    /// `sha256`.
    Sha256,
}

impl HashAlgorithm {
    /// The algorithm a name gives; `Err` carries the fallback (murmur64) for an unknown name,
    /// as Tyk hashes with it and logs.
    pub fn from_name(name: &str) -> Result<HashAlgorithm, HashAlgorithm> {
        match name {
            "" | "murmur32" => Ok(HashAlgorithm::Murmur32),
            "murmur64" => Ok(HashAlgorithm::Murmur64),
            "murmur128" => Ok(HashAlgorithm::Murmur128),
            "sha256" => Ok(HashAlgorithm::Sha256),
            _ => Err(DEFAULT_HASH),
        }
    }

    /// Its name in tokens and tyk.conf.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Murmur32 => "murmur32",
            HashAlgorithm::Murmur64 => "murmur64",
            HashAlgorithm::Murmur128 => "murmur128",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// The hex digest of `input`, bytes in the order Go's `hash.Hash.Sum` gives (big-endian).
    pub fn hex_digest(self, input: &[u8]) -> String {
        let bytes: Vec<u8> = match self {
            HashAlgorithm::Murmur32 => murmur3::murmur3_32(&mut &*input, 0)
                .unwrap_or_default()
                .to_be_bytes()
                .to_vec(),
            HashAlgorithm::Murmur64 => {
                let (h1, _) = x64_128(input);
                h1.to_be_bytes().to_vec()
            }
            HashAlgorithm::Murmur128 => {
                let (h1, h2) = x64_128(input);
                let mut out = h1.to_be_bytes().to_vec();
                out.extend_from_slice(&h2.to_be_bytes());
                out
            }
            HashAlgorithm::Sha256 => sha2::Sha256::digest(input).to_vec(),
        };
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
        out
    }
}

/// MurmurHash3 x64 128 (seed 0) as its two 64-bit halves.
fn x64_128(input: &[u8]) -> (u64, u64) {
    let h = murmur3::murmur3_x64_128(&mut &*input, 0).unwrap_or_default();
    (h as u64, (h >> 64) as u64)
}

/// A new key for `org`: a JSON token naming `hash` when one is given, else the legacy
/// `org + id`. `id` is a random UUID (hex, no dashes) unless given.
pub fn generate(org: &str, id: Option<&str>, hash: Option<HashAlgorithm>) -> String {
    let id = id
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    match hash {
        Some(h) => {
            // Tyk's field order: org, id, h.
            let quoted = |s: &str| serde_json::Value::from(s).to_string();
            let json = format!(
                r#"{{"org":{},"id":{},"h":"{}"}}"#,
                quoted(org),
                quoted(&id),
                h.name()
            );
            STANDARD.encode(json)
        }
        None => format!("{org}{id}"),
    }
}

fn json_field(token: &str, field: &str) -> Option<String> {
    if !token.starts_with(JSON_TOKEN_PREFIX) {
        return None;
    }
    let raw = STANDARD.decode(token).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

/// The hash function a token names (`h`), or murmur32 for a legacy token.
pub fn token_hash(token: &str) -> HashAlgorithm {
    let name = json_field(token, "h").unwrap_or_default();
    HashAlgorithm::from_name(&name).unwrap_or_else(|fallback| fallback)
}

/// The organisation a token belongs to: a JSON token's `org`, else a legacy token's first
/// 24 characters when they are hex (a Mongo object id), else none.
pub fn token_org(token: &str) -> Option<String> {
    if let Some(org) = json_field(token, "org") {
        return Some(org);
    }
    let head = token.get(..24)?;
    (token.len() > 24 && head.bytes().all(|b| b.is_ascii_hexdigit())).then(|| head.to_string())
}

/// The name a key has at rest: its hash by the function its token names, or the key itself
/// when hashing is off (`hash_keys: false`).
pub fn stored_name(key: &str, hash_keys: bool) -> String {
    if hash_keys {
        token_hash(key).hex_digest(key.as_bytes())
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_and_sha_digests_match_the_published_vectors() {
        // MurmurHash3 x86 32 of "hello" with seed 0 is 0x248bfa47.
        assert_eq!(HashAlgorithm::Murmur32.hex_digest(b"hello"), "248bfa47");
        assert_eq!(HashAlgorithm::Murmur32.hex_digest(b""), "00000000");
        assert_eq!(
            HashAlgorithm::Sha256.hex_digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // murmur64 is the first half of murmur128.
        let full = HashAlgorithm::Murmur128.hex_digest(b"key");
        assert_eq!(full.len(), 32);
        assert_eq!(HashAlgorithm::Murmur64.hex_digest(b"key"), full[..16]);
    }

    #[test]
    fn a_generated_token_names_its_org_and_hash() {
        let t = generate("org1", Some("abc"), Some(HashAlgorithm::Sha256));
        assert!(t.starts_with(JSON_TOKEN_PREFIX));
        let raw = String::from_utf8(STANDARD.decode(&t).unwrap()).unwrap();
        assert_eq!(raw, r#"{"org":"org1","id":"abc","h":"sha256"}"#);
        assert_eq!(token_hash(&t), HashAlgorithm::Sha256);
        assert_eq!(token_org(&t).as_deref(), Some("org1"));
        assert_eq!(
            stored_name(&t, true),
            HashAlgorithm::Sha256.hex_digest(t.as_bytes())
        );
        assert_eq!(stored_name(&t, false), t);
    }

    #[test]
    fn legacy_tokens_hash_with_murmur32_and_unknown_names_with_murmur64() {
        let legacy = generate("5e9d9544a1dcd60001d0ed20", Some("ffff"), None);
        assert_eq!(legacy, "5e9d9544a1dcd60001d0ed20ffff");
        assert_eq!(token_hash(&legacy), HashAlgorithm::Murmur32);
        assert_eq!(
            token_org(&legacy).as_deref(),
            Some("5e9d9544a1dcd60001d0ed20")
        );
        assert_eq!(token_org("short"), None);
        let odd = STANDARD.encode(r#"{"org":"o","id":"i","h":"MURMUR64"}"#);
        assert_eq!(token_hash(&odd), HashAlgorithm::Murmur64);
        assert_eq!(
            HashAlgorithm::from_name("murmur3"),
            Err(HashAlgorithm::Murmur64)
        );
    }
}
