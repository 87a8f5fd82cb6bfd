//! Gateway config: formats, defaults, relative paths, environment overrides, validation.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use weir_config::{DocFormat, gateway_config_from_str, load_gateway_config_with_env};

use crate::{only, write};

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn json_config_with_relative_paths_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cert.pem", "x");
    write(dir.path(), "key.pem", "x");
    write(dir.path(), "ca.pem", "x");
    let path = write(
        dir.path(),
        "tyk.conf",
        r#"{
          "listen_port": 9090,
          "secret": "s3cret",
          "app_path": "./apps/",
          "storage": {"type": "redis", "host": "localhost"},
          "enable_analytics": true,
          "proxy_default_timeout": 2.5,
          "proxy_ssl_ca_cert_file": "ca.pem",
          "control_api_port": 9696,
          "http_server_options": {
            "use_ssl": true,
            "enable_http2": true,
            "read_timeout": 10,
            "flush_interval": 1,
            "certificates": [{"domain_name": "API.example.com", "cert_file": "cert.pem", "key_file": "key.pem"}]
          }
        }"#,
    );
    let c = load_gateway_config_with_env(&path, &no_env).unwrap();
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    assert_eq!(c.listen_port, 9090);
    assert_eq!(c.secret, "s3cret");
    assert_eq!(c.app_path, dir.path().join("./apps/"));
    assert_eq!(c.proxy_default_timeout, Duration::from_millis(2500));
    assert_eq!(c.proxy_ssl_ca_cert_file, Some(dir.path().join("ca.pem")));
    assert_eq!(c.control_api_port, Some(9696));
    let http = &c.http_server_options;
    assert!(http.use_ssl && http.enable_http2);
    assert_eq!(http.read_timeout, Duration::from_secs(10));
    assert_eq!(http.certificates[0].domain_name, "api.example.com");
    assert_eq!(http.certificates[0].cert_file, dir.path().join("cert.pem"));
    assert_eq!(http.certificates[0].key_file, dir.path().join("key.pem"));
    // Untouched keys keep their defaults.
    assert!(http.enable_websockets);
    assert_eq!(c.health_check_endpoint_name, "hello");
}

#[test]
fn yaml_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "weir.yaml",
        "listen_address: 127.0.0.1\nlisten_port: 8181\nlog_level: DEBUG\naccess_logs:\n  enabled: false\nhttp_server_options:\n  enable_strict_routes: true\n",
    );
    let c = load_gateway_config_with_env(&path, &no_env).unwrap();
    assert_eq!(c.listen_address, "127.0.0.1");
    assert_eq!(c.control_api_hostname, "127.0.0.1");
    assert_eq!(c.listen_port, 8181);
    assert_eq!(c.log_level, "debug");
    assert!(!c.access_logs_enabled);
    assert!(c.http_server_options.enable_strict_routes);
    assert_eq!(c.app_path, dir.path().join("apps"));
}

#[test]
fn unknown_extension_tries_json_then_yaml() {
    let file = Path::new("/etc/weir/tyk.conf");
    let c = gateway_config_from_str("listen_port: 7000\n", DocFormat::Auto, file, &no_env).unwrap();
    assert_eq!(c.listen_port, 7000);
    assert_eq!(c.app_path, Path::new("/etc/weir/apps"));
}

#[test]
fn env_overrides_use_tyk_names() {
    let env = env_of(&[
        ("TYK_GW_LISTENPORT", "9999"),
        ("TYK_GW_SECRET", "from-env"),
        ("TYK_GW_LISTENADDRESS", "0.0.0.0"),
        ("TYK_GW_CONTROLAPIPORT", "9001"),
        ("TYK_GW_APPPATH", "defs"),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "1.5"),
        ("TYK_GW_HTTPSERVEROPTIONS_ENABLEHTTP2", "true"),
        ("TYK_GW_HTTPSERVEROPTIONS_ENABLESTRICTROUTES", "1"),
        ("TYK_GW_ACCESSLOGS_ENABLED", "false"),
    ]);
    let file = Path::new("/cfg/tyk.conf");
    let c = gateway_config_from_str(
        r#"{"listen_port": 8080, "secret": "from-file"}"#,
        DocFormat::Json,
        file,
        &env,
    )
    .unwrap();
    assert_eq!(c.listen_port, 9999);
    assert_eq!(c.secret, "from-env");
    assert_eq!(c.listen_address, "0.0.0.0");
    assert_eq!(c.control_api_port, Some(9001));
    assert_eq!(c.app_path, Path::new("/cfg/defs"));
    assert_eq!(c.proxy_default_timeout, Duration::from_millis(1500));
    assert!(c.http_server_options.enable_http2);
    assert!(c.http_server_options.enable_strict_routes);
    assert!(!c.access_logs_enabled);
}

#[test]
fn bad_env_value_names_the_variable() {
    let file = Path::new("/cfg/tyk.conf");
    let env = env_of(&[("TYK_GW_HTTPSERVEROPTIONS_USESSL", "yes")]);
    let e = only(gateway_config_from_str("{}", DocFormat::Json, file, &env));
    assert_eq!(e.file, file);
    assert_eq!(e.field, "TYK_GW_HTTPSERVEROPTIONS_USESSL");
    assert!(e.reason.contains("expected true or false"), "{}", e.reason);

    let env = env_of(&[("TYK_GW_LISTENPORT", "70000")]);
    let e = only(gateway_config_from_str("{}", DocFormat::Json, file, &env));
    assert_eq!(e.field, "TYK_GW_LISTENPORT");
    assert!(e.reason.contains("between 1 and 65535"), "{}", e.reason);

    let env = env_of(&[("TYK_GW_LISTENPORT", "eighty")]);
    let e = only(gateway_config_from_str("{}", DocFormat::Json, file, &env));
    assert_eq!(e.field, "TYK_GW_LISTENPORT");
}

#[test]
fn listen_port_out_of_range() {
    let f = Path::new("/c/tyk.conf");
    let e = only(gateway_config_from_str(
        r#"{"listen_port": 0}"#,
        DocFormat::Json,
        f,
        &no_env,
    ));
    assert_eq!(e.field, "listen_port");
    assert_eq!(e.reason, "must be between 1 and 65535, found 0");
}

#[test]
fn wrong_types_name_the_field() {
    let f = Path::new("/c/tyk.conf");
    let e = only(gateway_config_from_str(
        r#"{"secret": 5}"#,
        DocFormat::Json,
        f,
        &no_env,
    ));
    assert_eq!(e.field, "secret");
    assert_eq!(e.reason, "expected a string, found a number");
    assert_eq!(
        e.to_string(),
        "/c/tyk.conf: secret: expected a string, found a number"
    );

    let text = r#"{"http_server_options": {"certificates": [{"cert_file": 1}]}}"#;
    let e = only(gateway_config_from_str(text, DocFormat::Json, f, &no_env));
    assert_eq!(e.field, "http_server_options.certificates[0].cert_file");
}

#[test]
fn invalid_json_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "tyk.json",
        "{\n  \"listen_port\": 8080\n  \"secret\": \"x\"\n}\n",
    );
    let e = only(load_gateway_config_with_env(&path, &no_env));
    assert_eq!(e.field, "");
    assert!(
        e.reason
            .starts_with("invalid JSON at line 3, column 3: expected `,` or `}`"),
        "{}",
        e.reason
    );
}

#[test]
fn invalid_yaml_names_line_and_column() {
    let f = Path::new("/c/tyk.yaml");
    let e = only(gateway_config_from_str(
        "a: [1, 2\nb: 3\n",
        DocFormat::Yaml,
        f,
        &no_env,
    ));
    assert!(
        e.reason.starts_with("invalid YAML at line "),
        "{}",
        e.reason
    );
    assert!(e.reason.contains(", column "), "{}", e.reason);
}

#[test]
fn ssl_without_certificates() {
    let f = Path::new("/c/tyk.conf");
    let text = r#"{"http_server_options": {"use_ssl": true}}"#;
    let e = only(gateway_config_from_str(text, DocFormat::Json, f, &no_env));
    assert_eq!(e.field, "http_server_options.certificates");
}

#[test]
fn missing_certificate_files_name_field_and_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "key.pem", "x");
    let path = write(
        dir.path(),
        "tyk.json",
        r#"{"http_server_options": {"use_ssl": true, "certificates": [{"cert_file": "certs/missing.pem", "key_file": "key.pem"}]}}"#,
    );
    let e = only(load_gateway_config_with_env(&path, &no_env));
    assert_eq!(e.field, "http_server_options.certificates[0].cert_file");
    let missing = dir.path().join("certs/missing.pem");
    assert_eq!(e.reason, format!("file not found: {}", missing.display()));
}

#[test]
fn several_problems_are_reported_together() {
    let f = Path::new("/c/tyk.conf");
    let text = r#"{"listen_port": 99999, "log_level": "loud", "proxy_default_timeout": -1}"#;
    let errors = gateway_config_from_str(text, DocFormat::Json, f, &no_env).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["listen_port", "proxy_default_timeout", "log_level"]
    );
}

#[test]
fn unreadable_file_is_one_error() {
    let e = only(load_gateway_config_with_env(
        Path::new("/nonexistent/tyk.conf"),
        &no_env,
    ));
    assert_eq!(e.field, "");
    assert!(e.reason.starts_with("cannot read the file"));
}
