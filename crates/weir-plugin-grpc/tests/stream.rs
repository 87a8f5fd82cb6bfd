//! Stream hooks (`DispatchGrpcMessage`, Weir's extension RPC) against real tonic Dispatcher
//! servers written here: one with the extension, one with Tyk's RPCs only, and none at all.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{ctx, header, load, message};
use serde_json::json;
use tonic::{Request, Response, Status};
use weir_core::plugin::{
    HookKind, LoadedPlugin, MessageDirection, MessageVerdict, PluginError, Session,
};
use weir_plugin_grpc::pb::dispatcher_server::{Dispatcher, DispatcherServer};
use weir_plugin_grpc::pb::{self, MessageAction};
use weir_plugin_grpc::{GrpcDriver, GrpcOptions, ServerAddress};

/// Implements the extension; answers by hook name and records what it was sent.
#[derive(Default, Clone)]
struct WeirServer {
    seen: Arc<Mutex<Vec<pb::GrpcMessage>>>,
}

#[tonic::async_trait]
impl Dispatcher for WeirServer {
    async fn dispatch_grpc_message(
        &self,
        request: Request<pb::GrpcMessage>,
    ) -> Result<Response<pb::GrpcMessageReply>, Status> {
        let msg = request.into_inner();
        self.seen.lock().unwrap().push(msg.clone());
        let end = |code: Option<u32>| pb::GrpcMessageReply {
            action: MessageAction::End.into(),
            status_code: code,
            status_message: "stopped by the hook".into(),
            ..Default::default()
        };
        let reply = match msg.hook_name.as_str() {
            "Upper" => pb::GrpcMessageReply {
                payload: Some(Bytes::from(msg.payload.to_ascii_uppercase())),
                ..Default::default()
            },
            "Drop" => pb::GrpcMessageReply {
                action: MessageAction::Drop.into(),
                ..Default::default()
            },
            "End" => end(Some(7)),
            "EndNoCode" => end(None),
            "EndBadCode" => end(Some(42)),
            "BadAction" => pb::GrpcMessageReply {
                action: 9,
                ..Default::default()
            },
            "Big" => pb::GrpcMessageReply {
                payload: Some(Bytes::from(vec![b'x'; 8192])),
                ..Default::default()
            },
            "Fail" => return Err(Status::internal("the hook raised")),
            _ => pb::GrpcMessageReply::default(),
        };
        Ok(Response::new(reply))
    }
}

/// A Tyk plugin server: Dispatch only (echo); the extension answers UNIMPLEMENTED as the
/// generated default does, like any server built from Tyk's .proto files.
struct TykServer;

#[tonic::async_trait]
impl Dispatcher for TykServer {
    async fn dispatch(&self, request: Request<pb::Object>) -> Result<Response<pb::Object>, Status> {
        let mut object = request.into_inner();
        if let Some(r) = object.request.as_mut() {
            r.set_headers.insert("X-Tyk".into(), "yes".into());
        }
        Ok(Response::new(object))
    }
}

/// Serves `service` on an OS-chosen localhost port until the test ends.
async fn serve<T: Dispatcher>(service: T) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DispatcherServer::new(service))
            .serve_with_incoming(incoming),
    );
    addr
}

fn driver_for(addr: SocketAddr) -> GrpcDriver {
    GrpcDriver::new(GrpcOptions::new(
        ServerAddress::parse(&format!("tcp://{addr}")).unwrap(),
    ))
}

fn stream_plugin(driver: &GrpcDriver, name: &str) -> Arc<dyn LoadedPlugin> {
    load(driver, HookKind::GrpcMessage, name, false)
}

const METHOD: &str = "/pkg.Svc/Stream";

async fn run(
    plugin: &Arc<dyn LoadedPlugin>,
    hook: &str,
    payload: &[u8],
) -> (Result<MessageVerdict, PluginError>, Bytes) {
    let mut msg = message(
        hook,
        MessageDirection::FromUpstream,
        METHOD,
        payload,
        &[],
        &json!({}),
    );
    let verdict = plugin.on_grpc_message(&mut msg).await;
    (verdict, msg.payload)
}

#[tokio::test]
async fn replace_drop_end_and_pass() {
    let driver = driver_for(serve(WeirServer::default()).await);

    let upper = stream_plugin(&driver, "Upper");
    let (verdict, payload) = run(&upper, "Upper", b"hello").await;
    assert_eq!(verdict, Ok(MessageVerdict::Pass));
    assert_eq!(&payload[..], b"HELLO", "the replacement is the new payload");

    let (verdict, payload) = run(&stream_plugin(&driver, "Pass"), "Pass", b"same").await;
    assert_eq!(verdict, Ok(MessageVerdict::Pass));
    assert_eq!(&payload[..], b"same");

    let (verdict, _) = run(&stream_plugin(&driver, "Drop"), "Drop", b"x").await;
    assert_eq!(verdict, Ok(MessageVerdict::Drop));

    let (verdict, _) = run(&stream_plugin(&driver, "End"), "End", b"x").await;
    assert_eq!(
        verdict,
        Ok(MessageVerdict::End {
            code: 7,
            message: "stopped by the hook".into()
        })
    );
}

#[tokio::test]
async fn the_server_sees_the_whole_message() {
    let server = WeirServer::default();
    let seen = server.seen.clone();
    let driver = driver_for(serve(server).await);
    let plugin = stream_plugin(&driver, "Pass");
    let mut msg = message(
        "Pass",
        MessageDirection::ToUpstream,
        METHOD,
        b"\x0a\x03abc",
        &[
            ("x-enrich-tag", "night"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
        ],
        &json!({"cameras": {}}),
    );
    msg.index = 4;
    msg.session = Some(Arc::new(Session {
        rate: 9.0,
        org_id: "org1".into(),
        ..Default::default()
    }));
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    let seen = seen.lock().unwrap().pop().expect("the server got the call");
    assert_eq!(seen.hook_name, "Pass");
    assert_eq!(seen.direction(), pb::MessageDirection::ToUpstream);
    assert_eq!(seen.method, METHOD);
    assert_eq!(&seen.payload[..], b"\x0a\x03abc");
    assert_eq!(seen.index, 4);
    assert_eq!(seen.headers["x-enrich-tag"], "night");
    assert_eq!(seen.headers["x-multi"], "a, b");
    assert_eq!(seen.session.as_ref().map(|s| s.rate), Some(9.0));
    assert_eq!(seen.config_data, r#"{"cameras":{}}"#);
    assert_eq!((&*seen.api_id, &*seen.org_id), ("api1", "org1"));
}

#[tokio::test]
async fn unusable_replies_are_bad_replies() {
    let driver = driver_for(serve(WeirServer::default()).await);
    for (hook, needle) in [
        ("EndNoCode", "without a status_code"),
        ("EndBadCode", "status_code 42"),
        ("BadAction", "unknown action 9"),
    ] {
        let (verdict, payload) = run(&stream_plugin(&driver, hook), hook, b"keep").await;
        match verdict {
            Err(PluginError::BadReply { hook: h, reason }) => {
                assert_eq!(h, hook);
                assert!(reason.contains(needle), "{hook}: {reason}");
            }
            other => panic!("{hook}: expected BadReply, got {other:?}"),
        }
        assert_eq!(&payload[..], b"keep", "{hook}: the message is untouched");
    }
    // A hook that fails on the server fails this message only.
    let fail = stream_plugin(&driver, "Fail");
    let (verdict, _) = run(&fail, "Fail", b"x").await;
    assert!(
        matches!(verdict, Err(PluginError::Crashed { ref reason, .. }) if reason.contains("raised")),
        "{verdict:?}"
    );
    let (verdict, _) = run(&stream_plugin(&driver, "Pass"), "Pass", b"x").await;
    assert_eq!(verdict, Ok(MessageVerdict::Pass), "the next call is fine");
}

#[tokio::test]
async fn message_sizes_are_limited() {
    let addr = serve(WeirServer::default()).await;
    let mut options = driver_for(addr).options();
    options.send_max_size = 1024;
    options.recv_max_size = 4096;
    let driver = GrpcDriver::new(options);

    let (verdict, _) = run(&stream_plugin(&driver, "Pass"), "Pass", &[0u8; 2048]).await;
    assert!(
        matches!(verdict, Err(PluginError::Unavailable { ref reason, .. }) if reason.contains("grpc_send_max_size")),
        "{verdict:?}"
    );
    let (verdict, _) = run(&stream_plugin(&driver, "Big"), "Big", b"x").await;
    assert!(
        matches!(verdict, Err(PluginError::BadReply { .. })),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_tyk_server_without_the_extension_is_named() {
    let driver = driver_for(serve(TykServer).await);
    // Tyk's own hooks still work against it.
    let pre = load(&driver, HookKind::Pre, "AnyPre", false);
    let mut c = ctx(HookKind::Pre, "AnyPre", "/x", &[], b"");
    pre.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-tyk"), "yes");

    let (verdict, payload) = run(
        &stream_plugin(&driver, "HandleStream"),
        "HandleStream",
        b"m",
    )
    .await;
    let Err(PluginError::Unavailable { hook, reason }) = verdict else {
        panic!("expected Unavailable, got {verdict:?}");
    };
    assert_eq!(hook, "HandleStream");
    assert!(
        reason.contains("does not implement Weir's stream hooks"),
        "{reason}"
    );
    assert_eq!(&payload[..], b"m");
}

#[tokio::test]
async fn server_down_is_unavailable() {
    // Bound, read and released: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let driver = driver_for(addr);
    let (verdict, payload) = run(
        &stream_plugin(&driver, "HandleStream"),
        "HandleStream",
        b"m",
    )
    .await;
    assert!(
        matches!(verdict, Err(PluginError::Unavailable { ref hook, .. }) if hook == "HandleStream"),
        "{verdict:?}"
    );
    assert_eq!(&payload[..], b"m");
}
