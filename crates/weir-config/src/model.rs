//! The compiled-once configuration model: what the loaders produce and the proxy consumes.
//!
//! Everything here is plain data, already validated. The proxy never looks at raw JSON.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::plugins::{HookDeclaration, HookPhase, PluginDeclaration};

/// Gateway-wide settings, named after tyk.conf keys where Tyk has the same setting.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// Where the config was read from, if from a file (relative paths resolve against its folder).
    pub source: Option<PathBuf>,
    /// `listen_address`; empty means all interfaces.
    pub listen_address: String,
    /// `listen_port` (default 8080).
    pub listen_port: u16,
    /// `secret`: the control API key (X-Tyk-Authorization).
    pub secret: String,
    /// `app_path`: folder of API definitions (default "apps/"), resolved against the config's folder.
    pub app_path: PathBuf,
    /// `http_server_options`.
    pub http_server_options: HttpServerOptions,
    /// `proxy_default_timeout` in seconds (default 30): time allowed for the upstream's response head.
    pub proxy_default_timeout: Duration,
    /// `upstream_read_idle_timeout` in seconds (Weir, default 60; 0 = none): a response body
    /// from the upstream that sends nothing for this long fails (nginx's `proxy_read_timeout`).
    pub upstream_read_idle_timeout: Duration,
    /// `proxy_ssl_insecure_skip_verify`: skip upstream certificate checks for every API.
    pub proxy_ssl_insecure_skip_verify: bool,
    /// `proxy_enable_http2`: offer h2 to `https://` upstreams (ALPN); without it they speak
    /// HTTP/1.1, as in Tyk. `grpcs://` and `h2c://` targets always speak HTTP/2.
    pub proxy_enable_http2: bool,
    /// `enable_custom_domains`: route by the APIs' `domain`; without it (Tyk's default) the
    /// domain is ignored, as in Tyk.
    pub enable_custom_domains: bool,
    /// `trust_x_forwarded_headers` (Weir, default false): keep a client's X-Forwarded-Proto and
    /// X-Forwarded-Host (set it when Weir sits behind a proxy that sets them); otherwise they are
    /// replaced by what Weir saw. X-Forwarded-For is always appended to. The IP lists then judge
    /// the client `X-Real-IP`, else the first `X-Forwarded-For` entry, names (else the peer).
    pub trust_x_forwarded_headers: bool,
    /// `proxy_ssl_ca_cert_file` (Weir): extra PEM roots trusted for https upstreams, besides the system's.
    pub proxy_ssl_ca_cert_file: Option<PathBuf>,
    /// `max_idle_connections_per_host` (default 100).
    pub max_idle_connections_per_host: usize,
    /// `control_api_port`: when set (non-zero), the control API, /metrics, health and readiness
    /// are served only there.
    pub control_api_port: Option<u16>,
    /// `control_api_hostname`: address for the control listener (default: listen_address).
    pub control_api_hostname: String,
    /// `health_check_endpoint_name` (default "hello").
    pub health_check_endpoint_name: String,
    /// `readiness_check_endpoint_name` (default "ready").
    pub readiness_check_endpoint_name: String,
    /// `graceful_shutdown_timeout_duration` in seconds (default 30): how long SIGTERM waits for
    /// in-flight requests.
    pub graceful_shutdown_timeout: Duration,
    /// `watch_app_path` (Weir): reload when files in app_path change.
    pub watch_app_path: bool,
    /// `access_logs.enabled`: one log line per request (default true in Weir).
    pub access_logs_enabled: bool,
    /// `log_level`: "debug", "info" (default), "warn", "error".
    pub log_level: String,
    /// `grpc_max_message_size` (Weir): largest gRPC message a stream hook is handed, on the
    /// wire and decompressed (default 4 MiB, gRPC's own default); a larger one ends the call
    /// with RESOURCE_EXHAUSTED. Calls without stream hooks are not limited.
    pub grpc_max_message_size: usize,
    /// `wasm_upstreams` (Weir): the upstreams Wasm filters may call with `proxy_http_call` and
    /// `proxy_grpc_call`, by name (Envoy's cluster names) → `http://host:port`.
    pub wasm_upstreams: std::collections::BTreeMap<String, String>,
    /// `streaming.enabled`: serve the streams of `x-tyk-streaming` blocks (off by default, as in
    /// Tyk); when off, an API declaring streams is refused.
    pub streaming_enabled: bool,
    /// `streaming.stream_idle_timeout` in seconds (Weir, default 60, as Tyk's collector): a
    /// per-consumer stream instance with no client for this long is stopped.
    pub stream_idle_timeout: Duration,
    /// `coprocess_options`, as written (the gRPC plugin driver reads it).
    pub coprocess_options: serde_json::Value,
    /// Keys, policies, limits and the Redis `storage` block.
    pub keys: crate::keys::KeySettings,
    /// The JavaScript engine's switch and deadline, and plugin bundles.
    pub plugins: crate::plugin_settings::PluginSettings,
    /// `override_messages`, `error_overrides` and the `template_path` templates.
    pub errors: crate::error_overrides::GatewayErrors,
}

/// `http_server_options`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpServerOptions {
    /// `use_ssl`: serve TLS on the main port.
    pub use_ssl: bool,
    /// `enable_http2`: advertise h2 over TLS (ALPN). Cleartext h2c is always accepted.
    pub enable_http2: bool,
    /// `certificates`: [{domain_name, cert_file, key_file}], chosen by SNI; the first is the default.
    pub certificates: Vec<CertificateFiles>,
    /// `enable_strict_routes`: a listen path only matches at a path-segment boundary.
    pub enable_strict_routes: bool,
    /// `read_timeout` in seconds (0 = none): time allowed to read a request head.
    pub read_timeout: Duration,
    /// `idle_timeout` in seconds (Weir, default 120): a connection with no request in flight
    /// for this long is closed.
    pub idle_timeout: Duration,
    /// `http2_keepalive_interval` in seconds (Weir, default 30; 0 = off): HTTP/2 connections
    /// are pinged this often and closed when a ping goes unanswered for 20 s.
    pub http2_keepalive_interval: Duration,
    /// `max_request_header_bytes` (Weir, default 65536): larger request heads get 431.
    pub max_request_header_bytes: usize,
    /// `enable_websockets` (default true).
    pub enable_websockets: bool,
}

/// One TLS certificate pair from `http_server_options.certificates`.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateFiles {
    /// `domain_name`: the SNI name this pair serves ("" or "*" = any).
    pub domain_name: String,
    /// `cert_file`: PEM chain.
    pub cert_file: PathBuf,
    /// `key_file`: PEM private key.
    pub key_file: PathBuf,
}

/// Which document form an API definition came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionFormat {
    /// Tyk classic JSON.
    Classic,
    /// OpenAPI 3 with `x-tyk-api-gateway`.
    Oas,
}

/// One API definition, normalised from classic or OAS form.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiDefinition {
    /// `api_id` (OAS: `x-tyk-api-gateway.info.id`; generated from the file name when empty).
    pub api_id: String,
    /// `name`.
    pub name: String,
    /// `org_id`.
    pub org_id: String,
    /// `active` (default true). Inactive definitions are loaded but not routed.
    pub active: bool,
    /// `use_keyless`.
    pub use_keyless: bool,
    /// How callers authenticate, and the API-wide limits.
    pub auth: crate::auth::ApiAuth,
    /// `proxy.listen_path`, always starting with '/'.
    pub listen_path: String,
    /// `proxy.strip_listen_path`.
    pub strip_listen_path: bool,
    /// `proxy.preserve_host_header`.
    pub preserve_host_header: bool,
    /// `proxy.disable_strip_slash`.
    pub disable_strip_slash: bool,
    /// `domain` (OAS: `server.customDomain`), lower-cased, without port; None = any host.
    pub domain: Option<String>,
    /// Upstream targets: `proxy.target_list` when load balancing is on, else `proxy.target_url`.
    /// Empty only when the API has no upstream (OAS `upstream.url` empty).
    pub targets: Vec<UpstreamTarget>,
    /// `proxy.transport`.
    pub transport: Transport,
    /// `proxy.enable_grpc`.
    pub enable_grpc: bool,
    /// `proxy.enable_grpc_web`.
    pub enable_grpc_web: bool,
    /// Header rules from `version_data.versions.<default>`.
    pub headers: HeaderRules,
    /// `CORS` (OAS: `middleware.global.cors`), when enabled.
    pub cors: Option<CorsConfig>,
    /// API-wide request size limit and enforced timeout (see [`crate::limits`]).
    pub limits: crate::limits::ApiLimits,
    /// `version_data.versions.<default>.extended_paths.virtual`: JSVM virtual endpoints.
    pub virtual_endpoints: Vec<crate::virtual_endpoints::VirtualEndpointDecl>,
    /// Per-endpoint middleware (classic `extended_paths`, OAS `operations`).
    pub endpoints: crate::endpoints::EndpointRules,
    /// `enable_context_vars` (OAS `middleware.global.contextVariables.enabled`): the request
    /// is captured for `$tyk_context.*` placeholders.
    pub context_vars: bool,
    /// IP allow and block lists (classic `allowed_ips` / `blacklisted_ips`, OAS
    /// `server.ipAccessControl`).
    pub ip_access: crate::ip_access::IpAccess,
    /// `internal` and a `tyk://` loop target (see [`crate::looping`]).
    pub looping: crate::looping::LoopSettings,
    /// `error_overrides` (OAS `errorOverrides.value`), when set and not disabled.
    pub error_overrides: Option<crate::error_overrides::ErrorOverrides>,
    /// Classic versioning (`version_data.not_versioned: false`): the versions and how a
    /// request picks one; the fields above then hold the default (else the first) version's
    /// rules. See [`crate::versioning`].
    pub versioning: Option<crate::versioning::Versioning>,
    /// Versions as separate APIs (classic `definition.enabled`, OAS `info.versioning`): a
    /// request naming another version is handed to that version's API.
    pub version_apis: Option<crate::versioning::VersionApis>,
    /// Plugins the definition asks for (`custom_middleware` / OAS `pluginConfig` and the hook
    /// lists): when it names a driver, lists a hook or enables a plugin bundle (OAS: when it
    /// enables a hook or custom authentication), or when any hook is on.
    pub plugins: Option<PluginDeclaration>,
    /// The form the definition came in.
    pub format: DefinitionFormat,
    /// The file it was read from.
    pub file: PathBuf,
    /// The document as written (returned by the control API).
    pub document: serde_json::Value,
}

/// One upstream address.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTarget {
    /// The URL as written.
    pub url: url::Url,
    /// How to talk to it.
    pub scheme: UpstreamScheme,
}

/// Upstream protocol, from the target URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamScheme {
    /// `http://`: HTTP/1.1 (HTTP/2 not negotiated in cleartext).
    Http,
    /// `https://`: TLS with ALPN h2 and http/1.1.
    Https,
    /// `h2c://` or `grpc://`: cleartext HTTP/2 with prior knowledge.
    H2c,
    /// `grpcs://`: HTTP/2 over TLS.
    H2Tls,
}

/// `proxy.transport`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transport {
    /// `ssl_insecure_skip_verify`.
    pub ssl_insecure_skip_verify: bool,
}

/// Header rules applied to every request and response of the API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderRules {
    /// `global_headers`: set on the upstream request.
    pub request_set: Vec<(String, String)>,
    /// `global_headers_remove`: removed from the upstream request.
    pub request_remove: Vec<String>,
    /// `global_response_headers`: set on the response.
    pub response_set: Vec<(String, String)>,
    /// `global_response_headers_remove`: removed from the response.
    pub response_remove: Vec<String>,
}

/// `CORS`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorsConfig {
    /// `allowed_origins` ("*" = any).
    pub allowed_origins: Vec<String>,
    /// `allowed_methods`.
    pub allowed_methods: Vec<String>,
    /// `allowed_headers`.
    pub allowed_headers: Vec<String>,
    /// `exposed_headers`.
    pub exposed_headers: Vec<String>,
    /// `allow_credentials`.
    pub allow_credentials: bool,
    /// `max_age` in seconds.
    pub max_age: u64,
    /// `options_passthrough`: forward preflights upstream instead of answering them.
    pub options_passthrough: bool,
}
