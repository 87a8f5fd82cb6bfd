//! The gateway config (tyk.conf keys), from JSON or YAML, with Tyk's environment overrides.
//!
//! The file is laid over a document of defaults before anything is typed, so a key absent
//! from the file, present in the file, or set by `TYK_GW_*` all go through one path, and the
//! env walk knows every key and its kind from the defaults alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::compat::{self, Form};
use crate::document::{DocFormat, kind_of, parse_document, typed, without_nulls};
use crate::env::apply_overrides;
use crate::errors::ConfigError;
use crate::model::{CertificateFiles, GatewayConfig, HttpServerOptions};

/// Log levels Weir understands (Tyk's names).
const LOG_LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The defaults, written with tyk.conf key names. Empty string and 0 stand for "unset" so
/// every key has a kind the env walk can parse against.
fn defaults_document() -> Value {
    let mut doc = json!({
        "listen_address": "",
        "listen_port": 8080,
        "secret": "",
        "app_path": "apps",
        "http_server_options": {
            "use_ssl": false,
            "enable_http2": false,
            "certificates": [],
            "enable_strict_routes": false,
            "read_timeout": 0,
            "idle_timeout": 120,
            "http2_keepalive_interval": 30,
            "max_request_header_bytes": 65536,
            "enable_websockets": true
        },
        "proxy_default_timeout": 30,
        "upstream_read_idle_timeout": 60,
        "proxy_ssl_insecure_skip_verify": false,
        "proxy_enable_http2": false,
        "enable_custom_domains": false,
        "trust_x_forwarded_headers": false,
        "proxy_ssl_ca_cert_file": "",
        "max_idle_connections_per_host": 100,
        "control_api_port": 0,
        "control_api_hostname": "",
        "health_check_endpoint_name": "hello",
        "readiness_check_endpoint_name": "ready",
        "graceful_shutdown_timeout_duration": 30,
        "watch_app_path": false,
        "access_logs": { "enabled": true },
        "log_level": "info",
        "grpc_max_message_size": 4194304,
        "wasm_upstreams": {},
        "streaming": { "enabled": false, "stream_idle_timeout": 60 },
        "coprocess_options": {
            "enable_coprocess": false,
            "coprocess_grpc_server": "",
            "grpc_recv_max_size": 0,
            "grpc_send_max_size": 0,
            "grpc_authority": ""
        }
    });
    merge(&mut doc, crate::keys::defaults());
    merge(&mut doc, crate::plugin_settings::defaults());
    merge(&mut doc, crate::error_overrides::defaults());
    doc
}

/// The typed view of the merged document; every key is present after the merge.
#[derive(Deserialize)]
struct RawGateway {
    listen_address: String,
    listen_port: i64,
    secret: String,
    app_path: String,
    http_server_options: RawHttpServerOptions,
    proxy_default_timeout: f64,
    upstream_read_idle_timeout: f64,
    proxy_ssl_insecure_skip_verify: bool,
    proxy_enable_http2: bool,
    enable_custom_domains: bool,
    trust_x_forwarded_headers: bool,
    proxy_ssl_ca_cert_file: String,
    max_idle_connections_per_host: u64,
    control_api_port: i64,
    control_api_hostname: String,
    health_check_endpoint_name: String,
    readiness_check_endpoint_name: String,
    graceful_shutdown_timeout_duration: f64,
    watch_app_path: bool,
    access_logs: RawAccessLogs,
    log_level: String,
    grpc_max_message_size: u64,
    wasm_upstreams: BTreeMap<String, String>,
    streaming: RawStreaming,
    coprocess_options: Value,
}

#[derive(Deserialize)]
struct RawStreaming {
    enabled: bool,
    stream_idle_timeout: f64,
}

#[derive(Deserialize)]
struct RawHttpServerOptions {
    use_ssl: bool,
    enable_http2: bool,
    certificates: Vec<RawCertificate>,
    enable_strict_routes: bool,
    read_timeout: f64,
    idle_timeout: f64,
    http2_keepalive_interval: f64,
    max_request_header_bytes: u64,
    enable_websockets: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCertificate {
    domain_name: String,
    cert_file: String,
    key_file: String,
}

#[derive(Deserialize)]
struct RawAccessLogs {
    enabled: bool,
}

/// The gateway config with every default, as if read from an empty file.
///
/// `app_path` stays relative ("apps"): there is no config folder to resolve it against.
pub fn default_gateway_config() -> GatewayConfig {
    let raw: RawGateway =
        serde_json::from_value(defaults_document()).expect("the defaults document is well typed");
    let mut errors = Vec::new();
    let mut config = convert(raw, Path::new(""), Path::new(""), &mut errors);
    config.app_path = PathBuf::from("apps");
    debug_assert!(errors.is_empty(), "defaults must validate: {errors:?}");
    config
}

/// Reads the gateway config at `path`, with overrides from the process environment.
pub fn load_gateway_config(path: &Path) -> Result<GatewayConfig, Vec<ConfigError>> {
    load_gateway_config_with_env(path, &|name| std::env::var(name).ok())
}

/// Reads the gateway config at `path`, taking `TYK_GW_*` values from `env` (tests inject it).
pub fn load_gateway_config_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GatewayConfig, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
        )]
    })?;
    gateway_config_from_str(&text, DocFormat::from_path(path), path, env)
}

/// Parses gateway config text as if it were read from `file`.
///
/// Relative paths resolve against `file`'s folder; errors name `file`; `env` supplies
/// `TYK_GW_*` overrides (pass `&|_| None` for none).
pub fn gateway_config_from_str(
    text: &str,
    format: DocFormat,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GatewayConfig, Vec<ConfigError>> {
    let written = parse_document(text, format, file).map_err(|e| vec![e])?;
    let written = without_nulls(&written);
    // An empty YAML file is null, which is the same as `{}`.
    if !written.is_object() && !written.is_null() {
        let reason = format!(
            "expected an object at the top level, found {}",
            kind_of(&written)
        );
        return Err(vec![ConfigError::new(file, "", reason)]);
    }
    let defaults = defaults_document();
    let mut doc = defaults.clone();
    merge(&mut doc, written);

    let mut errors = Vec::new();
    let from_env = apply_overrides(&mut doc, &defaults, file, env, &mut errors);
    errors.extend(compat::refusals(&doc, Form::Gateway, file));
    let base_dir = file.parent().unwrap_or(Path::new(""));
    let config = match typed::<RawGateway>(&doc, file) {
        Ok(raw) => {
            let mut config = convert(raw, file, base_dir, &mut errors);
            match crate::keys::read(&doc, file, base_dir) {
                Ok(keys) => config.keys = keys,
                Err(e) => errors.push(e),
            }
            match crate::plugin_settings::read(&doc, file, base_dir) {
                Ok(plugins) => config.plugins = plugins,
                Err(e) => errors.push(e),
            }
            match crate::error_overrides::gateway(&doc, file, base_dir) {
                Ok(pages) => config.errors = pages,
                Err(e) => errors.extend(e),
            }
            Some(config)
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    name_env_fields(&mut errors, &from_env);
    match config {
        Some(mut config) if errors.is_empty() => {
            config.source = Some(file.to_path_buf());
            Ok(config)
        }
        _ => Err(errors),
    }
}

/// Keys of the gateway config file at `path` that are not tyk.conf settings Weir knows (for
/// `weir check`'s warnings); empty when the file cannot be read (loading reports that).
pub fn unknown_gateway_fields(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| parse_document(&text, DocFormat::from_path(path), path).ok())
        .map(|doc| compat::unclassified(&doc, Form::Gateway))
        .unwrap_or_default()
}

/// Lays `over` onto `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (slot, v) => *slot = v,
    }
}

/// Errors about a value that came from the environment name the variable, not the key.
fn name_env_fields(errors: &mut [ConfigError], from_env: &BTreeMap<String, String>) {
    for e in errors {
        if let Some(var) = from_env.get(&e.field) {
            e.field = var.clone();
            e.reason = format!("{} (set by the environment)", e.reason);
        }
    }
}

/// Turns the typed document into the model, validating as it goes.
fn convert(
    raw: RawGateway,
    file: &Path,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> GatewayConfig {
    let mut err = |field: &str, reason: String| errors.push(ConfigError::new(file, field, reason));

    let listen_port = match u16::try_from(raw.listen_port) {
        Ok(p) if p > 0 => p,
        _ => {
            let found = raw.listen_port;
            err(
                "listen_port",
                format!("must be between 1 and 65535, found {found}"),
            );
            8080
        }
    };
    let control_api_port = match u16::try_from(raw.control_api_port) {
        // 0 is Tyk's "not set"; the main port means "same listener", not a second one.
        Ok(0) => None,
        Ok(p) if p == listen_port => None,
        Ok(p) => Some(p),
        Err(_) => {
            let found = raw.control_api_port;
            err(
                "control_api_port",
                format!("must be between 0 and 65535, found {found}"),
            );
            None
        }
    };
    let proxy_default_timeout =
        seconds(raw.proxy_default_timeout, "proxy_default_timeout", &mut err)
            // Tyk treats 0 as "use the default".
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(30));
    let upstream_read_idle_timeout = seconds(
        raw.upstream_read_idle_timeout,
        "upstream_read_idle_timeout",
        &mut err,
    )
    .unwrap_or(Duration::from_secs(60));
    let stream_idle_timeout = seconds(
        raw.streaming.stream_idle_timeout,
        "streaming.stream_idle_timeout",
        &mut err,
    )
    .filter(|d| !d.is_zero())
    .unwrap_or(Duration::from_secs(60));
    let graceful_shutdown_timeout = seconds(
        raw.graceful_shutdown_timeout_duration,
        "graceful_shutdown_timeout_duration",
        &mut err,
    )
    .filter(|d| !d.is_zero())
    .unwrap_or(Duration::from_secs(30));
    let read_timeout = seconds(
        raw.http_server_options.read_timeout,
        "http_server_options.read_timeout",
        &mut err,
    )
    .unwrap_or_default();
    let idle_timeout = seconds(
        raw.http_server_options.idle_timeout,
        "http_server_options.idle_timeout",
        &mut err,
    )
    .filter(|d| !d.is_zero())
    .unwrap_or(Duration::from_secs(120));
    let http2_keepalive_interval = seconds(
        raw.http_server_options.http2_keepalive_interval,
        "http_server_options.http2_keepalive_interval",
        &mut err,
    )
    .unwrap_or_default();

    let log_level = raw.log_level.trim().to_ascii_lowercase();
    let log_level = if LOG_LEVELS.contains(&log_level.as_str()) {
        log_level
    } else {
        err(
            "log_level",
            format!(
                "expected one of {}, found `{}`",
                LOG_LEVELS.join(", "),
                raw.log_level
            ),
        );
        "info".to_string()
    };

    let proxy_ssl_ca_cert_file = (!raw.proxy_ssl_ca_cert_file.is_empty()).then(|| {
        let p = base_dir.join(&raw.proxy_ssl_ca_cert_file);
        check_file(&p, "proxy_ssl_ca_cert_file", &mut err);
        p
    });

    if raw.grpc_max_message_size == 0 {
        err(
            "grpc_max_message_size",
            "must be a positive number of bytes".to_string(),
        );
    }

    let http = raw.http_server_options;
    let mut certificates = Vec::new();
    for (i, c) in http.certificates.into_iter().enumerate() {
        let field = |name: &str| format!("http_server_options.certificates[{i}].{name}");
        let mut file_of = |name: &str, value: &str| {
            if value.is_empty() {
                err(&field(name), "is required".to_string());
                PathBuf::new()
            } else {
                let p = base_dir.join(value);
                check_file(&p, &field(name), &mut err);
                p
            }
        };
        let cert_file = file_of("cert_file", &c.cert_file);
        let key_file = file_of("key_file", &c.key_file);
        certificates.push(CertificateFiles {
            domain_name: c.domain_name.trim().to_ascii_lowercase(),
            cert_file,
            key_file,
        });
    }
    if http.use_ssl && certificates.is_empty() {
        err(
            "http_server_options.certificates",
            "use_ssl is true but no certificates are listed".to_string(),
        );
    }

    let control_api_hostname = if raw.control_api_hostname.is_empty() {
        raw.listen_address.clone()
    } else {
        raw.control_api_hostname
    };

    GatewayConfig {
        source: None,
        listen_address: raw.listen_address,
        listen_port,
        secret: raw.secret,
        app_path: base_dir.join(raw.app_path),
        http_server_options: HttpServerOptions {
            use_ssl: http.use_ssl,
            enable_http2: http.enable_http2,
            certificates,
            enable_strict_routes: http.enable_strict_routes,
            read_timeout,
            idle_timeout,
            http2_keepalive_interval,
            max_request_header_bytes: to_usize(http.max_request_header_bytes),
            enable_websockets: http.enable_websockets,
        },
        proxy_default_timeout,
        upstream_read_idle_timeout,
        proxy_ssl_insecure_skip_verify: raw.proxy_ssl_insecure_skip_verify,
        proxy_enable_http2: raw.proxy_enable_http2,
        enable_custom_domains: raw.enable_custom_domains,
        trust_x_forwarded_headers: raw.trust_x_forwarded_headers,
        proxy_ssl_ca_cert_file,
        max_idle_connections_per_host: to_usize(raw.max_idle_connections_per_host),
        control_api_port,
        control_api_hostname,
        health_check_endpoint_name: raw.health_check_endpoint_name,
        readiness_check_endpoint_name: raw.readiness_check_endpoint_name,
        graceful_shutdown_timeout,
        watch_app_path: raw.watch_app_path,
        access_logs_enabled: raw.access_logs.enabled,
        log_level,
        grpc_max_message_size: to_usize(raw.grpc_max_message_size).max(1),
        wasm_upstreams: wasm_upstreams(raw.wasm_upstreams, &mut err),
        streaming_enabled: raw.streaming.enabled,
        stream_idle_timeout,
        coprocess_options: raw.coprocess_options,
        keys: crate::keys::KeySettings::default(),
        plugins: crate::plugin_settings::PluginSettings::default(),
        errors: crate::error_overrides::GatewayErrors::default(),
    }
}

/// `wasm_upstreams`: name → `http://host:port`, nothing else (no path, no TLS yet).
fn wasm_upstreams(
    map: BTreeMap<String, String>,
    err: &mut impl FnMut(&str, String),
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, base) in map {
        let field = format!("wasm_upstreams.{name}");
        match url::Url::parse(base.trim()) {
            Ok(u)
                if u.scheme() == "http"
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none() =>
            {
                let port = u.port_or_known_default().unwrap_or(80);
                let host = u.host_str().unwrap_or_default();
                out.insert(name, format!("http://{host}:{port}"));
            }
            _ => err(
                &field,
                format!("expected http://host:port (plain HTTP, no path), found `{base}`"),
            ),
        }
    }
    out
}

/// Seconds as written (int or float) to a Duration; negative or absurd values are errors.
fn seconds(value: f64, field: &str, err: &mut impl FnMut(&str, String)) -> Option<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) => Some(d),
        Err(_) => {
            err(
                field,
                format!("expected a number of seconds that is not negative, found {value}"),
            );
            None
        }
    }
}

fn check_file(path: &Path, field: &str, err: &mut impl FnMut(&str, String)) {
    if !path.is_file() {
        err(field, format!("file not found: {}", path.display()));
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_model_docs() {
        let c = default_gateway_config();
        assert_eq!(c.listen_port, 8080);
        assert_eq!(c.app_path, PathBuf::from("apps"));
        assert_eq!(c.proxy_default_timeout, Duration::from_secs(30));
        assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.max_idle_connections_per_host, 100);
        assert_eq!(c.control_api_port, None);
        assert_eq!(c.health_check_endpoint_name, "hello");
        assert_eq!(c.readiness_check_endpoint_name, "ready");
        assert_eq!(c.http_server_options.max_request_header_bytes, 65536);
        assert!(c.http_server_options.enable_websockets);
        assert!(c.access_logs_enabled);
        assert_eq!(c.log_level, "info");
        assert_eq!(c.source, None);
    }

    #[test]
    fn merge_keeps_defaults_under_partial_objects() {
        let mut base = json!({"a": {"x": 1, "y": 2}});
        merge(&mut base, json!({"a": {"y": 3}}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3}}));
    }
}
