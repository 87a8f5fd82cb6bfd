//! Stream hooks of the Rust example plugin (built with the SDK): what a hook sees of the call,
//! each verdict, panics and errors, and routing by kind and name.

mod common;

use std::sync::Arc;

use weir_core::plugin::{
    ApiSpecInfo, Driver, GrpcMessage, HookKind, LoadedPlugin, MessageDirection, MessageVerdict,
    PluginError, Session,
};
use weir_plugin_native::NativeDriver;

use common::*;

fn load(hooks: &[(HookKind, &str)]) -> Arc<dyn LoadedPlugin> {
    let lib = rust_example();
    let hooks: Vec<_> = hooks.iter().map(|(k, n)| (*k, *n, lib.as_path())).collect();
    NativeDriver::new().load(&spec(&hooks)).unwrap()
}

fn describe_line(plugin: &dyn LoadedPlugin, msg: &mut GrpcMessage) -> String {
    assert_eq!(on_message(plugin, msg).unwrap(), MessageVerdict::Pass);
    String::from_utf8(msg.payload.to_vec()).unwrap()
}

#[test]
fn a_stream_hook_sees_direction_method_index_headers_session_and_config() {
    let plugin = load(&[(HookKind::GrpcMessage, "Describe")]);
    let mut msg = message(
        "Describe",
        MessageDirection::FromUpstream,
        "/demo.Svc/Watch",
        b"12345",
    );
    msg.index = 41;
    let mut msg = with_header(msg, "x-tag", "blue");
    let mut session = Session::default();
    session.metadata.insert("user".into(), "alice".into());
    msg.session = Some(Arc::new(session));
    assert_eq!(
        describe_line(&*plugin, &mut msg),
        "from_upstream /demo.Svc/Watch #41 5B tag=blue user=alice config=yes"
    );

    let mut msg = message(
        "Describe",
        MessageDirection::ToUpstream,
        "/demo.Svc/Put",
        b"",
    );
    msg.spec = Arc::new(ApiSpecInfo::default());
    assert_eq!(
        describe_line(&*plugin, &mut msg),
        "to_upstream /demo.Svc/Put #0 0B tag=- user=- config=no"
    );
}

#[test]
fn a_stream_hook_drops_and_ends_the_call() {
    let plugin = load(&[(HookKind::GrpcMessage, "Describe")]);
    let msg = message("Describe", MessageDirection::FromUpstream, "/a.B/C", b"x");
    let mut drop = with_header(msg.clone(), "x-drop", "yes");
    assert_eq!(
        on_message(&*plugin, &mut drop).unwrap(),
        MessageVerdict::Drop
    );
    assert_eq!(&drop.payload[..], b"x");

    let mut end = with_header(msg.clone(), "x-end", "14");
    assert_eq!(
        on_message(&*plugin, &mut end).unwrap(),
        MessageVerdict::End {
            code: 14,
            message: "ended by native-rust".into()
        }
    );
    // The host accepts gRPC codes only (0..=16): the SDK reports the refusal as a failure.
    let mut bad = with_header(msg, "x-end", "17");
    let err = on_message(&*plugin, &mut bad).unwrap_err();
    assert!(
        matches!(&err, PluginError::Crashed { reason, .. } if reason.contains("refused gRPC status 17")),
        "{err:?}"
    );
}

#[test]
fn a_stream_hook_panic_fails_only_its_message() {
    let plugin = load(&[(HookKind::GrpcMessage, "MaybePanic")]);
    let msg = message("MaybePanic", MessageDirection::ToUpstream, "/a.B/C", b"m");
    let mut boom = with_header(msg.clone(), "x-panic", "yes");
    assert_eq!(
        on_message(&*plugin, &mut boom).unwrap_err(),
        PluginError::Crashed {
            hook: "MaybePanic".into(),
            reason: "panicked: stream boom on demand".into()
        }
    );
    let mut next = msg;
    assert_eq!(
        on_message(&*plugin, &mut next).unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(&next.payload[..], b"m");
}

#[test]
fn a_stream_hook_error_is_reported_with_its_message() {
    let plugin = load(&[(HookKind::GrpcMessage, "Nope")]);
    let mut msg = message("Nope", MessageDirection::ToUpstream, "/a.B/C", b"m");
    let err = on_message(&*plugin, &mut msg).unwrap_err();
    assert_eq!(
        err,
        PluginError::Crashed {
            hook: "Nope".into(),
            reason: "the hook failed: no stream hook named Nope".into()
        }
    );
}

#[test]
fn stream_hooks_are_routed_by_kind_and_name() {
    let plugin = load(&[
        (HookKind::Pre, "AddHeader"),
        (HookKind::GrpcMessage, "Describe"),
    ]);
    // A request hook's name is no stream hook.
    let mut msg = message("AddHeader", MessageDirection::ToUpstream, "/a.B/C", b"m");
    let err = on_message(&*plugin, &mut msg).unwrap_err();
    assert!(
        matches!(&err, PluginError::Unavailable { hook, .. } if hook == "AddHeader"),
        "{err:?}"
    );
    // A stream hook is not run as a request hook.
    let err = call(&*plugin, &mut ctx(HookKind::GrpcMessage, "Describe")).unwrap_err();
    assert!(
        matches!(&err, PluginError::Unavailable { hook, .. } if hook == "Describe"),
        "{err:?}"
    );
    // The request hook still works beside it.
    let mut c = ctx(HookKind::Pre, "AddHeader");
    call(&*plugin, &mut c).unwrap();
    assert_eq!(header(&c, "x-hello"), Some("from config"));
}
