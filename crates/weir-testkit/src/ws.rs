//! [`WsEchoUpstream`]: a WebSocket echo server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use crate::runtime::ServerThread;

/// What the upstream saw in a WebSocket upgrade request.
#[derive(Clone, Debug)]
pub struct UpgradeRequest {
    /// Path and query, e.g. `/chat?x=1`.
    pub path_and_query: String,
    /// All request headers.
    pub headers: HeaderMap,
}

/// A WebSocket server on `127.0.0.1:<port>` that accepts upgrades on any
/// path and echoes every text and binary message back; answers pings and
/// closes when the client closes.
pub struct WsEchoUpstream {
    server: ServerThread,
    upgrades: Arc<Mutex<Vec<UpgradeRequest>>>,
}

impl WsEchoUpstream {
    /// Starts the server on an OS-chosen port.
    pub fn start() -> WsEchoUpstream {
        let upgrades: Arc<Mutex<Vec<UpgradeRequest>>> = Arc::default();
        let rec = upgrades.clone();
        let server = ServerThread::spawn("ws", move |listener| async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    // The Result type is fixed by tungstenite's `Callback`.
                    #[allow(clippy::result_large_err)]
                    let callback =
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let path_and_query = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_else(|| req.uri().path().to_string());
                            rec.lock().unwrap().push(UpgradeRequest {
                                path_and_query,
                                headers: req.headers().clone(),
                            });
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await
                    else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        let reply = match msg {
                            Message::Text(_) | Message::Binary(_) => msg,
                            Message::Ping(p) => Message::Pong(p),
                            Message::Close(_) => break,
                            Message::Pong(_) | Message::Frame(_) => continue,
                        };
                        if ws.send(reply).await.is_err() {
                            return;
                        }
                    }
                    let _ = ws.close(None).await;
                });
            }
        });
        WsEchoUpstream { server, upgrades }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>` (the form a Tyk `target_url` takes).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr())
    }

    /// Every upgrade request received so far, oldest first.
    pub fn upgrades(&self) -> Vec<UpgradeRequest> {
        self.upgrades.lock().unwrap().clone()
    }

    /// The most recent upgrade request.
    pub fn last_upgrade(&self) -> Option<UpgradeRequest> {
        self.upgrades.lock().unwrap().last().cloned()
    }
}
