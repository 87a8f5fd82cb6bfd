//! The "vision enricher": a Weir native stream plugin for the seed's
//! `vision.VisionService/StreamDetections` (`examples/vision/proto/vision.proto`).
//!
//! Stream hook `HandleStream` (and a no-op pre hook `MyInit`, which the seed's definition
//! also declares on this library), configured by the API's `config_data` (every key optional):
//!
//! ```json
//! {"cameras": {"cam-1": {"location": "Gate", "status": "active", "install_date": "2024-01-01"}},
//!  "aliases": {"front": "cam-1"}, "blocked": ["cam-9"], "dropped": ["cam-5"]}
//! ```
//!
//! - Other methods: every message passes unchanged.
//! - Client to upstream (`DetectionRequest`): a `camera_id` named in `aliases` is replaced by
//!   its target.
//! - Upstream to client (`DetectionEvent`): a blocked camera ends the call with
//!   PERMISSION_DENIED (7) `camera <id> is blocked`; a dropped camera's event is dropped; a
//!   camera in `cameras` gets `camera_location`, `camera_status` and `install_date` from the
//!   table (a missing entry sets ""), with ` #<tag>` appended to the location when the request
//!   has an `x-enrich-tag` header. Unknown cameras and undecodable messages pass unchanged.

use std::collections::{HashMap, HashSet};

use prost::Message;
use weir_plugin_sdk::serde_json::{Map, Value};
use weir_plugin_sdk::{export_plugin, Direction, GrpcMessage, Plugin, Request, Verdict};

/// The only method this plugin looks into.
const METHOD: &str = "/vision.VisionService/StreamDetections";
/// gRPC PERMISSION_DENIED.
const PERMISSION_DENIED: u32 = 7;

// The seed's messages, written by hand with its field numbers (no build script needed).

/// `vision.DetectionRequest`.
#[derive(Clone, PartialEq, Message)]
struct DetectionRequest {
    #[prost(string, tag = "1")]
    camera_id: String,
}

/// `vision.BoundingBox`.
#[derive(Clone, PartialEq, Message)]
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

/// `vision.DetectedObject`.
#[derive(Clone, PartialEq, Message)]
struct DetectedObject {
    #[prost(string, tag = "1")]
    label: String,
    #[prost(float, tag = "2")]
    confidence: f32,
    #[prost(message, optional, tag = "3")]
    r#box: Option<BoundingBox>,
}

/// `vision.DetectionEvent`.
#[derive(Clone, PartialEq, Message)]
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

/// What the table says about one camera.
struct Camera {
    location: String,
    status: String,
    install_date: String,
}

/// The API's config_data, parsed once per load.
struct VisionEnricher {
    cameras: HashMap<String, Camera>,
    aliases: HashMap<String, String>,
    blocked: HashSet<String>,
    dropped: HashSet<String>,
}

/// A camera id written as a string (a number is taken as its decimal text).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn object<'v>(config: &'v Value, key: &str) -> Result<Option<&'v Map<String, Value>>, String> {
    match &config[key] {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        _ => Err(format!("config_data.{key} must be an object")),
    }
}

fn id_set(config: &Value, key: &str) -> Result<HashSet<String>, String> {
    match &config[key] {
        Value::Null => Ok(HashSet::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| id_text(v).ok_or_else(|| format!("config_data.{key} must list camera ids")))
            .collect(),
        _ => Err(format!("config_data.{key} must be an array")),
    }
}

impl Plugin for VisionEnricher {
    const NAME: &'static str = "native-vision";

    fn init(config: &Value) -> Result<Self, String> {
        let text = |camera: &Value, field: &str| camera[field].as_str().unwrap_or("").to_owned();
        let cameras = object(config, "cameras")?
            .into_iter()
            .flatten()
            .map(|(id, camera)| {
                let entry = Camera {
                    location: text(camera, "location"),
                    status: text(camera, "status"),
                    install_date: text(camera, "install_date"),
                };
                (id.clone(), entry)
            })
            .collect();
        let aliases = object(config, "aliases")?
            .into_iter()
            .flatten()
            .map(|(name, target)| {
                id_text(target)
                    .map(|t| (name.clone(), t))
                    .ok_or_else(|| format!("config_data.aliases.{name} must be a camera id"))
            })
            .collect::<Result<_, _>>()?;
        Ok(VisionEnricher {
            cameras,
            aliases,
            blocked: id_set(config, "blocked")?,
            dropped: id_set(config, "dropped")?,
        })
    }

    /// The seed's definition also declares the pre hook `MyInit` on this library (the Go
    /// original's initialiser): accepted, with nothing to do per request.
    fn pre(&self, name: &str, _req: &mut Request) -> Result<(), String> {
        match name {
            "MyInit" => Ok(()),
            _ => Err(format!("no pre hook named {name}")),
        }
    }

    fn on_grpc_message(&self, name: &str, msg: &mut GrpcMessage) -> Result<Verdict, String> {
        if name != "HandleStream" {
            return Err(format!("no stream hook named {name}"));
        }
        if msg.method() != METHOD {
            return Ok(Verdict::Pass);
        }
        match msg.direction() {
            Direction::ToUpstream => Ok(self.request(msg.payload())),
            Direction::FromUpstream => self.event(msg),
        }
    }
}

impl VisionEnricher {
    /// Rewrites an aliased camera id.
    fn request(&self, payload: &[u8]) -> Verdict {
        let Ok(mut request) = DetectionRequest::decode(payload) else {
            return Verdict::Pass;
        };
        match self.aliases.get(&request.camera_id) {
            Some(target) => {
                request.camera_id = target.clone();
                Verdict::Replace(request.encode_to_vec())
            }
            None => Verdict::Pass,
        }
    }

    /// Blocks, drops or enriches an event by its camera.
    fn event(&self, msg: &mut GrpcMessage) -> Result<Verdict, String> {
        let Ok(mut event) = DetectionEvent::decode(msg.payload()) else {
            return Ok(Verdict::Pass);
        };
        let id = &event.camera_id;
        if self.blocked.contains(id) {
            return Ok(Verdict::end(
                PERMISSION_DENIED,
                format!("camera {id} is blocked"),
            ));
        }
        if self.dropped.contains(id) {
            return Ok(Verdict::Drop);
        }
        let Some(camera) = self.cameras.get(id) else {
            return Ok(Verdict::Pass);
        };
        let mut location = camera.location.clone();
        if let Some(tag) = msg.header_bytes("x-enrich-tag")? {
            location.push_str(" #");
            location.push_str(&String::from_utf8_lossy(tag));
        }
        event.camera_location = location;
        event.camera_status = camera.status.clone();
        event.install_date = camera.install_date.clone();
        Ok(Verdict::Replace(event.encode_to_vec()))
    }
}

export_plugin!(VisionEnricher);
