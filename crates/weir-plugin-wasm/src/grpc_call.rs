//! `proxy_grpc_call` and the gRPC stream calls (`proxy_grpc_stream`, `_send`, `_cancel`,
//! `_close`, `proxy_get_status`): a filter calls a gRPC service by upstream name, the host
//! runs the call over HTTP/2 (h2c) and delivers its parts to the filter as Envoy does.
//!
//! A unary call ends with `proxy_on_grpc_receive` (its answer) or `proxy_on_grpc_close` (a
//! non-OK status); a stream delivers `proxy_on_grpc_receive_initial_metadata`, one
//! `proxy_on_grpc_receive` per message, `proxy_on_grpc_receive_trailing_metadata` and
//! `proxy_on_grpc_close`. Upstream names are the same allow-list as `proxy_http_call`'s.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use wasmtime::Linker;

use crate::abi::{deserialize_map, status};
use crate::mem::{Cx, give, memory, put_u32, slice, tri};
use crate::state::{CallKind, Event, HostState, Outbound, Upstream};

type R = wasmtime::Result<i32>;
type Metadata = Vec<(String, Vec<u8>)>;

/// gRPC status codes the host itself reports.
const DEADLINE_EXCEEDED: u32 = 4;
const INTERNAL: u32 = 13;
const UNAVAILABLE: u32 = 14;

/// The largest message handed to a filter.
const MAX_MESSAGE: usize = 16 << 20;

/// A request body fed from a channel: one gRPC frame per item; the body ends when the
/// sender is dropped (the stream's half-close).
pub(crate) struct ChannelBody(UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|b| Ok(Frame::data(b))))
    }
}

/// The HTTP/2 client gRPC calls go through (prior knowledge, no TLS).
pub(crate) type GrpcClient = hyper_util::client::legacy::Client<HttpConnector, ChannelBody>;

/// A client with a connection pool, shared by the driver's plugins.
pub(crate) fn client() -> GrpcClient {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A call or stream a filter asked for, not started yet.
pub(crate) struct GrpcRequest {
    pub id: u32,
    pub kind: CallKind,
    pub upstream: Upstream,
    /// `/package.Service/Method`.
    pub path: String,
    pub metadata: Metadata,
    /// Frames to send: the unary call's one message, or what the filter streams.
    pub frames: UnboundedReceiver<Bytes>,
    /// Unary calls only.
    pub timeout: Option<Duration>,
}

/// One gRPC message with its 5-byte prefix (uncompressed).
fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.put_slice(message);
    b.freeze()
}

fn pairs(bytes: &[u8]) -> Option<Metadata> {
    Some(
        deserialize_map(bytes)?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).to_ascii_lowercase(), v.to_vec()))
            .collect(),
    )
}

/// Starts a call or stream on its own task; its parts come back as [`Event`]s.
pub(crate) fn start(
    client: &GrpcClient,
    req: GrpcRequest,
    events: UnboundedSender<Event>,
) -> tokio::task::AbortHandle {
    let client = client.clone();
    let (id, timeout) = (req.id, req.timeout);
    let task = tokio::spawn(async move {
        let unary = req.kind == CallKind::Call;
        let work = run(client, req, events.clone());
        let outcome = match timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .unwrap_or_else(|_| Err((DEADLINE_EXCEEDED, "deadline exceeded".into()))),
            None => work.await,
        };
        match outcome {
            Ok(Some(message)) if unary => {
                let _ = events.send(Event::GrpcMessage { id, message });
            }
            Ok(_) if unary => {
                let _ = events.send(Event::GrpcClose {
                    id,
                    code: INTERNAL,
                    message: "the call ended without a message".into(),
                });
            }
            Ok(_) => {}
            Err((code, message)) => {
                let _ = events.send(Event::GrpcClose { id, code, message });
            }
        }
    });
    task.abort_handle()
}

/// Runs the call. A unary call returns its one message; a stream reports as it goes and
/// returns `Ok(None)` after its close event. `Err` carries the status the call ended with.
async fn run(
    client: GrpcClient,
    req: GrpcRequest,
    events: UnboundedSender<Event>,
) -> Result<Option<Bytes>, (u32, String)> {
    let unary = req.kind == CallKind::Call;
    let uri = format!("{}{}", req.upstream.base, req.path);
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(&uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in &req.metadata {
        builder = builder.header(k.as_str(), v.as_slice());
    }
    let request = builder
        .body(ChannelBody(req.frames))
        .map_err(|e| (INTERNAL, format!("bad gRPC request to {uri}: {e}")))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| (UNAVAILABLE, format!("gRPC call to {uri}: {e}")))?;
    let (parts, mut body) = response.into_parts();
    if let Some(status) = status_of(&parts.headers) {
        // Trailers-only: the status came with the headers.
        return finish(req.id, unary, status, &events).map(|()| None);
    }
    if !unary {
        let _ = events.send(Event::GrpcHeaders {
            id: req.id,
            metadata: metadata(&parts.headers),
        });
    }
    let mut buf = BytesMut::new();
    let mut answer = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| (UNAVAILABLE, format!("gRPC call to {uri}: {e}")))?;
        if let Some(trailers) = frame.trailers_ref() {
            if !unary {
                let _ = events.send(Event::GrpcTrailers {
                    id: req.id,
                    trailers: metadata(trailers),
                });
            }
            let status = status_of(trailers).unwrap_or((INTERNAL, "no grpc-status".into()));
            return finish(req.id, unary, status, &events).map(|()| answer);
        }
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
            while let Some(message) = next_message(&mut buf)? {
                if unary {
                    answer = Some(message);
                } else {
                    let _ = events.send(Event::GrpcMessage {
                        id: req.id,
                        message,
                    });
                }
            }
        }
    }
    Err((
        INTERNAL,
        format!("gRPC call to {uri} ended without a status"),
    ))
}

/// Reports how a call ended: a unary call's OK is reported with its message by the caller;
/// anything else is a close event.
fn finish(
    id: u32,
    unary: bool,
    (code, message): (u32, String),
    events: &UnboundedSender<Event>,
) -> Result<(), (u32, String)> {
    if unary && code != 0 {
        return Err((code, message));
    }
    if !unary {
        let _ = events.send(Event::GrpcClose { id, code, message });
    }
    Ok(())
}

/// Takes one whole message off the front of `buf`, if there is one.
fn next_message(buf: &mut BytesMut) -> Result<Option<Bytes>, (u32, String)> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[0] != 0 {
        return Err((
            INTERNAL,
            "compressed gRPC messages are not supported".into(),
        ));
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_MESSAGE {
        return Err((INTERNAL, format!("a {len} byte message is too big")));
    }
    if buf.len() < 5 + len {
        return Ok(None);
    }
    buf.advance(5);
    Ok(Some(buf.split_to(len).freeze()))
}

fn status_of(h: &http::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let message = h
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        // Percent-encoded, as the gRPC over HTTP/2 spec says.
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    Some((code, message))
}

fn metadata(h: &http::HeaderMap) -> Metadata {
    h.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "grpc-status" | "grpc-message"))
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// Reads the common arguments of `proxy_grpc_call` and `proxy_grpc_stream` and queues the
/// request; returns its id, or the status to give the filter.
fn queue(
    st: &mut HostState,
    (upstream, service, method): (String, String, String),
    metadata: Metadata,
    kind: CallKind,
    timeout: Option<Duration>,
) -> Result<(u32, UnboundedSender<Bytes>), i32> {
    let Some(upstream) = st.upstreams.get(&upstream).cloned() else {
        // Envoy's answer when the `service` names no cluster (the SDKs expect it).
        tracing::warn!(target: "weir::wasm", hook = crate::host::hook_name(st), "gRPC call to unknown upstream `{upstream}`");
        return Err(status::PARSE_FAILURE);
    };
    if service.is_empty() || method.is_empty() {
        return Err(status::PARSE_FAILURE);
    }
    if st.callouts.is_none() || st.stream.as_ref().is_none_or(|s| s.grpc.is_some()) {
        // Outside an HTTP context (the root's timer) or in a message hook, nothing waits
        // for an answer; INTERNAL_FAILURE is the error the SDKs hand back rather than abort.
        return Err(status::INTERNAL_FAILURE);
    }
    st.next_call_id = st.next_call_id.wrapping_add(1).max(1);
    let id = st.next_call_id;
    let (tx, frames) = unbounded_channel();
    let req = GrpcRequest {
        id,
        kind,
        upstream,
        path: format!("/{service}/{method}"),
        metadata,
        frames,
        timeout,
    };
    if let Some(s) = st.stream.as_mut() {
        s.pending.push(Outbound::Grpc(req));
    }
    if let Some(c) = st.callouts.as_mut() {
        c.running.insert(id, (kind, None));
    }
    Ok((id, tx))
}

type Names = (String, String, String);

/// The arguments `proxy_grpc_call` and `proxy_grpc_stream` share: upstream, service and
/// method names, then the initial metadata (malformed metadata is `BAD_ARGUMENT`).
fn target(data: &[u8], args: [(i32, i32); 4]) -> Result<(Names, Metadata), i32> {
    let s = |(p, l): (i32, i32)| slice(data, p, l).map(|b| String::from_utf8_lossy(b).into_owned());
    let names = (s(args[0])?, s(args[1])?, s(args[2])?);
    let metadata = pairs(slice(data, args[3].0, args[3].1)?).ok_or(status::BAD_ARGUMENT)?;
    Ok((names, metadata))
}

/// Links the gRPC call functions.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: Cx<'_>,
         up: i32,
         ul: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         timeout: i32,
         ret: i32|
         -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let (names, metadata) = tri!(target(data, [(up, ul), (sp, sl), (mp, ml), (hp, hl)]));
            let message = frame(tri!(slice(data, bp, bl)));
            let limit = Duration::from_millis(u64::from(timeout as u32).max(1));
            let (id, tx) = tri!(queue(st, names, metadata, CallKind::Call, Some(limit)));
            let _ = tx.send(message);
            Ok(put_u32(&mut c, ret, id).err().unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut c: Cx<'_>,
         up: i32,
         ul: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         hp: i32,
         hl: i32,
         ret: i32|
         -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let (names, metadata) = tri!(target(data, [(up, ul), (sp, sl), (mp, ml), (hp, hl)]));
            let (id, tx) = tri!(queue(st, names, metadata, CallKind::Stream, None));
            if let Some(callouts) = st.callouts.as_mut() {
                callouts.senders.insert(id, tx);
            }
            Ok(put_u32(&mut c, ret, id).err().unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut c: Cx<'_>, token: i32, mp: i32, ml: i32, end: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let message = frame(tri!(slice(data, mp, ml)));
            let Some(callouts) = st.callouts.as_mut() else {
                return Ok(status::NOT_FOUND);
            };
            let token = token as u32;
            let Some(tx) = callouts.senders.get(&token) else {
                return Ok(status::NOT_FOUND);
            };
            let _ = tx.send(message);
            if end != 0 {
                callouts.senders.remove(&token);
            }
            Ok(status::OK)
        },
    )?;
    // Cancel: the call ends at once and no callback of its comes.
    linker.func_wrap("env", "proxy_grpc_cancel", |mut c: Cx<'_>, token: i32| {
        let st = c.data_mut();
        let token = token as u32;
        let Some(callouts) = st.callouts.as_mut() else {
            return status::NOT_FOUND;
        };
        let Some((_, task)) = callouts.running.remove(&token) else {
            return status::NOT_FOUND;
        };
        callouts.senders.remove(&token);
        if let Some(task) = task {
            task.abort();
        }
        if let Some(s) = st.stream.as_mut() {
            s.pending
                .retain(|o| !matches!(o, Outbound::Grpc(r) if r.id == token));
        }
        status::OK
    })?;
    // Close: a stream's send side ends (the service may still answer); a call is cancelled.
    linker.func_wrap("env", "proxy_grpc_close", |mut c: Cx<'_>, token: i32| {
        let st = c.data_mut();
        let token = token as u32;
        let Some(callouts) = st.callouts.as_mut() else {
            return status::NOT_FOUND;
        };
        match callouts.running.get(&token) {
            Some((CallKind::Stream, _)) => {
                callouts.senders.remove(&token);
                status::OK
            }
            Some((CallKind::Call, _)) => {
                if let Some((_, Some(task))) = callouts.running.remove(&token) {
                    task.abort();
                }
                status::OK
            }
            None => status::NOT_FOUND,
        }
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Cx<'_>, code_out: i32, ptr_out: i32, size_out: i32| -> R {
            let (code, message) = c.data().grpc_status.clone();
            if let Err(e) = put_u32(&mut c, code_out, code) {
                return Ok(e);
            }
            give(&mut c, message.as_bytes(), ptr_out, size_out)
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_from_frames_in_any_pieces() {
        let mut buf = BytesMut::new();
        let wire = [frame(b"one"), frame(b""), frame(b"three")].concat();
        let mut got = Vec::new();
        for byte in wire {
            buf.put_u8(byte);
            while let Some(m) = next_message(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, [&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", "10".parse().unwrap());
        h.insert(
            "grpc-message",
            "Aborted%20by%20Proxy-Wasm%21".parse().unwrap(),
        );
        assert_eq!(status_of(&h), Some((10, "Aborted by Proxy-Wasm!".into())));
    }
}
