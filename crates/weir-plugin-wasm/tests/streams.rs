//! Stream hooks (Weir's `proxy_on_grpc_message` extension) through the Driver, on the
//! vision-enricher and misbehave examples from examples/plugins/wasm.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use prost::Message as _;
use weir_core::plugin::{
    Driver, GrpcMessage, HookKind, LoadedPlugin, MessageDirection, MessageVerdict, PluginError,
    Session,
};
use weir_plugin_wasm::{WasmDriver, WasmOptions};

const METHOD: &str = "/vision.VisionService/StreamDetections";

// The seed's messages, generated from examples/vision/proto/vision.proto.
use weir_testkit::vision_pb::{BoundingBox, DetectedObject, DetectionEvent, DetectionRequest};

const CONFIG: &str = r#"{
  "cameras": {
    "cam-1": {"location": "North Gate", "status": "active", "install_date": "2023-04-01"},
    "cam-2": {"location": "Loading Dock", "status": "maintenance", "install_date": "2021-11-15"}
  },
  "aliases": {"front-door": "cam-1"},
  "blocked": ["cam-9"],
  "dropped": ["cam-3"]
}"#;

fn driver(deadline: Duration) -> WasmDriver {
    WasmDriver::new(WasmOptions {
        call_deadline: deadline,
        ..WasmOptions::default()
    })
    .unwrap()
}

fn enricher() -> Arc<dyn LoadedPlugin> {
    let d = driver(Duration::from_secs(1));
    let file = wasm("vision_enricher");
    load(
        &d,
        &[(HookKind::GrpcMessage, "HandleStream", &file)],
        Some(CONFIG),
    )
}

fn message(
    hook: &str,
    direction: MessageDirection,
    method: &str,
    payload: impl Into<Bytes>,
    pairs: &[(&str, &str)],
) -> GrpcMessage {
    GrpcMessage {
        hook: hook.into(),
        direction,
        method: method.into(),
        payload: payload.into(),
        index: 3,
        headers: Arc::new(headers(pairs)),
        session: None,
        spec: api(Some(CONFIG)),
    }
}

fn event(camera: &str) -> Bytes {
    DetectionEvent {
        camera_id: camera.into(),
        timestamp_ms: 1_700_000_000_123,
        objects: vec![DetectedObject {
            label: "person".into(),
            confidence: 0.93,
            r#box: Some(BoundingBox {
                x_min: 1,
                y_min: 2,
                x_max: 30,
                y_max: 40,
            }),
        }],
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

fn from_upstream(camera: &str, pairs: &[(&str, &str)]) -> GrpcMessage {
    message(
        "HandleStream",
        MessageDirection::FromUpstream,
        METHOD,
        event(camera),
        pairs,
    )
}

#[tokio::test]
async fn a_known_camera_is_enriched_and_tagged_from_the_request_header() {
    let p = enricher();
    let mut msg = from_upstream("cam-1", &[]);
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    let e = DetectionEvent::decode(msg.payload).unwrap();
    assert_eq!(e.camera_location, "North Gate");
    assert_eq!(e.camera_status, "active");
    assert_eq!(e.install_date, "2023-04-01");
    assert_eq!(e.timestamp_ms, 1_700_000_000_123);
    assert_eq!(e.objects.len(), 1);
    assert_eq!(e.objects[0].label, "person");
    assert_eq!(e.objects[0].r#box.as_ref().unwrap().y_max, 40);

    let mut msg = from_upstream("cam-2", &[("x-enrich-tag", "night-shift")]);
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    let e = DetectionEvent::decode(msg.payload).unwrap();
    assert_eq!(e.camera_location, "Loading Dock #night-shift");
    assert_eq!(e.camera_status, "maintenance");
    assert_eq!(e.install_date, "2021-11-15");
}

#[tokio::test]
async fn an_alias_in_a_request_is_rewritten_to_its_camera() {
    let p = enricher();
    let req = |id: &str| -> Bytes {
        DetectionRequest {
            camera_id: id.into(),
        }
        .encode_to_vec()
        .into()
    };
    let mut msg = message(
        "HandleStream",
        MessageDirection::ToUpstream,
        METHOD,
        req("front-door"),
        &[],
    );
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(
        DetectionRequest::decode(msg.payload).unwrap().camera_id,
        "cam-1"
    );

    let original = req("cam-2");
    let mut msg = message(
        "HandleStream",
        MessageDirection::ToUpstream,
        METHOD,
        original.clone(),
        &[],
    );
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(msg.payload, original);
}

#[tokio::test]
async fn dropped_cameras_are_dropped_and_blocked_ones_end_the_call_with_7() {
    let p = enricher();
    let mut msg = from_upstream("cam-3", &[]);
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Drop
    );
    let mut msg = from_upstream("cam-9", &[]);
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::End {
            code: 7,
            message: "camera cam-9 is blocked".into()
        }
    );
}

#[tokio::test]
async fn unknown_cameras_other_methods_and_garbage_pass_the_very_same_bytes() {
    let p = enricher();
    let cases = [
        from_upstream("cam-77", &[]),
        message(
            "HandleStream",
            MessageDirection::FromUpstream,
            "/other.Service/Call",
            event("cam-9"),
            &[],
        ),
        message(
            "HandleStream",
            MessageDirection::FromUpstream,
            METHOD,
            Bytes::from_static(b"\xff\xff\xff not protobuf"),
            &[],
        ),
        message(
            "HandleStream",
            MessageDirection::FromUpstream,
            METHOD,
            Bytes::new(),
            &[],
        ),
    ];
    for mut msg in cases {
        let original = msg.payload.clone();
        assert_eq!(
            p.on_grpc_message(&mut msg).await.unwrap(),
            MessageVerdict::Pass
        );
        assert_eq!(msg.payload, original);
        assert_eq!(msg.payload.as_ptr(), original.as_ptr(), "not even copied");
    }
}

#[tokio::test]
async fn a_module_without_the_export_is_refused_at_load() {
    let d = driver(Duration::from_secs(1));
    let file = wasm("header_rewrite");
    let err = match d.load(&spec(
        &[
            (HookKind::Pre, "rewrite", &file),
            (HookKind::GrpcMessage, "HandleStream", &file),
        ],
        None,
    )) {
        Err(e) => e,
        Ok(_) => panic!("a module without proxy_on_grpc_message must not load as a stream hook"),
    };
    assert!(err.contains("apps/test-api.json"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("`HandleStream`"), "{err}");
    assert!(err.contains("proxy_on_grpc_message"), "{err}");
}

async fn misbehave(p: &dyn LoadedPlugin, text: &'static str) -> (GrpcMessage, MessageVerdict) {
    let mut msg = message(
        "m",
        MessageDirection::ToUpstream,
        "/a.B/C",
        Bytes::from_static(text.as_bytes()),
        &[],
    );
    let v = p.on_grpc_message(&mut msg).await.unwrap();
    (msg, v)
}

#[tokio::test]
async fn a_trap_timeout_or_bad_action_fails_that_message_and_the_next_works() {
    let deadline = Duration::from_millis(200);
    let d = driver(deadline);
    let p = load(
        &d,
        &[(HookKind::GrpcMessage, "m", &wasm("misbehave"))],
        None,
    );
    for _ in 0..2 {
        let mut msg = message("m", MessageDirection::ToUpstream, "/a.B/C", "panic", &[]);
        match p.on_grpc_message(&mut msg).await {
            Err(PluginError::Crashed { hook, reason }) => {
                assert_eq!(hook, "m");
                assert!(reason.contains("wasm trap"), "{reason}");
                assert!(
                    reason.contains("asked to panic in a message hook"),
                    "{reason}"
                );
            }
            other => panic!("expected Crashed, got {other:?}"),
        }
        assert_eq!(msg.payload, "panic", "the message is left as it came");
        let (after, v) = misbehave(&*p, "hello").await;
        assert_eq!(
            (after.payload.as_ref(), v),
            (&b"hello"[..], MessageVerdict::Pass)
        );
    }

    let mut msg = message("m", MessageDirection::ToUpstream, "/a.B/C", "loop", &[]);
    assert_eq!(
        p.on_grpc_message(&mut msg).await,
        Err(PluginError::Timeout {
            hook: "m".into(),
            limit: deadline
        })
    );
    assert_eq!(misbehave(&*p, "hello").await.1, MessageVerdict::Pass);

    let mut msg = message("m", MessageDirection::ToUpstream, "/a.B/C", "action:5", &[]);
    match p.on_grpc_message(&mut msg).await {
        Err(PluginError::BadReply { reason, .. }) => {
            assert!(reason.contains("unknown action 5"), "{reason}")
        }
        other => panic!("expected BadReply, got {other:?}"),
    }
    assert_eq!(misbehave(&*p, "action:1").await.1, MessageVerdict::Drop);
    assert_eq!(misbehave(&*p, "action:0").await.1, MessageVerdict::Pass);
    let (msg, v) = misbehave(&*p, "end-bad").await;
    assert_eq!(
        v,
        MessageVerdict::Pass,
        "a refused end does not end the call"
    );
    assert_eq!(msg.payload, "Err(HostStatus(2))");
}

#[tokio::test]
async fn the_host_tells_the_method_direction_index_headers_and_session() {
    let d = driver(Duration::from_secs(1));
    let file = wasm("misbehave");
    let p = load(
        &d,
        &[
            (HookKind::Pre, "m", &file),
            (HookKind::GrpcMessage, "stream", &file),
        ],
        None,
    );
    let mut msg = message(
        "stream",
        MessageDirection::FromUpstream,
        "/vision.VisionService/StreamDetections",
        "inspect",
        &[("x-enrich-tag", "t1")],
    );
    msg.session = Some(Arc::new(Session {
        alias: "cam-user".into(),
        ..Session::default()
    }));
    assert_eq!(
        p.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(
        std::str::from_utf8(&msg.payload).unwrap(),
        "direction=1 size=7 method=/vision.VisionService/StreamDetections dir=from_upstream \
         index=3 path=/vision.VisionService/StreamDetections tag=t1 api=api-1 plugin=stream \
         session=true write=2"
    );

    // The same module keeps serving its request hook; each entry point only for its kind.
    let mut ctx = request(HookKind::Pre, "m", &[], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-misbehave-ok"), Some("1"));
    let mut wrong = request(HookKind::GrpcMessage, "stream", &[], "");
    assert!(matches!(
        p.call(&mut wrong).await,
        Err(PluginError::BadReply { .. })
    ));
    let mut unknown = message("m", MessageDirection::ToUpstream, "/a.B/C", "x", &[]);
    assert!(matches!(
        p.on_grpc_message(&mut unknown).await,
        Err(PluginError::Unavailable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_streams_share_the_pool() {
    let p = enricher();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let (camera, tag) = if i % 2 == 0 {
                ("cam-1", "even")
            } else {
                ("cam-2", "odd")
            };
            for _ in 0..50 {
                let tag = format!("{tag}-{i}");
                let mut msg = from_upstream(camera, &[("x-enrich-tag", &tag)]);
                assert_eq!(
                    p.on_grpc_message(&mut msg).await.unwrap(),
                    MessageVerdict::Pass
                );
                let e = DetectionEvent::decode(msg.payload).unwrap();
                assert_eq!(e.camera_id, camera);
                assert!(e.camera_location.ends_with(&format!(" #{tag}")), "{e:?}");
                let mut dropped = from_upstream("cam-3", &[]);
                assert_eq!(
                    p.on_grpc_message(&mut dropped).await.unwrap(),
                    MessageVerdict::Drop
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
