//! The "vision enricher" stream hook (`HandleStream`) of the real Python plugin server
//! (examples/plugins/grpc-python), called through the driver over TCP and a Unix socket.

mod common;

use common::{Lang, PluginServer, load, message};
use prost::Message;
use serde_json::{Value, json};
use weir_core::plugin::{
    GrpcMessage, HookKind, LoadedPlugin, MessageDirection, MessageVerdict, PluginError,
};

// The seed's messages, generated from examples/vision/proto/vision.proto.
use weir_testkit::vision_pb::{BoundingBox, DetectedObject, DetectionEvent, DetectionRequest};

const METHOD: &str = "/vision.VisionService/StreamDetections";

fn config() -> Value {
    json!({
        "cameras": {
            "cam-1": {"location": "North gate", "status": "active", "install_date": "2024-03-01"}
        },
        "aliases": {"front": "cam-1"},
        "blocked": ["cam-9"],
        "dropped": ["cam-5"]
    })
}

fn event(camera: &str) -> DetectionEvent {
    DetectionEvent {
        camera_id: camera.into(),
        timestamp_ms: 1_700_000_000_123,
        objects: vec![DetectedObject {
            label: "person".into(),
            confidence: 0.5,
            r#box: Some(BoundingBox {
                x_min: 1,
                y_min: 2,
                x_max: 30,
                y_max: 40,
            }),
        }],
        ..Default::default()
    }
}

fn from_upstream(camera: &str, headers: &[(&str, &str)]) -> GrpcMessage {
    let payload = event(camera).encode_to_vec();
    message(
        "HandleStream",
        MessageDirection::FromUpstream,
        METHOD,
        &payload,
        headers,
        &config(),
    )
}

async fn start(listen: &str) -> (PluginServer, std::sync::Arc<dyn LoadedPlugin>) {
    let server = PluginServer::start(Lang::Python, listen).await;
    let plugin = load(
        &server.driver(),
        HookKind::GrpcMessage,
        "HandleStream",
        false,
    );
    (server, plugin)
}

#[tokio::test]
async fn enriches_known_cameras_with_the_tag() {
    let (_server, plugin) = start("127.0.0.1:0").await;

    let mut msg = from_upstream("cam-1", &[("x-enrich-tag", "night")]);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    let got = DetectionEvent::decode(msg.payload).unwrap();
    let want = DetectionEvent {
        camera_location: "North gate #night".into(),
        camera_status: "active".into(),
        install_date: "2024-03-01".into(),
        ..event("cam-1")
    };
    assert_eq!(got, want, "enriched, everything else kept");

    let mut msg = from_upstream("cam-1", &[]);
    plugin.on_grpc_message(&mut msg).await.unwrap();
    let got = DetectionEvent::decode(msg.payload).unwrap();
    assert_eq!(
        got.camera_location, "North gate",
        "no tag header, no suffix"
    );
}

#[tokio::test]
async fn blocked_ends_dropped_drops_unknown_passes() {
    let (_server, plugin) = start("127.0.0.1:0").await;

    let mut msg = from_upstream("cam-9", &[]);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::End {
            code: 7,
            message: "camera cam-9 is blocked".into()
        })
    );

    let mut msg = from_upstream("cam-5", &[]);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Drop)
    );

    let mut msg = from_upstream("cam-unknown", &[("x-enrich-tag", "t")]);
    let before = msg.payload.clone();
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(msg.payload, before, "the very same bytes");

    // Not the vision method: even a blocked camera passes untouched.
    let mut msg = from_upstream("cam-9", &[]);
    msg.method = "/other.Service/Call".into();
    let before = msg.payload.clone();
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(msg.payload, before);

    // Undecodable bytes pass unchanged.
    let mut msg = from_upstream("cam-9", &[]);
    msg.payload = bytes::Bytes::from_static(b"\xff\xff\xff");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(&msg.payload[..], b"\xff\xff\xff");
}

#[tokio::test]
async fn aliases_rewrite_requests() {
    let (_server, plugin) = start("127.0.0.1:0").await;
    let request = |camera: &str| {
        let payload = DetectionRequest {
            camera_id: camera.into(),
        }
        .encode_to_vec();
        message(
            "HandleStream",
            MessageDirection::ToUpstream,
            METHOD,
            &payload,
            &[],
            &config(),
        )
    };

    let mut msg = request("front");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(
        DetectionRequest::decode(msg.payload).unwrap().camera_id,
        "cam-1"
    );

    let mut msg = request("cam-7");
    let before = msg.payload.clone();
    plugin.on_grpc_message(&mut msg).await.unwrap();
    assert_eq!(msg.payload, before, "no alias: unchanged");
}

#[tokio::test]
async fn over_a_unix_socket_and_after_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stream.sock");
    let (server, plugin) = start(&format!("unix:{}", sock.display())).await;

    let mut msg = from_upstream("cam-1", &[("x-enrich-tag", "unix")]);
    plugin.on_grpc_message(&mut msg).await.unwrap();
    assert_eq!(
        DetectionEvent::decode(msg.payload).unwrap().camera_location,
        "North gate #unix"
    );

    server.stop().await;
    let mut msg = from_upstream("cam-1", &[]);
    let err = plugin.on_grpc_message(&mut msg).await.unwrap_err();
    assert!(matches!(err, PluginError::Unavailable { .. }), "{err:?}");
}
