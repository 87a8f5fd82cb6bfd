//! Per-message hooks inside gRPC streams: [`MessageHookBody`] decodes the length-prefixed
//! messages of a body, hands each to a [`MessageHook`] that may read, replace or drop it or end
//! the call with a status, and frames what is left again.
//!
//! Transport-independent: it wraps any body of either direction of a call. Streams without
//! hooks should not be wrapped (the plain pass-through is zero-copy; this is not).
//!
//! Flow control is the consumer's: the inner body is polled only when the wrapper is polled and
//! no message is waiting for its hook, so a slow reader (or a slow hook) slows the sender. Per
//! stream the wrapper holds at most: one unfinished frame (< max + 5 bytes) plus the inner
//! body's last chunk, the message under the hook (its wire form, ≤ max + 5, and its
//! decompressed form, ≤ max), and one output frame (the hook's replacement, framed). That is
//! about `2 × max_message_size` + one chunk + the output frame.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use weir_core::plugin::BoxFuture;

use crate::body::BoxError;
use crate::grpc_frame::{Encoding, FrameDecoder, FrameError, RawMessage, code};

pub use weir_core::plugin::{MessageDirection as Direction, MessageVerdict};

/// One message as a hook sees it.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    /// Which way it travels.
    pub direction: Direction,
    /// The call's method, `/package.Service/Method`.
    pub method: Arc<str>,
    /// The payload, decompressed. A hook replaces the message by assigning a new payload; it
    /// is compressed again as the original was.
    pub payload: Bytes,
    /// Position in this direction of the call, from 0, counting dropped messages too.
    pub index: u64,
}

/// A per-message hook. Calls for one stream come one at a time, in order. A hook that fails
/// should answer [`MessageVerdict::End`] with a status; a panic ends the call with INTERNAL.
pub trait MessageHook: Send + Sync {
    /// Looks at (and may change) one message.
    fn on_message<'a>(&'a self, msg: &'a mut StreamMessage) -> BoxFuture<'a, MessageVerdict>;
}

/// What one wrapped stream is.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Which way its messages travel; also decides how an ended call shows (see
    /// [`MessageHookBody`]).
    pub direction: Direction,
    /// The call's method, `/package.Service/Method`.
    pub method: Arc<str>,
    /// This direction's `grpc-encoding` ([`Encoding::from_headers`] on its headers).
    pub encoding: Encoding,
    /// Largest message accepted, on the wire and decompressed.
    pub max_message_size: usize,
}

/// A gRPC status the wrapper ended a call with (a hook's [`MessageVerdict::End`] or a
/// decoding error). Also the error a request body yields (see [`MessageHookBody`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    /// gRPC status code.
    pub code: u8,
    /// Status message, not encoded.
    pub message: String,
}

impl StreamStatus {
    /// Trailers carrying this status: `grpc-status`, and `grpc-message` (percent-encoded)
    /// when the message is not empty.
    pub fn trailers(&self) -> HeaderMap {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from(u16::from(self.code)));
        if !self.message.is_empty() {
            let v = HeaderValue::try_from(percent_encode(&self.message)).expect("ASCII");
            t.insert("grpc-message", v);
        }
        t
    }
}

impl From<FrameError> for StreamStatus {
    fn from(e: FrameError) -> Self {
        StreamStatus {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gRPC status {}: {}", self.code, self.message)
    }
}

impl std::error::Error for StreamStatus {}

/// gRPC's `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The caller's view of how a wrapped stream ended: set (once) when a hook ended the call or
/// decoding failed, before the body shows it.
#[derive(Debug, Clone)]
pub struct StreamOutcome(Arc<OnceLock<StreamStatus>>);

impl StreamOutcome {
    /// The status the wrapper ended the call with, if it did.
    pub fn get(&self) -> Option<&StreamStatus> {
        self.0.get()
    }
}

/// The hook call in flight. It owns the message so the future can be stored next to nothing
/// it borrows.
type HookCall = Pin<Box<dyn Future<Output = (StreamMessage, MessageVerdict)> + Send>>;

struct InFlight {
    call: HookCall,
    /// The message as it came, sent on unchanged (not recompressed) when the hook left it.
    raw: RawMessage,
    /// The payload handed to the hook, to tell whether the hook replaced it.
    original: Bytes,
}

enum State {
    /// Reading messages.
    Streaming,
    /// The inner body ended cleanly: send its trailers, if any, then end.
    Ending(Option<HeaderMap>),
    /// The call was ended with a status: show it, then end.
    Failed(StreamStatus),
    /// The inner body failed after decided messages were batched: pass its error on.
    Errored(Option<BoxError>),
    Done,
}

/// After this many dropped messages in one poll, yield to the executor: an inner body that is
/// always ready and a hook that drops everything would otherwise never return.
const DROP_BUDGET: u32 = 32;

/// A body whose gRPC messages each go through a [`MessageHook`] (see the module docs).
///
/// Data frames out are whole messages, one per frame. The inner body's trailers pass through
/// unchanged at the end; an inner body error passes through as is. When a hook ends the call
/// or decoding fails, the inner body is dropped, the [`StreamOutcome`] is set, and:
/// - [`Direction::FromUpstream`]: the body ends with trailers carrying that `grpc-status` and
///   `grpc-message` (the client gets a proper gRPC status);
/// - [`Direction::ToUpstream`]: the body fails with a [`StreamStatus`] error, so the upstream
///   sees the request stream reset, not a clean end it could take for a complete request; the
///   caller answers the client with the status from the outcome.
///
/// Needs `B: Unpin`; box a body that is not (`Pin<Box<B>>`).
pub struct MessageHookBody<B> {
    /// `None` once the inner body ended (or was dropped on failure).
    inner: Option<B>,
    inner_trailers: Option<HeaderMap>,
    hook: Arc<dyn MessageHook>,
    config: StreamConfig,
    decoder: FrameDecoder,
    in_flight: Option<InFlight>,
    index: u64,
    state: State,
    outcome: Arc<OnceLock<StreamStatus>>,
    /// Messages decided but not yet handed on, framed back to back: sending each message in a
    /// DATA frame of its own costs a frame and a wake-up per message, and peers count small
    /// frames (h2 closes a connection flooded with them).
    out: BytesMut,
}

/// Output is handed on once this much is batched (or when nothing more is ready at once).
const OUT_BATCH: usize = 32 * 1024;

impl<B> MessageHookBody<B> {
    /// Wraps `inner`; returns the body and the handle telling how the call ended.
    pub fn new(
        inner: B,
        hook: Arc<dyn MessageHook>,
        config: StreamConfig,
    ) -> (Self, StreamOutcome) {
        let outcome = Arc::new(OnceLock::new());
        let body = MessageHookBody {
            inner: Some(inner),
            inner_trailers: None,
            hook,
            decoder: FrameDecoder::new(config.max_message_size),
            config,
            in_flight: None,
            index: 0,
            state: State::Streaming,
            outcome: outcome.clone(),
            out: BytesMut::new(),
        };
        (body, StreamOutcome(outcome))
    }

    /// Appends a decided message to the batch; returns a frame to send when the batch is
    /// full. A large message alone is handed on as it is, without a copy.
    fn push_out(&mut self, frame: Bytes) -> Option<Bytes> {
        if self.out.is_empty() && frame.len() >= OUT_BATCH {
            return Some(frame);
        }
        self.out.extend_from_slice(&frame);
        (self.out.len() >= OUT_BATCH).then(|| self.take_out())
    }

    /// The batched messages, if any.
    fn take_out(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// Ends the call with `status`, freeing everything held for the stream (messages already
    /// decided still go out first).
    fn fail(&mut self, status: StreamStatus) {
        let _ = self.outcome.set(status.clone());
        self.inner = None;
        self.inner_trailers = None;
        self.in_flight = None;
        self.decoder = FrameDecoder::new(0);
        self.state = State::Failed(status);
    }

    /// Decompresses a message and starts its hook call.
    fn start(&mut self, raw: RawMessage) -> Result<(), FrameError> {
        let payload = self
            .config
            .encoding
            .decode(&raw, self.config.max_message_size)?;
        let mut msg = StreamMessage {
            direction: self.config.direction,
            method: self.config.method.clone(),
            payload: payload.clone(),
            index: self.index,
        };
        self.index += 1;
        let hook = self.hook.clone();
        let call = async move {
            let verdict = AssertUnwindSafe(hook.on_message(&mut msg))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| MessageVerdict::End {
                    code: code::INTERNAL,
                    message: "message hook panicked".into(),
                });
            (msg, verdict)
        };
        self.in_flight = Some(InFlight {
            call: Box::pin(call),
            raw,
            original: payload,
        });
        Ok(())
    }
}

/// True when `a` is `b` itself (not merely equal): the hook left the payload alone.
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.len() == b.len() && a.as_ptr() == b.as_ptr()
}

impl<B> Body for MessageHookBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut budget = DROP_BUDGET;
        loop {
            // 1. A message at its hook: nothing else moves until it is decided.
            if let Some(flight) = this.in_flight.as_mut() {
                let (msg, verdict) = match flight.call.as_mut().poll(cx) {
                    Poll::Ready(done) => done,
                    // Waiting on the hook: what is decided goes out meanwhile.
                    Poll::Pending if !this.out.is_empty() => {
                        return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                    }
                    Poll::Pending => return Poll::Pending,
                };
                let flight = this.in_flight.take().expect("in flight");
                match verdict {
                    MessageVerdict::Pass => {
                        let framed = if same_bytes(&msg.payload, &flight.original) {
                            Ok(flight.raw.frame)
                        } else {
                            let compress = flight.raw.compressed;
                            this.config.encoding.encode(&msg.payload, compress)
                        };
                        match framed {
                            Ok(f) => {
                                if let Some(full) = this.push_out(f) {
                                    return Poll::Ready(Some(Ok(Frame::data(full))));
                                }
                            }
                            Err(e) => this.fail(e.into()),
                        }
                    }
                    MessageVerdict::Drop => {
                        budget -= 1;
                        if budget == 0 {
                            if !this.out.is_empty() {
                                return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                            }
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    MessageVerdict::End { code, message } => {
                        this.fail(StreamStatus { code, message });
                    }
                }
                continue;
            }

            // 2. The end, once decided (after what was decided before it).
            if !matches!(this.state, State::Streaming) && !this.out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
            }
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Ending(trailers) => {
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                }
                State::Failed(status) => {
                    return Poll::Ready(Some(match this.config.direction {
                        Direction::FromUpstream => Ok(Frame::trailers(status.trailers())),
                        Direction::ToUpstream => Err(Box::new(status) as BoxError),
                    }));
                }
                State::Errored(e) => {
                    return Poll::Ready(e.map(Err));
                }
                State::Streaming => this.state = State::Streaming,
            }

            // 3. A whole message already buffered goes first: the inner body is read only
            // when nothing is left to do, which is what keeps the buffering bounded.
            match this.decoder.next_message() {
                Ok(Some(raw)) => {
                    if let Err(e) = this.start(raw) {
                        this.fail(e.into());
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    this.fail(e.into());
                    continue;
                }
            }

            // 4. More input.
            let Some(inner) = this.inner.as_mut() else {
                match this.decoder.finish() {
                    Ok(()) => this.state = State::Ending(this.inner_trailers.take()),
                    Err(e) => this.fail(e.into()),
                }
                continue;
            };
            let polled = match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(p) => p,
                // Nothing more right now: hand on the batch rather than sit on it.
                Poll::Pending if !this.out.is_empty() => {
                    return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                }
                Poll::Pending => return Poll::Pending,
            };
            match polled {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.decoder.push(&data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            // Trailers are the last frame: stop reading.
                            this.inner_trailers = Some(trailers);
                            this.inner = None;
                        }
                    }
                },
                Some(Err(e)) if !this.out.is_empty() => {
                    // Decided messages first; the error comes at the next poll.
                    this.inner = None;
                    this.decoder = FrameDecoder::new(0);
                    this.state = State::Errored(Some(e.into()));
                    return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                }
                Some(Err(e)) => {
                    this.inner = None;
                    this.decoder = FrameDecoder::new(0);
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => this.inner = None,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.in_flight.is_none() && self.out.is_empty() && matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        // Hooks may change any message: the length is unknown until the end.
        match self.state {
            State::Done if self.in_flight.is_none() => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
