//! WebSocket (and any HTTP/1.1 upgrade) pass-through: once both sides have switched
//! protocols, bytes are copied both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the client's upgraded connection to the upstream's, in a task of its own.
pub fn splice(client: Option<OnUpgrade>, upstream: OnUpgrade) {
    let Some(client) = client else {
        tracing::warn!("upstream switched protocols but the client connection cannot be upgraded");
        return;
    };
    tokio::spawn(async move {
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
