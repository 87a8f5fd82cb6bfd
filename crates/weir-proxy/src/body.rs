//! Body types: what the proxy sends to clients, and the request body wrapper that lets a
//! request be retried on another target when the first one refused the connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

use crate::upstream_body::IdleLimitedBody;

/// Error type of every body the proxy produces.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body the gateway sends: the upstream's body passed through untouched, a body
/// the gateway wrote itself, or (for later body-rewriting phases) any boxed body.
///
/// An enum rather than a boxed trait object so the pass-through path allocates nothing.
pub enum ProxyBody {
    /// The upstream's body, streamed frame by frame (data and trailers), idle-limited.
    Upstream(IdleLimitedBody),
    /// A body the gateway wrote (errors, control API answers).
    Full(Full<Bytes>),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl ProxyBody {
    /// An empty body.
    pub fn empty() -> Self {
        ProxyBody::Full(Full::new(Bytes::new()))
    }

    /// A body from bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ProxyBody::Full(Full::new(bytes.into()))
    }
}

impl Default for ProxyBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Upstream(b) => Pin::new(b).poll_frame(cx),
            ProxyBody::Full(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
            ProxyBody::Boxed(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(b) => b.is_end_stream(),
            ProxyBody::Full(b) => b.is_end_stream(),
            ProxyBody::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(b) => b.size_hint(),
            ProxyBody::Full(b) => b.size_hint(),
            ProxyBody::Boxed(b) => b.size_hint(),
        }
    }
}

/// The client's request body: streamed as it arrives, or already read whole because a hook
/// asked for it.
pub enum RequestBody {
    /// Straight from the client.
    Streaming(Incoming),
    /// Read whole (and possibly replaced) by request hooks.
    Buffered(Full<Bytes>),
    /// Translated on the way (gRPC-Web to gRPC).
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Streaming(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            RequestBody::Buffered(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
            RequestBody::Boxed(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Streaming(b) => b.is_end_stream(),
            RequestBody::Buffered(b) => b.is_end_stream(),
            RequestBody::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Streaming(b) => b.size_hint(),
            RequestBody::Buffered(b) => b.size_hint(),
            RequestBody::Boxed(b) => b.size_hint(),
        }
    }
}

/// The client's request body on its way upstream.
///
/// The body sits in a shared slot until the upstream connection first polls it. If connecting
/// failed, nothing was read, and [`BodySlot::retry`] gives a fresh handle on the same body so
/// the request can go to the next target. One uncontended lock per request, none per frame.
/// A read error on the client's side is remembered, so the gateway can answer 400, not 502.
pub struct UpstreamBody {
    shared: Arc<Shared>,
    taken: Option<RequestBody>,
}

struct Shared {
    slot: Mutex<Option<RequestBody>>,
    hint: SizeHint,
    end: bool,
    client_fault: AtomicBool,
}

/// The other half of an [`UpstreamBody`].
pub struct BodySlot(Arc<Shared>);

impl BodySlot {
    /// A new handle on the body, if the upstream never started reading it.
    pub fn retry(&self) -> Option<UpstreamBody> {
        let untouched = self.0.slot.lock().ok()?.is_some();
        untouched.then(|| UpstreamBody {
            shared: self.0.clone(),
            taken: None,
        })
    }

    /// True when reading the client's body failed (malformed chunking, client gone).
    pub fn client_fault(&self) -> bool {
        self.0.client_fault.load(Ordering::Relaxed)
    }
}

impl UpstreamBody {
    /// Wraps a body, returning the body to send and the slot to retry or inspect it from.
    pub fn new(body: RequestBody) -> (Self, BodySlot) {
        let shared = Arc::new(Shared {
            hint: body.size_hint(),
            end: body.is_end_stream(),
            slot: Mutex::new(Some(body)),
            client_fault: AtomicBool::new(false),
        });
        (
            UpstreamBody {
                shared: shared.clone(),
                taken: None,
            },
            BodySlot(shared),
        )
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.taken.is_none() {
            this.taken = this.shared.slot.lock().ok().and_then(|mut s| s.take());
        }
        match this.taken.as_mut() {
            Some(b) => {
                let polled = Pin::new(b).poll_frame(cx);
                if let Poll::Ready(Some(Err(_))) = &polled {
                    this.shared.client_fault.store(true, Ordering::Relaxed);
                }
                polled
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.taken {
            Some(b) => b.is_end_stream(),
            None => self.shared.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.taken {
            Some(b) => b.size_hint(),
            None => self.shared.hint,
        }
    }
}
