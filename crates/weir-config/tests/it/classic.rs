//! Classic API definitions: the vision seed, load balancing, headers, CORS, errors.

use std::path::Path;
use std::time::Duration;

use weir_config::{
    DefinitionFormat, HookPhase, UpstreamScheme, load_api_file, parse_api_definition,
    refuse_unbuilt_plugins,
};

use crate::{only, seed, write};

fn parse(text: &str) -> Result<weir_config::ApiDefinition, Vec<weir_config::ConfigError>> {
    parse_api_definition(text, Path::new("/apps/my-api.json"))
}

#[test]
fn vision_seed_loads_as_written() {
    let path = seed("vision-api.json");
    let api = load_api_file(&path).unwrap();
    assert_eq!(api.format, DefinitionFormat::Classic);
    assert_eq!(api.api_id, "vision-api");
    assert_eq!(api.name, "Vision Analytics Stream");
    assert_eq!(api.org_id, "1");
    assert!(api.active && api.use_keyless);
    assert_eq!(api.listen_path, "/vision.VisionService/");
    assert!(api.strip_listen_path);
    assert!(api.enable_grpc && api.enable_grpc_web);
    assert_eq!(api.targets.len(), 1);
    assert_eq!(api.targets[0].scheme, UpstreamScheme::H2c);
    assert_eq!(api.targets[0].url.host_str(), Some("processor-service"));
    assert_eq!(api.targets[0].url.port(), Some(50051));
    let plugins = api.plugins.as_ref().expect("the seed asks for plugins");
    assert_eq!(plugins.driver, "goplugin");
    let hooks: Vec<_> = plugins.hooks.iter().map(|h| (h.phase, &*h.name)).collect();
    assert_eq!(
        hooks,
        [
            (HookPhase::Pre, "MyInit"),
            (HookPhase::GrpcMessage, "HandleStream")
        ]
    );
    assert_eq!(plugins.bundle, "enricher_bundle");
    assert_eq!(
        plugins.config_data["sql_server_dsn"],
        "sqlserver://user:password@sql-server-host:1433?database=DeviceDB",
        "config_data comes from middleware_global_config[<bundle>]"
    );
    assert_eq!(api.document["custom_middleware_bundle"], "enricher_bundle");

    let e = refuse_unbuilt_plugins(&api, &[]).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(e.field, "custom_middleware.driver");
    assert!(e.reason.contains("`vision-api`"), "{}", e.reason);
    assert!(
        e.reason.contains("(Vision Analytics Stream)"),
        "{}",
        e.reason
    );
    assert!(e.reason.contains("`goplugin`"), "{}", e.reason);
    assert!(refuse_unbuilt_plugins(&api, &["goplugin"]).is_ok());
}

#[test]
fn load_balancing_uses_target_list() {
    let api = parse(
        r#"{"api_id": "lb", "proxy": {"listen_path": "/lb/", "target_url": "http://ignored:1",
            "enable_load_balancing": true,
            "target_list": ["http://a:8080", "https://b:8443", "h2c://c:9000"]}}"#,
    )
    .unwrap();
    let schemes: Vec<_> = api.targets.iter().map(|t| t.scheme).collect();
    assert_eq!(
        schemes,
        [
            UpstreamScheme::Http,
            UpstreamScheme::Https,
            UpstreamScheme::H2c
        ]
    );
    assert_eq!(api.targets[0].url.as_str(), "http://a:8080/");
    assert!(api.plugins.is_none());
}

#[test]
fn headers_cors_timeouts_and_defaults() {
    let api = parse(
        r#"{
      "name": "full", "domain": "API.Example.com:8443", "active": false,
      "proxy": {"listen_path": "/full", "target_url": "grpcs://up:443", "preserve_host_header": true,
                "disable_strip_slash": true, "transport": {"ssl_insecure_skip_verify": true}},
      "version_data": {"not_versioned": true, "versions": {"Default": {
        "global_headers": {"X-A": "1", "X-B": "2"},
        "global_headers_remove": ["Cookie"],
        "global_response_headers": {"X-Served-By": "weir"},
        "global_response_headers_remove": ["Server"],
        "use_extended_paths": true,
        "extended_paths": {"hard_timeouts": [{"path": "/slow", "method": "get", "timeout": 3}]}
      }}},
      "CORS": {"enable": true, "allowed_origins": ["*"], "allowed_methods": ["GET"], "max_age": 60,
               "allow_credentials": true, "options_passthrough": false},
      "custom_middleware": {"driver": "", "pre": [], "post": [], "response": [], "auth_check": {"name": ""}},
      "allowed_ips": null, "tags": null, "some_future_field": {"x": [1, 2]}
    }"#,
    )
    .unwrap();
    assert_eq!(
        api.api_id, "my-api",
        "missing api_id comes from the file stem"
    );
    assert!(!api.active);
    assert_eq!(api.domain.as_deref(), Some("api.example.com"));
    assert_eq!(api.targets[0].scheme, UpstreamScheme::H2Tls);
    assert!(api.preserve_host_header && api.disable_strip_slash);
    assert!(api.transport.ssl_insecure_skip_verify);
    let h = &api.headers;
    assert_eq!(
        h.request_set,
        [("X-A".into(), "1".into()), ("X-B".into(), "2".into())]
    );
    assert_eq!(h.request_remove, ["Cookie"]);
    assert_eq!(h.response_set, [("X-Served-By".into(), "weir".into())]);
    assert_eq!(h.response_remove, ["Server"]);
    let timeouts = &api.endpoints.hard_timeouts;
    assert_eq!(timeouts[0].key.path, "/slow");
    assert_eq!(timeouts[0].key.method, "GET");
    assert_eq!(timeouts[0].timeout, Duration::from_secs(3));
    let cors = api.cors.unwrap();
    assert_eq!(cors.allowed_origins, ["*"]);
    assert_eq!(cors.max_age, 60);
    assert!(cors.allow_credentials);
    assert!(api.plugins.is_none(), "empty hooks ask for nothing");
}

#[test]
fn disabled_cors_is_none_and_the_default_version_is_chosen() {
    // Not versioned with several versions: Tyk serves the one named Default.
    let api = parse(
        r#"{"proxy": {"listen_path": "/v", "target_url": "http://u"}, "CORS": {"enable": false},
            "version_data": {"not_versioned": true, "default_version": "v2", "versions": {
              "v1": {"global_headers": {"X-V": "1"}}, "Default": {"global_headers": {"X-V": "2"}}}}}"#,
    )
    .unwrap();
    assert!(api.cors.is_none());
    assert_eq!(api.headers.request_set, [("X-V".into(), "2".into())]);
}

#[test]
fn extended_paths_need_use_extended_paths_and_header_rules_can_be_disabled() {
    let api = parse(
        r#"{"proxy": {"listen_path": "/v", "target_url": "http://u"},
            "version_data": {"not_versioned": true, "versions": {"Default": {
              "use_extended_paths": false, "global_headers_disabled": true,
              "global_headers": {"X-A": "1"}, "global_response_headers": {"X-B": "2"},
              "extended_paths": {"hard_timeouts": [{"path": "/slow", "timeout": 3}]}}}}}"#,
    )
    .unwrap();
    assert!(
        api.endpoints.hard_timeouts.is_empty(),
        "extended_paths are off"
    );
    assert!(
        api.headers.request_set.is_empty(),
        "global_headers_disabled"
    );
    assert_eq!(api.headers.response_set, [("X-B".into(), "2".into())]);
}

#[test]
fn listen_path_errors() {
    let e = only(parse(r#"{"proxy": {"target_url": "http://u"}}"#));
    assert_eq!(
        (e.field.as_str(), e.reason.as_str()),
        ("proxy.listen_path", "is required")
    );
    let e = only(parse(
        r#"{"proxy": {"listen_path": "api/", "target_url": "http://u"}}"#,
    ));
    assert_eq!(e.field, "proxy.listen_path");
    assert_eq!(e.reason, "must start with '/', found `api/`");
}

#[test]
fn target_errors() {
    let e = only(parse(r#"{"proxy": {"listen_path": "/a"}}"#));
    assert_eq!(
        (e.field.as_str(), e.reason.as_str()),
        ("proxy.target_url", "is required")
    );
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "not a url"}}"#,
    ));
    assert_eq!(e.field, "proxy.target_url");
    assert!(e.reason.contains("is not a URL"), "{}", e.reason);
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "ftp://u"}}"#,
    ));
    assert_eq!(e.field, "proxy.target_url");
    assert!(
        e.reason.contains("unsupported scheme `ftp`"),
        "{}",
        e.reason
    );
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "http://u", "enable_load_balancing": true, "target_list": []}}"#,
    ));
    assert_eq!(e.field, "proxy.target_list");
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "enable_load_balancing": true, "target_list": ["http://ok", "tcp://x"]}}"#,
    ));
    assert_eq!(e.field, "proxy.target_list[1]");
}

#[test]
fn wrong_types_name_the_path() {
    let e = only(parse(
        r#"{"proxy": {"listen_path": 5, "target_url": "http://u"}}"#,
    ));
    assert_eq!(e.field, "proxy.listen_path");
    assert_eq!(e.reason, "expected a string, found a number");
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "http://u"},
            "version_data": {"versions": {"Default": {"global_headers": ["X-A"]}}}}"#,
    ));
    assert_eq!(e.field, "version_data.versions.Default.global_headers");
    assert_eq!(e.reason, "expected an object, found a list");
    let e = only(parse(
        r#"{"use_keyless": "yes", "proxy": {"listen_path": "/a", "target_url": "http://u"}}"#,
    ));
    assert_eq!(e.field, "use_keyless");
    assert_eq!(e.reason, "expected a boolean, found a string");
}

#[test]
fn several_versions_without_a_default_are_refused() {
    // Tyk answers every request of such an API with an error; Weir refuses it at load.
    let e = only(parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "http://u"},
            "version_data": {"not_versioned": true, "versions": {"v1": {}, "v2": {}}}}"#,
    ));
    assert_eq!(e.field, "version_data.versions");
    // A versioned API (the version read from the request) may have several, and loads.
    let api = parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "http://u"},
            "definition": {"location": "header", "key": "x-api-version"},
            "version_data": {"not_versioned": false, "default_version": "v1",
                "versions": {"v1": {"global_headers": {"x": "1"}}, "v2": {"override_target": "http://v2"}}}}"#,
    )
    .unwrap();
    let versioning = api.versioning.as_ref().expect("versioned");
    let names: Vec<_> = versioning
        .versions
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, ["v1", "v2"]);
    // The API's own rules are its default version's; each version keeps its own.
    assert_eq!(
        api.headers.request_set,
        [("x".to_string(), "1".to_string())]
    );
    let v2 = api.version_variant(1).unwrap();
    assert!(v2.headers.request_set.is_empty());
    assert_eq!(v2.targets[0].url.as_str(), "http://v2/");
    assert_eq!(api.targets[0].url.as_str(), "http://u/");
}

#[test]
fn invalid_json_names_line_and_column() {
    let e = only(parse(
        "{\n  \"proxy\": {\n    \"listen_path\": \"/a\",\n  }\n}",
    ));
    assert_eq!(e.field, "");
    assert!(
        e.reason.starts_with("invalid JSON at line 4, column 3"),
        "{}",
        e.reason
    );
    assert_eq!(e.file, Path::new("/apps/my-api.json"));
}

#[test]
fn auth_check_or_bundle_alone_ask_for_plugins() {
    let api = parse(
        r#"{"proxy": {"listen_path": "/a", "target_url": "http://u"},
            "custom_middleware": {"driver": "grpc", "auth_check": {"name": "MyAuth"}}}"#,
    )
    .unwrap();
    assert_eq!(api.plugins.as_ref().unwrap().driver, "grpc");
    assert!(refuse_unbuilt_plugins(&api, &["grpc"]).is_ok());

    let api = parse(
        r#"{"api_id": "b", "name": "B", "proxy": {"listen_path": "/a", "target_url": "http://u"},
            "custom_middleware_bundle": "bundle.zip"}"#,
    )
    .unwrap();
    let e = refuse_unbuilt_plugins(&api, &["grpc"]).unwrap_err();
    assert!(e.reason.contains("names no plugin driver"), "{}", e.reason);
}

#[test]
fn written_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "echo.json",
        r#"{"api_id": "echo", "proxy": {"listen_path": "/echo/", "target_url": "ws://up:80"}}"#,
    );
    let api = load_api_file(&path).unwrap();
    assert_eq!(api.file, path);
    assert_eq!(api.targets[0].scheme, UpstreamScheme::Http);
}
