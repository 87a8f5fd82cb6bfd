//! The plugin server going away and coming back, and the message size limits.

mod common;

use std::net::TcpListener;

use common::{Lang, PluginServer, ctx, header, load};
use weir_core::plugin::{HookKind, PluginError};
use weir_plugin_grpc::{GrpcDriver, GrpcOptions, ServerAddress};

/// A port nothing listens on (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn server_never_started_is_unavailable() {
    let port = free_port();
    let driver = GrpcDriver::new(GrpcOptions::new(
        ServerAddress::parse(&format!("tcp://127.0.0.1:{port}")).unwrap(),
    ));
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"");
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(
        matches!(err, PluginError::Unavailable { ref hook, .. } if hook == "MyPreHook"),
        "{err:?}"
    );
    assert!(header(&c, "x-pre").is_empty(), "context untouched");

    let err = driver.dispatch_event("{}".into()).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn server_restart_recovers_without_a_new_driver() {
    let server = PluginServer::start(Lang::Python, "127.0.0.1:0").await;
    let address = server.address.clone();
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);

    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"");
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done");

    server.stop().await;
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"");
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable { .. }), "{err:?}");
    // Still down: still unavailable, and quickly.
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable { .. }), "{err:?}");

    let _server = PluginServer::start(Lang::Python, &address).await;
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"");
    plugin
        .call(&mut c)
        .await
        .expect("the same plugin works again once the server is back");
    assert_eq!(header(&c, "x-pre"), "done");
}

#[tokio::test]
async fn replies_above_grpc_recv_max_size_are_refused() {
    let server = PluginServer::start(Lang::Python, "127.0.0.1:0").await;
    let options = GrpcOptions::from_json(&serde_json::json!({
        "coprocess_grpc_server": server.tyk_address(),
        "grpc_recv_max_size": 1024
    }))
    .unwrap();
    let driver = GrpcDriver::new(options);
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);

    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"small");
    plugin.call(&mut c).await.unwrap();

    let big = vec![b'a'; 4096];
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], &big);
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(matches!(err, PluginError::BadReply { .. }), "{err:?}");
}

#[tokio::test]
async fn requests_above_grpc_send_max_size_are_not_sent() {
    let server = PluginServer::start(Lang::Python, "127.0.0.1:0").await;
    let mut options = server.driver().options();
    options.send_max_size = 1024;
    let driver = GrpcDriver::new(options);
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let big = vec![b'a'; 4096];
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], &big);
    let err = plugin.call(&mut c).await.unwrap_err();
    let PluginError::Unavailable { reason, .. } = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(reason.contains("grpc_send_max_size"), "{reason}");
}
