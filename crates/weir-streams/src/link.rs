//! Connections to brokers and services: each connector holds one [`Link`] that says whether it
//! is connected, how often it reconnected and why it last failed, for /metrics and the control
//! API; and the back-off every connector reconnects with, so a broker that goes away is retried
//! without a storm and without stopping other streams.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// First wait after a failed connection attempt; doubled per attempt up to [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest wait between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

const CONNECTING: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The gauges a link moves, bound when its instance starts.
pub struct LinkMetrics {
    /// Links of this component connected now.
    pub up: IntGauge,
    /// Links of this component disconnected now (waiting to reconnect).
    pub down: IntGauge,
    /// Reconnections after a lost or failed connection.
    pub reconnects: IntCounter,
}

/// One connector's connection state.
pub struct Link {
    /// Dotted path of the component (`…input.nats`).
    pub component: String,
    state: AtomicU8,
    reconnects: AtomicU64,
    last_error: Mutex<Option<String>>,
    metrics: OnceLock<LinkMetrics>,
}

impl Link {
    /// A link for the component at `path`, not yet connected.
    pub fn new(path: &str) -> Arc<Link> {
        Arc::new(Link {
            component: path.to_string(),
            state: AtomicU8::new(CONNECTING),
            reconnects: AtomicU64::new(0),
            last_error: Mutex::new(None),
            metrics: OnceLock::new(),
        })
    }

    /// A new link for the component at `path`, added to the stream's `links` (which /metrics
    /// and the control API read).
    pub fn register(path: &str, links: &mut Vec<Arc<Link>>) -> Arc<Link> {
        let link = Link::new(path);
        links.push(link.clone());
        link
    }

    /// Binds the link to its stream's gauges (once; later calls are ignored).
    pub fn bind(&self, metrics: LinkMetrics) {
        let state = self.state.load(Ordering::Relaxed);
        match state {
            UP => metrics.up.inc(),
            DOWN => metrics.down.inc(),
            _ => {}
        }
        let _ = self.metrics.set(metrics);
    }

    fn set(&self, new: u8) -> u8 {
        let old = self.state.swap(new, Ordering::Relaxed);
        if old != new
            && let Some(m) = self.metrics.get()
        {
            match old {
                UP => m.up.dec(),
                DOWN => m.down.dec(),
                _ => {}
            }
            match new {
                UP => m.up.inc(),
                DOWN => m.down.inc(),
                _ => {}
            }
        }
        old
    }

    /// The connection is up.
    pub fn connected(&self) {
        if self.set(UP) == DOWN {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = self.metrics.get() {
                m.reconnects.inc();
            }
            tracing::info!(component = %self.component, "reconnected");
        }
    }

    /// The connection failed or was lost, for `why`.
    pub fn failed(&self, why: impl std::fmt::Display) {
        let why = why.to_string();
        // The reason is stored before the state flips, so a reader never sees
        // "disconnected" without it.
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
        if self.set(DOWN) != DOWN {
            tracing::warn!(component = %self.component, error = %why, "connection lost; reconnecting with back-off");
        }
    }

    /// True while connected.
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    /// What the control API shows.
    pub fn describe(&self) -> Value {
        let state = match self.state.load(Ordering::Relaxed) {
            UP => "connected",
            DOWN => "disconnected",
            _ => "connecting",
        };
        json!({
            "component": self.component,
            "state": state,
            "reconnects": self.reconnects.load(Ordering::Relaxed),
            "last_error": *self.last_error.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }

    /// Calls `connect` until it succeeds, waiting [`BACKOFF_START`] doubling to
    /// [`BACKOFF_MAX`] between attempts; `None` once `stop` is cancelled.
    pub async fn connect<T, F, Fut>(&self, stop: &CancellationToken, mut connect: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut wait = BACKOFF_START;
        loop {
            let attempt = tokio::select! {
                _ = stop.cancelled() => return None,
                r = connect() => r,
            };
            match attempt {
                Ok(conn) => {
                    self.connected();
                    return Some(conn);
                }
                Err(e) => self.failed(e),
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(BACKOFF_MAX);
        }
    }

    /// Waits before the next attempt after a lost connection, unless `stop` comes first
    /// (then false).
    pub async fn pause(&self, stop: &CancellationToken) -> bool {
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(BACKOFF_START) => true,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.set(CONNECTING);
    }
}

/// An output's connection, made at the first write and made again after a failure. Writes
/// that meet a broken connection fail (the input redelivers); the next write reconnects, at
/// most once per back-off period.
pub struct Lazy<T: Clone> {
    /// The link it reports on.
    pub link: Arc<Link>,
    conn: tokio::sync::Mutex<(Option<T>, Option<tokio::time::Instant>, Duration)>,
}

impl<T: Clone> Lazy<T> {
    /// An unconnected handle reporting on `link`.
    pub fn new(link: Arc<Link>) -> Self {
        Lazy {
            link,
            conn: tokio::sync::Mutex::new((None, None, BACKOFF_START)),
        }
    }

    /// The connection, made now if there is none (unless the last attempt failed less than
    /// a back-off period ago).
    pub async fn get<F, Fut>(&self, connect: F) -> Result<T, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut guard = self.conn.lock().await;
        let (conn, retry_at, wait) = &mut *guard;
        if let Some(c) = conn {
            return Ok(c.clone());
        }
        if let Some(at) = retry_at
            && tokio::time::Instant::now() < *at
        {
            return Err(format!(
                "not connected ({})",
                self.link
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_deref()
                    .unwrap_or("connecting")
            ));
        }
        match connect().await {
            Ok(c) => {
                self.link.connected();
                *conn = Some(c.clone());
                *retry_at = None;
                *wait = BACKOFF_START;
                Ok(c)
            }
            Err(e) => {
                self.link.failed(&e);
                *retry_at = Some(tokio::time::Instant::now() + *wait);
                *wait = (*wait * 2).min(BACKOFF_MAX);
                Err(e)
            }
        }
    }

    /// Forgets a connection that failed a write, so the next write reconnects.
    pub async fn reset(&self, why: impl std::fmt::Display) {
        let mut guard = self.conn.lock().await;
        if guard.0.take().is_some() {
            self.link.failed(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn metrics() -> LinkMetrics {
        LinkMetrics {
            up: IntGauge::new("up", "up").unwrap(),
            down: IntGauge::new("down", "down").unwrap(),
            reconnects: IntCounter::new("r", "r").unwrap(),
        }
    }

    #[test]
    fn states_move_the_gauges_and_count_reconnects() {
        let link = Link::new("input.x");
        let m = metrics();
        let (up, down, re) = (m.up.clone(), m.down.clone(), m.reconnects.clone());
        link.bind(m);
        assert_eq!(link.describe()["state"], "connecting");
        link.connected();
        assert_eq!((up.get(), down.get(), re.get()), (1, 0, 0));
        link.failed("gone");
        link.failed("still gone");
        assert_eq!((up.get(), down.get()), (0, 1));
        assert_eq!(link.describe()["last_error"], "still gone");
        link.connected();
        assert_eq!((up.get(), down.get(), re.get()), (1, 0, 1));
        assert_eq!(link.describe()["reconnects"], 1);
        drop(link);
        assert_eq!((up.get(), down.get()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn connect_retries_with_back_off_until_it_succeeds() {
        let link = Link::new("input.x");
        let tries = AtomicUsize::new(0);
        let start = tokio::time::Instant::now();
        let got = link
            .connect(&CancellationToken::new(), || async {
                if tries.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err("refused".to_string())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(got, Some(7));
        // 250 + 500 + 1000 ms of back-off.
        assert_eq!(start.elapsed(), Duration::from_millis(1750));
        assert!(link.is_up());
    }

    #[tokio::test(start_paused = true)]
    async fn connect_gives_up_when_stopped() {
        let link = Link::new("input.x");
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            s.cancel();
        });
        let got: Option<()> = link
            .connect(&stop, || async { Err("refused".to_string()) })
            .await;
        assert!(got.is_none());
        assert_eq!(link.describe()["state"], "disconnected");
    }

    #[tokio::test(start_paused = true)]
    async fn lazy_reconnects_after_a_reset_but_not_within_the_back_off() {
        let lazy: Lazy<u32> = Lazy::new(Link::new("output.x"));
        assert!(
            lazy.get(|| async { Err("down".to_string()) })
                .await
                .is_err()
        );
        // Within the back-off the connector is not called again.
        let e = lazy
            .get(|| async { panic!("called within back-off") })
            .await
            .unwrap_err();
        assert!(e.contains("down"), "{e}");
        tokio::time::sleep(BACKOFF_START).await;
        assert_eq!(lazy.get(|| async { Ok(1) }).await, Ok(1));
        assert_eq!(lazy.get(|| async { Ok(2) }).await, Ok(1));
        lazy.reset("write failed").await;
        assert!(!lazy.link.is_up());
        assert_eq!(lazy.get(|| async { Ok(3) }).await, Ok(3));
    }
}
