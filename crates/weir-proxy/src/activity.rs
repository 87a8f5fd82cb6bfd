//! A connection's activity, so that one that never sends a whole request head, or sits idle,
//! is closed: hyper's own header timeout starts only once HTTP/1.1 bytes arrive, and HTTP/2
//! has none, so a client that connects and sends nothing, or a preface and nothing more, would
//! otherwise hold its connection (and its memory) forever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use crate::body::{BoxError, ProxyBody};

/// What a connection is doing: requests in flight (bodies included) and when it last did
/// anything.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    /// Requests whose response has not been sent whole yet.
    active: AtomicUsize,
    /// Whether a request head ever arrived.
    served: AtomicBool,
    /// Milliseconds from `started` to the end of the last response.
    last_ms: AtomicU64,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            started: Instant::now(),
            active: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            last_ms: AtomicU64::new(0),
        })
    }

    /// A request head arrived; the guard ends it when dropped (with its response body).
    pub fn begin(self: &Arc<Self>) -> ActiveGuard {
        self.served.store(true, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(self.clone())
    }

    /// Resolves when the connection should be closed: no whole request head within
    /// `head_deadline` of accepting it, or no request for `idle` after the last response.
    pub async fn expired(&self, head_deadline: Duration, idle: Duration) {
        loop {
            let deadline = if self.active.load(Ordering::Relaxed) > 0 {
                // Busy: look again after a while (a request may run for hours).
                Instant::now() + idle.min(head_deadline).max(Duration::from_millis(100))
            } else if self.served.load(Ordering::Relaxed) {
                let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
                self.started + last + idle
            } else {
                self.started + head_deadline
            };
            if Instant::now() >= deadline && self.active.load(Ordering::Relaxed) == 0 {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One request in flight; dropping it (with the response body, or the request future when the
/// client goes away) ends it.
#[derive(Debug)]
pub struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let a = &self.0;
        let now = a.started.elapsed().as_millis().min(u64::MAX as u128) as u64;
        a.last_ms.fetch_max(now, Ordering::Relaxed);
        a.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as active until it is sent whole.
pub struct TrackedBody {
    inner: ProxyBody,
    _guard: ActiveGuard,
}

impl TrackedBody {
    /// Wraps a body.
    pub fn new(inner: ProxyBody, guard: ActiveGuard) -> Self {
        TrackedBody {
            inner,
            _guard: guard,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_expires_at_the_head_deadline() {
        let a = Activity::new();
        let t = Instant::now();
        a.expired(Duration::from_secs(5), Duration::from_secs(60))
            .await;
        assert!(t.elapsed() >= Duration::from_secs(5) && t.elapsed() < Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_expires_and_an_idle_one_does() {
        let a = Activity::new();
        let guard = a.begin();
        let watch = a.clone();
        let expired = tokio::spawn(async move {
            watch
                .expired(Duration::from_secs(1), Duration::from_secs(2))
                .await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(
            !expired.is_finished(),
            "expired while a request was in flight"
        );
        let ended = Instant::now();
        drop(guard);
        let at = expired.await.unwrap();
        assert!(
            at >= ended + Duration::from_secs(2),
            "idle limit counts from the last response"
        );
    }
}
