//! Per-message stream hooks on seed 000's vision stream, end to end through the weir binary:
//! a tonic upstream streams DetectionEvents; hooks in each driver enrich, rewrite, drop or end;
//! clients are tonic (gRPC) and gRPC-Web clients nobody here wrote (connect-web, grpc-web) under
//! Node, in binary and text mode. Needs `scripts/setup-grpc-web.sh` (./test.sh runs it).

mod support;
mod vision;

use serde_json::{Value, json};
use support::bin;
use support::plugin_server::PluginServer;
use vision::{
    CLIENTS, check_enricher, enricher_config, grpc_call, grpc_call_gzip, native_enricher,
    node_call, stream_middleware, vision_api, wasm_enricher, wasm_example,
};
use weir_testkit::{Gateway, VisionUpstream};

const STREAM_DETECTIONS: &str = "/vision.VisionService/StreamDetections";
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

#[tokio::test]
async fn native_hook_declared_as_the_seed_does() {
    let up = VisionUpstream::start();
    // The seed's own form: driver goplugin, driver_specific_middleware.goplugin_streams.
    let mw = stream_middleware("goplugin", Some(&native_enricher()));
    let def = vision_api(&up.url(), mw, enricher_config());
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    check_enricher(&gw, &up).await;
}

#[tokio::test]
async fn wasm_hook() {
    let up = VisionUpstream::start();
    let mw = stream_middleware("wasm", Some(&wasm_enricher()));
    let def = vision_api(&up.url(), mw, enricher_config());
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    check_enricher(&gw, &up).await;
}

#[tokio::test]
async fn lua_hook() {
    let up = VisionUpstream::start();
    let script = vision::repo().join("examples/plugins/lua/vision_enricher.lua");
    let mw = stream_middleware("lua", Some(&script));
    let def = vision_api(&up.url(), mw, enricher_config());
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    check_enricher(&gw, &up).await;
}

#[tokio::test]
async fn python_grpc_hook() {
    let up = VisionUpstream::start();
    let plugins = PluginServer::python("127.0.0.1:0");
    let def = vision_api(
        &up.url(),
        stream_middleware("grpc", None),
        enricher_config(),
    );
    let gw = Gateway::start(bin(), &[("vision.json", def)], plugins.gateway_config());
    check_enricher(&gw, &up).await;
}

/// The OAS form: server.grpc / server.grpcWeb and middleware.global.grpcMessagePlugins.
#[tokio::test]
async fn oas_declaration() {
    let up = VisionUpstream::start();
    let def = json!({
        "openapi": "3.0.3",
        "info": {"title": "vision", "version": "1.0.0"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"name": "vision", "id": "vision-oas", "state": {"active": true}},
            "upstream": {"url": up.url()},
            "server": {
                "listenPath": {"value": "/vision.VisionService/", "strip": true},
                "grpc": {"enabled": true},
                "grpcWeb": {"enabled": true}
            },
            "middleware": {"global": {
                "pluginConfig": {
                    "driver": "wasm",
                    "data": {"enabled": true, "value": enricher_config()}
                },
                "grpcMessagePlugins": [
                    {"enabled": true, "functionName": "HandleStream", "path": wasm_enricher()}
                ]
            }}
        }
    });
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    for client in CLIENTS {
        let got = node_call(&gw.url(""), "cam-2", client, &[("x-count", "2")]);
        assert_eq!((got.status, got.events.len()), (0, 2), "{client}: {got:?}");
        assert_eq!(got.events[1]["camera_location"], "Loading dock", "{client}");
    }
}

/// A native-hooked vision API, with extra gateway config.
fn hooked_gateway(up: &VisionUpstream, conf: Value) -> Gateway {
    let mw = stream_middleware("native", Some(&native_enricher()));
    let def = vision_api(&up.url(), mw, enricher_config());
    Gateway::start(bin(), &[("vision.json", def)], conf)
}

#[tokio::test]
async fn oversized_messages_end_only_their_call_with_resource_exhausted() {
    let up = VisionUpstream::start();
    let gw = hooked_gateway(&up, json!({"grpc_max_message_size": 4096}));
    let base = gw.url("");
    // From the upstream: the third message is too big.
    let (big, fine) = tokio::join!(
        grpc_call(
            &base,
            "cam-1",
            &[("x-count", "3"), ("x-label-bytes", "8000")]
        ),
        grpc_call(&base, "cam-1", &[("x-count", "3")]),
    );
    assert_eq!((big.status, big.events.len()), (8, 0), "{big:?}");
    assert!(big.message.contains("4096"), "{}", big.message);
    assert_eq!((fine.status, fine.events.len()), (0, 3), "{fine:?}");
    // Toward the upstream: a request message over the limit never arrives.
    let huge_id = "c".repeat(5000);
    let got = grpc_call(&base, &huge_id, &[]).await;
    assert_eq!(got.status, 8, "{got:?}");
    assert!(!up.requested_cameras().contains(&huge_id));
    let got = node_call(&base, "cam-2", "grpcweb-text", &[("x-label-bytes", "9000")]);
    assert_eq!(got.status, 8, "{got:?}");
    // The gateway is fine afterwards.
    let got = grpc_call(&base, "cam-2", &[("x-count", "2")]).await;
    assert_eq!((got.status, got.events.len()), (0, 2));
}

/// gzip both ways: the hook sees plain messages, its replacements go on compressed.
#[tokio::test]
async fn compressed_messages_are_decompressed_for_the_hook_and_compressed_again() {
    let up = VisionUpstream::start();
    let gw = hooked_gateway(&up, json!({}));
    let got = grpc_call_gzip(&gw.url(""), "front-door", &[("x-count", "3")]).await;
    assert_eq!((got.status, got.cameras().len()), (0, 3), "{got:?}");
    assert_eq!(got.events[2]["camera_location"], "Assembly line 1");
    // The rewritten request reached the upstream compressed.
    assert_eq!(up.requested_cameras(), ["cam-1 (gzip)"]);
}

/// An upstream's trailers-only answer (its status in the headers, the stream ended with
/// them) reaches the client as it was, hooks or not: strict clients (grpcio) take headers that
/// do not end the stream for the start of a reply and then miss the status.
#[tokio::test]
async fn a_trailers_only_status_passes_through_a_hooked_api() {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let up = VisionUpstream::start();
    let gw = hooked_gateway(&up, json!({}));
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let req = http::Request::post(gw.url("/vision.VisionService/Nope"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(bytes::Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(
        resp.headers()["grpc-status"],
        "12",
        "UNIMPLEMENTED from the upstream"
    );
    let body = resp.into_body();
    assert!(
        hyper::body::Body::is_end_stream(&body),
        "the headers end the stream"
    );
    assert!(body.collect().await.unwrap().to_bytes().is_empty());
}

#[tokio::test]
async fn broken_framing_ends_the_call_with_internal() {
    let up = VisionUpstream::start();
    let gw = hooked_gateway(&up, json!({}));
    let base = gw.url("");
    let got = grpc_call(&base, "cam-1", &[("x-count", "2"), ("x-corrupt", "1")]).await;
    assert_eq!((got.status, got.events.len()), (13, 2), "{got:?}");
    let got = node_call(&base, "cam-1", "connect-binary", &[("x-corrupt", "1")]);
    assert_eq!((got.status, got.events.len()), (13, 5), "{got:?}");
    let got = grpc_call(&base, "cam-1", &[("x-count", "2")]).await;
    assert_eq!((got.status, got.events.len()), (0, 2));
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Back-pressure: 1 GiB of 1 MiB messages through a hooked stream to a reader that takes
/// its time. The gateway reads from the upstream only as fast as the client reads, so its
/// peak RSS grows by a few messages (the bound: 64 MiB), not by the stream.
#[tokio::test]
async fn a_slow_reader_keeps_the_gateway_memory_bounded() {
    use weir_testkit::vision_pb::DetectionRequest;
    use weir_testkit::vision_pb::vision_service_client::VisionServiceClient;

    let up = VisionUpstream::start();
    let gw = hooked_gateway(&up, json!({}));
    // Warm up, then take the baseline.
    let got = grpc_call(&gw.url(""), "cam-9", &[("x-count", "2")]).await;
    assert_eq!(got.status, 0);
    let before = rss_kib(gw.pid(), "VmRSS:");

    const MESSAGES: usize = 1024;
    let mut client = VisionServiceClient::connect(gw.url(""))
        .await
        .unwrap()
        .max_decoding_message_size(2 << 20);
    let mut req = tonic::Request::new(DetectionRequest {
        camera_id: "cam-9".into(),
    });
    req.metadata_mut()
        .insert("x-count", MESSAGES.to_string().parse().unwrap());
    req.metadata_mut()
        .insert("x-label-bytes", (1usize << 20).to_string().parse().unwrap());
    let mut stream = client.stream_detections(req).await.unwrap().into_inner();
    let mut received = 0usize;
    let mut bytes = 0usize;
    while let Some(ev) = stream.message().await.unwrap() {
        bytes += ev.objects[0].label.len();
        received += 1;
        if received.is_multiple_of(64) {
            // The slow part: the reader pauses, the window fills, the upstream waits.
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
    }
    assert_eq!(received, MESSAGES);
    assert!(bytes >= 1 << 30, "{bytes} bytes");
    let peak = rss_kib(gw.pid(), "VmHWM:");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("weir RSS before {before} KiB, peak {peak} KiB (+{grown_mib} MiB) for 1 GiB");
    assert!(grown_mib < 80, "peak RSS grew by {grown_mib} MiB");
}

/// One raw gRPC call (h2c) to `method` whose single request message is `payload`; returns
/// the status.
async fn raw_grpc_status(base: &str, method: &str, payload: &[u8]) -> (String, String) {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut body = vec![0u8];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    let resp = client
        .post(format!("{base}{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .unwrap();
    let h = resp.headers();
    let get = |k: &str| {
        h.get(k)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (get("grpc-status"), get("grpc-message"))
}

/// A stream hook that traps or loops fails its own call with INTERNAL, naming the hook;
/// the gateway and the other calls carry on.
#[tokio::test]
async fn a_faulting_hook_fails_only_its_call() {
    let up = VisionUpstream::start();
    let mw = stream_middleware("wasm", Some(&wasm_example("misbehave")));
    let def = vision_api(&up.url(), mw, Value::Null);
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    let base = gw.url("");
    for payload in [&b"panic"[..], b"loop"] {
        let (status, message) = raw_grpc_status(&base, STREAM_DETECTIONS, payload).await;
        assert_eq!(status, "13", "{payload:?}: {message}");
        assert!(message.contains("HandleStream"), "{message}");
        let got = grpc_call(&base, "cam-1", &[("x-count", "3")]).await;
        assert_eq!((got.status, got.events.len()), (0, 3), "{got:?}");
    }
    assert!(up.requested_cameras().iter().all(|c| c == "cam-1"));
}
