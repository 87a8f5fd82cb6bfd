//! Seed 000's vision stream for the stream-hook tests: the API definition, and clients that
//! call `vision.VisionService/StreamDetections` through weir (tonic over gRPC, and gRPC-Web
//! clients nobody here wrote, under Node).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use tonic::metadata::MetadataValue;
use weir_testkit::vision_pb::DetectionRequest;
use weir_testkit::vision_pb::vision_service_client::VisionServiceClient;
use weir_testkit::{Gateway, VisionUpstream};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The lookup table the enricher test plugins read from config_data.
pub fn enricher_config() -> Value {
    json!({
        "cameras": {
            "cam-1": {"location": "Assembly line 1", "status": "active", "install_date": "2023-04-01"},
            "cam-2": {"location": "Loading dock", "status": "maintenance", "install_date": "2021-11-30"}
        },
        "aliases": {"front-door": "cam-1"},
        "blocked": ["cam-blocked"],
        "dropped": ["cam-drop"]
    })
}

/// Seed 000's definition (vision-api.json) pointed at `target`, with `custom_middleware`
/// replaced by `middleware` (Null: no plugins) and `config_data` set.
pub fn vision_api(target: &str, middleware: Value, config_data: Value) -> Value {
    // The seed's own file, as written (CI has ../shared beside the checkout).
    let seed = std::fs::read_to_string(repo().join("../shared/seeds/configs/vision-api.json"))
        .expect("../shared/seeds/configs/vision-api.json");
    let mut def: Value = serde_json::from_str(&seed).expect("vision-api.json");
    def["proxy"]["target_url"] = json!(target);
    def.as_object_mut()
        .unwrap()
        .remove("custom_middleware_bundle");
    def.as_object_mut()
        .unwrap()
        .remove("middleware_global_config");
    if middleware.is_null() {
        def.as_object_mut().unwrap().remove("custom_middleware");
    } else {
        def["custom_middleware"] = middleware;
    }
    if !config_data.is_null() {
        def["config_data"] = config_data;
    }
    def
}

/// What a client received: the events (as JSON) and the final gRPC status.
#[derive(Debug)]
pub struct Received {
    /// One object per DetectionEvent, in order.
    pub events: Vec<Value>,
    /// The call's gRPC status code.
    pub status: i64,
    /// The status message.
    pub message: String,
}

impl Received {
    /// The camera ids, in order.
    pub fn cameras(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e["camera_id"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

/// Calls through a gRPC-Web client under Node: `client` is `connect-binary`, `grpcweb-text`
/// or `grpcweb-binary` (examples/grpc-web-client/vision.mjs).
pub fn node_call(base: &str, camera: &str, client: &str, headers: &[(&str, &str)]) -> Received {
    let dir = repo().join("examples/grpc-web-client");
    assert!(
        dir.join("node_modules").exists(),
        "run scripts/setup-grpc-web.sh first"
    );
    let out = Command::new("node")
        .arg(dir.join("vision.mjs"))
        .arg(base)
        .arg(camera)
        .arg(client)
        .args(headers.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vision.mjs {client} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let last = lines.pop().expect("a status line");
    Received {
        events: lines,
        status: last["status"].as_i64().expect("status"),
        message: last["message"].as_str().unwrap_or("").to_string(),
    }
}

/// Calls over plain gRPC with tonic.
pub async fn grpc_call(base: &str, camera: &str, headers: &[(&str, &str)]) -> Received {
    let client = VisionServiceClient::connect(base.to_string())
        .await
        .expect("connect to weir");
    grpc_call_with(client, camera, headers).await
}

/// Calls over gRPC with tonic, every message gzip-compressed both ways.
pub async fn grpc_call_gzip(base: &str, camera: &str, headers: &[(&str, &str)]) -> Received {
    use tonic::codec::CompressionEncoding::Gzip;
    let client = VisionServiceClient::connect(base.to_string())
        .await
        .expect("connect to weir")
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    grpc_call_with(client, camera, headers).await
}

async fn grpc_call_with(
    mut client: VisionServiceClient<tonic::transport::Channel>,
    camera: &str,
    headers: &[(&str, &str)],
) -> Received {
    let mut req = tonic::Request::new(DetectionRequest {
        camera_id: camera.to_string(),
    });
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).unwrap();
        req.metadata_mut()
            .insert(key, MetadataValue::try_from(*v).unwrap());
    }
    let mut events = Vec::new();
    let mut stream = match client.stream_detections(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => {
            return Received {
                events,
                status: s.code() as i64,
                message: s.message().to_string(),
            };
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(ev)) => events.push(json!({
                "camera_id": ev.camera_id,
                "timestamp_ms": ev.timestamp_ms,
                "camera_location": ev.camera_location,
                "camera_status": ev.camera_status,
                "install_date": ev.install_date,
                "labels": ev.objects.iter().map(|o| o.label.clone()).collect::<Vec<_>>(),
            })),
            Ok(None) => {
                return Received {
                    events,
                    status: 0,
                    message: String::new(),
                };
            }
            Err(s) => {
                return Received {
                    events,
                    status: s.code() as i64,
                    message: s.message().to_string(),
                };
            }
        }
    }
}

/// `$CARGO_TARGET_DIR` or the workspace's target/, where example plugins are built.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

fn cargo_build(args: &[&str], manifest: &str, target: &std::path::Path) {
    let out = Command::new(env!("CARGO"))
        .arg("build")
        .args(args)
        .arg("--manifest-path")
        .arg(repo().join(manifest))
        .arg("--target-dir")
        .arg(target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {manifest} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// examples/plugins/native-vision, built once per test binary as a third party would.
pub fn native_enricher() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = target_dir().join("native-vision");
            cargo_build(
                &["--quiet"],
                "examples/plugins/native-vision/Cargo.toml",
                &target,
            );
            target.join("debug/libweir_native_vision.so")
        })
        .clone()
}

/// examples/plugins/wasm built for wasm32-wasip1; returns its `vision-enricher` module.
pub fn wasm_enricher() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = target_dir().join("wasm-examples");
            cargo_build(
                &["--quiet", "--release", "--target", "wasm32-wasip1"],
                "examples/plugins/wasm/Cargo.toml",
                &target,
            );
            target.join("wasm32-wasip1/release/vision_enricher.wasm")
        })
        .clone()
}

/// A module of examples/plugins/wasm (built with [`wasm_enricher`]).
pub fn wasm_example(name: &str) -> PathBuf {
    wasm_enricher().with_file_name(format!("{name}.wasm"))
}

/// A classic `custom_middleware` with one stream hook, the seed's way.
pub fn stream_middleware(driver: &str, path: Option<&std::path::Path>) -> Value {
    let mut entry = json!({"symbol_name": "HandleStream"});
    if let Some(p) = path {
        entry["path"] = json!(p);
    }
    json!({
        "driver": driver,
        "driver_specific_middleware": {format!("{driver}_streams"): [entry]}
    })
}

/// The gRPC-Web clients [`node_call`] runs.
pub const CLIENTS: [&str; 3] = ["connect-binary", "grpcweb-text", "grpcweb-binary"];

/// What every driver's enricher must do to the vision stream (the same plugin behaviour in
/// every driver; see docs/stream-hooks-*.md), over gRPC and the gRPC-Web [`CLIENTS`].
pub async fn check_enricher(gw: &Gateway, up: &VisionUpstream) {
    let base = gw.url("");
    // gRPC: enrichment from the table, the request header seen by the hook, unknown cameras
    // untouched.
    let got = grpc_call(
        &base,
        "cam-1,cam-2,cam-9",
        &[("x-count", "6"), ("x-enrich-tag", "t7")],
    )
    .await;
    assert_eq!(got.status, 0, "{got:?}");
    assert_eq!(got.events.len(), 6);
    assert_eq!(got.events[0]["camera_location"], "Assembly line 1 #t7");
    assert_eq!(got.events[0]["camera_status"], "active");
    assert_eq!(got.events[0]["install_date"], "2023-04-01");
    assert_eq!(got.events[4]["camera_status"], "maintenance");
    assert_eq!(
        got.events[2]["camera_location"], "",
        "unknown camera untouched"
    );
    assert_eq!(got.events[3]["timestamp_ms"], 3, "order kept");
    assert_eq!(got.events[3]["labels"], json!(["person"]), "objects kept");

    // gRPC-Web, binary and text: the same enriched events.
    for client in CLIENTS {
        let got = node_call(&base, "cam-1,cam-9", client, &[("x-count", "4")]);
        assert_eq!((got.status, got.events.len()), (0, 4), "{client}: {got:?}");
        assert_eq!(
            got.events[0]["camera_location"], "Assembly line 1",
            "{client}"
        );
        assert_eq!(got.events[2]["install_date"], "2023-04-01", "{client}");
        assert_eq!(got.events[1]["camera_location"], "", "{client}");
    }

    // Toward the upstream: the request's camera alias is rewritten before it arrives.
    let got = grpc_call(&base, "front-door", &[("x-count", "2")]).await;
    assert_eq!(got.cameras(), ["cam-1", "cam-1"], "{got:?}");
    assert_eq!(got.events[1]["camera_status"], "active");
    let asked = up.requested_cameras();
    assert!(asked.contains(&"cam-1".to_string()), "{asked:?}");
    assert!(!asked.iter().any(|c| c.contains("front-door")), "{asked:?}");

    // Dropped messages vanish; the stream goes on.
    let got = grpc_call(&base, "cam-1,cam-drop", &[("x-count", "5")]).await;
    assert_eq!(
        (got.status, got.cameras()),
        (0, vec!["cam-1".to_string(); 3])
    );

    // A blocked camera ends the call with the hook's status, over gRPC and gRPC-Web.
    let got = grpc_call(&base, "cam-1,cam-blocked", &[("x-count", "5")]).await;
    assert_eq!((got.status, got.events.len()), (7, 1), "{got:?}");
    assert_eq!(got.message, "camera cam-blocked is blocked");
    let got = node_call(
        &base,
        "cam-1,cam-blocked",
        "grpcweb-text",
        &[("x-count", "5")],
    );
    assert_eq!((got.status, got.events.len()), (7, 1), "{got:?}");
    assert_eq!(got.message, "camera cam-blocked is blocked");
}
