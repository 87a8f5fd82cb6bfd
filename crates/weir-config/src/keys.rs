//! tyk.conf's key settings: how keys are hashed and listed, where policies come from, the
//! rate-limit headers, and the Redis `storage` block that makes several nodes one cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ConfigError;

/// Key storage and limits, gateway-wide.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySettings {
    /// `hash_keys` (default true, as Tyk's shipped tyk.conf): keys are stored by their hash.
    pub hash_keys: bool,
    /// `hash_key_function` (default `murmur64`): the hash new keys name.
    pub hash_key_function: String,
    /// `enable_hashed_keys_listing`: `GET /tyk/keys` lists hashes when keys are hashed.
    pub enable_hashed_keys_listing: bool,
    /// `allow_master_keys`: a key without access rights (or policies) may be created.
    pub allow_master_keys: bool,
    /// `basic_auth_hash_key_function`: `bcrypt` hashes basic-auth passwords at creation.
    pub basic_auth_hash_key_function: String,
    /// `rate_limit_response_headers: "rate_limits"`: X-RateLimit-* describe the rate limit
    /// rather than the quota (Tyk's default, `quotas`).
    pub rate_limit_headers_from_rate: bool,
    /// `policies` with `policy_source: "file"`: the file or folder of policies.
    pub policy_path: Option<PathBuf>,
    /// `storage` with `type: "redis"`: keys, limits and reload notices shared through Redis.
    pub storage: Option<RedisSettings>,
    /// Weir's `local_first_limits` (with `storage`): permits taken from Redis `batch` at a
    /// time and used from memory for up to `lease`; `None`: every request counted in Redis.
    pub local_first: Option<(u64, Duration)>,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            hash_keys: true,
            hash_key_function: "murmur64".into(),
            enable_hashed_keys_listing: false,
            allow_master_keys: false,
            basic_auth_hash_key_function: String::new(),
            rate_limit_headers_from_rate: false,
            policy_path: None,
            storage: None,
            local_first: None,
        }
    }
}

/// tyk.conf `storage`, Redis.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RedisSettings {
    /// `addrs`, else `host:port`.
    pub addrs: Vec<String>,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `database`.
    pub database: i64,
    /// `use_ssl`: TLS to every Redis node (and to the sentinels).
    pub use_ssl: bool,
    /// `ssl_insecure_skip_verify`: no certificate check.
    pub ssl_insecure_skip_verify: bool,
    /// `ca_file` (with `use_ssl`): the roots trusted instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// `cert_file` and `key_file` (with `use_ssl`, both or neither): a client certificate.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `enable_cluster`: a Redis Cluster (every address a seed node).
    pub enable_cluster: bool,
    /// `master_name`: Redis Sentinel, the addresses being sentinels (wins over
    /// `enable_cluster`, as in Tyk).
    pub master_name: String,
    /// `sentinel_password`.
    pub sentinel_password: String,
    /// `timeout` (default 5 s): connecting and each command.
    pub timeout: Duration,
}

/// The defaults, merged under the file (the env walk reads kinds from them).
pub(crate) fn defaults() -> Value {
    json!({
        "hash_keys": true,
        "hash_key_function": "murmur64",
        "enable_hashed_keys_listing": false,
        "allow_master_keys": false,
        "basic_auth_hash_key_function": "",
        "rate_limit_response_headers": "",
        "policies": {"policy_source": "", "policy_path": "", "policy_record_name": ""},
        "local_first_limits": {"enabled": false, "batch": 10, "lease_ms": 100},
        "storage": {
            "type": "", "host": "", "port": 0, "addrs": [], "username": "", "password": "",
            "database": 0, "use_ssl": false, "ssl_insecure_skip_verify": false,
            "enable_cluster": false, "master_name": "", "sentinel_password": "", "timeout": 0,
            "ca_file": "", "cert_file": "", "key_file": "", "tls_min_version": "",
            "tls_max_version": ""
        }
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawKeys {
    hash_keys: bool,
    hash_key_function: String,
    enable_hashed_keys_listing: bool,
    allow_master_keys: bool,
    basic_auth_hash_key_function: String,
    rate_limit_response_headers: String,
    policies: RawPolicies,
    storage: RawStorage,
    local_first_limits: RawLocalFirst,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLocalFirst {
    enabled: bool,
    batch: u64,
    lease_ms: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPolicies {
    policy_source: String,
    policy_path: String,
    policy_record_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStorage {
    #[serde(rename = "type")]
    kind: String,
    host: String,
    port: u16,
    addrs: Vec<String>,
    username: String,
    password: String,
    database: i64,
    use_ssl: bool,
    ssl_insecure_skip_verify: bool,
    enable_cluster: bool,
    master_name: String,
    sentinel_password: String,
    timeout: f64,
    ca_file: String,
    cert_file: String,
    key_file: String,
    tls_min_version: String,
    tls_max_version: String,
}

/// Reads the key settings from the merged tyk.conf document.
pub(crate) fn read(doc: &Value, file: &Path, base_dir: &Path) -> Result<KeySettings, ConfigError> {
    let raw: RawKeys = crate::document::typed(doc, file)?;
    let err = |field: &str, reason: String| Err(ConfigError::new(file, field, reason));
    if !matches!(
        raw.hash_key_function.as_str(),
        "" | "murmur32" | "murmur64" | "murmur128" | "sha256"
    ) {
        return err(
            "hash_key_function",
            format!(
                "expected murmur32, murmur64, murmur128 or sha256, found `{}`",
                raw.hash_key_function
            ),
        );
    }
    if !matches!(raw.basic_auth_hash_key_function.as_str(), "" | "bcrypt") {
        return err(
            "basic_auth_hash_key_function",
            format!(
                "expected bcrypt or nothing, found `{}`",
                raw.basic_auth_hash_key_function
            ),
        );
    }
    let rate_limit_headers_from_rate = match raw.rate_limit_response_headers.as_str() {
        "" | "quotas" => false,
        "rate_limits" => true,
        other => {
            return err(
                "rate_limit_response_headers",
                format!("expected quotas or rate_limits, found `{other}`"),
            );
        }
    };
    let p = &raw.policies;
    let policy_path = match p.policy_source.as_str() {
        "" if p.policy_path.is_empty() && p.policy_record_name.is_empty() => None,
        "" | "file" => {
            let path = if p.policy_path.is_empty() {
                &p.policy_record_name
            } else {
                &p.policy_path
            };
            // Tyk's shipped tyk.conf names the source without a path: no policies.
            (!path.is_empty()).then(|| base_dir.join(path))
        }
        other => {
            return err(
                "policies.policy_source",
                format!("`{other}` (policies from the Dashboard or MDCB) is not built; use `file`"),
            );
        }
    };
    let lf = &raw.local_first_limits;
    if lf.enabled && (lf.batch < 2 || lf.lease_ms == 0) {
        return err(
            "local_first_limits",
            format!(
                "needs a batch of at least 2 and a lease_ms above 0, found {} and {}",
                lf.batch, lf.lease_ms
            ),
        );
    }
    let local_first = lf
        .enabled
        .then(|| (lf.batch, Duration::from_millis(lf.lease_ms)));
    Ok(KeySettings {
        local_first,
        hash_keys: raw.hash_keys,
        hash_key_function: raw.hash_key_function,
        enable_hashed_keys_listing: raw.enable_hashed_keys_listing,
        allow_master_keys: raw.allow_master_keys,
        basic_auth_hash_key_function: raw.basic_auth_hash_key_function,
        rate_limit_headers_from_rate,
        policy_path,
        storage: storage(&raw.storage, file, base_dir)?,
    })
}

fn storage(
    s: &RawStorage,
    file: &Path,
    base_dir: &Path,
) -> Result<Option<RedisSettings>, ConfigError> {
    let named = !s.host.is_empty() || !s.addrs.is_empty();
    match s.kind.as_str() {
        "redis" => {}
        "" if named => {}
        "" => return Ok(None),
        other => {
            return Err(ConfigError::new(
                file,
                "storage.type",
                format!("only `redis` is a Tyk storage type, found `{other}`"),
            ));
        }
    }
    let addrs = if s.addrs.is_empty() {
        let host = if s.host.is_empty() {
            "localhost"
        } else {
            &s.host
        };
        let port = if s.port == 0 { 6379 } else { s.port };
        vec![format!("{host}:{port}")]
    } else {
        s.addrs.clone()
    };
    let timeout = Duration::try_from_secs_f64(s.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(5));
    // Tyk reads the TLS files only with `use_ssl`; so does Weir.
    let (ca_file, client_cert) = if s.use_ssl {
        storage_tls(s, file, base_dir)?
    } else {
        (None, None)
    };
    Ok(Some(RedisSettings {
        addrs,
        username: s.username.clone(),
        password: s.password.clone(),
        database: s.database,
        use_ssl: s.use_ssl,
        ssl_insecure_skip_verify: s.ssl_insecure_skip_verify,
        ca_file,
        client_cert,
        enable_cluster: s.enable_cluster,
        master_name: s.master_name.clone(),
        sentinel_password: s.sentinel_password.clone(),
        timeout,
    }))
}

type TlsFiles = (Option<PathBuf>, Option<(PathBuf, PathBuf)>);

/// `ca_file`, `cert_file` and `key_file` (relative to tyk.conf's folder), checked to exist,
/// and the TLS versions, which must allow what Weir's Redis client offers (1.2 and 1.3).
fn storage_tls(s: &RawStorage, file: &Path, base_dir: &Path) -> Result<TlsFiles, ConfigError> {
    let fail = |field: &str, reason: String| ConfigError::new(file, field, reason);
    let err = |field: &str, reason: String| Err(fail(field, reason));
    let offered = "Weir's Redis client offers TLS 1.2 and 1.3 and cannot narrow them";
    match s.tls_min_version.as_str() {
        "" | "1.0" | "1.1" | "1.2" => {}
        "1.3" => return err("storage.tls_min_version", format!("`1.3`: {offered}")),
        other => {
            return err(
                "storage.tls_min_version",
                format!("expected 1.0, 1.1, 1.2 or 1.3, found `{other}`"),
            );
        }
    }
    match s.tls_max_version.as_str() {
        "" | "1.3" => {}
        v @ ("1.0" | "1.1" | "1.2") => {
            return err("storage.tls_max_version", format!("`{v}`: {offered}"));
        }
        other => {
            return err(
                "storage.tls_max_version",
                format!("expected 1.0, 1.1, 1.2 or 1.3, found `{other}`"),
            );
        }
    }
    let path = |field: &str, name: &str| -> Result<Option<PathBuf>, ConfigError> {
        if name.is_empty() {
            return Ok(None);
        }
        let path = base_dir.join(name);
        if path.is_file() {
            Ok(Some(path))
        } else {
            Err(fail(field, format!("no such file: {}", path.display())))
        }
    };
    let ca_file = path("storage.ca_file", &s.ca_file)?;
    let client_cert = match (
        path("storage.cert_file", &s.cert_file)?,
        path("storage.key_file", &s.key_file)?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return err("storage.key_file", "cert_file needs key_file".into()),
        (None, Some(_)) => return err("storage.cert_file", "key_file needs cert_file".into()),
    };
    Ok((ca_file, client_cert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(storage: Value, dir: &Path) -> Result<RedisSettings, String> {
        let doc = json!({ "storage": storage });
        read(&doc, &dir.join("tyk.conf"), dir)
            .map(|k| k.storage.expect("a storage block"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn cluster_sentinel_and_tls_are_read_as_tyk_names_them() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let s = load(
            json!({"type": "redis", "addrs": ["a:7000", "b:7001"], "enable_cluster": true,
                "use_ssl": true, "ca_file": "ca.pem", "cert_file": "cert.pem",
                "key_file": "key.pem", "tls_min_version": "1.2", "tls_max_version": "1.3"}),
            dir.path(),
        )
        .unwrap();
        assert!(s.enable_cluster && s.use_ssl);
        assert_eq!(s.addrs, ["a:7000", "b:7001"]);
        assert_eq!(s.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(
            s.client_cert,
            Some((dir.path().join("cert.pem"), dir.path().join("key.pem")))
        );
        let s = load(
            json!({"addrs": ["s1:26379"], "master_name": "mymaster",
                "sentinel_password": "sp", "ca_file": "missing.pem"}),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            (s.master_name.as_str(), s.sentinel_password.as_str()),
            ("mymaster", "sp")
        );
        // Without use_ssl the TLS files are not read, as in Tyk.
        assert_eq!(s.ca_file, None);
    }

    #[test]
    fn tls_settings_weir_cannot_honour_name_their_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
        for (storage, field) in [
            (
                json!({"use_ssl": true, "ca_file": "nope.pem"}),
                "storage.ca_file",
            ),
            (
                json!({"use_ssl": true, "cert_file": "cert.pem"}),
                "storage.key_file",
            ),
            (
                json!({"use_ssl": true, "tls_min_version": "1.3"}),
                "storage.tls_min_version",
            ),
            (
                json!({"use_ssl": true, "tls_max_version": "1.2"}),
                "storage.tls_max_version",
            ),
            (
                json!({"use_ssl": true, "tls_max_version": "2"}),
                "storage.tls_max_version",
            ),
        ] {
            let mut storage = storage;
            storage["host"] = json!("localhost");
            let e = load(storage.clone(), dir.path()).unwrap_err();
            assert!(e.contains(field), "{storage}: {e}");
        }
    }
}
