//! Per-message stream hooks on seed 000's vision stream, end to end through the weir binary:
//! a tonic upstream streams DetectionEvents; hooks in each driver enrich, rewrite, drop or end;
//! clients are tonic (gRPC) and gRPC-Web clients nobody here wrote (connect-web, grpc-web) under
//! Node, in binary and text mode. Needs `scripts/setup-grpc-web.sh` (./test.sh runs it).

mod support;
mod vision;

use serde_json::{Value, json};
use support::bin;
use vision::{grpc_call, node_call, vision_api};
use weir_testkit::{Gateway, VisionUpstream};

const CLIENTS: [&str; 3] = ["connect-binary", "grpcweb-text", "grpcweb-binary"];

#[tokio::test]
async fn without_hooks_the_stream_passes_unchanged() {
    let up = VisionUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[(
            "vision.json",
            vision_api(&up.url(), Value::Null, Value::Null),
        )],
        json!({}),
    );
    let got = grpc_call(&gw.url(""), "cam-1,cam-2", &[]).await;
    assert_eq!(got.status, 0, "{got:?}");
    assert_eq!(got.cameras(), ["cam-1", "cam-2", "cam-1", "cam-2", "cam-1"]);
    assert_eq!(got.events[0]["camera_location"], "");
    for client in CLIENTS {
        let got = node_call(&gw.url(""), "cam-1", client, &[("x-count", "3")]);
        assert_eq!((got.status, got.events.len()), (0, 3), "{client}: {got:?}");
        assert_eq!(got.events[2]["timestamp_ms"], 2, "{client}");
        assert_eq!(got.events[0]["labels"], json!(["person"]), "{client}");
    }
}
