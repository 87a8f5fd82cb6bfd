//! The plugin's configuration: the API's `config_data`, or the seed's
//! `middleware_global_config[<bundle>]`, which Weir hands over the same way. Every error names
//! the key, so a bad definition fails at load with a message that says what to fix.

use std::time::Duration;

use weir_plugin_sdk::serde_json::{Map, Value};

/// Which database a DSN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:<path>` / `sqlite://<path>`.
    Sqlite,
    /// `postgres://` / `postgresql://`.
    Postgres,
    /// `mysql://` / `mariadb://` (MariaDB speaks MySQL's protocol).
    MySql,
    /// `sqlserver://` (the seed's go-mssqldb URL form).
    SqlServer,
}

impl Backend {
    /// The backend a DSN's scheme names.
    pub fn of(dsn: &str) -> Option<Backend> {
        let scheme = dsn.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "sqlserver" | "mssql" => Some(Backend::SqlServer),
            _ => None,
        }
    }
}

/// Parsed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The registry's DSN.
    pub dsn: String,
    /// The key it came from: `sql_server_dsn` (the seed's) or `dsn`.
    pub dsn_key: &'static str,
    /// Which driver serves it.
    pub backend: Backend,
    /// The registry table (`table`, default `CameraRegistry`).
    pub table: String,
    /// How long a looked-up row (or its absence) is used before it is looked up again.
    pub ttl: Duration,
    /// Most cameras kept in the local cache.
    pub capacity: u64,
    /// Bound on one lookup: pool wait, connect and query together.
    pub query_timeout: Duration,
    /// Connections in the pool.
    pub pool_size: u32,
    /// The shared cache between gateway nodes, when set.
    pub redis_url: Option<String>,
}

/// Keys this plugin reads; anything else in the object is left for other plugins.
const DSN_KEYS: [&str; 2] = ["sql_server_dsn", "dsn"];

fn number(config: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("config key `{key}` must be a number")),
        Some(_) => Err(format!("config key `{key}` must be a number")),
    }
}

fn whole(
    config: &Map<String, Value>,
    key: &str,
    default: u64,
    (min, max): (u64, u64),
) -> Result<u64, String> {
    let Some(value) = number(config, key)? else {
        return Ok(default);
    };
    if value.fract() != 0.0 || value < min as f64 || value > max as f64 {
        return Err(format!(
            "config key `{key}` must be a whole number from {min} to {max}, not {value}"
        ));
    }
    Ok(value as u64)
}

/// Bounds of the numeric keys: beyond these a value is a mistake, not a setting.
const CAPACITY: (u64, u64) = (1, 100_000_000);
const TIMEOUT_MS: (u64, u64) = (1, 3_600_000);
const POOL_SIZE: (u64, u64) = (1, 1000);

fn text<'c>(config: &'c Map<String, Value>, key: &str) -> Result<Option<&'c str>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(format!("config key `{key}` must not be empty"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(format!("config key `{key}` must be a string")),
    }
}

/// A table name made of identifiers (`CameraRegistry`, `dbo.CameraRegistry`): it is written
/// into the SQL text, so nothing else is accepted.
fn table_name(name: &str) -> Result<String, String> {
    let ok = name.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "config key `table` must be a table name such as `CameraRegistry` or \
             `dbo.CameraRegistry` (letters, digits, `_`, dots between parts), not `{name}`"
        ))
    }
}

impl Config {
    /// Reads the configuration the gateway handed to `init`.
    pub fn from_json(config: &Value) -> Result<Config, String> {
        let empty = Map::new();
        let config = match config {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => return Err("the plugin's config (config_data) must be a JSON object".into()),
        };
        let mut dsn = None;
        for key in DSN_KEYS {
            if let Some(value) = text(config, key)? {
                dsn = dsn.or(Some((key, value)));
            }
        }
        let Some((dsn_key, dsn)) = dsn else {
            return Err(
                "config key `sql_server_dsn` (or `dsn`) is required: the camera registry's DSN, \
                 e.g. postgres://user@host/db, mysql://user@host/db, sqlite:///path/registry.db \
                 or sqlserver://user:password@host:1433?database=DeviceDB"
                    .into(),
            );
        };
        let backend = Backend::of(dsn).ok_or_else(|| {
            format!(
                "config key `{dsn_key}`: unsupported DSN scheme in `{}` (use sqlite:, \
                 postgres://, mysql:// or sqlserver://)",
                redact(dsn)
            )
        })?;
        let ttl = match number(config, "cache_ttl_seconds")? {
            None => Duration::from_secs(30),
            Some(s) if s > 0.0 && s <= 86_400.0 * 365.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(format!(
                    "config key `cache_ttl_seconds` must be more than 0 (and at most a year), \
                     not {s}"
                ));
            }
        };
        let query_timeout =
            Duration::from_millis(whole(config, "query_timeout_ms", 2000, TIMEOUT_MS)?);
        let redis_url = text(config, "redis_url")?.map(str::to_owned);
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
        {
            return Err(format!(
                "config key `redis_url` must be a redis:// URL, not `{}`",
                redact(url)
            ));
        }
        Ok(Config {
            dsn: dsn.to_owned(),
            dsn_key,
            backend,
            table: table_name(text(config, "table")?.unwrap_or("CameraRegistry"))?,
            ttl,
            capacity: whole(config, "cache_capacity", 10_000, CAPACITY)?,
            query_timeout,
            pool_size: whole(config, "pool_size", 4, POOL_SIZE)? as u32,
            redis_url,
        })
    }
}

/// A DSN or URL with its password replaced, for messages and logs (also when it does not
/// parse: `scheme://user:password@...` is recognised by its shape).
pub fn redact(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return dsn.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return dsn.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => dsn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::serde_json::json;

    #[test]
    fn defaults_and_the_seeds_key() {
        let c = Config::from_json(&json!({"sql_server_dsn": "sqlserver://u:p@h:1433"})).unwrap();
        assert_eq!(c.backend, Backend::SqlServer);
        assert_eq!(c.dsn_key, "sql_server_dsn");
        assert_eq!(c.ttl, Duration::from_secs(30));
        assert_eq!(c.capacity, 10_000);
        assert_eq!(c.query_timeout, Duration::from_millis(2000));
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.table, "CameraRegistry");
        assert_eq!(c.redis_url, None);
    }

    #[test]
    fn every_key() {
        let c = Config::from_json(&json!({
            "dsn": "postgres://localhost/db", "cache_ttl_seconds": 0.5, "cache_capacity": 7,
            "query_timeout_ms": 150, "pool_size": 2, "redis_url": "redis://127.0.0.1:6379",
            "table": "dbo.CameraRegistry", "cameras": {"ignored": true}
        }))
        .unwrap();
        assert_eq!(c.backend, Backend::Postgres);
        assert_eq!(c.ttl, Duration::from_millis(500));
        assert_eq!(c.capacity, 7);
        assert_eq!(c.query_timeout, Duration::from_millis(150));
        assert_eq!(c.pool_size, 2);
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(c.table, "dbo.CameraRegistry");
    }

    #[test]
    fn backends_by_scheme() {
        for (dsn, backend) in [
            ("sqlite:registry.db", Backend::Sqlite),
            ("sqlite:///abs/registry.db", Backend::Sqlite),
            ("postgresql://h/db", Backend::Postgres),
            ("mysql://root@127.0.0.1/db", Backend::MySql),
            ("mariadb://root@127.0.0.1/db", Backend::MySql),
            ("SQLSERVER://h", Backend::SqlServer),
        ] {
            assert_eq!(Backend::of(dsn), Some(backend), "{dsn}");
        }
        assert_eq!(Backend::of("oracle://h"), None);
        assert_eq!(Backend::of("no scheme"), None);
    }

    /// Each bad config fails naming its key.
    #[test]
    fn errors_name_the_key() {
        let dsn = "sqlite:r.db";
        for (config, key) in [
            (json!({}), "sql_server_dsn"),
            (json!(null), "sql_server_dsn"),
            (json!({"dsn": 5}), "`dsn`"),
            (json!({"dsn": "  "}), "`dsn`"),
            (json!({"dsn": "oracle://u:secret@h"}), "`dsn`"),
            (
                json!({"dsn": dsn, "cache_ttl_seconds": 0}),
                "cache_ttl_seconds",
            ),
            (
                json!({"dsn": dsn, "cache_ttl_seconds": "30"}),
                "cache_ttl_seconds",
            ),
            (json!({"dsn": dsn, "cache_capacity": 0}), "cache_capacity"),
            (json!({"dsn": dsn, "cache_capacity": 1.5}), "cache_capacity"),
            (
                json!({"dsn": dsn, "query_timeout_ms": -1}),
                "query_timeout_ms",
            ),
            (json!({"dsn": dsn, "pool_size": 0}), "pool_size"),
            (json!({"dsn": dsn, "pool_size": 5000}), "pool_size"),
            (json!({"dsn": dsn, "redis_url": "http://x"}), "redis_url"),
            (json!({"dsn": dsn, "redis_url": 1}), "redis_url"),
            (json!({"dsn": dsn, "table": "x; drop table y"}), "table"),
            (json!({"dsn": dsn, "table": "a..b"}), "table"),
        ] {
            let err = Config::from_json(&config).unwrap_err();
            assert!(err.contains(key), "{config}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
        let err = Config::from_json(&json!([1])).unwrap_err();
        assert!(err.contains("JSON object"), "{err}");
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db".to_owned()
        );
        assert_eq!(redact("sqlite:r.db"), "sqlite:r.db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://u:p@w@[::1/db"),
            "postgres://u:***@[::1/db"
        );
    }
}
