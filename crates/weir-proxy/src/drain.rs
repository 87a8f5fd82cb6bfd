//! Counting what a SIGTERM drain waits for: connections and upgraded tunnels.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// How many of something are open, and a way to wait until none is.
#[derive(Default)]
pub struct OpenCount {
    open: AtomicUsize,
    changed: Notify,
}

impl OpenCount {
    /// Counts one more until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        OpenGuard(self.clone())
    }

    /// How many are open.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Resolves once none is open.
    pub async fn all_closed(&self) {
        loop {
            let changed = self.changed.notified();
            if self.count() == 0 {
                return;
            }
            changed.await;
        }
    }
}

/// One open thing; dropping it closes it.
pub struct OpenGuard(Arc<OpenCount>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}
