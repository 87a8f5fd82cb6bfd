//! Upstream connections: one pooled client per protocol, built once per gateway process.
//!
//! `http://` speaks HTTP/1.1, `https://` negotiates h2 or http/1.1 by ALPN, `h2c://` and
//! `grpc://` speak HTTP/2 with prior knowledge, `grpcs://` HTTP/2 over TLS.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use weir_config::{GatewayConfig, UpstreamScheme};

use crate::body::UpstreamBody;
use crate::tls::{self, TlsError};

/// HTTP/2 flow-control window per stream (both directions of the proxy use it).
pub const H2_STREAM_WINDOW: u32 = 1024 * 1024;
/// HTTP/2 flow-control window per connection.
pub const H2_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// A pooled client sending [`UpstreamBody`] requests.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// The clients for every upstream protocol, in a verifying and a non-verifying flavour.
pub struct Upstreams {
    verified: ClientSet,
    insecure: ClientSet,
    /// `proxy_enable_http2`: offer h2 to https:// upstreams; otherwise they speak HTTP/1.1.
    https_h2: bool,
}

struct ClientSet {
    /// http:// and https:// (ALPN).
    alpn: UpstreamClient,
    /// h2c://, grpc://, grpcs://: HTTP/2 only.
    h2: UpstreamClient,
    /// HTTP/1.1 only, for connection upgrades (WebSocket), which HTTP/2 cannot carry here.
    h1: UpstreamClient,
}

impl Upstreams {
    /// Builds the clients from the gateway config.
    pub fn new(config: &GatewayConfig) -> Result<Arc<Self>, TlsError> {
        let verified_tls = tls::client_config(
            config.proxy_ssl_ca_cert_file.as_deref(),
            config.proxy_ssl_insecure_skip_verify,
        )?;
        let insecure_tls = tls::client_config(None, true)?;
        Ok(Arc::new(Upstreams {
            verified: ClientSet::new(config, verified_tls),
            insecure: ClientSet::new(config, insecure_tls),
            https_h2: config.proxy_enable_http2,
        }))
    }

    /// An HTTP/1.1-only client, for WebSocket upgrades.
    pub fn h1_client(&self, _scheme: UpstreamScheme, insecure: bool) -> &UpstreamClient {
        if insecure {
            &self.insecure.h1
        } else {
            &self.verified.h1
        }
    }

    /// The client for a scheme; `insecure` skips certificate checks.
    pub fn client(&self, scheme: UpstreamScheme, insecure: bool) -> &UpstreamClient {
        let set = if insecure {
            &self.insecure
        } else {
            &self.verified
        };
        match scheme {
            UpstreamScheme::Https if !self.https_h2 => &set.h1,
            UpstreamScheme::Http | UpstreamScheme::Https => &set.alpn,
            UpstreamScheme::H2c | UpstreamScheme::H2Tls => &set.h2,
        }
    }
}

impl ClientSet {
    fn new(config: &GatewayConfig, tls: rustls::ClientConfig) -> Self {
        // Which ALPN protocols a TLS connection offers: h1 only, h2 only, or both.
        #[derive(Clone, Copy)]
        enum Alpn {
            H1,
            H2,
            Both,
        }
        let connector = |alpn: Alpn| {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(Duration::from_secs(5)));
            let builder = HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http();
            match alpn {
                Alpn::Both => builder.enable_all_versions().wrap_connector(http),
                Alpn::H2 => builder.enable_http2().wrap_connector(http),
                Alpn::H1 => builder.enable_http1().wrap_connector(http),
            }
        };
        let alpn = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.max_idle_connections_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector(Alpn::Both));
        let h2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            // Fixed, generous windows: with the adaptive window h2 starts at 64 KiB, and its
            // guard against floods of small DATA frames (half the connection window) then
            // kills a connection carrying ~130 concurrent small gRPC replies.
            .http2_initial_stream_window_size(H2_STREAM_WINDOW)
            .http2_initial_connection_window_size(H2_CONNECTION_WINDOW)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector(Alpn::H2));
        let h1 = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.max_idle_connections_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector(Alpn::H1));
        ClientSet { alpn, h2, h1 }
    }
}
