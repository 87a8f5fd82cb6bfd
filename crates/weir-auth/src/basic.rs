//! Basic authentication as Tyk does it (gateway/mw_basic_auth.go, api.go): the key a user is
//! stored under, the password in `basic_auth_data` (hashed when the key is written, bcrypt by
//! default), checking a request's password, with a cache of bcrypt successes, and reading the
//! `Authorization: Basic` header.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::token::{self, HashAlgorithm};

/// The bcrypt cost Tyk hashes passwords with.
pub const BCRYPT_COST: u32 = 10;

/// `basic_auth_data` on a session. Empty fields are left out when written, as Tyk writes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BasicAuthData {
    /// The password: plain text, a bcrypt hash, or a hex digest, as `hash_type` says.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `""` (plain text), `bcrypt`, `sha256`, `murmur32`, `murmur64` or `murmur128`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash_type: String,
    /// Every other field, as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl BasicAuthData {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.password.is_empty() && self.hash_type.is_empty() && self.rest.is_empty()
    }

    /// Tyk's `IsBasicAuth`: the key is a basic-auth user (it has a password).
    pub fn is_set(&self) -> bool {
        !self.password.is_empty()
    }
}

/// Why basic-auth data could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum BasicAuthError {
    /// bcrypt reads 72 bytes at most. Tyk then stores the password in plain text; Weir
    /// refuses it instead.
    #[error("password is longer than 72 bytes, the most bcrypt can hash")]
    PasswordTooLong,
    /// bcrypt failed otherwise.
    #[error("could not hash the password: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
}

/// The key a basic-auth user is stored under, as Tyk names it when tyk.conf sets no
/// `hash_key_function`: `org_id + username` (a leading `org_id` in the username is not
/// repeated). Tyk also falls back to this name when a hash function is set, so it is always
/// found; [`lookup_keys`] gives every name Tyk tries.
pub fn key_for_user(org_id: &str, username: &str) -> String {
    key_for_user_with(org_id, username, None)
}

/// The key a basic-auth user is stored under (Tyk's `generateToken(org, username)`): the
/// username, less a leading `org_id`, in a token naming `hash` (tyk.conf `hash_key_function`),
/// or the legacy `org_id + username` when none is set. At rest the key is hashed like any
/// other ([`token::stored_name`]).
pub fn key_for_user_with(org_id: &str, username: &str, hash: Option<HashAlgorithm>) -> String {
    let id = username.strip_prefix(org_id).unwrap_or(username);
    token::generate(org_id, Some(id), hash)
}

/// The keys to look a username up under, in Tyk's order: the key [`key_for_user_with`] makes,
/// the username itself (a key whose custom id is the username), and, with a
/// `hash_key_function` set, the legacy `org_id + username` of keys made before it was.
pub fn lookup_keys(org_id: &str, username: &str, hash: Option<HashAlgorithm>) -> Vec<String> {
    let mut keys = vec![
        key_for_user_with(org_id, username, hash),
        username.to_string(),
    ];
    if hash.is_some() {
        keys.push(key_for_user(org_id, username));
    }
    keys.dedup();
    keys
}

/// How tyk.conf `basic_auth_hash_key_function` hashes a new password: bcrypt unless it names
/// one of Tyk's digests (an empty or unknown name means bcrypt, as in Tyk).
fn storage_hash(function: &str) -> Option<HashAlgorithm> {
    match function {
        "sha256" | "murmur32" | "murmur64" | "murmur128" => HashAlgorithm::from_name(function).ok(),
        _ => None,
    }
}

/// Hashes a new password for storage, as Tyk does when a basic-auth key is created: bcrypt
/// (cost 10, `$2a$` like Go's) or the hex digest `function` names, and sets `hash_type`.
pub fn hash_password_for_storage(
    data: &mut BasicAuthData,
    function: &str,
) -> Result<(), BasicAuthError> {
    match storage_hash(function) {
        Some(alg) => {
            data.password = alg.hex_digest(data.password.as_bytes());
            data.hash_type = alg.name().to_string();
        }
        None => {
            // Go's limit: 72 bytes is allowed (bcrypt reads 72), 73 is refused.
            if data.password.len() > 72 {
                return Err(BasicAuthError::PasswordTooLong);
            }
            let parts = bcrypt::hash_with_result(&data.password, BCRYPT_COST)?;
            data.password = parts.format_for_version(bcrypt::Version::TwoA);
            data.hash_type = "bcrypt".to_string();
        }
    }
    Ok(())
}

/// What Tyk stores when a key is written through the control API. Creating (`stored` is
/// `None`) hashes the password; an update hashes it only when it differs from the stored
/// one, and one without a password keeps the stored data.
///
/// When an update sends the stored hash back, Weir also keeps the stored `hash_type` (Tyk
/// takes the request's, which breaks the login when a client leaves it out).
pub fn prepare_for_storage(
    new: &mut BasicAuthData,
    stored: Option<&BasicAuthData>,
    function: &str,
) -> Result<(), BasicAuthError> {
    match stored {
        _ if !new.is_set() => {
            if let Some(old) = stored.filter(|o| o.is_set()) {
                new.password = old.password.clone();
                new.hash_type = old.hash_type.clone();
            }
            Ok(())
        }
        Some(old) if old.password == new.password => {
            new.hash_type = old.hash_type.clone();
            Ok(())
        }
        _ => hash_password_for_storage(new, function),
    }
}

/// Checks request passwords against stored ones. Successful bcrypt checks are remembered for
/// a while (bcrypt costs tens of milliseconds, and a client sends the same password with every
/// request), in a bounded map keyed by a SHA-256 of the stored hash and the given password,
/// never the password itself. Failures are not remembered.
pub struct PasswordCheck {
    cache: Option<Mutex<HashMap<[u8; 32], Instant>>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for PasswordCheck {
    /// 10,000 entries for 60 s (Tyk's default `basic_auth.cache_ttl`).
    fn default() -> PasswordCheck {
        PasswordCheck::new(10_000, Duration::from_secs(60))
    }
}

impl PasswordCheck {
    /// A checker remembering up to `capacity` bcrypt successes for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> PasswordCheck {
        PasswordCheck {
            cache: (capacity > 0).then(|| Mutex::new(HashMap::new())),
            capacity,
            ttl,
        }
    }

    /// A checker that runs bcrypt every time (`basic_auth.disable_caching`).
    pub fn uncached() -> PasswordCheck {
        PasswordCheck::new(0, Duration::ZERO)
    }

    /// True when `given` is the password `stored` holds. `hash_type` `""` compares plain text
    /// and the digests compare hex, both in constant time; `bcrypt` and any unknown type go to
    /// bcrypt, as in Tyk. An empty stored password matches nothing (Tyk lets an empty password
    /// in for a key that has none).
    pub fn verify<S: AsRef<BasicAuthData> + ?Sized>(&self, stored: &S, given: &str) -> bool {
        let stored = stored.as_ref();
        if stored.password.is_empty() {
            return false;
        }
        match stored.hash_type.as_str() {
            "" => ct_eq(stored.password.as_bytes(), given.as_bytes()),
            "sha256" | "murmur32" | "murmur64" | "murmur128" => {
                let alg = HashAlgorithm::from_name(&stored.hash_type).unwrap_or_else(|f| f);
                ct_eq(
                    stored.password.as_bytes(),
                    alg.hex_digest(given.as_bytes()).as_bytes(),
                )
            }
            _ => self.verify_bcrypt(&stored.password, given),
        }
    }

    /// The answer when it needs no bcrypt run (plain text, a digest, an empty password, or a
    /// remembered success); `None` when [`PasswordCheck::verify`] would run bcrypt, which takes
    /// tens of milliseconds and belongs off an async executor's thread.
    pub fn quick<S: AsRef<BasicAuthData> + ?Sized>(&self, stored: &S, given: &str) -> Option<bool> {
        let data = stored.as_ref();
        match data.hash_type.as_str() {
            _ if data.password.is_empty() => Some(false),
            "" | "sha256" | "murmur32" | "murmur64" | "murmur128" => Some(self.verify(data, given)),
            _ => self.remembered(&data.password, given).then_some(true),
        }
    }

    fn cache_id(hash: &str, given: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        // Length-prefixed so no two (hash, password) pairs hash the same input.
        h.update((hash.len() as u64).to_be_bytes());
        h.update(hash);
        h.update(given);
        h.finalize().into()
    }

    fn remembered(&self, hash: &str, given: &str) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        let id = Self::cache_id(hash, given);
        cache
            .lock()
            .is_ok_and(|map| map.get(&id).is_some_and(|at| at.elapsed() < self.ttl))
    }

    fn verify_bcrypt(&self, hash: &str, given: &str) -> bool {
        let Some(cache) = &self.cache else {
            return bcrypt::verify(given, hash).unwrap_or(false);
        };
        if self.remembered(hash, given) {
            return true;
        }
        // bcrypt runs outside the lock so other requests are not held up.
        if !bcrypt::verify(given, hash).unwrap_or(false) {
            return false;
        }
        let id = Self::cache_id(hash, given);
        let now = Instant::now();
        if let Ok(mut map) = cache.lock() {
            if map.len() >= self.capacity {
                map.retain(|_, at| now.duration_since(*at) < self.ttl);
            }
            if map.len() >= self.capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
            map.insert(id, now);
        }
        true
    }
}

impl AsRef<BasicAuthData> for BasicAuthData {
    fn as_ref(&self) -> &BasicAuthData {
        self
    }
}

impl AsRef<BasicAuthData> for crate::session::Session {
    fn as_ref(&self) -> &BasicAuthData {
        &self.basic_auth_data
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Why an `Authorization` value is not basic credentials; the message is Tyk's (answered 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not two words.
    Header,
    /// The second word is not base64.
    Encoding,
    /// No `:` in the decoded value, or not UTF-8.
    Values,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Malformed {}

impl Malformed {
    /// Tyk's message, for the 400 answer.
    pub fn message(self) -> &'static str {
        match self {
            Malformed::Header => {
                "Attempted access with malformed header, header not in basic auth format"
            }
            Malformed::Encoding => {
                "Attempted access with malformed header, auth data not encoded correctly"
            }
            Malformed::Values => {
                "Attempted access with malformed header, values not in basic auth format"
            }
        }
    }
}

/// Reads `Basic <base64 of user:password>` into (user, password), or why not. As in Tyk the
/// value must be exactly two words split by one space, and the first is not checked. Unlike
/// Tyk, which refuses a second `:`, the password runs from the first `:` on (RFC 7617), so
/// passwords with colons work.
pub fn parse_basic_checked(header_value: &[u8]) -> Result<(String, String), Malformed> {
    let mut words = header_value.split(|b| *b == b' ');
    let (Some(_scheme), Some(data), None) = (words.next(), words.next(), words.next()) else {
        return Err(Malformed::Header);
    };
    let raw = STANDARD.decode(data).map_err(|_| Malformed::Encoding)?;
    let text = String::from_utf8(raw).map_err(|_| Malformed::Values)?;
    let (user, password) = text.split_once(':').ok_or(Malformed::Values)?;
    Ok((user.to_string(), password.to_string()))
}

/// [`parse_basic_checked`] without the reason.
pub fn parse_basic(header_value: &[u8]) -> Option<(String, String)> {
    parse_basic_checked(header_value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(password: &str) -> BasicAuthData {
        BasicAuthData {
            password: password.into(),
            ..Default::default()
        }
    }

    #[test]
    fn plain_passwords_compare_exactly() {
        let check = PasswordCheck::default();
        let stored = plain("s3cret");
        assert!(check.verify(&stored, "s3cret"));
        assert!(!check.verify(&stored, "s3cre"));
        assert!(!check.verify(&stored, "s3cret "));
        assert!(!check.verify(&plain(""), ""));
    }

    #[test]
    fn quick_answers_only_what_needs_no_bcrypt() {
        let check = PasswordCheck::default();
        assert_eq!(check.quick(&plain("a"), "a"), Some(true));
        assert_eq!(check.quick(&plain("a"), "b"), Some(false));
        assert_eq!(check.quick(&plain(""), ""), Some(false));
        let mut data = plain("s3cret");
        hash_password_for_storage(&mut data, "bcrypt").unwrap();
        assert_eq!(check.quick(&data, "s3cret"), None, "bcrypt has not run yet");
        assert!(check.verify(&data, "s3cret"));
        assert_eq!(check.quick(&data, "s3cret"), Some(true), "remembered");
        assert_eq!(
            check.quick(&data, "wrong"),
            None,
            "failures are not remembered"
        );
    }

    #[test]
    fn bcrypt_passwords_right_and_wrong_with_go_style_hashes() {
        let mut data = plain("pa:ss");
        hash_password_for_storage(&mut data, "bcrypt").unwrap();
        assert_eq!(data.hash_type, "bcrypt");
        assert!(data.password.starts_with("$2a$10$"), "{}", data.password);
        let check = PasswordCheck::default();
        assert!(check.verify(&data, "pa:ss"));
        assert!(!check.verify(&data, "pa:sS"));
        // A published `$2a$` vector (Openwall crypt_blowfish), the form Go's bcrypt writes.
        let vector = BasicAuthData {
            password: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".into(),
            hash_type: "bcrypt".into(),
            ..Default::default()
        };
        assert!(check.verify(&vector, "U*U"));
        assert!(!check.verify(&vector, "U*V"));
        let fresh = bcrypt::hash_with_result("password", 4).unwrap();
        let made_here = BasicAuthData {
            password: fresh.format_for_version(bcrypt::Version::TwoA),
            ..vector
        };
        assert!(check.verify(&made_here, "password"));
        // An unknown hash type is checked as bcrypt, as in Tyk; a broken hash matches nothing.
        let odd = BasicAuthData {
            hash_type: "scrypt".into(),
            ..made_here
        };
        assert!(check.verify(&odd, "password"));
        let broken = BasicAuthData {
            password: "$2a$nope".into(),
            hash_type: "bcrypt".into(),
            ..Default::default()
        };
        assert!(!check.verify(&broken, "password"));
    }

    #[test]
    fn the_cache_makes_a_repeated_bcrypt_check_fast_and_keeps_failures_out() {
        let mut data = plain("hunter2");
        hash_password_for_storage(&mut data, "").unwrap();
        let check = PasswordCheck::default();
        let t = Instant::now();
        assert!(check.verify(&data, "hunter2"));
        let first = t.elapsed();
        let t = Instant::now();
        assert!(check.verify(&data, "hunter2"));
        let second = t.elapsed();
        assert!(
            second < Duration::from_millis(1),
            "first {first:?}, second {second:?}"
        );
        assert!(first > second * 10, "first {first:?}, second {second:?}");
        // A wrong password is never served from the cache.
        assert!(!check.verify(&data, "hunter3"));
        assert!(!check.verify(&data, "hunter3"));
        // Another stored hash for the same password is checked on its own.
        let mut other = plain("hunter2");
        hash_password_for_storage(&mut other, "bcrypt").unwrap();
        assert!(!check.verify(&other, "hunter"));
    }

    #[test]
    fn the_cache_is_bounded_and_entries_expire() {
        let hashes: Vec<BasicAuthData> = (0..3)
            .map(|i| BasicAuthData {
                password: bcrypt::hash_with_result(format!("p{i}"), 4)
                    .unwrap()
                    .format_for_version(bcrypt::Version::TwoA),
                hash_type: "bcrypt".into(),
                ..Default::default()
            })
            .collect();
        let check = PasswordCheck::new(2, Duration::from_secs(60));
        for (i, h) in hashes.iter().enumerate() {
            assert!(check.verify(h, &format!("p{i}")));
        }
        assert_eq!(check.cache.as_ref().unwrap().lock().unwrap().len(), 2);
        let expiring = PasswordCheck::new(10, Duration::ZERO);
        assert!(expiring.verify(&hashes[0], "p0"));
        assert!(expiring.verify(&hashes[0], "p0"));
        assert!(PasswordCheck::uncached().verify(&hashes[1], "p1"));
        assert!(PasswordCheck::uncached().cache.is_none());
    }

    #[test]
    fn digests_hash_at_creation_and_compare_hex() {
        for function in ["sha256", "murmur32", "murmur64", "murmur128"] {
            let mut data = plain("open sesame");
            hash_password_for_storage(&mut data, function).unwrap();
            assert_eq!(data.hash_type, function);
            assert_ne!(data.password, "open sesame");
            let check = PasswordCheck::uncached();
            assert!(check.verify(&data, "open sesame"), "{function}");
            assert!(!check.verify(&data, "open sesamE"), "{function}");
        }
        let mut data = plain("abc");
        hash_password_for_storage(&mut data, "sha256").unwrap();
        assert_eq!(
            data.password,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn long_passwords_are_refused_not_stored_in_plain_text() {
        let mut data = plain(&"x".repeat(73));
        assert!(matches!(
            hash_password_for_storage(&mut data, "bcrypt"),
            Err(BasicAuthError::PasswordTooLong)
        ));
        let mut ok = plain(&"x".repeat(72));
        hash_password_for_storage(&mut ok, "bcrypt").unwrap();
    }

    #[test]
    fn updates_rehash_only_a_changed_password_and_keep_a_missing_one() {
        let mut stored = plain("one");
        hash_password_for_storage(&mut stored, "sha256").unwrap();
        let mut same = BasicAuthData {
            password: stored.password.clone(),
            ..Default::default()
        };
        prepare_for_storage(&mut same, Some(&stored), "sha256").unwrap();
        assert_eq!(same, stored);
        let mut changed = plain("two");
        prepare_for_storage(&mut changed, Some(&stored), "sha256").unwrap();
        assert!(PasswordCheck::uncached().verify(&changed, "two"));
        let mut missing = BasicAuthData::default();
        prepare_for_storage(&mut missing, Some(&stored), "sha256").unwrap();
        assert_eq!(missing, stored);
        let mut created = plain("three");
        prepare_for_storage(&mut created, None, "murmur64").unwrap();
        assert_eq!(created.hash_type, "murmur64");
    }

    #[test]
    fn a_users_key_is_the_org_and_username_token() {
        assert_eq!(key_for_user("org1", "alice"), "org1alice");
        assert_eq!(key_for_user("org1", "org1alice"), "org1alice");
        let t = key_for_user_with("org1", "alice", Some(HashAlgorithm::Murmur64));
        let raw = String::from_utf8(STANDARD.decode(&t).unwrap()).unwrap();
        assert_eq!(raw, r#"{"org":"org1","id":"alice","h":"murmur64"}"#);
        assert_eq!(
            lookup_keys("org1", "alice", Some(HashAlgorithm::Sha256)),
            [
                key_for_user_with("org1", "alice", Some(HashAlgorithm::Sha256)),
                "alice".into(),
                "org1alice".into()
            ]
        );
        assert_eq!(lookup_keys("org1", "alice", None), ["org1alice", "alice"]);
    }

    #[test]
    fn headers_parse_and_malformed_ones_say_why() {
        let header = |s: &str| format!("Basic {}", STANDARD.encode(s));
        assert_eq!(
            parse_basic(header("user:pass").as_bytes()),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(
            parse_basic(header("user:pa:ss").as_bytes()),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic(header(":").as_bytes()),
            Some((String::new(), String::new()))
        );
        assert_eq!(parse_basic_checked(b"Basic"), Err(Malformed::Header));
        assert_eq!(parse_basic_checked(b""), Err(Malformed::Header));
        assert_eq!(
            parse_basic_checked(b"Basic  dXNlcjpwYXNz"),
            Err(Malformed::Header)
        );
        assert_eq!(
            parse_basic_checked(b"Basic dXNlcjpwYXNz extra"),
            Err(Malformed::Header)
        );
        assert_eq!(parse_basic_checked(b"Basic !!!"), Err(Malformed::Encoding));
        assert_eq!(
            parse_basic_checked(b"Basic dXNlcjpwYXNz="),
            Err(Malformed::Encoding)
        );
        assert_eq!(
            parse_basic_checked(header("nocolon").as_bytes()),
            Err(Malformed::Values)
        );
        let latin1 = format!("Basic {}", STANDARD.encode(b"us\xe9r:p"));
        assert_eq!(
            parse_basic_checked(latin1.as_bytes()),
            Err(Malformed::Values)
        );
        assert_eq!(
            Malformed::Encoding.to_string(),
            "Attempted access with malformed header, auth data not encoded correctly"
        );
    }

    #[test]
    fn sessions_without_basic_auth_data_read_back_without_it() {
        let s: crate::session::Session = serde_json::from_str(r#"{"org_id": "o"}"#).unwrap();
        let back = serde_json::to_value(&s).unwrap();
        assert!(back.get("basic_auth_data").is_none());
        let s: crate::session::Session = serde_json::from_str(
            r#"{"basic_auth_data": {"password": "$2a$10$x", "hash_type": "bcrypt"}}"#,
        )
        .unwrap();
        assert_eq!(s.basic_auth_data.hash_type, "bcrypt");
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["basic_auth_data"]["password"], "$2a$10$x");
        // A session can be checked directly.
        let s: crate::session::Session =
            serde_json::from_str(r#"{"basic_auth_data": {"password": "pw"}}"#).unwrap();
        assert!(PasswordCheck::default().verify(&s, "pw"));
        assert!(!PasswordCheck::default().verify(&s, "pW"));
    }
}
