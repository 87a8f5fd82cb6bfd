//! `vision.VisionService`: each `StreamDetections` call becomes one more subscriber of the
//! camera's broadcast, so ten clients of one camera still cost one detection pipeline.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::camera::{Camera, CameraHub};
use crate::proto::vision_service_server::VisionService;
use crate::proto::{DetectionEvent, DetectionRequest};

/// Longest camera id echoed back in an error, so a huge request cannot make a huge header.
const MAX_ECHOED_ID: usize = 64;

pub struct VisionProcessor {
    hub: Arc<CameraHub>,
    /// Flips to `true` on shutdown; every open stream then ends cleanly.
    stopping: watch::Receiver<bool>,
}

impl VisionProcessor {
    pub fn new(hub: Arc<CameraHub>, stopping: watch::Receiver<bool>) -> Self {
        Self { hub, stopping }
    }

    fn not_found(&self, id: &str) -> Status {
        let shown: String = id.chars().take(MAX_ECHOED_ID).collect();
        let ids = self.hub.ids();
        let range = match (ids.first(), ids.last()) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "no cameras".to_owned(),
        };
        Status::not_found(format!("no camera {shown} (this processor has {range})"))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<DetectionEvent, Status>> + Send + 'static>>;

/// Logs when a subscriber goes away, whichever way its stream ended.
struct Subscription {
    camera: Arc<Camera>,
    rx: broadcast::Receiver<DetectionEvent>,
    stopping: watch::Receiver<bool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Our own receiver is still counted here, hence the - 1.
        let left = self.camera.subscribers().saturating_sub(1);
        info!(camera = %self.camera.id(), subscribers = left, "subscriber left");
    }
}

#[tonic::async_trait]
impl VisionService for VisionProcessor {
    type StreamDetectionsStream = EventStream;

    async fn stream_detections(
        &self,
        request: Request<DetectionRequest>,
    ) -> Result<Response<Self::StreamDetectionsStream>, Status> {
        let id = request.into_inner().camera_id;
        let camera = self.hub.get(&id).ok_or_else(|| self.not_found(&id))?;
        let rx = camera.subscribe();
        info!(camera = %id, subscribers = camera.subscribers(), "subscriber joined");
        let sub = Subscription {
            camera,
            rx,
            stopping: self.stopping.clone(),
        };
        let stream = futures_util::stream::unfold(sub, |mut sub| async move {
            loop {
                let next = tokio::select! {
                    // Shutdown (or the hub going away) ends the stream with status OK.
                    _ = sub.stopping.wait_for(|stop| *stop) => None,
                    next = sub.rx.recv() => Some(next),
                };
                match next? {
                    Ok(event) => return Some((Ok(event), sub)),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        // Too slow for the frame rate: skip ahead, never hold others back.
                        warn!(camera = %sub.camera.id(), skipped, "slow subscriber skipped frames");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
