//! [`VisionUpstream`]: seed 000's `vision.VisionService` (examples/vision/proto/vision.proto)
//! over h2c, streaming made-up detections for the stream-hook tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, stream};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::{Request, Response, Status};

use crate::runtime::ServerThread;
use crate::vision_pb::vision_service_server::{VisionService, VisionServiceServer};
use crate::vision_pb::{BoundingBox, DetectedObject, DetectionEvent, DetectionRequest};

/// A `vision.VisionService` server on `127.0.0.1:<port>` (h2c, prior knowledge).
///
/// `StreamDetections(DetectionRequest{camera_id})`: `camera_id` is a comma-separated list;
/// event `i` (from 0) carries `camera_id = ids[i % ids.len()]`, `timestamp_ms = i` and one
/// object (`label` "person", or `x-label-bytes` bytes of `x`, confidence 0.875, box 1,2,3,4).
/// Request metadata: `x-count` events (default 5), `x-gap-ms` between them (default 0);
/// Messages are gzip-compressed toward clients that accept it, and compressed requests are
/// accepted. `x-corrupt: 1` sends a truncated frame (a prefix announcing 100 bytes, then 3) before the
/// trailers, to test how a gateway handles broken framing.
pub struct VisionUpstream {
    server: ServerThread,
    requests: Arc<Mutex<Vec<String>>>,
}

impl VisionUpstream {
    /// Starts the server on an OS-chosen port.
    pub fn start() -> VisionUpstream {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let server = ServerThread::spawn("vision", move |listener| async move {
            // gzip whenever the client offers it: the stream-hook tests check recompression.
            let svc = VisionServiceServer::new(Detections { seen })
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let svc = svc.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let hsvc = service_fn(move |req: http::Request<Incoming>| {
                        let corrupt = req.headers().get("x-corrupt").is_some();
                        let mut svc = svc.clone();
                        async move {
                            let resp = match svc.call(req).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                            let (parts, body) = resp.into_parts();
                            let body = CorruptingBody {
                                inner: body,
                                corrupt,
                            };
                            Ok::<_, Infallible>(http::Response::from_parts(parts, body))
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), hsvc)
                        .await;
                });
            }
        });
        VisionUpstream { server, requests }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `grpc://127.0.0.1:<port>` (an API `target_url`).
    pub fn url(&self) -> String {
        format!("grpc://{}", self.addr())
    }

    /// `http://127.0.0.1:<port>`, for a tonic client.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The `camera_id` of every request received so far, followed by ` (gzip)` when the
    /// request message came compressed.
    pub fn requested_cameras(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

struct Detections {
    seen: Arc<Mutex<Vec<String>>>,
}

fn meta_u64(req: &Request<DetectionRequest>, key: &str, default: u64) -> u64 {
    req.metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<DetectionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl VisionService for Detections {
    type StreamDetectionsStream = EventStream;

    async fn stream_detections(
        &self,
        request: Request<DetectionRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let count = meta_u64(&request, "x-count", 5);
        let gap = Duration::from_millis(meta_u64(&request, "x-gap-ms", 0));
        let label = match meta_u64(&request, "x-label-bytes", 0) {
            0 => "person".to_string(),
            n => "x".repeat(n as usize),
        };
        let gzip = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v == "gzip");
        let camera = request.into_inner().camera_id;
        let shown = if gzip {
            format!("{camera} (gzip)")
        } else {
            camera.clone()
        };
        self.seen.lock().unwrap().push(shown);
        let ids: Vec<String> = camera.split(',').map(str::to_string).collect();
        let events = stream::unfold(0u64, move |i| {
            let (ids, label) = (ids.clone(), label.clone());
            async move {
                if i >= count {
                    return None;
                }
                if i > 0 && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                let event = DetectionEvent {
                    camera_id: ids[(i % ids.len() as u64) as usize].clone(),
                    timestamp_ms: i as i64,
                    objects: vec![DetectedObject {
                        label,
                        confidence: 0.875,
                        r#box: Some(BoundingBox {
                            x_min: 1,
                            y_min: 2,
                            x_max: 3,
                            y_max: 4,
                        }),
                    }],
                    ..Default::default()
                };
                Some((Ok(event), i + 1))
            }
        });
        Ok(Response::new(Box::pin(events) as EventStream))
    }
}

/// tonic's response body, with a truncated frame slipped in before the trailers on request.
struct CorruptingBody {
    inner: tonic::body::Body,
    corrupt: bool,
}

impl Body for CorruptingBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if self.corrupt
            && let Poll::Ready(Some(Ok(frame))) = &polled
            && frame.is_trailers()
        {
            self.corrupt = false;
            // Keep the trailers for the next poll: re-polling tonic's body after it gave
            // them would end it, so hand out the garbage now and the trailers after.
            let Poll::Ready(Some(Ok(frame))) = polled else {
                unreachable!()
            };
            let garbage = Bytes::from_static(&[0, 0, 0, 0, 100, 1, 2, 3]);
            self.inner = tonic::body::Body::new(PendingTrailers(Some(frame)));
            return Poll::Ready(Some(Ok(Frame::data(garbage))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        !self.corrupt && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A body that is just one saved frame.
struct PendingTrailers(Option<Frame<Bytes>>);

impl Body for PendingTrailers {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.take().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}
