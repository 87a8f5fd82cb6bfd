//! Listeners: the main port (HTTP/1.1 and HTTP/2 on one port, cleartext or TLS) and the
//! optional control port. Connections are served by hyper; shutdown stops accepting and
//! lets in-flight requests finish up to a deadline.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::activity::{Activity, TrackedBody};
use crate::drain::OpenCount;
use crate::flood::{FloodSignal, FloodWatch};
use crate::gateway::{ConnInfo, Gateway, not_found};
use crate::tls::{self, TlsError};
use crate::upstream::{H2_CONNECTION_WINDOW, H2_STREAM_WINDOW};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Which requests a listener serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// APIs (and the control plane too when no control port is set).
    Main,
    /// Only the control plane.
    Control,
}

/// Bound listeners, ready to run.
pub struct Server {
    gateway: Arc<Gateway>,
    main: TcpListener,
    control: Option<TcpListener>,
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Binds the main listener (and the control listener when `control_api_port` is set).
    pub async fn bind(gateway: Arc<Gateway>) -> Result<Self, ServerError> {
        let cfg = &gateway.config;
        let host = if cfg.listen_address.is_empty() {
            "0.0.0.0"
        } else {
            cfg.listen_address.as_str()
        };
        let main = bind(&format!("{host}:{}", cfg.listen_port)).await?;
        let control = match cfg.control_api_port {
            Some(port) => {
                let chost = if cfg.control_api_hostname.is_empty() {
                    host
                } else {
                    cfg.control_api_hostname.as_str()
                };
                Some(bind(&format!("{chost}:{port}")).await?)
            }
            None => None,
        };
        let tls = if cfg.http_server_options.use_ssl {
            Some(TlsAcceptor::from(tls::server_config(
                &cfg.http_server_options.certificates,
                cfg.http_server_options.enable_http2,
            )?))
        } else {
            None
        };
        Ok(Server {
            gateway,
            main,
            control,
            tls,
        })
    }

    /// The main listener's address.
    pub fn main_addr(&self) -> Option<SocketAddr> {
        self.main.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then drains connections for up to
    /// `graceful_shutdown_timeout`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let builder = Arc::new(connection_builder(&self.gateway));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let drain = Drain {
            stopping: stop_rx,
            connections: Arc::default(),
        };
        {
            let main = accept_loop(
                self.main,
                Role::Main,
                self.tls.clone(),
                &self.gateway,
                &builder,
                &drain,
            );
            let control = async {
                match self.control {
                    Some(l) => {
                        accept_loop(l, Role::Control, None, &self.gateway, &builder, &drain).await
                    }
                    None => std::future::pending().await,
                }
            };
            // Dropping the accept loops closes the listeners: no new connections from here on.
            tokio::select! {
                _ = main => {}
                _ = control => {}
                _ = shutdown => {}
            }
        }
        let deadline = self.gateway.config.graceful_shutdown_timeout;
        tracing::info!(deadline_s = deadline.as_secs_f64(), "draining connections");
        // Requests in flight and upgraded (WebSocket) tunnels share one deadline.
        let tunnels = self.gateway.tunnels.clone();
        let connections = drain.connections.clone();
        // Every connection sends GOAWAY (HTTP/2) or closes after its response (HTTP/1.1).
        let _ = stop_tx.send(true);
        let drained = async move {
            connections.all_closed().await;
            tunnels.all_closed().await;
        };
        match tokio::time::timeout(deadline, drained).await {
            Ok(()) => tracing::info!("all connections finished"),
            Err(_) => tracing::warn!(
                tunnels = self.gateway.tunnels.count(),
                "shutdown deadline passed with connections still open"
            ),
        }
    }
}

async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

fn connection_builder(gateway: &Gateway) -> auto::Builder<TokioExecutor> {
    let opts = &gateway.config.http_server_options;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that never finishes its request head must not hold a connection forever:
    // with read_timeout unset, hyper's own 30 s default applies.
    let read_timeout = head_deadline(opts);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        // hyper answers 431 when a request head does not fit in this buffer.
        .max_buf_size(opts.max_request_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(opts.max_request_header_bytes.min(u32::MAX as usize) as u32)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_concurrent_streams(1024);
    if !opts.http2_keepalive_interval.is_zero() {
        builder
            .http2()
            .keep_alive_interval(Some(opts.http2_keepalive_interval))
            .keep_alive_timeout(Duration::from_secs(20));
    }
    builder
}

async fn accept_loop(
    listener: TcpListener,
    role: Role,
    tls: Option<TlsAcceptor>,
    gateway: &Arc<Gateway>,
    builder: &Arc<auto::Builder<TokioExecutor>>,
    drain: &Drain,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let stopping = drain.stopping.clone();
        let counted = drain.connections.open();
        tokio::spawn(async move {
            gateway.metrics.open_connections.inc();
            serve_connection(
                stream,
                remote,
                role,
                tls,
                gateway.clone(),
                builder,
                stopping,
            )
            .await;
            gateway.metrics.open_connections.dec();
            drop(counted);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    role: Role,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let conn = ConnInfo {
        remote,
        tls: tls.is_some(),
    };
    let opts = &gateway.config.http_server_options;
    let (head_deadline, idle) = (head_deadline(opts), opts.idle_timeout);
    let activity = Activity::new();
    let service = ConnService {
        gateway,
        conn,
        role,
        activity: activity.clone(),
    };
    let flood = Arc::new(FloodSignal::default());
    // The connection ends when hyper is done with it, or when it never sends a request head
    // in time or sits idle (the TLS handshake counts toward the head's time). A shutdown or a
    // control-frame flood asks it to finish (GOAWAY on HTTP/2).
    let serve = async {
        let io: Box<dyn Stream> = match tls {
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(s)) => Box::new(s),
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TLS handshake failed");
                        return Ok(());
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return Ok(());
                    }
                }
            }
            None => Box::new(stream),
        };
        let io = TokioIo::new(FloodWatch::new(io, flood.clone()));
        let conn = builder.serve_connection_with_upgrades(io, service);
        let mut conn = std::pin::pin!(conn);
        let mut finishing = false;
        let mut flooded = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => return result,
                _ = stopping.wait_for(|s| *s), if !finishing => {
                    conn.as_mut().graceful_shutdown();
                    finishing = true;
                }
                () = flood.raised(), if !flooded => {
                    tracing::warn!(%remote, "HTTP/2 control-frame flood: GOAWAY, then closing");
                    conn.as_mut().graceful_shutdown();
                    (finishing, flooded) = (true, true);
                }
                // A flooder gets a moment to read its GOAWAY, not the time of a graceful drain.
                () = tokio::time::sleep(Duration::from_secs(1)), if flooded => return Ok(()),
            }
        }
    };
    let result = tokio::select! {
        result = serve => result,
        () = activity.expired(head_deadline, idle) => {
            tracing::debug!(%remote, "closing a connection without a request head in time, or idle");
            Ok(())
        }
    };
    if let Err(e) = result {
        // Garbage on the socket, a client that hung up: this connection's problem only.
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

/// What a connection's bytes travel over: TCP, or TLS over TCP.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// What the drain needs: the signal that it started, and the connections still open.
struct Drain {
    stopping: tokio::sync::watch::Receiver<bool>,
    connections: Arc<OpenCount>,
}

/// The per-connection service handed to hyper.
#[derive(Clone)]
struct ConnService {
    gateway: Arc<Gateway>,
    conn: ConnInfo,
    role: Role,
    /// The connection's requests, for its head and idle deadlines.
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let gateway = self.gateway.clone();
        let conn = self.conn;
        let role = self.role;
        let guard = self.activity.begin();
        Box::pin(async move {
            let resp = match role {
                Role::Main => gateway.handle(req, conn).await,
                Role::Control => match gateway.control_plane() {
                    Some(cp) if cp.owns(req.uri().path()) => cp.handle(req).await,
                    _ => not_found(),
                },
            };
            Ok(resp.map(|body| TrackedBody::new(body, guard)))
        })
    }
}

/// The time a connection has for its first request head: `read_timeout`, else 30 s.
fn head_deadline(opts: &weir_config::HttpServerOptions) -> Duration {
    if opts.read_timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        opts.read_timeout
    }
}
