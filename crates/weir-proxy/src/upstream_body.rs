//! The upstream's response body on its way to the client, with a read-idle limit: an upstream
//! that stops sending mid-body fails the response after `idle` without a frame (nginx's
//! `proxy_read_timeout`), instead of holding the client forever.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

/// The upstream stalled: no frame within the read-idle limit.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {0:?} in the middle of its response body")]
pub struct UpstreamStalled(pub Duration);

/// An upstream body, idle-limited. The timer exists only once the body has had to wait, so a
/// body that arrives at once costs no allocation.
pub struct IdleLimitedBody {
    inner: Incoming,
    idle: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl IdleLimitedBody {
    /// Wraps `inner`; `idle` of `None` means no limit.
    pub fn new(inner: Incoming, idle: Option<Duration>) -> Self {
        IdleLimitedBody {
            inner,
            idle,
            timer: None,
        }
    }
}

impl Body for IdleLimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let (Some(timer), Some(idle)) = (this.timer.as_mut(), this.idle) {
                    timer.as_mut().reset(Instant::now() + idle);
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(idle) = this.idle else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Box::new(UpstreamStalled(idle)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
