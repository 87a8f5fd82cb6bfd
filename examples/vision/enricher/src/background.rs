//! The plugin's own tokio runtime on a dedicated thread, and what the hook hands to it.
//!
//! Hooks run synchronously on the gateway's threads, so every database and Redis call happens
//! here instead. Work done here cannot reach the gateway directly (host calls need a hook's
//! context), so its counts and log lines wait in [`Counters`] and [`Notes`] until the next
//! hook call reports them.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use weir_plugin_sdk::Level;

/// How long shutdown waits for connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The runtime thread. Dropping this stops it without waiting (the gateway's thread must not
/// block); `stop` hands it a last job (closing the pools) first.
pub struct Runtime<T: Send + 'static> {
    handle: Handle,
    stop: Option<oneshot::Sender<T>>,
}

impl<T: Send + 'static> Runtime<T> {
    /// Starts the thread. `farewell` runs on it with what [`Runtime::stop`] sends, bounded by a
    /// second, before the runtime shuts down.
    pub fn start<F, Fut>(name: &str, farewell: F) -> Result<Runtime<T>, String>
    where
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<T>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start a tokio runtime: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                // Spawned lookups run while this waits; a dropped sender ends it too.
                runtime.block_on(async move {
                    if let Ok(last) = stop_rx.await {
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, farewell(last)).await;
                    }
                });
                runtime.shutdown_timeout(CLOSE_TIMEOUT);
            })
            .map_err(|e| format!("cannot start the plugin's thread: {e}"))?;
        let handle = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the plugin's thread did not start".to_owned())??;
        Ok(Runtime {
            handle,
            stop: Some(stop_tx),
        })
    }

    /// Runs `task` on the runtime; returns at once.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.handle.spawn(task));
    }

    /// The runtime's handle (to build what must be made inside it).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime after it has run the farewell on `last`.
    pub fn stop(&mut self, last: T) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(last);
        }
    }
}

/// Counts made off the hook, reported by the next hook call.
#[derive(Default)]
pub struct Counters {
    values: [AtomicU64; Counters::NAMES.len()],
}

/// One of [`Counters::NAMES`].
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// Lookups sent to the database.
    DbQueries = 0,
    /// Lookups that failed or timed out.
    DbErrors = 1,
    /// Lookups answered by Redis.
    RedisHits = 2,
    /// Redis calls that failed or timed out.
    RedisErrors = 3,
}

impl Counters {
    /// Names as reported, indexed by [`Counter`].
    pub const NAMES: [&'static str; 4] = ["db_queries", "db_errors", "redis_hits", "redis_errors"];

    /// Counts one.
    pub fn add(&self, counter: Counter) {
        self.values[counter as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes what was counted since the last call, by name.
    pub fn take(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counters::NAMES
            .iter()
            .zip(&self.values)
            .map(|(name, value)| (*name, value.swap(0, Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Log lines from off the hook, at most one per [`Notes::EVERY`] (the rest are counted and
/// mentioned), so a database outage does not flood the gateway's log.
#[derive(Default)]
pub struct Notes {
    waiting: AtomicBool,
    inner: Mutex<NotesInner>,
}

#[derive(Default)]
struct NotesInner {
    line: Option<(Level, String)>,
    last: Option<Instant>,
    suppressed: u64,
}

impl Notes {
    /// Least time between two lines.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Keeps a line for the next hook call, unless one was kept less than [`Notes::EVERY`] ago.
    pub fn push(&self, level: Level, line: String) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if inner
            .last
            .is_some_and(|at| now.duration_since(at) < Notes::EVERY)
        {
            inner.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut inner.suppressed);
        let line = match suppressed {
            0 => line,
            n => format!("{line} ({n} similar messages suppressed)"),
        };
        inner.line = Some((level, line));
        inner.last = Some(now);
        self.waiting.store(true, Ordering::Release);
    }

    /// The waiting line, if any (cheap when there is none: the hook asks on every message).
    pub fn take(&self) -> Option<(Level, String)> {
        if !self.waiting.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.line.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_report_what_was_added_since_last_time() {
        let c = Counters::default();
        c.add(Counter::DbQueries);
        c.add(Counter::DbQueries);
        c.add(Counter::RedisHits);
        let got: Vec<_> = c.take().collect();
        assert_eq!(got, [("db_queries", 2), ("redis_hits", 1)]);
        assert_eq!(c.take().count(), 0);
    }

    #[test]
    fn notes_are_rate_limited() {
        let n = Notes::default();
        assert!(n.take().is_none());
        n.push(Level::Warn, "first".into());
        n.push(Level::Warn, "second".into());
        assert_eq!(n.take(), Some((Level::Warn, "first".into())));
        assert!(n.take().is_none());
    }

    #[test]
    fn the_runtime_runs_tasks_and_its_farewell() {
        let (tx, rx) = std::sync::mpsc::channel();
        let done = tx.clone();
        let mut rt = Runtime::start("test-runtime", move |last: &'static str| async move {
            let _ = done.send(last);
        })
        .unwrap();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = tx.send("task");
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("task"));
        rt.stop("farewell");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("farewell"));
    }
}
