//! The vision enricher (`examples/plugins/native-vision`, built with the SDK in its own
//! workspace) through the driver: each verdict of the stream hook on the seed's messages.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use weir_core::plugin::{
    Driver, GrpcMessage, HookKind, LoadedPlugin, MessageDirection, MessageVerdict,
};
use weir_plugin_native::NativeDriver;

use common::*;

const METHOD: &str = "/vision.VisionService/StreamDetections";

const CONFIG: &str = r#"{
  "cameras": {
    "cam-1": {"location": "North Gate", "status": "active", "install_date": "2023-04-01"},
    "cam-2": {"location": "Dock", "status": "maintenance", "install_date": "2021-11-30"}
  },
  "aliases": {"front": "cam-1"},
  "blocked": ["cam-9"],
  "dropped": ["cam-5"]
}"#;

// The seed's messages, generated from examples/vision/proto/vision.proto.
use weir_testkit::vision_pb::{BoundingBox, DetectedObject, DetectionEvent, DetectionRequest};

fn load() -> Arc<dyn LoadedPlugin> {
    let lib = vision_example();
    let spec = spec_with_config(&[(HookKind::GrpcMessage, "HandleStream", &lib)], CONFIG);
    NativeDriver::new().load(&spec).unwrap()
}

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
                x_max: 30,
                y_max: 40,
            }),
        }],
        ..Default::default()
    }
}

fn from_upstream(camera: &str) -> GrpcMessage {
    let mut msg = message(
        "HandleStream",
        MessageDirection::FromUpstream,
        METHOD,
        &event(camera).encode_to_vec(),
    );
    msg.spec = api(CONFIG);
    msg
}

fn to_upstream(camera: &str) -> GrpcMessage {
    let request = DetectionRequest {
        camera_id: camera.into(),
    };
    let mut msg = message(
        "HandleStream",
        MessageDirection::ToUpstream,
        METHOD,
        &request.encode_to_vec(),
    );
    msg.spec = api(CONFIG);
    msg
}

/// Runs the hook and checks that a pass left the very same bytes (not merely equal ones).
fn assert_passes_untouched(plugin: &dyn LoadedPlugin, mut msg: GrpcMessage) {
    let before: Bytes = msg.payload.clone();
    assert_eq!(on_message(plugin, &mut msg).unwrap(), MessageVerdict::Pass);
    assert_eq!(msg.payload, before);
    assert_eq!(
        msg.payload.as_ptr(),
        before.as_ptr(),
        "the payload was replaced"
    );
}

#[test]
fn a_known_camera_is_enriched_from_config_data() {
    let plugin = load();
    let mut msg = from_upstream("cam-1");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Pass
    );
    let got = DetectionEvent::decode(&msg.payload[..]).unwrap();
    let mut want = event("cam-1");
    want.camera_location = "North Gate".into();
    want.camera_status = "active".into();
    want.install_date = "2023-04-01".into();
    assert_eq!(got, want);
}

#[test]
fn the_enrich_tag_header_is_appended_to_the_location() {
    let plugin = load();
    let mut msg = with_header(from_upstream("cam-2"), "x-enrich-tag", "night-shift");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Pass
    );
    let got = DetectionEvent::decode(&msg.payload[..]).unwrap();
    assert_eq!(got.camera_location, "Dock #night-shift");
    assert_eq!(got.camera_status, "maintenance");
    assert_eq!(got.install_date, "2021-11-30");
    assert_eq!(got.objects, event("cam-2").objects);
}

#[test]
fn an_aliased_camera_is_rewritten_on_the_way_upstream() {
    let plugin = load();
    let mut msg = to_upstream("front");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Pass
    );
    let got = DetectionRequest::decode(&msg.payload[..]).unwrap();
    assert_eq!(got.camera_id, "cam-1");
    // A camera that is no alias goes up as sent.
    assert_passes_untouched(&*plugin, to_upstream("cam-2"));
}

#[test]
fn a_dropped_camera_s_event_is_dropped() {
    let plugin = load();
    let mut msg = from_upstream("cam-5");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Drop
    );
}

#[test]
fn a_blocked_camera_ends_the_call_with_permission_denied() {
    let plugin = load();
    let mut msg = from_upstream("cam-9");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::End {
            code: 7,
            message: "camera cam-9 is blocked".into()
        }
    );
}

#[test]
fn an_unknown_camera_passes_the_very_same_bytes() {
    let plugin = load();
    assert_passes_untouched(&*plugin, from_upstream("cam-404"));
}

#[test]
fn other_methods_and_undecodable_messages_pass_unchanged() {
    let plugin = load();
    let mut other = from_upstream("cam-9");
    other.method = "/vision.VisionService/Other".into();
    assert_passes_untouched(&*plugin, other);
    let mut garbage = from_upstream("cam-1");
    garbage.payload = Bytes::from_static(&[0xff, 0xff, 0xff]);
    assert_passes_untouched(&*plugin, garbage);
}

#[test]
fn without_config_data_every_message_passes() {
    let lib = vision_example();
    let spec = spec_with_config(&[(HookKind::GrpcMessage, "HandleStream", &lib)], "null");
    let plugin = NativeDriver::new().load(&spec).unwrap();
    assert_passes_untouched(&*plugin, from_upstream("cam-1"));
    assert_passes_untouched(&*plugin, to_upstream("front"));
}

#[test]
fn a_library_without_stream_hooks_is_refused_at_load() {
    // The C example's descriptor has a null on_grpc_message.
    let lib = c_example("header_plugin_no_streams", "1");
    let spec = spec(&[(HookKind::GrpcMessage, "HandleStream", &lib)]);
    let err = NativeDriver::new()
        .load(&spec)
        .err()
        .expect("load must fail");
    assert!(err.contains("apps/test-api.json"), "{err}");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(err.contains("stream hook `HandleStream`"), "{err}");
    assert!(err.contains("on_grpc_message is null"), "{err}");
}

#[test]
fn the_seed_s_pre_hook_my_init_is_accepted() {
    let lib = vision_example();
    let spec = spec_with_config(
        &[
            (HookKind::Pre, "MyInit", &lib),
            (HookKind::GrpcMessage, "HandleStream", &lib),
        ],
        CONFIG,
    );
    let plugin = NativeDriver::new().load(&spec).unwrap();
    call(&*plugin, &mut ctx(HookKind::Pre, "MyInit")).unwrap();
}
