//! Plugin declarations, classic and OAS: the typed model the plugin host maps to drivers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use weir_config::{ApiDefinition, ConfigError, HookPhase, PluginDeclaration, parse_api_definition};

use crate::{merge, only};

/// A keyless classic API with `extra` merged in at the top level.
fn classic(extra: Value) -> Result<ApiDefinition, Vec<ConfigError>> {
    let mut doc = json!({
        "api_id": "a", "name": "a", "use_keyless": true,
        "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9"}
    });
    merge(&mut doc, extra);
    parse_api_definition(&doc.to_string(), Path::new("/apps/a.json"))
}

/// An OAS API with `gateway` merged into `x-tyk-api-gateway`.
fn oas(gateway: Value) -> Result<ApiDefinition, Vec<ConfigError>> {
    let mut doc = json!({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "o", "name": "o"},
            "upstream": {"url": "http://127.0.0.1:9"},
            "server": {"listenPath": {"value": "/o/"}}
        }
    });
    merge(&mut doc["x-tyk-api-gateway"], gateway);
    parse_api_definition(&doc.to_string(), Path::new("/apps/o.json"))
}

fn declared(api: Result<ApiDefinition, Vec<ConfigError>>) -> PluginDeclaration {
    api.unwrap().plugins.expect("asks for plugins")
}

fn names(decl: &PluginDeclaration) -> Vec<(HookPhase, &str)> {
    decl.hooks
        .iter()
        .map(|h| (h.phase, h.name.as_str()))
        .collect()
}

#[test]
fn a_flag_written_as_a_string_is_refused_naming_it() {
    let e = only(classic(json!({"custom_middleware": {"driver": "grpc",
        "pre": [{"name": "MyPre", "disabled": "true"}]}})));
    assert_eq!(e.field, "custom_middleware.pre[0].disabled");
    assert_eq!(e.reason, "expected true or false, found a string");

    let e = only(oas(json!({"middleware": {"global": {
        "prePlugins": [{"functionName": "MyPre", "enabled": "yes"}]}}})));
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.middleware.global.prePlugins[0].enabled"
    );
    assert!(e.reason.contains("expected true or false"), "{e}");
}

#[test]
fn a_disabled_hook_is_off() {
    let decl = declared(classic(json!({"custom_middleware": {"driver": "grpc",
        "pre": [{"name": "MyPre", "disabled": true}, {"name": "Other"}]}})));
    assert_eq!(names(&decl), [(HookPhase::Pre, "Other")]);

    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "grpc"},
        "postPlugins": [{"functionName": "Off", "enabled": false},
                        {"functionName": "On", "enabled": true}]}}})));
    assert_eq!(names(&decl), [(HookPhase::Post, "On")]);

    // Only `enabled: false` switches an OAS hook off; one written without it is on, and asks
    // for plugins like an enabled one.
    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "grpc"},
        "prePlugins": [{"functionName": "Unsaid"}]}}})));
    assert_eq!(names(&decl), [(HookPhase::Pre, "Unsaid")]);
}

#[test]
fn classic_hooks_in_order_with_their_flags_and_paths() {
    let decl = declared(classic(json!({
        "use_keyless": false, "custom_plugin_auth_enabled": true,
        "custom_middleware": {"driver": " native ", "timeout": 1.5,
            "pre": [{"name": "Pre", "path": "lib/p.so", "raw_body_only": true}],
            "auth_check": {"name": "Auth", "path": "/abs/a.so"},
            "post_key_auth": [{"name": "Pka", "require_session": true}],
            "post": [{"symbol_name": "FromSymbol"}],
            "response": [{"name": "Resp"}],
            "driver_specific_middleware": {"native_streams": [{"name": "Stream"}]}}
    })));
    assert_eq!(decl.driver, "native");
    assert_eq!(
        names(&decl),
        [
            (HookPhase::Pre, "Pre"),
            (HookPhase::PostKeyAuth, "Pka"),
            (HookPhase::Post, "FromSymbol"),
            (HookPhase::Response, "Resp"),
            (HookPhase::GrpcMessage, "Stream"),
            (HookPhase::CustomAuth, "Auth"),
        ]
    );
    assert!(decl.custom_auth);
    assert_eq!(decl.timeout, Some(Duration::from_millis(1500)));
    let pre = &decl.hooks[0];
    assert_eq!(pre.path, Some(PathBuf::from("/apps/lib/p.so")));
    assert!(pre.raw_body_only && !pre.require_session);
    assert!(decl.hooks[1].require_session);
    assert_eq!(decl.hooks[2].path, None);
    assert_eq!(decl.hooks[5].path, Some(PathBuf::from("/abs/a.so")));
}

#[test]
fn a_custom_auth_hook_on_a_keyless_api_is_ignored() {
    let decl = declared(classic(json!({"custom_plugin_auth_enabled": true,
        "custom_middleware": {"driver": "grpc", "auth_check": {"name": "Auth"}}})));
    assert!(decl.hooks.is_empty() && !decl.custom_auth);
    // Protected, but no custom-auth switch on: not run either.
    let decl = declared(classic(json!({"use_keyless": false,
        "custom_middleware": {"driver": "grpc", "auth_check": {"name": "Auth"}}})));
    assert!(decl.hooks.is_empty());
    // Tyk's older switches count.
    let decl = declared(classic(
        json!({"use_keyless": false, "enable_coprocess_auth": true,
        "custom_middleware": {"driver": "grpc", "auth_check": {"name": "Auth"}}}),
    ));
    assert_eq!(names(&decl), [(HookPhase::CustomAuth, "Auth")]);

    // OAS: no enabled authentication is a keyless API.
    let custom = json!({"enabled": true, "config": {"functionName": "Auth"}});
    let api = oas(json!({"server": {"authentication": {"enabled": false, "custom": custom}}}));
    assert!(api.unwrap().plugins.is_none());
    let decl = declared(oas(
        json!({"server": {"authentication": {"enabled": true, "custom": custom}}}),
    ));
    assert_eq!(names(&decl), [(HookPhase::CustomAuth, "Auth")]);
    assert!(decl.custom_auth);
    let off = json!({"enabled": true, "config": {"functionName": "Auth", "enabled": false}});
    // Protected with the plugin off: built-in OAS authentication, not built, is refused.
    let errors =
        oas(json!({"server": {"authentication": {"enabled": true, "custom": off}}})).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.field == "x-tyk-api-gateway.server.authentication"),
        "{errors:?}"
    );
}

#[test]
fn stream_hooks_under_another_drivers_name_are_refused() {
    let e = only(classic(json!({"custom_middleware": {"driver": "wasm",
        "driver_specific_middleware": {"goplugin_streams": [{"symbol_name": "HandleStream"}]}}})));
    assert_eq!(
        e.field,
        "custom_middleware.driver_specific_middleware.goplugin_streams"
    );
    assert!(
        e.reason.contains("API `a`") && e.reason.contains("declare them as `wasm_streams`"),
        "{e}"
    );
    // An empty list under another name is not a declaration.
    let decl = declared(classic(json!({"custom_middleware": {"driver": "wasm",
        "driver_specific_middleware": {"goplugin_streams": []}}})));
    assert!(decl.hooks.is_empty());
}

#[test]
fn a_hook_needs_a_name() {
    let e = only(classic(
        json!({"custom_middleware": {"driver": "grpc", "post": [{"path": "x.so"}]}}),
    ));
    assert_eq!(e.field, "custom_middleware.post[0].name");
    assert_eq!(e.reason, "a hook needs a name");
    let e = only(oas(json!({"middleware": {"global": {
        "grpcMessagePlugins": [{"enabled": true}]}}})));
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.middleware.global.grpcMessagePlugins[0].functionName"
    );
}

#[test]
fn timeout_is_a_positive_number_of_seconds() {
    for bad in [json!(0), json!(-1), json!("2"), json!(1e300)] {
        let e = only(classic(
            json!({"custom_middleware": {"driver": "grpc", "timeout": bad}}),
        ));
        assert_eq!(e.field, "custom_middleware.timeout");
        assert!(
            e.reason
                .starts_with("expected a positive number of seconds"),
            "{bad}: {e}"
        );
    }
    let e = only(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "grpc", "timeout": -2},
        "prePlugins": [{"functionName": "P", "enabled": true}]}}})));
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.middleware.global.pluginConfig.timeout"
    );
    let decl = declared(classic(
        json!({"custom_middleware": {"driver": "grpc", "timeout": 3}}),
    ));
    assert_eq!(decl.timeout, Some(Duration::from_secs(3)));
}

#[test]
fn a_string_config_data_is_kept_as_a_string() {
    let decl = declared(classic(json!({"custom_middleware": {"driver": "wasm"},
        "config_data": "header=X-Hello"})));
    assert_eq!(decl.config_data, Value::String("header=X-Hello".into()));
    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "wasm", "data": {"enabled": true, "value": "raw"}},
        "prePlugins": [{"functionName": "P", "enabled": true}]}}})));
    assert_eq!(decl.config_data, Value::String("raw".into()));
}

#[test]
fn classic_config_data_bundle_and_their_switches() {
    let base = json!({"custom_middleware": {"driver": "grpc"},
        "custom_middleware_bundle": "b1",
        "middleware_global_config": {"b1": {"from": "global"}}});
    // Unset or `{}` config_data: seed 000's middleware_global_config[<bundle>].
    for config_data in [Value::Null, json!({})] {
        let mut doc = base.clone();
        doc["config_data"] = config_data;
        let decl = declared(classic(doc));
        assert_eq!(decl.config_data, json!({"from": "global"}));
        assert_eq!(decl.bundle, "b1");
    }
    // Written as is, nulls included.
    let mut doc = base.clone();
    doc["config_data"] = json!({"a": null});
    assert_eq!(declared(classic(doc)).config_data, json!({"a": null}));
    // Switched off.
    let mut doc = base.clone();
    doc["config_data"] = json!({"a": 1});
    doc["config_data_disabled"] = json!(true);
    doc["custom_middleware_bundle_disabled"] = json!(true);
    let decl = declared(classic(doc));
    assert_eq!(decl.config_data, Value::Null);
    assert_eq!(decl.bundle, "");
    // A bundle alone asks for plugins.
    let decl = declared(classic(json!({"custom_middleware_bundle": "b2"})));
    assert_eq!((decl.driver.as_str(), decl.bundle.as_str()), ("", "b2"));
}

#[test]
fn oas_plural_lists_win_over_singular_blocks() {
    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "grpc"},
        "prePlugins": [{"functionName": "Plural", "enabled": true}],
        "prePlugin": {"plugins": [{"functionName": "Singular", "enabled": true}]},
        "responsePlugin": {"plugins": [{"functionName": "OnlySingular", "enabled": true}]}}}})));
    assert_eq!(
        names(&decl),
        [
            (HookPhase::Pre, "Plural"),
            (HookPhase::Response, "OnlySingular")
        ]
    );
    // Errors name the block the hook was read from.
    let e = only(oas(json!({"middleware": {"global": {
        "postPlugin": {"plugins": [{"enabled": true, "path": "x"}]}}}})));
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.middleware.global.postPlugin.plugins[0].functionName"
    );
}

#[test]
fn oas_plugin_config_data_bundle_and_timeout() {
    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "wasm", "timeout": 4,
            "data": {"enabled": true, "value": {"k": "v"}},
            "bundle": {"enabled": true, "path": "bundle.zip"}},
        "grpcMessagePlugins": [{"functionName": "OnMsg", "enabled": true, "path": "f.wasm"}]}}})));
    assert_eq!(decl.driver, "wasm");
    assert_eq!(names(&decl), [(HookPhase::GrpcMessage, "OnMsg")]);
    assert_eq!(decl.hooks[0].path, Some(PathBuf::from("/apps/f.wasm")));
    assert_eq!(decl.config_data, json!({"k": "v"}));
    assert_eq!(decl.bundle, "bundle.zip");
    assert_eq!(decl.timeout, Some(Duration::from_secs(4)));
    // Disabled data and bundle are not read.
    let decl = declared(oas(json!({"middleware": {"global": {
        "pluginConfig": {"driver": "wasm",
            "data": {"enabled": false, "value": {"k": "v"}},
            "bundle": {"enabled": false, "path": "bundle.zip"}},
        "prePlugins": [{"functionName": "P", "enabled": true}]}}})));
    assert_eq!((decl.config_data, decl.bundle.as_str()), (Value::Null, ""));
}
