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
    /// `use_ssl`.
    pub use_ssl: bool,
    /// `ssl_insecure_skip_verify`.
    pub ssl_insecure_skip_verify: bool,
    /// `enable_cluster`: a Redis Cluster (every address a seed node).
    pub enable_cluster: bool,
    /// `master_name`: Redis Sentinel, the addresses being sentinels.
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
            "enable_cluster": false, "master_name": "", "sentinel_password": "", "timeout": 0
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
        storage: storage(&raw.storage, file)?,
    })
}

fn storage(s: &RawStorage, file: &Path) -> Result<Option<RedisSettings>, ConfigError> {
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
    for (on, field, what) in [
        (s.enable_cluster, "storage.enable_cluster", "Redis Cluster"),
        (
            !s.master_name.is_empty(),
            "storage.master_name",
            "Redis Sentinel",
        ),
        (s.use_ssl, "storage.use_ssl", "TLS to Redis"),
    ] {
        if on {
            return Err(ConfigError::new(
                file,
                field,
                format!("{what} is not built yet; Weir speaks to one Redis server over TCP"),
            ));
        }
    }
    Ok(Some(RedisSettings {
        addrs,
        username: s.username.clone(),
        password: s.password.clone(),
        database: s.database,
        use_ssl: s.use_ssl,
        ssl_insecure_skip_verify: s.ssl_insecure_skip_verify,
        enable_cluster: s.enable_cluster,
        master_name: s.master_name.clone(),
        sentinel_password: s.sentinel_password.clone(),
        timeout,
    }))
}
