//! The Rust example plugin (built with the SDK, in its own workspace) through the driver:
//! every hook kind, short-circuits, auth, response rewrite, errors and panics.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use weir_core::plugin::{
    Driver, HookKind, HookResponse, LoadedPlugin, PluginError, ReturnOverrides, Session,
};
use weir_plugin_native::NativeDriver;

use common::*;

fn load(hooks: &[(HookKind, &str)]) -> Arc<dyn LoadedPlugin> {
    let lib = rust_example();
    let hooks: Vec<_> = hooks.iter().map(|(k, n)| (*k, *n, lib.as_path())).collect();
    NativeDriver::new().load(&spec(&hooks)).unwrap()
}

#[test]
fn answers_to_native_and_goplugin() {
    assert_eq!(NativeDriver::new().names(), &["native", "goplugin"]);
}

#[test]
fn pre_and_post_hooks_set_a_header_from_config_data() {
    let plugin = load(&[(HookKind::Pre, "AddHeader"), (HookKind::Post, "AddHeader")]);
    for kind in [HookKind::Pre, HookKind::Post] {
        let mut c = ctx(kind, "AddHeader");
        call(&*plugin, &mut c).unwrap();
        assert_eq!(header(&c, "x-hello"), Some("from config"));
        assert_eq!(c.request.return_overrides.response_code, -1);
    }
}

#[test]
fn a_pre_hook_rewrites_method_url_params_headers_and_body() {
    let plugin = load(&[(HookKind::Pre, "Rewrite")]);
    let mut c = ctx(HookKind::Pre, "Rewrite");
    c.request
        .headers
        .insert("x-remove", "gone".parse().unwrap());
    call(&*plugin, &mut c).unwrap();
    assert_eq!(c.request.method, "POST");
    assert_eq!(c.request.url, "/rewritten?keep=1&added=a+b");
    assert_eq!(c.request.request_uri, "/api/x?q=hello%20there&keep=0");
    assert_eq!(header(&c, "x-q"), Some("hello there"));
    assert_eq!(
        header(&c, "x-seen"),
        Some("https /api/x?q=hello%20there&keep=0")
    );
    assert_eq!(header(&c, "x-old-method"), Some("GET"));
    assert_eq!(header(&c, "x-remove"), None);
    assert_eq!(header(&c, "host"), Some("example.test"));
    assert_eq!(c.request.body, Bytes::from_static(b"orig+plugin"));
}

#[test]
fn a_hook_short_circuits_with_and_without_override_error() {
    let plugin = load(&[(HookKind::Pre, "Reply")]);
    for (code, raw) in [("200", false), ("403", false), ("403", true)] {
        let mut c = ctx(HookKind::Pre, "Reply");
        c.request
            .headers
            .insert("x-reply-code", code.parse().unwrap());
        if raw {
            c.request
                .headers
                .insert("x-override-error", "true".parse().unwrap());
        }
        call(&*plugin, &mut c).unwrap();
        let ro = &c.request.return_overrides;
        assert_eq!(ro.response_code.to_string(), code);
        assert_eq!(ro.override_error, raw);
        assert_eq!(ro.response_body, "reply from native-rust");
        assert_eq!(ro.headers, vec![("x-replied".into(), "native-rust".into())]);
    }
}

#[test]
fn a_hook_can_take_its_short_circuit_back() {
    let plugin = load(&[(HookKind::Pre, "Reply")]);
    let mut c = ctx(HookKind::Pre, "Reply");
    c.request
        .headers
        .insert("x-reply-cancel", "yes".parse().unwrap());
    call(&*plugin, &mut c).unwrap();
    assert_eq!(c.request.return_overrides, ReturnOverrides::none());
}

#[test]
fn config_data_is_readable_in_hooks() {
    let plugin = load(&[(HookKind::Pre, "EchoConfig")]);
    let mut c = ctx(HookKind::Pre, "EchoConfig");
    call(&*plugin, &mut c).unwrap();
    assert_eq!(header(&c, "x-config"), Some(CONFIG));
}

#[test]
fn auth_check_accepts_the_good_bearer_token() {
    let plugin = load(&[(HookKind::CustomAuth, "BearerAuth")]);
    let mut c = ctx(HookKind::CustomAuth, "BearerAuth");
    c.request
        .headers
        .insert("authorization", "Bearer good".parse().unwrap());
    call(&*plugin, &mut c).unwrap();
    let session = c.session.expect("a session");
    assert_eq!(session.rate, 100.0);
    assert_eq!(session.per, 1.0);
    assert_eq!(session.alias, "good-user");
    assert_eq!(session.metadata["user"], "good");
    assert_eq!(c.metadata.get("token").map(String::as_str), Some("good"));
    assert_eq!(c.request.return_overrides.response_code, -1);
}

#[test]
fn auth_check_rejects_other_tokens() {
    let plugin = load(&[(HookKind::CustomAuth, "BearerAuth")]);
    for auth in [None, Some("Bearer bad")] {
        let mut c = ctx(HookKind::CustomAuth, "BearerAuth");
        if let Some(auth) = auth {
            c.request
                .headers
                .insert("authorization", auth.parse().unwrap());
        }
        call(&*plugin, &mut c).unwrap();
        assert!(c.session.is_none());
        assert!(!c.metadata.contains_key("token"));
        assert_eq!(c.request.return_overrides.response_code, 401);
        assert_eq!(
            c.request.return_overrides.response_body,
            "invalid bearer token"
        );
        assert!(!c.request.return_overrides.override_error);
    }
}

#[test]
fn post_key_auth_reads_session_and_metadata() {
    let plugin = load(&[(HookKind::PostKeyAuth, "Whoami")]);
    let mut c = ctx(HookKind::PostKeyAuth, "Whoami");
    let mut session = Session::default();
    session.metadata.insert("user".into(), "alice".into());
    session.extra.insert("custom".into(), "kept".into());
    c.session = Some(session.clone());
    c.metadata.insert("token".into(), "tok-1".into());
    call(&*plugin, &mut c).unwrap();
    assert_eq!(header(&c, "x-user"), Some("alice"));
    assert_eq!(header(&c, "x-token"), Some("tok-1"));
    assert_eq!(c.session, Some(session));
}

#[test]
fn a_response_hook_rewrites_status_headers_and_body() {
    let plugin = load(&[(HookKind::Response, "Rewrite")]);
    let mut c = ctx(HookKind::Response, "Rewrite");
    let mut headers = HeaderMap::new();
    headers.insert("x-upstream-secret", "s".parse().unwrap());
    headers.insert("x-kept", "k".parse().unwrap());
    c.response = Some(HookResponse {
        status: 200,
        headers,
        body: Bytes::from_static(b"upstream body"),
    });
    call(&*plugin, &mut c).unwrap();
    let resp = c.response.unwrap();
    assert_eq!(resp.status, 202);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": 200, "upstream": "upstream body"})
    );
    assert_eq!(resp.headers["x-response-plugin"], "native-rust");
    assert_eq!(resp.headers["content-type"], "application/json");
    assert_eq!(resp.headers["x-kept"], "k");
    assert!(!resp.headers.contains_key("x-upstream-secret"));
}

#[test]
fn a_response_hook_without_a_response_fails_cleanly() {
    let plugin = load(&[(HookKind::Response, "Rewrite")]);
    let mut c = ctx(HookKind::Response, "Rewrite");
    let err = call(&*plugin, &mut c).unwrap_err();
    let PluginError::Crashed { hook, reason } = err else {
        panic!("expected Crashed, got {err:?}");
    };
    assert_eq!(hook, "Rewrite");
    assert!(reason.contains("get_response_status"), "{reason}");
    assert!(reason.contains("not available in this hook"), "{reason}");
}

#[test]
fn a_panic_fails_only_its_call() {
    let plugin = load(&[(HookKind::Pre, "MaybePanic")]);
    let mut c = ctx(HookKind::Pre, "MaybePanic");
    c.request.headers.insert("x-panic", "yes".parse().unwrap());
    let err = call(&*plugin, &mut c).unwrap_err();
    assert_eq!(
        err,
        PluginError::Crashed {
            hook: "MaybePanic".into(),
            reason: "panicked: boom on demand".into()
        }
    );
    let mut c = ctx(HookKind::Pre, "MaybePanic");
    call(&*plugin, &mut c).unwrap();
    assert_eq!(header(&c, "x-survived"), Some("yes"));
}

#[test]
fn a_hook_error_is_reported_with_its_message() {
    let plugin = load(&[(HookKind::Pre, "Fail"), (HookKind::Post, "Nope")]);
    let err = call(&*plugin, &mut ctx(HookKind::Pre, "Fail")).unwrap_err();
    assert_eq!(
        err,
        PluginError::Crashed {
            hook: "Fail".into(),
            reason: "the hook failed: failed on purpose".into()
        }
    );
    // Declared, but the plugin has no such hook: the plugin says so.
    let err = call(&*plugin, &mut ctx(HookKind::Post, "Nope")).unwrap_err();
    assert!(err.to_string().contains("no post hook named Nope"), "{err}");
}

#[test]
fn an_undeclared_hook_is_unavailable() {
    let plugin = load(&[(HookKind::Pre, "AddHeader")]);
    let err = call(&*plugin, &mut ctx(HookKind::Post, "AddHeader")).unwrap_err();
    assert!(
        matches!(&err, PluginError::Unavailable { hook, .. } if hook == "AddHeader"),
        "{err:?}"
    );
}

#[test]
fn init_errors_fail_the_load_naming_the_file() {
    let lib = rust_example();
    let spec = spec_with_config(
        &[(HookKind::Pre, "AddHeader", &lib)],
        r#"{"header_name":1}"#,
    );
    let err = NativeDriver::new()
        .load(&spec)
        .err()
        .expect("load must fail");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(
        err.contains("config_data.header_name must be a string"),
        "{err}"
    );
}

#[test]
fn a_hook_without_a_path_fails_the_load() {
    let lib = rust_example();
    let mut spec = spec(&[(HookKind::Pre, "AddHeader", &lib)]);
    spec.hooks[0].path = None;
    let err = NativeDriver::new()
        .load(&spec)
        .err()
        .expect("load must fail");
    assert!(err.contains("apps/test-api.json"), "{err}");
    assert!(err.contains("pre hook `AddHeader` has no `path`"), "{err}");
}
