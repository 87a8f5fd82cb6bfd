//! The stream origin: `origin --listen ADDR` serves `vision.VisionService/StreamDetections`
//! on ADDR (cleartext HTTP/2).
//!
//! Each call streams `x-count` events (request metadata, default 100000) as fast as flow
//! control allows: the response stream is always ready, so tonic encodes events whenever
//! hyper has send capacity. Event i has camera_id = the i-th (cyclically) of the request's
//! comma-separated ids, one DetectedObject, and `timestamp_ms` = the time it was produced,
//! in microseconds (see the crate docs). Single-threaded runtime: the bench pins it to one CPU.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::{Request, Response, Status, transport::Server};
use vision_stream::now_us;
use vision_stream::pb::vision_service_server::{VisionService, VisionServiceServer};
use vision_stream::pb::{BoundingBox, DetectedObject, DetectionEvent, DetectionRequest};

const DEFAULT_COUNT: u64 = 100_000;

struct Vision;

#[tonic::async_trait]
impl VisionService for Vision {
    type StreamDetectionsStream = Events;

    async fn stream_detections(
        &self,
        request: Request<DetectionRequest>,
    ) -> Result<Response<Events>, Status> {
        let count = match request.metadata().get("x-count") {
            None => DEFAULT_COUNT,
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| Status::invalid_argument("x-count: expected an integer ≥ 0"))?,
        };
        let camera_ids = request
            .into_inner()
            .camera_id
            .split(',')
            .map(str::to_owned)
            .collect();
        Ok(Response::new(Events {
            camera_ids,
            next: 0,
            count,
        }))
    }
}

/// The response stream; events are built when polled, so the timestamp is the time tonic
/// takes the event to encode it (at most one 32 KiB encode batch before it is written).
struct Events {
    camera_ids: Vec<String>,
    next: u64,
    count: u64,
}

impl Stream for Events {
    type Item = Result<DetectionEvent, Status>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.next >= this.count {
            return Poll::Ready(None);
        }
        let i = this.next;
        this.next += 1;
        // `split` yields at least one id, so the modulo is safe.
        let camera_id = this.camera_ids[(i % this.camera_ids.len() as u64) as usize].clone();
        // A plausible, varying box: the same encoded size as a real detection, not all zeros.
        let x = (i % 600) as i32;
        Poll::Ready(Some(Ok(DetectionEvent {
            camera_id,
            timestamp_ms: now_us(),
            objects: vec![DetectedObject {
                label: "person".to_owned(),
                confidence: 0.93,
                r#box: Some(BoundingBox {
                    x_min: x,
                    y_min: 120,
                    x_max: x + 40,
                    y_max: 220,
                }),
            }],
            ..Default::default()
        })))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.count - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

fn parse_args() -> Result<SocketAddr, String> {
    let usage = "usage: origin --listen ADDR (e.g. 127.0.0.1:50051)";
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "-h" | "--help" => return Err(usage.to_owned()),
            other => return Err(format!("unknown argument {other}; {usage}")),
        }
    }
    let listen = listen.ok_or(usage)?;
    listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = parse_args()?;
    eprintln!("origin listening on {addr}");
    Server::builder()
        .add_service(VisionServiceServer::new(Vision))
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
