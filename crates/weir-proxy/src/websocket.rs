//! WebSocket (and any HTTP/1.1 upgrade) pass-through: once both sides have switched
//! protocols, bytes are copied both ways until either side closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

/// The tunnels open now. hyper's graceful shutdown no longer sees a connection once it has
/// switched protocols, so the drain waits on these too.
#[derive(Default)]
pub struct Tunnels {
    open: AtomicUsize,
    changed: Notify,
}

impl Tunnels {
    fn open(self: &Arc<Self>) -> TunnelGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        TunnelGuard(self.clone())
    }

    /// How many tunnels are open.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Resolves once no tunnel is open.
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

struct TunnelGuard(Arc<Tunnels>);

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// Joins the client's upgraded connection to the upstream's, in a task of its own, counted in
/// `tunnels` until either side closes.
pub fn splice(tunnels: &Arc<Tunnels>, client: Option<OnUpgrade>, upstream: OnUpgrade) {
    let Some(client) = client else {
        tracing::warn!("upstream switched protocols but the client connection cannot be upgraded");
        return;
    };
    let guard = tunnels.open();
    tokio::spawn(async move {
        let _guard = guard;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended with an error");
        }
    });
}
