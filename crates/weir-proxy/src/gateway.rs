//! The gateway's shared state and the request path, phase by phase.
//!
//! A request reads the routing table once, at its start, and keeps that snapshot to the end:
//! a reload swaps the table for new requests while in-flight ones finish on what they began with.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::header::{self, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use weir_config::{GatewayConfig, UpstreamScheme};
use weir_core::GatewayError;

use crate::api::CompiledApi;
use crate::body::{ProxyBody, RequestBody, UpstreamBody};
use crate::error_overrides::ErrorFormat;
use crate::exchange::Exchange;
use crate::grpc_web;
use crate::headers::{add_forwarded, is_websocket_upgrade, strip_hop_by_hop};
use crate::looping::{LoopFuture, Looping};
use crate::metrics::{ApiMetrics, Metrics};
use crate::respond::{error_response, gateway_error};
use crate::router::RoutingTable;
use crate::upstream::Upstreams;
use crate::upstream_body::IdleLimitedBody;
use crate::websocket;

/// Where a request came from.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// A boxed response future, as the control plane returns it.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>;

/// The control API (/tyk/..., health, readiness, metrics), implemented outside the proxy.
pub trait ControlPlane: Send + Sync + 'static {
    /// True when this path belongs to the control plane.
    fn owns(&self, path: &str) -> bool;
    /// Answers a control-plane request.
    fn handle(&self, req: Request<Incoming>) -> ResponseFuture;
}

/// Everything a request needs: config, the current routing table, clients, metrics.
pub struct Gateway {
    /// The gateway config, fixed for the process's life.
    pub config: Arc<GatewayConfig>,
    table: ArcSwap<RoutingTable>,
    upstreams: Arc<Upstreams>,
    /// Metrics registry.
    pub metrics: Metrics,
    unrouted: ApiMetrics,
    control: OnceLock<Arc<dyn ControlPlane>>,
    /// Open WebSocket (upgrade) tunnels, which the SIGTERM drain waits for.
    pub tunnels: Arc<websocket::Tunnels>,
    /// The stream engine, when `streaming.enabled`; kept across reloads.
    pub streams: Option<weir_streams::Engine>,
    /// Keys, policies and limits: in memory, or shared through Redis (`storage`).
    pub keys: Arc<weir_auth::service::KeyService>,
    /// `override_messages`, gateway `error_overrides` and the error templates.
    pub error_pages: crate::error_overrides::ErrorPages,
}

impl Gateway {
    /// Creates a gateway with an empty routing table.
    pub fn new(config: GatewayConfig) -> Result<Arc<Self>, crate::tls::TlsError> {
        let upstreams = Upstreams::new(&config)?;
        let metrics = Metrics::new();
        let unrouted = metrics.for_api("");
        let streams = config
            .streaming_enabled
            .then(|| weir_streams::Engine::new(metrics.registry(), config.stream_idle_timeout));
        let keys = Arc::new(crate::auth::key_service(&config.keys)?);
        Ok(Arc::new(Gateway {
            error_pages: crate::error_overrides::ErrorPages::new(&config.errors),
            keys,
            streams,
            config: Arc::new(config),
            table: ArcSwap::from_pointee(RoutingTable::default()),
            upstreams,
            metrics,
            unrouted,
            control: OnceLock::new(),
            tunnels: Arc::default(),
        }))
    }

    /// Installs the control plane (once).
    pub fn set_control_plane(&self, control: Arc<dyn ControlPlane>) {
        let _ = self.control.set(control);
    }

    /// The control plane, if installed.
    pub fn control_plane(&self) -> Option<&Arc<dyn ControlPlane>> {
        self.control.get()
    }

    /// How loading an API treats its `x-tyk-streaming` block on this gateway.
    pub fn streaming(&self) -> crate::streams::Streaming<'_> {
        match &self.streams {
            Some(engine) => crate::streams::Streaming::On(engine),
            None => crate::streams::Streaming::Off,
        }
    }

    /// The routing table new requests see.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// Swaps in a new routing table; requests already running keep the old one.
    pub fn swap_table(&self, table: RoutingTable) {
        self.table.store(Arc::new(table));
    }

    /// Serves one request from a client connection on the main listener.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<ProxyBody> {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400.
        if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
            self.unrouted.count(StatusCode::BAD_REQUEST.as_u16());
            return error_response(StatusCode::BAD_REQUEST, "Host header is required");
        }
        if self.config.control_api_port.is_none()
            && let Some(control) = self.control.get()
            && control.owns(req.uri().path())
        {
            return control.handle(req).await;
        }
        self.proxy(req, conn).await
    }

    /// Routes a request and runs its API's lifecycle around the upstream call.
    async fn proxy(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| weir_core::grpc::is_grpc_content_type(v.as_bytes()));
        // Dot segments go before routing and before joining with the target's path.
        if let Some(resp) = normalise_request_path(&mut req, grpc) {
            self.unrouted.count(resp.status().as_u16());
            if self.config.access_logs_enabled {
                access_log("", &req, resp.status(), started, None);
            }
            return resp;
        }
        let host = request_host(&req);
        let table = self.table.load_full();
        let path = req.uri().path();
        let Some(route) = table.route(&host_without_port(&host), path) else {
            let resp = gateway_error(&GatewayError::NoRoute, grpc);
            self.unrouted.count(resp.status().as_u16());
            if self.config.access_logs_enabled {
                access_log("", &req, resp.status(), started, None);
            }
            return resp;
        };
        let api = route.api.clone();
        let rest = route.rest.to_string();
        // Loops land in the table this request was routed with, whatever reloads meanwhile.
        let looping = Looping::new(self.clone(), table.clone(), host);
        let req = req.map(RequestBody::Streaming);
        self.serve(api, rest, req, conn, grpc, started, looping)
            .await
    }

    /// Serves a request that a `tyk://` loop hands to `api` (see [`crate::looping`]).
    pub(crate) fn serve_looped(
        self: Arc<Self>,
        api: Arc<CompiledApi>,
        req: Request<RequestBody>,
        conn: ConnInfo,
        looping: Looping,
    ) -> LoopFuture<'static> {
        Box::pin(async move {
            let grpc = req
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| weir_core::grpc::is_grpc_content_type(v.as_bytes()));
            let path = req.uri().path();
            let rest = api.listen_path.strip_or_whole(path).to_string();
            self.serve(api, rest, req, conn, grpc, Instant::now(), looping)
                .await
        })
    }

    /// Serves a request with the version of `api` it names (a versioned API), else `api`.
    #[allow(clippy::too_many_arguments)]
    async fn serve(
        self: &Arc<Self>,
        api: Arc<CompiledApi>,
        mut rest: String,
        mut req: Request<RequestBody>,
        conn: ConnInfo,
        grpc: bool,
        started: Instant,
        looping: Looping,
    ) -> Response<ProxyBody> {
        let dispatch = match &api.version_apis {
            Some(v) => v.dispatch(&mut req, &mut rest, &looping.table),
            None => crate::versions::Dispatch::Base,
        };
        let (api, refusal, expires) = match dispatch {
            crate::versions::Dispatch::Api(version) => {
                // Tyk's SanitizeProxyPaths: the base's listen path goes when it strips it.
                if api.def.strip_listen_path {
                    crate::versions::strip_listen_path(&mut req, &rest);
                }
                return self.clone().serve_looped(version, req, conn, looping).await;
            }
            crate::versions::Dispatch::Refuse(refusal) => (api, Some(refusal), None),
            crate::versions::Dispatch::Base => {
                crate::versions::pick_version(api, &mut req, &mut rest)
            }
        };
        let mut resp = self
            .serve_api(api, rest, req, conn, grpc, started, looping, refusal)
            .await;
        if let Some(at) = expires {
            resp.headers_mut()
                .insert(crate::versions::X_TYK_API_EXPIRES, at);
        }
        resp
    }

    /// Runs an API's lifecycle around the upstream call (or around its loop to another API);
    /// `refusal` is the version check's answer.
    #[allow(clippy::too_many_arguments)]
    async fn serve_api(
        self: &Arc<Self>,
        api: Arc<CompiledApi>,
        rest: String,
        req: Request<RequestBody>,
        conn: ConnInfo,
        grpc: bool,
        started: Instant,
        looping: Looping,
        refusal: Option<crate::versions::VersionRefusal>,
    ) -> Response<ProxyBody> {
        let web = if api.def.enable_grpc_web {
            grpc_web::grpc_web_mode(req.headers())
        } else {
            None
        };
        let view = {
            let mut v = Request::new(());
            *v.method_mut() = req.method().clone();
            *v.uri_mut() = req.uri().clone();
            let format = ErrorFormat::of(req.headers(), grpc || web.is_some());
            v.extensions_mut().insert(format);
            v
        };
        let timeout = api.timeout_for(
            &rest,
            req.method().as_str(),
            self.config.proxy_default_timeout,
        );
        let grpc = grpc || web.is_some();
        let host = looping.host.clone();
        let mut ex = Exchange::new(
            &api,
            req,
            conn,
            grpc,
            web,
            self.config.grpc_max_message_size,
        );
        ex.looping = Some(looping);
        ex.version_refusal = refusal;
        if let Some(answer) = api.lifecycle.run_request(&mut ex).await {
            return self.finish(&api, &view, answer, started, None).await;
        }
        if let Some(streams) = api.streams.as_ref().filter(|s| s.owns(&rest)) {
            let (parts, body) = ex.take_request();
            let claims = ex.caller.as_ref().and_then(|c| c.claims.as_deref());
            let resp = crate::streams::serve(streams, parts, body, &rest, conn, claims).await;
            return self.finish(&api, &view, resp, started, None).await;
        }
        if let Some(target) = &api.def.looping.target {
            // The target API's answer is the answer: this API's response phases do not run.
            let resp = crate::looping::loop_to_target(&mut ex, target).await;
            return self.finish(&api, &view, resp, started, None).await;
        }
        let (parts, body) = ex.take_request();
        let (resp, upstream_time) = self
            .forward(&api, parts, body, &host, conn, grpc, timeout)
            .await;
        let resp = api.lifecycle.run_response(&mut ex, resp).await;
        if let Some(t) = upstream_time {
            api.metrics.upstream_duration.observe(t.as_secs_f64());
        }
        self.finish(&api, &view, resp, started, upstream_time).await
    }

    async fn finish<B>(
        &self,
        api: &CompiledApi,
        req: &Request<B>,
        resp: Response<ProxyBody>,
        started: Instant,
        upstream: Option<Duration>,
    ) -> Response<ProxyBody> {
        // Tyk's error handling: overrides and templates on errors, before metrics and logs.
        let format = req.extensions().get::<ErrorFormat>().copied();
        let format = format.unwrap_or_default();
        let overrides = api.error_overrides.as_ref();
        let resp = self.error_pages.apply(overrides, format, resp).await;
        api.metrics.count(resp.status().as_u16());
        api.metrics
            .request_duration
            .observe(started.elapsed().as_secs_f64());
        if self.config.access_logs_enabled {
            access_log(&api.def.api_id, req, resp.status(), started, upstream);
        }
        resp
    }

    /// Sends the request upstream. Returns the response and the upstream's latency.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        api: &CompiledApi,
        mut parts: http::request::Parts,
        body: RequestBody,
        host: &str,
        conn: ConnInfo,
        grpc: bool,
        timeout: Duration,
    ) -> (Response<ProxyBody>, Option<Duration>) {
        // A URL rewrite to a full URL names the one upstream to use.
        let rewritten: Option<crate::api::Target> = parts
            .extensions
            .remove::<crate::phases::url_rewrite::RewrittenUpstream>()
            .map(Into::into);
        let targets = match &rewritten {
            Some(t) => std::slice::from_ref(t),
            None => &api.targets[..],
        };
        if targets.is_empty() {
            return (gateway_error(&GatewayError::NoUpstream, grpc), None);
        }

        let websocket = self.config.http_server_options.enable_websockets
            && parts.version == Version::HTTP_11
            && is_websocket_upgrade(&parts.headers);
        let client_upgrade = websocket
            .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
            .flatten();
        let upgrade_value = parts.headers.get(header::UPGRADE).cloned();

        // The path the upstream sees. gRPC method paths are never cut: a gRPC call only works
        // with its full /package.Service/Method path (see README, "gRPC and strip_listen_path").
        let keep_full_path = grpc && (api.def.enable_grpc || api.def.enable_grpc_web);
        let full_path = parts.uri.path();
        let sub_path = if api.def.strip_listen_path && !keep_full_path {
            api.listen_path.strip_or_whole(full_path)
        } else {
            full_path
        };
        let query = parts.uri.query();

        let h = &mut parts.headers;
        strip_hop_by_hop(h);
        let trust = self.config.trust_x_forwarded_headers;
        add_forwarded(h, conn.remote.ip(), conn.tls, host, trust);
        if websocket {
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            if let Some(v) = upgrade_value {
                h.insert(header::UPGRADE, v);
            }
        }

        let (up_body, slot) = UpstreamBody::new(body);
        let mut up_body = Some(up_body);
        let first = if rewritten.is_some() {
            0
        } else {
            api.first_target()
        };
        let upstream_started = Instant::now();
        for attempt in 0..targets.len() {
            let target = &targets[(first + attempt) % targets.len()];
            let pq = crate::path::with_query(
                join_paths(&target.base_path, sub_path, api.def.disable_strip_slash),
                query,
            );
            let Ok(pq) = PathAndQuery::try_from(pq) else {
                let e = GatewayError::BadRequest("the request path cannot be forwarded".into());
                return (gateway_error(&e, grpc), None);
            };
            let uri = Uri::builder()
                .scheme(target.uri_scheme.clone())
                .authority(target.authority.clone())
                .path_and_query(pq)
                .build()
                .expect("scheme, authority and path are each valid");

            let h2_only = matches!(target.scheme, UpstreamScheme::H2c | UpstreamScheme::H2Tls);
            // Only a request that may still go to another target needs its own copy.
            let mut headers = if attempt + 1 < targets.len() {
                parts.headers.clone()
            } else {
                std::mem::take(&mut parts.headers)
            };
            if !api.def.preserve_host_header {
                if h2_only {
                    headers.remove(header::HOST);
                } else {
                    headers.insert(header::HOST, target.host_header.clone());
                }
            } else if !headers.contains_key(header::HOST)
                && let Ok(v) = HeaderValue::from_str(host)
            {
                headers.insert(header::HOST, v);
            }
            let body = match up_body.take() {
                Some(b) => b,
                None => match slot.retry() {
                    Some(b) => b,
                    None => break,
                },
            };
            // hyper sends no body on an HTTP/1.1 GET unless the framing says there is one.
            if !h2_only && !body.is_end_stream() && !headers.contains_key(header::CONTENT_LENGTH) {
                headers.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
            let mut up_req = Request::new(body);
            *up_req.method_mut() = parts.method.clone();
            *up_req.uri_mut() = uri;
            *up_req.version_mut() = if h2_only {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            *up_req.headers_mut() = headers;

            let insecure = api.def.transport.ssl_insecure_skip_verify;
            let client = if websocket {
                self.upstreams.h1_client(target.scheme, insecure)
            } else {
                self.upstreams.client(target.scheme, insecure)
            };
            match tokio::time::timeout(timeout, client.request(up_req)).await {
                Err(_) => {
                    return (gateway_error(&GatewayError::UpstreamTimeout, grpc), None);
                }
                Ok(Err(e)) if e.is_connect() && attempt + 1 < targets.len() => {
                    tracing::warn!(api_id = %api.def.api_id, target = %target.authority, error = %e, "upstream refused the connection; trying the next target");
                    continue;
                }
                Ok(Err(_)) if slot.client_fault() => {
                    let e = GatewayError::BadRequest("the request body could not be read".into());
                    return (gateway_error(&e, grpc), None);
                }
                Ok(Err(e)) => {
                    tracing::warn!(api_id = %api.def.api_id, target = %target.authority, error = ?e, "upstream request failed");
                    return (
                        gateway_error(&GatewayError::UpstreamUnreachable, grpc),
                        None,
                    );
                }
                Ok(Ok(mut resp)) => {
                    let took = upstream_started.elapsed();
                    if websocket && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                        websocket::splice(
                            &self.tunnels,
                            client_upgrade,
                            hyper::upgrade::on(&mut resp),
                        );
                        let (p, _) = resp.into_parts();
                        let out = Response::from_parts(p, ProxyBody::empty());
                        return (out, Some(took));
                    }
                    let (mut p, b) = resp.into_parts();
                    // The client's connection has its own version; hyper picks the framing.
                    p.version = Version::HTTP_11;
                    strip_hop_by_hop(&mut p.headers);
                    let idle =
                        Some(self.config.upstream_read_idle_timeout).filter(|d| !d.is_zero());
                    let body = ProxyBody::Upstream(IdleLimitedBody::new(b, idle));
                    return (Response::from_parts(p, body), Some(took));
                }
            }
        }
        (
            gateway_error(&GatewayError::UpstreamUnreachable, grpc),
            None,
        )
    }
}

/// Removes dot segments from the request path (see [`crate::path`]); a path that climbs above
/// the root is answered 400 (the answer is returned).
fn normalise_request_path<B>(req: &mut Request<B>, grpc: bool) -> Option<Response<ProxyBody>> {
    let normalised = match crate::path::normalise(req.uri().path()) {
        Ok(std::borrow::Cow::Borrowed(_)) => return None,
        Ok(std::borrow::Cow::Owned(p)) => p,
        Err(crate::path::EscapesRoot) => {
            let e = GatewayError::BadRequest("the request path climbs above the root".into());
            return Some(gateway_error(&e, grpc));
        }
    };
    let query = req.uri().query().map(str::to_owned);
    crate::path::set_path_and_query(req.uri_mut(), &normalised, query.as_deref());
    None
}

/// Host as the client sent it: the :authority of HTTP/2, else the Host header.
fn request_host<B>(req: &Request<B>) -> String {
    if let Some(a) = req.uri().authority() {
        return a.as_str().to_string();
    }
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn host_without_port(host: &str) -> String {
    let h = if let Some(end) = host.strip_prefix('[').and_then(|s| s.find(']')) {
        &host[..end + 2]
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    h.to_ascii_lowercase()
}

/// Joins the target's path and the request's path with exactly one slash between them, as Tyk
/// does; with `disable_strip_slash` an empty or "/" request path leaves the target path as is.
pub fn join_paths(target: &str, sub: &str, disable_strip_slash: bool) -> String {
    if disable_strip_slash && (sub.is_empty() || sub == "/") {
        return if target.is_empty() {
            "/".into()
        } else {
            target.into()
        };
    }
    let t = target.trim_end_matches('/');
    let s = sub.trim_start_matches('/');
    if s.is_empty() && sub.is_empty() {
        return if target.is_empty() {
            "/".into()
        } else {
            target.into()
        };
    }
    // Room for a query too: the caller appends it (no second allocation, no formatting).
    let mut joined = String::with_capacity(t.len() + 1 + s.len() + 32);
    joined.push_str(t);
    joined.push('/');
    joined.push_str(s);
    joined
}

fn access_log<B>(
    api_id: &str,
    req: &Request<B>,
    status: StatusCode,
    started: Instant,
    upstream: Option<Duration>,
) {
    tracing::info!(
        target: "weir::access",
        api_id,
        method = %req.method(),
        path = req.uri().path(),
        status = status.as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        upstream_us = upstream.map(|d| d.as_micros() as u64),
        "request"
    );
}

/// Answers 404 for a path nobody serves on the control listener.
pub fn not_found() -> Response<ProxyBody> {
    error_response(StatusCode::NOT_FOUND, GatewayError::NoRoute.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_tyk() {
        assert_eq!(join_paths("", "/echo/x", false), "/echo/x");
        assert_eq!(join_paths("/", "/echo", false), "/echo");
        assert_eq!(join_paths("/api/", "/echo", false), "/api/echo");
        assert_eq!(join_paths("/api", "", false), "/api");
        assert_eq!(join_paths("", "", false), "/");
        assert_eq!(join_paths("/api/", "", true), "/api/");
        assert_eq!(join_paths("/api", "/", false), "/api/");
    }

    #[test]
    fn host_port_is_dropped() {
        assert_eq!(host_without_port("Foo.Example:8080"), "foo.example");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("plain"), "plain");
    }
}
