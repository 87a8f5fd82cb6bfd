//! WebSocket (and any HTTP/1.1 upgrade) pass-through: once both sides have switched
//! protocols, bytes are copied both ways until either side closes.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::drain::OpenCount;

/// The tunnels open now. hyper's graceful shutdown no longer sees a connection once it has
/// switched protocols, so the drain waits on these too.
pub type Tunnels = OpenCount;

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
