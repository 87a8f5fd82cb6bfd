//! The "vision enricher" stream hook (`HandleStream`) for the seed's `vision.VisionService`,
//! as Weir's Wasm driver runs it: on `/vision.VisionService/StreamDetections` it rewrites camera
//! aliases in requests and enriches, drops or blocks detection events, by the API's
//! `config_data`:
//!
//! ```json
//! {"cameras": {"<camera_id>": {"location": "...", "status": "...", "install_date": "..."}},
//!  "aliases": {"<name>": "<camera_id>"}, "blocked": ["<camera_id>"], "dropped": ["<camera_id>"]}
//! ```
//!
//! A request header `x-enrich-tag: T` appends ` #T` to the location. Other methods, unknown
//! cameras and undecodable messages pass unchanged.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use prost::Message as _;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use weir_grpc_ext::{Direction, Message, Verdict};

const METHOD: &str = "/vision.VisionService/StreamDetections";
/// gRPC PERMISSION_DENIED.
const PERMISSION_DENIED: u32 = 7;

// The seed's vision.proto messages, by field number.

#[derive(Clone, PartialEq, prost::Message)]
struct DetectionRequest {
    #[prost(string, tag = "1")]
    camera_id: String,
}

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

/// One camera's enrichment.
#[derive(Default)]
struct Camera {
    location: String,
    status: String,
    install_date: String,
}

/// The API's config_data, parsed once per instance in `on_configure`.
#[derive(Default)]
struct Config {
    cameras: HashMap<String, Camera>,
    aliases: HashMap<String, String>,
    blocked: Vec<String>,
    dropped: Vec<String>,
}

impl Config {
    fn parse(raw: &[u8]) -> Result<Config, String> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        let v: serde_json::Value =
            serde_json::from_slice(raw).map_err(|e| format!("config_data is not JSON: {e}"))?;
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|s| s.as_str()).unwrap_or("").to_owned()
        };
        let strings = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|s| s.as_str())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut cfg = Config {
            blocked: strings("blocked"),
            dropped: strings("dropped"),
            ..Config::default()
        };
        if let Some(cams) = v.get("cameras").and_then(|c| c.as_object()) {
            for (id, c) in cams {
                let cam = Camera {
                    location: text(c, "location"),
                    status: text(c, "status"),
                    install_date: text(c, "install_date"),
                };
                cfg.cameras.insert(id.clone(), cam);
            }
        }
        if let Some(aliases) = v.get("aliases").and_then(|a| a.as_object()) {
            for (name, target) in aliases {
                if let Some(t) = target.as_str() {
                    cfg.aliases.insert(name.clone(), t.to_owned());
                }
            }
        }
        Ok(cfg)
    }
}

thread_local! {
    // An instance is single-threaded; the root context sets this, message calls read it.
    static CONFIG: RefCell<Rc<Config>> = RefCell::new(Rc::new(Config::default()));
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&raw) {
            Ok(cfg) => {
                CONFIG.with(|c| *c.borrow_mut() = Rc::new(cfg));
                true
            }
            Err(e) => {
                proxy_wasm::hostcalls::log(LogLevel::Error, &format!("vision-enricher: {e}")).ok();
                false
            }
        }
    }

    // Message calls run on an HTTP context of this root; it has nothing to do itself.
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Idle))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Idle;

impl Context for Idle {}

impl HttpContext for Idle {}

fn handle_stream(msg: &Message) -> Verdict {
    if msg.method().as_deref() != Some(METHOD) {
        return Verdict::Pass;
    }
    let Ok(bytes) = msg.payload() else {
        return Verdict::Pass;
    };
    let cfg = CONFIG.with(|c| c.borrow().clone());
    match msg.direction() {
        Direction::ToUpstream => {
            let Ok(mut req) = DetectionRequest::decode(bytes.as_slice()) else {
                return Verdict::Pass;
            };
            match cfg.aliases.get(&req.camera_id) {
                Some(target) => {
                    req.camera_id = target.clone();
                    Verdict::Replace(req.encode_to_vec())
                }
                None => Verdict::Pass,
            }
        }
        Direction::FromUpstream => {
            let Ok(mut event) = DetectionEvent::decode(bytes.as_slice()) else {
                return Verdict::Pass;
            };
            let id = &event.camera_id;
            if cfg.blocked.contains(id) {
                return Verdict::End {
                    code: PERMISSION_DENIED,
                    message: format!("camera {id} is blocked"),
                };
            }
            if cfg.dropped.contains(id) {
                return Verdict::Drop;
            }
            let Some(cam) = cfg.cameras.get(id) else {
                return Verdict::Pass;
            };
            event.camera_location = cam.location.clone();
            if let Some(tag) = msg.request_header("x-enrich-tag") {
                event.camera_location.push_str(" #");
                event.camera_location.push_str(&tag);
            }
            event.camera_status = cam.status.clone();
            event.install_date = cam.install_date.clone();
            Verdict::Replace(event.encode_to_vec())
        }
    }
}

weir_grpc_ext::export_grpc_message_hook!(handle_stream);
