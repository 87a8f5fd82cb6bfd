//! The compatibility table: every Tyk field is classified, the docs page is generated from it,
//! and a setting that is on but not built refuses the API naming its field.

use std::path::Path;

use serde_json::{Value, json};
use weir_config::compat::{Form, covers_field, markdown};
use weir_config::{DocFormat, gateway_config_from_str, load_api_file, parse_api_definition};

use crate::{merge, seed};

/// Field paths of Tyk's own structs (`apidef.APIDefinition`, the `x-tyk-api-gateway` schema and
/// `config.Config`, Tyk at commit 31e219be), one per line; `[]` marks a list, `*` a map key.
fn tyk_fields(name: &str) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/tyk-fields/{name}.txt"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.replace("[]", ""))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_tyk_field_is_classified() {
    for (name, form) in [
        ("classic", Form::Classic),
        ("oas", Form::Oas),
        ("gateway", Form::Gateway),
    ] {
        let fields = tyk_fields(name);
        assert!(fields.len() > 300, "{name}: only {} fields", fields.len());
        let missing: Vec<&String> = fields.iter().filter(|f| !covers_field(form, f)).collect();
        assert!(
            missing.is_empty(),
            "{name}: fields without a row: {missing:#?}"
        );
    }
}

#[test]
fn the_docs_page_is_generated_from_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tyk-compatibility.md");
    let generated = markdown();
    if std::env::var_os("WEIR_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/tyk-compatibility.md differs from the table; run \
         `WEIR_BLESS=1 cargo test -p weir-config --test it compat` and commit it"
    );
}

fn classic(extra: Value) -> Value {
    let mut doc = json!({
        "api_id": "a", "name": "A", "org_id": "1", "use_keyless": true, "active": true,
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default", "use_extended_paths": true}}},
        "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9", "strip_listen_path": true}
    });
    merge(&mut doc, extra);
    doc
}

/// The fields named by the errors of loading `doc`; empty when it loads.
fn refused_fields(doc: &Value) -> Vec<String> {
    match parse_api_definition(&doc.to_string(), Path::new("/apps/a.json")) {
        Ok(_) => Vec::new(),
        Err(errors) => {
            for e in &errors {
                assert!(
                    e.reason.contains("not built in Weir yet") || e.field == "api_definition",
                    "{e}"
                );
            }
            errors.into_iter().map(|e| e.field).collect()
        }
    }
}

#[test]
fn settings_that_change_the_wire_refuse_the_api() {
    let ep = |list: &str, entry: Value| json!({"version_data": {"versions": {"Default": {"extended_paths": {list: [entry]}}}}});
    let cases = [
        (
            json!({"use_keyless": false, "session_lifetime": 3600}),
            "session_lifetime",
        ),
        (
            ep("rate_limit", json!({"path": "/x", "rate": 1, "per": 1})),
            "version_data.versions.Default.extended_paths.rate_limit",
        ),
        (json!({"expiration": "2020-01-02 15:04"}), "expiration"),
        (json!({"graphql": {"enabled": true}}), "graphql"),
        (
            json!({"enable_batch_request_support": true}),
            "enable_batch_request_support",
        ),
        (
            json!({"cache_options": {"enable_cache": true, "cache_all_safe_requests": true}}),
            "cache_options",
        ),
        (
            json!({"proxy": {"check_host_against_uptime_tests": true}}),
            "proxy.check_host_against_uptime_tests",
        ),
        (
            json!({"uptime_tests": {"check_list": [{"url": "http://x/"}]}}),
            "uptime_tests",
        ),
        (
            json!({"event_handlers": {"events": {"QuotaExceeded": [{"handler_name": "eh_web_hook_handler"}]}}}),
            "event_handlers",
        ),
        (
            json!({"version_data": {"versions": {"Default": {"global_headers": {"X-User": "$secret_env.user"}}}}}),
            "version_data.versions.Default",
        ),
        (
            json!({"use_keyless": false, "enable_jwt": true, "jwt_jwks_uris": [{"url": "http://idp/jwks"}]}),
            "jwt_jwks_uris",
        ),
        (
            json!({"error_overrides": {"500": [{"match": {"flag": "UCF"}, "response": {}}]}}),
            "error_overrides",
        ),
        (json!({"expiration": "2020-01-01 00:00"}), "expiration"),
        (json!({"listen_port": 9999}), "listen_port"),
    ];
    for (extra, field) in cases {
        let fields = refused_fields(&classic(extra.clone()));
        assert!(
            fields.contains(&field.to_string()),
            "{extra}: expected `{field}` refused, got {fields:?}"
        );
    }
}

#[test]
fn settings_without_effect_in_tyk_do_not_refuse() {
    let quiet = [
        // `enable_cache` alone caches nothing in Tyk (31 real definitions carry it).
        json!({"cache_options": {"enable_cache": true, "cache_timeout": 60}}),
        // `use_extended_paths: false` switches extended_paths off.
        json!({"version_data": {"versions": {"Default": {"use_extended_paths": false,
            "extended_paths": {"white_list": [{"path": "/x"}]}}}}}),
        // Disabled entries, disabled features, keyless APIs' auth settings.
        json!({"version_data": {"versions": {"Default": {"extended_paths": {"url_rewrites": [{"path": "/x", "disabled": true}]}}}}}),
        json!({"global_rate_limit": {"rate": 10, "per": 1, "disabled": true}}),
        json!({"enable_ip_whitelisting": true, "allowed_ips": ["1.2.3.4"], "ip_access_control_disabled": true}),
        json!({"enable_jwt": true, "jwt_source": "abc", "use_standard_auth": true}),
        json!({"enable_context_vars": true}),
        // Context variables and session metadata in header values are filled in.
        json!({"enable_context_vars": true, "version_data": {"versions": {"Default": {"global_headers": {
            "X-Id": "$tyk_context.request_id", "X-User": "$tyk_meta.user"}}}}}),
        json!({"expiration": "-1", "do_not_track": true, "tags": ["a"], "enable_detailed_recording": true}),
        json!({"uptime_tests": {"check_list": [], "config": {"expire_utime_after": 0}}}),
    ];
    for extra in quiet {
        assert_eq!(
            refused_fields(&classic(extra.clone())),
            Vec::<String>::new(),
            "{extra}"
        );
    }
}

#[test]
fn oas_settings_refuse_and_deprecated_plugins_are_read() {
    let oas = |gw: Value| {
        let mut doc = json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/x": {"get": {"operationId": "getX"}}},
            "x-tyk-api-gateway": {"info": {"name": "t", "state": {"active": true}},
            "upstream": {"url": "http://127.0.0.1:9"}, "server": {"listenPath": {"value": "/t/"}}}});
        merge(&mut doc["x-tyk-api-gateway"], gw);
        doc
    };
    for (gw, field) in [
        (
            json!({"upstream": {"proxy": {"enabled": true, "url": "http://127.0.0.1:3128"}}}),
            "x-tyk-api-gateway.upstream.proxy",
        ),
        (
            json!({"middleware": {"operations": {"getX": {"mockResponse": {"enabled": true,
                "fromOASExamples": {"enabled": true}}}}}}),
            "x-tyk-api-gateway.middleware.operations.getX.mockResponse",
        ),
        (
            json!({"info": {"expiration": "2020-01-02 15:04"}}),
            "x-tyk-api-gateway.info.expiration",
        ),
    ] {
        let fields = refused_fields(&oas(gw.clone()));
        assert!(
            fields.contains(&field.to_string()),
            "{gw}: expected `{field}`, got {fields:?}"
        );
    }
    // Tracking an operation is analytics only.
    let tracked =
        oas(json!({"middleware": {"operations": {"getX": {"trackEndpoint": {"enabled": true}}}}}));
    assert!(refused_fields(&tracked).is_empty());
    // Tyk's deprecated singular plugin block is read as Tyk migrates it.
    let old = oas(
        json!({"middleware": {"global": {"pluginConfig": {"driver": "grpc"},
        "prePlugin": {"plugins": [{"enabled": true, "functionName": "MyPre"}]}}}}),
    );
    let api = parse_api_definition(&old.to_string(), Path::new("/apps/t.json")).unwrap();
    assert_eq!(api.plugins.expect("asks for plugins").driver, "grpc");
}

#[test]
fn seed_001_loads_with_its_streams_for_the_engine() {
    // The loader accepts the block; the stream engine checks each stream when the API compiles.
    let api = load_api_file(&seed("streams-demo.yaml")).unwrap();
    let streams = api.document["x-tyk-streaming"]["streams"]
        .as_object()
        .expect("streams kept in the document");
    let mut names: Vec<&str> = streams.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["Worker", "in", "out"]);
}

#[test]
fn dashboard_exports_say_what_they_are() {
    let export = json!({"api_definition": classic(json!({})), "hook_references": []});
    let errors = parse_api_definition(&export.to_string(), Path::new("/apps/x.json")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "api_definition");
    assert!(
        errors[0].reason.contains("Tyk Dashboard export"),
        "{}",
        errors[0]
    );
}

#[test]
fn gateway_settings_that_change_the_wire_refuse_the_config() {
    let load = |text: &str| {
        gateway_config_from_str(
            text,
            DocFormat::Json,
            Path::new("/etc/weir/tyk.conf"),
            &|_| None,
        )
    };
    for (text, field) in [
        (
            r#"{"streaming": {"enabled": true, "allow_unsafe": ["file"]}}"#,
            "streaming.allow_unsafe",
        ),
        (
            r#"{"override_messages": {"auth.no_such_id": {"code": 401, "message": "no"}}}"#,
            "override_messages.auth.no_such_id",
        ),
        (r#"{"close_connections": true}"#, "close_connections"),
        (
            r#"{"http_server_options": {"max_request_body_size": 1024}}"#,
            "http_server_options.max_request_body_size",
        ),
    ] {
        let errors = load(text).unwrap_err();
        assert!(
            errors.iter().any(|e| e.field == field),
            "{text}: {errors:?}"
        );
    }
    // Tyk's shipped config: storage, analytics, hashing, policies... load.
    let shipped = r#"{"listen_port": 8080, "secret": "352d20ee67be67f6340b4c0605b044b7",
        "template_path": "/opt/tyk-gateway/templates", "use_db_app_configs": false,
        "storage": {"type": "redis", "host": "tyk-redis", "port": 6379},
        "enable_analytics": false, "analytics_config": {"type": ""}, "hash_keys": true,
        "policies": {"policy_source": "file"}, "enable_jsvm": true, "enable_bundle_downloader": true}"#;
    let config = load(shipped).unwrap();
    assert!(!config.enable_custom_domains && !config.proxy_enable_http2);
}

#[test]
fn unknown_fields_are_found_for_warnings() {
    let api = parse_api_definition(
        &classic(json!({"listen_paht": "/x", "proxy": {"targett_url": "y"}})).to_string(),
        Path::new("/apps/a.json"),
    )
    .unwrap();
    let mut unknown = weir_config::compat::unknown_fields(&api);
    unknown.sort();
    assert_eq!(unknown, ["listen_paht", "proxy.targett_url"]);
}

#[test]
fn unknown_gateway_keys_are_found_for_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let conf = crate::write(
        dir.path(),
        "tyk.conf",
        r#"{"listen_prot": 8080, "enable_analytics": false, "grpc_max_message_size": 10,
            "http_server_options": {"use_ssl": false, "enable_htp2": true}}"#,
    );
    assert_eq!(
        weir_config::unknown_gateway_fields(&conf),
        ["http_server_options.enable_htp2", "listen_prot"]
    );
}
