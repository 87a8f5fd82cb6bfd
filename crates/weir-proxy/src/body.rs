//! Body types: what the proxy sends to clients, and the request body wrapper that lets a
//! request be retried on another target when the first one refused the connection.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

/// Error type of every body the proxy produces.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body the gateway sends: the upstream's body passed through untouched, a body
/// the gateway wrote itself, or (for later body-rewriting phases) any boxed body.
///
/// An enum rather than a boxed trait object so the pass-through path allocates nothing.
pub enum ProxyBody {
    /// The upstream's body, streamed frame by frame (data and trailers).
    Upstream(Incoming),
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
            ProxyBody::Upstream(b) => Pin::new(b).poll_frame(cx).map_err(|e| e.into()),
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

/// The client's request body on its way upstream.
///
/// The body sits in a shared slot until the upstream connection first polls it. If connecting
/// failed, nothing was read, and [`BodySlot::reclaim`] hands the body back so the request can
/// go to the next target. One uncontended lock per request, none per frame.
pub struct UpstreamBody {
    slot: Arc<Mutex<Option<Incoming>>>,
    taken: Option<Incoming>,
    hint: SizeHint,
    end: bool,
}

/// The other half of an [`UpstreamBody`]: reclaims the body if it was never polled.
pub struct BodySlot(Arc<Mutex<Option<Incoming>>>);

impl BodySlot {
    /// Takes the body back if the upstream never started reading it.
    pub fn reclaim(&self) -> Option<Incoming> {
        self.0.lock().ok()?.take()
    }
}

impl UpstreamBody {
    /// Wraps a body, returning the body to send and the slot to reclaim it from.
    pub fn new(body: Incoming) -> (Self, BodySlot) {
        let hint = body.size_hint();
        let end = body.is_end_stream();
        let slot = Arc::new(Mutex::new(Some(body)));
        (
            UpstreamBody {
                slot: slot.clone(),
                taken: None,
                hint,
                end,
            },
            BodySlot(slot),
        )
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if this.taken.is_none() {
            this.taken = this.slot.lock().ok().and_then(|mut s| s.take());
        }
        match this.taken.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.taken {
            Some(b) => b.is_end_stream(),
            None => self.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.taken {
            Some(b) => b.size_hint(),
            None => self.hint,
        }
    }
}
