//! The driver against the real Node plugin server (examples/plugins/grpc-node).

mod common;

use common::{Lang, PluginServer, auth_check, ctx, header, load};
use weir_core::plugin::HookKind;
use weir_plugin_grpc::{GrpcDriver, GrpcOptions};

#[tokio::test]
async fn node_pre_hook() {
    let server = PluginServer::start(Lang::Node, "127.0.0.1:0").await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(
        HookKind::Pre,
        "MyPreHook",
        "/api/get?q=1",
        &[("host", "node.test"), ("x-remove", "x")],
        b"payload",
    );
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done-by-node");
    assert_eq!(header(&c, "x-seen-host"), "node.test");
    assert_eq!(header(&c, "x-seen-hook-type"), "Pre");
    assert!(c.request.headers.get("x-remove").is_none());
    assert_eq!(c.request.url, "/api/get?q=1&added=node");
    assert_eq!(&c.request.body[..], b"payload");
    assert_eq!(c.request.return_overrides.response_code, -1);
    assert_eq!(header(&c, "x-seen-authority"), server.address);
}

#[tokio::test]
async fn grpc_authority_is_sent() {
    let server = PluginServer::start(Lang::Node, "127.0.0.1:0").await;
    let options = GrpcOptions::from_json(&serde_json::json!({
        "coprocess_grpc_server": server.tyk_address(),
        "grpc_authority": "plugins.example:7000"
    }))
    .unwrap();
    let driver = GrpcDriver::new(options);
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/a", &[], b"");
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-seen-authority"), "plugins.example:7000");
}

#[tokio::test]
async fn node_auth_check() {
    let server = PluginServer::start(Lang::Node, "127.0.0.1:0").await;
    auth_check(&server, "Not authorised by the node plugin").await;
}

#[tokio::test]
async fn node_over_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("node.sock");
    let server = PluginServer::start(Lang::Node, &format!("unix:{}", sock.display())).await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/n", &[], b"");
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done-by-node");
}

/// The Node server does not implement Weir's stream hook extension, like any Tyk plugin
/// server: grpc-js answers UNIMPLEMENTED, which the driver names.
#[tokio::test]
async fn node_without_stream_hooks_is_named() {
    let server = PluginServer::start(Lang::Node, "127.0.0.1:0").await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::GrpcMessage, "HandleStream", false);
    let mut msg = common::message(
        "HandleStream",
        weir_core::plugin::MessageDirection::FromUpstream,
        "/vision.VisionService/StreamDetections",
        b"\x0a\x01x",
        &[],
        &serde_json::json!({}),
    );
    let err = plugin.on_grpc_message(&mut msg).await.unwrap_err();
    let weir_core::plugin::PluginError::Unavailable { reason, .. } = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(
        reason.contains("does not implement Weir's stream hooks"),
        "{reason}"
    );
    // Tyk's hooks keep working on the same server.
    let pre = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/n", &[], b"");
    pre.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done-by-node");
}
