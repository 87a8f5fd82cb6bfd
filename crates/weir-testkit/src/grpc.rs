//! [`GrpcUpstream`]: the `weir.test.Echo` gRPC service over h2c.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tonic::codegen::Service;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::pb::echo_server::{Echo, EchoServer};
use crate::pb::{EchoReply, EchoRequest, StreamRequest};
use crate::runtime::ServerThread;

/// Trailing metadata every call ends with.
const TRAILER_NAME: &str = "x-trailer";
const TRAILER_VALUE: &str = "done";

/// A gRPC server on `127.0.0.1:<port>` (HTTP/2 cleartext, prior knowledge)
/// implementing `weir.test.Echo` from `proto/echo.proto`:
///
/// * `Unary`: echoes `message` and `payload`; `message == "fail"` returns
///   `InvalidArgument` "you asked for failure".
/// * `ServerStream{count,size,gap_ms}`: `count` replies, `seq` 0.., each with
///   `size` payload bytes, `gap_ms` apart.
/// * `ClientStream`: one reply whose `message` is all messages concatenated,
///   `payload` all payloads concatenated and `seq` the message count.
/// * `Bidi`: one reply per request, as soon as it arrives (`seq` 0..).
///
/// On every call the request metadata `x-test` is echoed back as response
/// (header) metadata, and the call ends with trailing metadata
/// `x-trailer: done`. tonic 0.14 has no handler-level API for trailing
/// metadata on success, so the server wraps tonic's response body and adds
/// the entry to the final trailers frame; on an error that tonic sends as a
/// "trailers-only" response (status in the headers) it is added to those
/// headers, which is where gRPC clients read trailers from in that case.
pub struct GrpcUpstream {
    server: ServerThread,
    calls: Arc<AtomicUsize>,
}

impl GrpcUpstream {
    /// Starts the server on an OS-chosen port.
    pub fn start() -> GrpcUpstream {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let server = ServerThread::spawn("grpc", move |listener| async move {
            let svc = EchoServer::new(EchoService);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (svc, counter) = (svc.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let hsvc = service_fn(move |req: http::Request<Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let mut svc = svc.clone();
                        async move {
                            let resp = match svc.call(req).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                            Ok::<_, Infallible>(add_trailer(resp))
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), hsvc)
                        .await;
                });
            }
        });
        GrpcUpstream { server, calls }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `grpc://127.0.0.1:<port>` (the form used as an API `target_url`).
    pub fn url(&self) -> String {
        format!("grpc://{}", self.addr())
    }

    /// `http://127.0.0.1:<port>`, for connecting a tonic client directly.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// How many HTTP/2 requests (calls) arrived so far.
    pub fn call_count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn add_trailer(resp: http::Response<tonic::body::Body>) -> http::Response<TrailerBody> {
    let (mut parts, body) = resp.into_parts();
    let trailers_only = parts.headers.contains_key("grpc-status");
    if trailers_only {
        parts
            .headers
            .insert(TRAILER_NAME, HeaderValue::from_static(TRAILER_VALUE));
    }
    http::Response::from_parts(
        parts,
        TrailerBody {
            inner: body,
            add: !trailers_only,
        },
    )
}

/// tonic's response body with `x-trailer: done` added to its trailers frame.
struct TrailerBody {
    inner: tonic::body::Body,
    add: bool,
}

impl Body for TrailerBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let add = self.add;
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if add {
                            trailers.insert(TRAILER_NAME, HeaderValue::from_static(TRAILER_VALUE));
                        }
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

struct EchoService;

/// Builds a response carrying the request's `x-test` metadata back.
fn with_echoed_meta<T>(req_meta: &MetadataMap, msg: T) -> Response<T> {
    let mut resp = Response::new(msg);
    if let Some(v) = req_meta.get("x-test") {
        resp.metadata_mut().insert("x-test", v.clone());
    }
    resp
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let meta = request.metadata().clone();
        let req = request.into_inner();
        if req.message == "fail" {
            let mut st = Status::invalid_argument("you asked for failure");
            if let Some(v) = meta.get("x-test") {
                st.metadata_mut().insert("x-test", v.clone());
            }
            return Err(st);
        }
        let reply = EchoReply {
            message: req.message,
            payload: req.payload,
            seq: 0,
        };
        Ok(with_echoed_meta(&meta, reply))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<Self::ServerStreamStream>, Status> {
        let meta = request.metadata().clone();
        let StreamRequest {
            count,
            size,
            gap_ms,
        } = request.into_inner();
        let gap = Duration::from_millis(u64::from(gap_ms));
        let s = stream::unfold(0u32, move |i| async move {
            if i >= count {
                return None;
            }
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let reply = EchoReply {
                message: format!("msg {i}"),
                payload: vec![b'x'; size as usize],
                seq: i,
            };
            Some((Ok(reply), i + 1))
        });
        Ok(with_echoed_meta(&meta, Box::pin(s) as ReplyStream))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let meta = request.metadata().clone();
        let mut incoming = request.into_inner();
        let mut reply = EchoReply::default();
        while let Some(msg) = incoming.next().await {
            let msg = msg?;
            reply.message.push_str(&msg.message);
            reply.payload.extend_from_slice(&msg.payload);
            reply.seq += 1;
        }
        Ok(with_echoed_meta(&meta, reply))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::BidiStream>, Status> {
        let meta = request.metadata().clone();
        let s = request.into_inner().enumerate().map(|(i, msg)| {
            msg.map(|m| EchoReply {
                message: m.message,
                payload: m.payload,
                seq: i as u32,
            })
        });
        Ok(with_echoed_meta(&meta, Box::pin(s) as ReplyStream))
    }
}
