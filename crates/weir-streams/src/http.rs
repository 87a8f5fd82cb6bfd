//! The HTTP binding: a request under a stream endpoint becomes a message (input) or a
//! consumer (output). Responses follow Bento's statuses; bodies stream.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::inputs::http_server::HttpServerInput;
use crate::instance::ActivityGuard;
use crate::message::{Ack, Message, SyncSlot, Transaction, meta_string};
use crate::outputs::http_server::HttpServerOutput;

/// A boxed error for bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every stream response.
pub type StreamResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest request body taken as one message.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// A stream response gathers messages already waiting into writes of about this size.
const STREAM_CHUNK_BYTES: usize = 64 << 10;

/// A response with a fixed body.
pub fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<StreamResponseBody> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

/// The request data an input attaches to its message as metadata, as Bento's `http_server` does.
pub fn request_metadata(parts: &http::request::Parts, remote: IpAddr) -> bloblang::Object {
    let mut meta = bloblang::Object::default();
    let s = |v: &str| bloblang::Value::String(v.to_string());
    for (name, value) in &parts.headers {
        let key = weir_core::headers::canonical(name.as_str());
        // A repeated header keeps its first value, as Bento's metadata does.
        if let Ok(v) = value.to_str()
            && meta.get(&key).is_none()
        {
            meta.insert(key, s(v));
        }
    }
    if let Some(q) = parts.uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if meta.get(&k).is_none() {
                meta.insert(k.to_string(), s(&v));
            }
        }
    }
    if let Some(ua) = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        meta.insert("http_server_user_agent", s(ua));
    }
    meta.insert("http_server_request_path", s(parts.uri.path()));
    meta.insert("http_server_verb", s(parts.method.as_str()));
    meta.insert("http_server_remote_ip", s(&remote.to_string()));
    meta
}

/// `path` of an `http_server` input: the body is one message; the reply comes after its ack.
pub async fn input_request<B>(
    input: &HttpServerInput,
    guard: ActivityGuard,
    req: Request<B>,
    remote: IpAddr,
) -> Response<StreamResponseBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !input
        .cfg
        .allowed_verbs
        .iter()
        .any(|v| v.eq_ignore_ascii_case(req.method().as_str()))
    {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    let (parts, body) = req.into_parts();
    let content = match Limited::new(body, MAX_MESSAGE_BYTES).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body is too large for a message",
                )
            } else {
                plain(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body failed: {e}"),
                )
            };
        }
    };
    let msg = Message {
        content: content.to_vec(),
        metadata: request_metadata(&parts, remote),
        ..Message::default()
    };
    let Some(tx) = guard.instance().sender() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "Server closing");
    };
    let sync = Arc::new(SyncSlot::default());
    let (done, outcome) = tokio::sync::oneshot::channel();
    let t = Transaction {
        msg,
        ack: Ack::new(move |o| {
            let _ = done.send(o);
        }),
        sync: Some(sync.clone()),
    };
    let timeout = input.cfg.timeout;
    let delivered = tokio::time::timeout(timeout, async move {
        if tx.send(t).await.is_err() {
            return Err("Server closing".to_string());
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("Server closing".to_string()))
    })
    .await;
    match delivered {
        Err(_) => plain(StatusCode::REQUEST_TIMEOUT, "Request timed out"),
        Ok(Err(e)) if e == "Server closing" => plain(StatusCode::SERVICE_UNAVAILABLE, e),
        Ok(Err(e)) => plain(StatusCode::BAD_GATEWAY, e),
        Ok(Ok(())) => match sync.take() {
            Some(reply) => sync_reply(input, reply),
            None => plain(StatusCode::OK, Bytes::new()),
        },
    }
}

/// The reply built from a sync response message.
fn sync_reply(input: &HttpServerInput, reply: Message) -> Response<StreamResponseBody> {
    let status = input
        .status
        .render(&reply)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = http::HeaderMap::new();
    for (name, value) in &input.headers {
        if let Ok(v) = value.render(&reply)
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            headers.insert(name.clone(), v);
        }
    }
    let mh = &input.cfg.sync_response.metadata_headers;
    if !mh.include_prefixes.is_empty() || !input.meta_patterns.is_empty() {
        for (k, _) in reply.metadata.iter() {
            let wanted = mh
                .include_prefixes
                .iter()
                .any(|p| k.starts_with(p.as_str()))
                || input.meta_patterns.iter().any(|r| r.is_match(k));
            if wanted
                && let (Ok(name), Some(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    meta_string(&reply, k),
                )
                && let Ok(v) = HeaderValue::from_str(&v)
            {
                headers.insert(name, v);
            }
        }
    }
    let mut resp = plain(status, reply.content);
    *resp.headers_mut() = headers;
    resp
}

/// `path` of an `http_server` output: one message, or 408 after the timeout.
pub async fn output_poll(
    out: &HttpServerOutput,
    _guard: ActivityGuard,
    method: &http::Method,
) -> Response<StreamResponseBody> {
    if !out
        .cfg
        .allowed_verbs
        .iter()
        .any(|v| v.eq_ignore_ascii_case(method.as_str()))
    {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    match out.poll().await {
        Some(content) => plain(StatusCode::OK, content),
        None => plain(StatusCode::REQUEST_TIMEOUT, "Timed out waiting for message"),
    }
}

/// `stream_path` of an `http_server` output: every message as it comes, raw or as
/// Server-Sent Events with ids (resumable with `Last-Event-ID`).
pub fn output_stream(
    out: &Arc<HttpServerOutput>,
    guard: ActivityGuard,
    headers: &http::HeaderMap,
) -> Response<StreamResponseBody> {
    let sse = out.cfg.stream_format == "event_source";
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let sub = out.subscribe(resume);
    let heartbeat = (sse && !out.cfg.heartbeat.is_zero()).then_some(out.cfg.heartbeat);
    let state = (sub, guard);
    let frames = futures_util::stream::unfold(state, move |(mut sub, guard)| async move {
        let next = match heartbeat {
            Some(every) => tokio::time::timeout(every, sub.next()).await.ok(),
            None => Some(sub.next().await),
        };
        let chunk = match next {
            None => Bytes::from_static(b": heartbeat\n\n"),
            Some(first) => {
                // Whatever else is already in the log goes in the same write: one frame and
                // one syscall for a burst instead of one per message.
                let mut chunk = Vec::new();
                let mut message = Some(first);
                while let Some((seq, content)) = message {
                    if sse {
                        event(&mut chunk, &sub.output().event_id(seq), &content);
                    } else {
                        chunk.extend_from_slice(&content);
                        chunk.push(b'\n');
                    }
                    message = if chunk.len() < STREAM_CHUNK_BYTES {
                        sub.try_next()
                    } else {
                        None
                    };
                }
                Bytes::from(chunk)
            }
        };
        Some((Ok::<_, BoxError>(Frame::data(chunk)), (sub, guard)))
    });
    let mut resp = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = resp.headers_mut();
    if sse {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    resp
}

/// Appends one SSE event: `id:`, each line of the message as `data:`, a blank line.
fn event(out: &mut Vec<u8>, id: &str, content: &[u8]) {
    out.reserve(content.len() + id.len() + 16);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.as_bytes());
    out.push(b'\n');
    for line in content.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Checks a WebSocket handshake and answers 101; `serve` then runs on the upgraded connection.
pub fn websocket<F, Fut>(
    headers: &http::HeaderMap,
    upgrade: Option<OnUpgrade>,
    serve: F,
) -> Response<StreamResponseBody>
where
    F: FnOnce(WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let is_ws = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let (Some(key), Some(upgrade)) = (headers.get(header::SEC_WEBSOCKET_KEY), upgrade) else {
        return plain(StatusCode::BAD_REQUEST, "Expected a WebSocket upgrade");
    };
    if !is_ws {
        return plain(StatusCode::BAD_REQUEST, "Expected a WebSocket upgrade");
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None).await;
                serve(ws).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut resp = plain(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

/// `ws_path` of an `http_server` output: every message as a frame until the client leaves.
///
/// With `?consumer=<name>` (Weir's), delivery is acknowledged explicitly: the client sends a
/// text frame `ack` for each message it has processed, in order, and a later connection with
/// the same name resumes after the last acknowledged message (within the log's retention), so
/// messages in flight when a connection drops are sent again.
pub async fn output_ws(
    out: Arc<HttpServerOutput>,
    guard: ActivityGuard,
    consumer: Option<String>,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
) {
    let _guard = guard;
    let text = out.cfg.ws_message_type == "text";
    let from = consumer.as_deref().and_then(|name| out.acknowledged(name));
    let mut sub = out.subscribe_at(from);
    // Sequence numbers sent on this connection and not yet acknowledged.
    let mut unacked = std::collections::VecDeque::new();
    let (mut sink, mut incoming) = ws.split();
    loop {
        tokio::select! {
            (seq, content) = sub.next() => {
                unacked.push_back(seq);
                let frame = if text {
                    WsMessage::text(String::from_utf8_lossy(&content).into_owned())
                } else {
                    WsMessage::binary(content)
                };
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            got = incoming.next() => match got {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(WsMessage::Text(t))) if t.as_str().trim() == "ack" => {
                    if let (Some(name), Some(seq)) = (consumer.as_deref(), unacked.pop_front()) {
                        out.acknowledge(name, seq + 1);
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `ws_path` of an `http_server` input: each frame is a message; a sync response is sent back.
pub async fn input_ws(
    input: Arc<HttpServerInput>,
    guard: ActivityGuard,
    meta: bloblang::Object,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
) {
    let (mut sink, mut incoming) = ws.split();
    if !input.cfg.ws_welcome_message.is_empty()
        && sink
            .send(WsMessage::text(input.cfg.ws_welcome_message.clone()))
            .await
            .is_err()
    {
        return;
    }
    while let Some(Ok(frame)) = incoming.next().await {
        let content = match frame {
            WsMessage::Text(t) => t.as_bytes().to_vec(),
            WsMessage::Binary(b) => b.to_vec(),
            WsMessage::Close(_) => break,
            _ => continue,
        };
        let Some(tx) = guard.instance().sender() else {
            break;
        };
        let sync = Arc::new(SyncSlot::default());
        let (done, outcome) = tokio::sync::oneshot::channel();
        let t = Transaction {
            msg: Message {
                content,
                metadata: meta.clone(),
                ..Message::default()
            },
            ack: Ack::new(move |o| {
                let _ = done.send(o);
            }),
            sync: Some(sync.clone()),
        };
        if tx.send(t).await.is_err() {
            break;
        }
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(30), outcome).await,
            Ok(Ok(Ok(())))
        );
        if ok
            && let Some(reply) = sync.take()
            && sink.send(WsMessage::binary(reply.content)).await.is_err()
        {
            break;
        }
    }
}
