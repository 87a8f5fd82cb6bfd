//! Loading the built plugin (`libweir_vision_enricher.so`) with Weir's own native driver, and
//! driving its stream hook the way the gateway does: one message at a time, on this thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use prost::Message;
use weir_core::plugin::{
    ApiSpecInfo, Driver, GrpcMessage, HookDecl, HookKind, LoadedPlugin, MessageDirection,
    MessageVerdict, PluginSpec, plugin_counter,
};
use weir_plugin_native::NativeDriver;

pub const METHOD: &str = "/vision.VisionService/StreamDetections";

// The seed's messages (examples/vision/proto/vision.proto), as a client decodes them.

#[derive(Clone, PartialEq, Message)]
pub struct BoundingBox {
    #[prost(int32, tag = "1")]
    pub x_min: i32,
    #[prost(int32, tag = "2")]
    pub y_min: i32,
    #[prost(int32, tag = "3")]
    pub x_max: i32,
    #[prost(int32, tag = "4")]
    pub y_max: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct DetectedObject {
    #[prost(string, tag = "1")]
    pub label: String,
    #[prost(float, tag = "2")]
    pub confidence: f32,
    #[prost(message, optional, tag = "3")]
    pub r#box: Option<BoundingBox>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DetectionEvent {
    #[prost(string, tag = "1")]
    pub camera_id: String,
    #[prost(int64, tag = "2")]
    pub timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub objects: Vec<DetectedObject>,
    #[prost(string, tag = "4")]
    pub camera_location: String,
    #[prost(string, tag = "5")]
    pub camera_status: String,
    #[prost(string, tag = "6")]
    pub install_date: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DetectionRequest {
    #[prost(string, tag = "1")]
    pub camera_id: String,
}

/// The plugin as `cargo test` built it: the package's cdylib, in `deps/` beside this test
/// (where `cargo test` leaves it) or in the profile's directory (where `cargo build` puts it).
pub fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let name = format!(
        "{}weir_vision_enricher{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let deps = exe.parent().expect("target/<profile>/deps");
    let candidates = [deps.join(&name), deps.join("..").join(&name)];
    candidates
        .iter()
        .find(|lib| lib.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: `cargo test` builds it with the tests (crate-type cdylib)",
                candidates[0].display()
            )
        })
        .clone()
}

fn driver() -> &'static NativeDriver {
    static DRIVER: OnceLock<NativeDriver> = OnceLock::new();
    DRIVER.get_or_init(NativeDriver::new)
}

/// A fresh API id, so each plugin instance has its own counters.
pub fn api_id(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("enricher-test-{label}-{}-{n}", std::process::id())
}

/// One loaded plugin instance (one API), with what its messages need.
pub struct Api {
    pub id: String,
    pub plugin: Arc<dyn LoadedPlugin>,
    spec: Arc<ApiSpecInfo>,
}

fn plugin_spec(id: &str, config: &serde_json::Value) -> PluginSpec {
    let lib = library();
    let hook = |kind, name: &str| HookDecl {
        kind,
        name: name.into(),
        path: Some(lib.clone()),
        raw_body_only: false,
        require_session: false,
    };
    PluginSpec {
        driver: "goplugin".into(),
        hooks: vec![
            hook(HookKind::Pre, "MyInit"),
            hook(HookKind::GrpcMessage, "HandleStream"),
        ],
        api: Arc::new(ApiSpecInfo {
            org_id: "1".into(),
            api_id: id.into(),
            config_data: Some(config.to_string()),
            bundle_hash: None,
        }),
        config_data: config.clone(),
        file: PathBuf::from("apps/vision.json"),
        timeout: None,
    }
}

/// Loads the plugin for a new API with `config` as its config_data.
pub fn load(label: &str, config: serde_json::Value) -> Api {
    let id = api_id(label);
    try_load(&id, &config).unwrap_or_else(|e| panic!("loading the plugin failed: {e}"))
}

/// Loads the plugin, returning the driver's error (an init error names the config key).
pub fn try_load(id: &str, config: &serde_json::Value) -> Result<Api, String> {
    let spec = plugin_spec(id, config);
    let plugin = driver().load(&spec)?;
    Ok(Api {
        id: id.into(),
        plugin,
        spec: spec.api,
    })
}

pub fn event(camera: &str) -> DetectionEvent {
    DetectionEvent {
        camera_id: camera.into(),
        timestamp_ms: 1_700_000_000_123,
        objects: vec![DetectedObject {
            label: "widget".into(),
            confidence: 0.98,
            r#box: Some(BoundingBox {
                x_min: 10,
                y_min: 10,
                x_max: 100,
                y_max: 100,
            }),
        }],
        ..Default::default()
    }
}

impl Api {
    /// A message of the seed's call.
    pub fn message(
        &self,
        direction: MessageDirection,
        method: &str,
        payload: Vec<u8>,
    ) -> GrpcMessage {
        GrpcMessage {
            hook: "HandleStream".into(),
            direction,
            method: method.into(),
            payload: Bytes::from(payload),
            index: 0,
            headers: Arc::new(HeaderMap::new()),
            session: None,
            spec: self.spec.clone(),
        }
    }

    /// Runs the stream hook; a native hook finishes on the first poll.
    pub fn run(&self, msg: &mut GrpcMessage) -> MessageVerdict {
        let mut fut = self.plugin.on_grpc_message(msg);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(verdict)) => verdict,
            Poll::Ready(Err(e)) => panic!("the hook failed: {e}"),
            Poll::Pending => panic!("a native stream hook did not complete synchronously"),
        }
    }

    /// Sends one DetectionEvent of `camera` from upstream and decodes what goes on.
    /// Returns the event and whether the very same bytes were passed.
    pub fn send(&self, camera: &str) -> (DetectionEvent, bool) {
        let payload = event(camera).encode_to_vec();
        let mut msg = self.message(MessageDirection::FromUpstream, METHOD, payload);
        let before = msg.payload.clone();
        assert_eq!(self.run(&mut msg), MessageVerdict::Pass);
        let untouched = msg.payload.as_ptr() == before.as_ptr() && msg.payload == before;
        let event = DetectionEvent::decode(&msg.payload[..]).expect("a DetectionEvent");
        (event, untouched)
    }

    /// Sends events of `camera` until one comes back with a location or status (the lookup
    /// landed) and satisfies `done`; fails after `limit`.
    pub fn send_until(
        &self,
        camera: &str,
        limit: Duration,
        done: impl Fn(&DetectionEvent) -> bool,
    ) -> DetectionEvent {
        let start = Instant::now();
        loop {
            let (event, _) = self.send(camera);
            if done(&event) {
                return event;
            }
            assert!(
                start.elapsed() < limit,
                "{camera}: not as expected within {limit:?}; last event {event:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends events until one is enriched.
    pub fn until_enriched(&self, camera: &str) -> DetectionEvent {
        self.send_until(camera, Duration::from_secs(10), |e| {
            !e.camera_location.is_empty() || !e.camera_status.is_empty()
        })
    }

    /// A counter of this API; the lookups' counts are reported by the next hook call, so this
    /// sends one message of another method (it passes unchanged) first.
    pub fn counter(&self, name: &str) -> u64 {
        let mut msg = self.message(MessageDirection::FromUpstream, "/other.Svc/M", vec![1]);
        self.run(&mut msg);
        plugin_counter(&self.id, name).unwrap_or(0)
    }
}
