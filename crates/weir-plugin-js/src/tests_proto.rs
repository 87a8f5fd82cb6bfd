//! Stream hooks and `WeirProto`: real vision.proto `DetectionEvent` bytes made with prost,
//! read and rewritten by a JS hook.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use prost::Message;
use weir_core::plugin::{GrpcMessage, HookKind, MessageDirection, MessageVerdict, PluginError};

use crate::tests::{api, load, options, write};

/// vision.proto's messages (seeds/configs/vision.proto), as prost writes them.
#[derive(Clone, PartialEq, prost::Message)]
struct BoundingBox {
    #[prost(int32, tag = "1")]
    x_min: i32,
    #[prost(int32, tag = "2")]
    y_min: i32,
    #[prost(int32, tag = "3")]
    x_max: i32,
    #[prost(int32, tag = "4")]
    y_max: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DetectedObject {
    #[prost(string, tag = "1")]
    label: String,
    #[prost(float, tag = "2")]
    confidence: f32,
    #[prost(message, optional, tag = "3")]
    r#box: Option<BoundingBox>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DetectionEvent {
    #[prost(string, tag = "1")]
    camera_id: String,
    #[prost(int64, tag = "2")]
    timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    objects: Vec<DetectedObject>,
    #[prost(string, tag = "4")]
    camera_location: String,
    #[prost(string, tag = "5")]
    camera_status: String,
    #[prost(string, tag = "6")]
    install_date: String,
}

const ENRICH: &str = r#"
var BOX = {1: {name: "x_min", type: "int32"}, 2: {name: "y_min", type: "int32"},
           3: {name: "x_max", type: "int32"}, 4: {name: "y_max", type: "int32"}};
var OBJECT = {1: {name: "label", type: "string"}, 2: {name: "confidence", type: "float"},
              3: {name: "box", type: "message", schema: BOX}};
var EVENT = {1: {name: "camera_id", type: "string"}, 2: {name: "timestamp_ms", type: "int64"},
             3: {name: "objects", type: "message", schema: OBJECT, repeated: true},
             4: {name: "camera_location", type: "string"}, 5: {name: "camera_status", type: "string"},
             6: {name: "install_date", type: "string"}};
var LOCATIONS = {"cam-1": "Lobby \u00e9st", "cam-2": "Dock"};

function Enrich(message, session, config) {
  var ev = WeirProto.decode(message.payload, EVENT);
  if (ev.camera_id === "blocked") { return null; }
  if (ev.camera_id === "stop") { return {grpc_status: 7, grpc_message: "camera " + ev.camera_id + " refused"}; }
  if (ev.camera_id === "pass") { return message; }
  ev.camera_location = LOCATIONS[ev.camera_id] || "unknown";
  ev.camera_status = config.APIID + "/" + message.direction + "/" + message.index + "/" +
    message.headers["X-Tenant"][0];
  ev.install_date = [ev.timestamp_ms, ev.objects.length, ev.objects[0].label,
    ev.objects[0].confidence, ev.objects[0].box.x_max].join(",");
  ev.objects.push({label: "added", confidence: 0.5, box: {x_min: -1, y_min: 0, x_max: 7, y_max: 8}});
  message.payload = WeirProto.encode(ev, EVENT);
  return message;
}
"#;

fn event(camera: &str) -> DetectionEvent {
    DetectionEvent {
        camera_id: camera.into(),
        timestamp_ms: 1_700_000_000_123,
        objects: vec![DetectedObject {
            label: "person".into(),
            confidence: 0.875,
            r#box: Some(BoundingBox {
                x_min: 1,
                y_min: 2,
                x_max: 3,
                y_max: 4,
            }),
        }],
        ..Default::default()
    }
}

fn message(camera: &str, index: u64) -> GrpcMessage {
    let mut headers = HeaderMap::new();
    headers.insert("x-tenant", HeaderValue::from_static("acme"));
    GrpcMessage {
        hook: Arc::from("Enrich"),
        direction: MessageDirection::FromUpstream,
        method: Arc::from("/vision.VisionService/StreamDetections"),
        payload: Bytes::from(event(camera).encode_to_vec()),
        index,
        headers: Arc::new(headers),
        session: None,
        spec: api(),
    }
}

#[tokio::test]
async fn stream_hook_decodes_enriches_and_reencodes_detection_events() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "enrich.js", ENRICH);
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::GrpcMessage, "Enrich")],
        &file,
    );

    let mut msg = message("cam-1", 3);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    let out = DetectionEvent::decode(msg.payload.as_ref()).unwrap();
    assert_eq!(out.camera_id, "cam-1");
    assert_eq!(out.timestamp_ms, 1_700_000_000_123);
    assert_eq!(out.camera_location, "Lobby \u{e9}st");
    assert_eq!(out.camera_status, "api1/from_upstream/3/acme");
    assert_eq!(out.install_date, "1700000000123,1,person,0.875,3");
    assert_eq!(out.objects.len(), 2);
    assert_eq!(out.objects[0], event("cam-1").objects[0]);
    let added = &out.objects[1];
    assert_eq!((added.label.as_str(), added.confidence), ("added", 0.5));
    assert_eq!(
        added.r#box,
        Some(BoundingBox {
            x_min: -1,
            y_min: 0,
            x_max: 7,
            y_max: 8
        })
    );

    // Returned unchanged: passed with the original bytes.
    let mut msg = message("pass", 0);
    let before = msg.payload.clone();
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(msg.payload, before);

    let mut msg = message("blocked", 1);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Drop
    );

    let mut msg = message("stop", 2);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::End {
            code: 7,
            message: "camera stop refused".into()
        }
    );
}

#[tokio::test]
async fn stream_hook_faults_and_bad_answers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.js",
        r#"
function Bad(message) {
  if (message.index === 0) { throw new TypeError("no"); }
  if (message.index === 1) { return "text"; }
  if (message.index === 2) { message.payload = "not bytes"; return message; }
  if (message.index === 3) { return {grpc_status: 99}; }
  message.payload[0] = 0x0a;
  return true;
}
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::GrpcMessage, "Bad")],
        &file,
    );
    let with = |index| {
        let mut m = message("cam-1", index);
        m.hook = Arc::from("Bad");
        m
    };
    let mut m = with(0);
    assert!(matches!(
        plugin.on_grpc_message(&mut m).await,
        Err(PluginError::Crashed { reason, .. }) if reason.contains("TypeError: no")
    ));
    for index in 1..=3 {
        let mut m = with(index);
        let err = plugin.on_grpc_message(&mut m).await.unwrap_err();
        assert!(
            matches!(err, PluginError::BadReply { .. }),
            "{index}: {err:?}"
        );
    }
    let mut m = with(4);
    assert_eq!(
        plugin.on_grpc_message(&mut m).await.unwrap(),
        MessageVerdict::Pass
    );
}

#[tokio::test]
async fn weir_proto_round_trips_every_scalar_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "types.js",
        r#"
var S = {1: {name: "b", type: "bool"}, 2: {name: "i32", type: "int32"}, 3: {name: "i64", type: "int64"},
         4: {name: "u32", type: "uint32"}, 5: {name: "u64", type: "uint64"}, 6: {name: "s32", type: "sint32"},
         7: {name: "s64", type: "sint64"}, 8: {name: "f32", type: "fixed32"}, 9: {name: "f64", type: "fixed64"},
         10: {name: "sf32", type: "sfixed32"}, 11: {name: "sf64", type: "sfixed64"}, 12: {name: "fl", type: "float"},
         13: {name: "d", type: "double"}, 14: {name: "e", type: "enum"}, 15: {name: "raw", type: "bytes"},
         16: {name: "nums", type: "int32", repeated: true}, 17: {name: "words", type: "string", repeated: true}};
function Types(message) {
  var v = {b: true, i32: -5, i64: "-9007199254740993", u32: 4000000000, u64: "18446744073709551615",
           s32: -3, s64: -70000000000, f32: 7, f64: 8, sf32: -9, sf64: -10, fl: 1.5, d: -2.25, e: 2,
           raw: new Uint8Array([0, 255, 7]), nums: [1, -2, 300], words: ["a", "", "\u4e2d"]};
  var back = WeirProto.decode(WeirProto.encode(v, S), S);
  for (var k in v) {
    var want = k === "raw" ? "[0,255,7]" : JSON.stringify(v[k]);
    var got = k === "raw" ? JSON.stringify(Array.from(back.raw)) : JSON.stringify(back[k]);
    if (want !== got) { throw new Error("round trip changed " + k + ": " + got); }
  }
  var empty = WeirProto.encode({b: false, i32: 0, words: []}, S);
  if (empty.length !== 0) { throw new Error("defaults were written"); }
  message.payload = WeirProto.encode({i32: -5, u64: "18446744073709551615", nums: [1, -2, 300]}, S);
  return message;
}
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::GrpcMessage, "Types")],
        &file,
    );
    let mut m = message("x", 0);
    m.hook = Arc::from("Types");
    assert_eq!(
        plugin.on_grpc_message(&mut m).await.unwrap(),
        MessageVerdict::Pass
    );

    /// The same fields, as prost reads them.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Few {
        #[prost(int32, tag = "2")]
        i32: i32,
        #[prost(uint64, tag = "5")]
        u64: u64,
        #[prost(int32, repeated, tag = "16")]
        nums: Vec<i32>,
    }
    let few = Few::decode(m.payload.as_ref()).unwrap();
    assert_eq!(
        few,
        Few {
            i32: -5,
            u64: u64::MAX,
            nums: vec![1, -2, 300]
        }
    );
}
