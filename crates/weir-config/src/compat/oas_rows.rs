//! Tyk OAS fields (`x-tyk-api-gateway`, schema `x-tyk-api-gateway.json`) and `x-tyk-streaming`.

use super::predicates as p;
use super::{Row, When, honoured, honoured_unless, no_effect, refused};

/// A path under `x-tyk-api-gateway`.
macro_rules! gw {
    ($path:literal) => {
        concat!("x-tyk-api-gateway.", $path)
    };
}

/// A block of an operation's middleware (`middleware.operations.<operationId>.<block>`).
macro_rules! op {
    ($block:literal) => {
        concat!("x-tyk-api-gateway.middleware.operations.*.", $block)
    };
}

/// Every `x-tyk-api-gateway` field.
pub(crate) const ROWS: &[Row] = &[
    honoured(gw!("info.id"), "the API's id"),
    no_effect(gw!("info.dbId"), "the Dashboard's database id"),
    honoured(gw!("info.orgId"), "the organisation id handed to plugins"),
    honoured(gw!("info.name"), "the API's name"),
    refused(
        gw!("info.expiration"),
        When::Rule(p::set_not_never),
        "API expiry (`info.expiration`)",
    ),
    honoured(gw!("info.state.active"), "false: loaded but not routed"),
    honoured(
        gw!("info.state.internal"),
        "true: not routed from outside (404), reached only through `tyk://` loops",
    ),
    honoured(
        gw!("info.versioning"),
        "versions as separate APIs (`enabled`, `name`, `default`, `location`, `key`, `versions`, `stripVersioningData`, `urlVersioningPattern`, `fallbackToDefault`): a request naming another version is served by that version's API",
    ),
    honoured(
        gw!("upstream.url"),
        "the upstream (http, https, h2c, grpc, grpcs, ws, wss), or another API (`tyk://`)",
    ),
    refused(
        gw!("upstream.serviceDiscovery"),
        When::Enabled,
        "service discovery",
    ),
    refused(gw!("upstream.uptimeTests"), When::Enabled, "uptime tests"),
    refused(
        gw!("upstream.mutualTLS"),
        When::Enabled,
        "client certificates toward the upstream (mutual TLS)",
    ),
    refused(
        gw!("upstream.certificatePinning"),
        When::Enabled,
        "upstream certificate pinning",
    ),
    honoured(
        gw!("upstream.rateLimit"),
        "the API-wide rate limit (`rate` per `per`), exact across nodes",
    ),
    refused(
        gw!("upstream.authentication"),
        When::Enabled,
        "authentication toward the upstream",
    ),
    honoured(
        gw!("upstream.loadBalancing.enabled"),
        "weighted round-robin over `targets`",
    ),
    honoured(
        gw!("upstream.loadBalancing.targets"),
        "the load-balanced upstreams and their weights",
    ),
    no_effect(
        gw!("upstream.loadBalancing.skipUnavailableHosts"),
        "hosts are marked down only by uptime tests, which are refused; Weir skips targets that refuse connections",
    ),
    honoured(
        gw!("upstream.preserveHostHeader"),
        "the client's Host is sent upstream",
    ),
    refused(
        gw!("upstream.preserveTrailingSlash"),
        When::Enabled,
        "keeping a trailing slash on the upstream path (`preserveTrailingSlash`)",
    ),
    honoured_unless(
        gw!("upstream.tlsTransport"),
        When::Rule(p::tls_transport_tuning),
        "upstream TLS tuning (`ciphers`, `minVersion`, `maxVersion`, `forceCommonNameCheck`); `insecureSkipVerify` is honoured",
    ),
    refused(
        gw!("upstream.proxy"),
        When::Enabled,
        "an outbound HTTP proxy toward the upstream (`upstream.proxy`)",
    ),
    honoured(
        gw!("upstream.enforceTimeout"),
        "the response-head timeout of operations without their own `enforceTimeout` (`duration`)",
    ),
    honoured(
        gw!("server.listenPath.value"),
        "the path prefix the API serves; `{name}` / `{name:regex}` segments match as in Tyk's mux",
    ),
    honoured(
        gw!("server.listenPath.strip"),
        "strips the listen path (never from gRPC method paths; README)",
    ),
    no_effect(gw!("server.slug"), "the Dashboard's URL name"),
    honoured(
        gw!("server.authentication.enabled"),
        "false: open API; true: callers authenticate by the scheme the `security` requirement names, or a custom plugin",
    ),
    honoured(
        gw!("server.authentication.stripAuthorizationData"),
        "the credential is removed before the upstream",
    ),
    no_effect(
        gw!("server.authentication.baseIdentityProvider"),
        "which of several auth methods names the session; an API with several is refused, naming them",
    ),
    refused(
        gw!("server.authentication.hmac"),
        When::Rule(p::enabled_on_protected_oas),
        "HMAC request signature authentication",
    ),
    refused(
        gw!("server.authentication.oidc"),
        When::Rule(p::enabled_on_protected_oas),
        "OpenID Connect authentication",
    ),
    honoured(
        gw!("server.authentication.custom"),
        "custom authentication by a plugin",
    ),
    honoured_unless(
        gw!("server.authentication.securitySchemes"),
        When::Rule(p::oas_unbuilt_schemes),
        "token (`apiKey`), JWT (`http` bearer, with `scopes` mapped to policies) and basic (`http` basic) schemes with their sources and settings; refused: `enableClientCertificate`, `signatureValidation`, `extractCredentialsFromBody`, `clientBaseField`, `jwksURIs` (OAuth schemes are refused by name at load)",
    ),
    refused(
        gw!("server.authentication.customKeyLifetime"),
        When::Enabled,
        "keys removed from storage after a lifetime (`customKeyLifetime`)",
    ),
    no_effect(
        gw!("server.authentication.securityProcessingMode"),
        "how several auth methods combine; an API with several is refused, naming them",
    ),
    no_effect(
        gw!("server.authentication.security"),
        "Tyk's copy of the security requirements; the OpenAPI `security` list decides",
    ),
    refused(
        gw!("server.authentication.protectedResourceMetadata"),
        When::Enabled,
        "OAuth protected resource metadata (MCP)",
    ),
    refused(
        gw!("server.authentication.certificateAuth"),
        When::Rule(p::enabled_on_protected_oas),
        "client certificate authentication",
    ),
    refused(
        gw!("server.clientCertificates"),
        When::Enabled,
        "mutual-TLS client certificates",
    ),
    no_effect(
        gw!("server.gatewayTags"),
        "node segmentation tags (Dashboard / MDCB)",
    ),
    honoured_unless(
        gw!("server.customDomain"),
        When::Rule(p::custom_domain_certificates),
        "per-domain server certificates (`customDomain.certificates`); the domain itself is honoured",
    ),
    no_effect(gw!("server.detailedActivityLogs"), "analytics only"),
    no_effect(gw!("server.detailedTracing"), "OpenTelemetry span detail"),
    refused(
        gw!("server.eventHandlers"),
        When::Rule(p::oas_enabled_entries),
        "event handlers (webhooks, JS handlers)",
    ),
    refused(
        gw!("server.contextVariables"),
        When::Rule(p::context_vars_used),
        "context variables (`$tyk_context.` in a header value)",
    ),
    honoured(
        gw!("server.ipAccessControl"),
        "IP allow and block lists (IPs and CIDR ranges; block wins; 403)",
    ),
    refused(
        gw!("server.batchProcessing"),
        When::Enabled,
        "batch requests (`/tyk/batch/`)",
    ),
    refused(
        gw!("server.port"),
        When::Set,
        "a listener of the API's own (`server.port`)",
    ),
    refused(
        gw!("server.protocol"),
        When::Rule(p::other_protocol),
        "a protocol other than http/https on a port of its own",
    ),
    honoured(
        gw!("server.grpc"),
        "Weir: `enabled` is the OAS form of classic `proxy.enable_grpc`",
    ),
    honoured(
        gw!("server.grpcWeb"),
        "Weir: `enabled` is the OAS form of classic `proxy.enable_grpc_web`",
    ),
    honoured(
        gw!("middleware.global.pluginConfig.driver"),
        "the plugin driver",
    ),
    honoured(
        gw!("middleware.global.pluginConfig.bundle"),
        "the plugin bundle, as classic `custom_middleware_bundle`: unpacked or downloaded, checked, its manifest's hooks used",
    ),
    honoured(
        gw!("middleware.global.pluginConfig.data"),
        "configuration handed to plugins",
    ),
    honoured(
        gw!("middleware.global.pluginConfig.timeout"),
        "Weir: the deadline of one hook call",
    ),
    honoured(
        gw!("middleware.global.cors"),
        "CORS: preflights answered, response headers decorated",
    ),
    honoured(
        gw!("middleware.global.prePlugin"),
        "deprecated form of `prePlugins`, read as Tyk migrates it (`prePlugins` wins)",
    ),
    honoured(gw!("middleware.global.prePlugins"), "pre plugins"),
    honoured(
        gw!("middleware.global.postAuthenticationPlugin"),
        "deprecated form of `postAuthenticationPlugins`, read as Tyk migrates it",
    ),
    honoured(
        gw!("middleware.global.postAuthenticationPlugins"),
        "post-authentication plugins",
    ),
    honoured(
        gw!("middleware.global.postPlugin"),
        "deprecated form of `postPlugins`, read as Tyk migrates it",
    ),
    honoured(gw!("middleware.global.postPlugins"), "post plugins"),
    honoured(
        gw!("middleware.global.responsePlugin"),
        "deprecated form of `responsePlugins`, read as Tyk migrates it",
    ),
    honoured(gw!("middleware.global.responsePlugins"), "response plugins"),
    honoured(
        gw!("middleware.global.grpcMessagePlugins"),
        "Weir: stream hooks on every gRPC message",
    ),
    refused(
        gw!("middleware.global.cache"),
        When::Rule(p::oas_caches_safe_requests),
        "response caching (`cache.enabled` with `cacheAllSafeRequests`)",
    ),
    honoured_unless(
        gw!("middleware.global.transformRequestHeaders"),
        When::Rule(p::header_placeholders),
        "`$secret_…` placeholders in header values (request headers are set before `post` plugins)",
    ),
    honoured_unless(
        gw!("middleware.global.transformResponseHeaders"),
        When::Rule(p::header_placeholders),
        "`$secret_…` placeholders in header values (response headers are set before `response` plugins)",
    ),
    honoured(
        gw!("middleware.global.contextVariables"),
        "context variables: `$tyk_context.<name>` in header rules and URL rewrites (off: they print as \"\", as in Tyk)",
    ),
    honoured(
        gw!("middleware.global.ignoreCase"),
        "every operation's middleware matches whatever the case",
    ),
    no_effect(gw!("middleware.global.trafficLogs"), "analytics only"),
    honoured(
        gw!("middleware.global.requestSizeLimit"),
        "a request size limit for every operation (400 `Request is too large`, 411 without Content-Length)",
    ),
    no_effect(
        gw!("middleware.global.skipRateLimit"),
        "per-key rate limits; keys are refused",
    ),
    no_effect(
        gw!("middleware.global.skipQuota"),
        "per-key quotas; keys are refused",
    ),
    no_effect(
        gw!("middleware.global.skipQuotaReset"),
        "per-key quotas; keys are refused",
    ),
    honoured(
        op!("allow"),
        "operation allow lists: any other endpoint is 403",
    ),
    honoured(op!("block"), "operation block lists: 403"),
    honoured(
        op!("ignoreAuthentication"),
        "operations served without authentication or key checks",
    ),
    honoured(
        op!("internal"),
        "internal operations: 403 unless reached through a `tyk://` loop (refused with `allow`)",
    ),
    honoured(
        op!("transformRequestMethod"),
        "the request goes upstream with `toMethod` (GET, POST, PUT, DELETE, OPTIONS or PATCH), after the URL rewrite",
    ),
    refused(
        op!("transformRequestBody"),
        When::Enabled,
        "request body templates",
    ),
    refused(
        op!("transformResponseBody"),
        When::Enabled,
        "response body templates",
    ),
    honoured(
        op!("transformRequestHeaders"),
        "per-operation request headers removed then set, after the API's; `$tyk_context.` and `$tyk_meta.` placeholders",
    ),
    honoured(
        op!("transformResponseHeaders"),
        "per-operation response headers removed then set, before the API's; `$tyk_context.` and `$tyk_meta.` placeholders",
    ),
    refused(op!("virtualEndpoint"), When::Enabled, "virtual endpoints"),
    no_effect(op!("trackEndpoint"), "analytics only"),
    no_effect(op!("doNotTrackEndpoint"), "analytics only"),
    refused(op!("circuitBreaker"), When::Enabled, "circuit breakers"),
    honoured(
        op!("urlRewrite"),
        "URL rewrites: `pattern` over the URL (listen path and query included) with `$1`… groups; triggers with `condition` any/all and rules `in` header, query, path, sessionMetadata, requestContext, requestBody (`negate`); a full URL changes the upstream host; `tyk://` loops",
    ),
    refused(
        op!("postPlugins"),
        When::Rule(p::oas_enabled_entries),
        "per-operation plugins",
    ),
    refused(
        op!("cache"),
        When::Enabled,
        "per-operation response caching",
    ),
    honoured(
        op!("enforceTimeout"),
        "per-operation time allowed for the upstream's response head (`duration`, else `value` seconds)",
    ),
    honoured(
        op!("validateRequest"),
        "the operation's parameters and JSON request body against the OpenAPI document (`$ref`s resolved): 422 (or `errorResponseCode`) `request validation error: …`; a schema on a non-JSON media type is refused",
    ),
    honoured_unless(
        op!("mockResponse"),
        When::Rule(p::oas_mock_from_examples),
        "mock responses from `code`, `body` and `headers`; answers built from the OpenAPI examples (`fromOASExamples.enabled`)",
    ),
    honoured(
        op!("requestSizeLimit"),
        "per-operation request size limits (400 `Request is too large`, 411 without Content-Length)",
    ),
    refused(op!("rateLimit"), When::Enabled, "per-operation rate limits"),
    refused(op!("scopeCheck"), When::Set, "per-operation scope checks"),
    refused(op!("exchange"), When::Set, "per-operation token exchange"),
    honoured_unless(
        gw!("errorOverrides"),
        When::Rule(p::error_override_flag),
        "error-override rules matching on Tyk's error classification (`match.flag`)",
    ),
    refused(
        gw!("middleware.mcpTools"),
        When::Set,
        "MCP tool proxying (`middleware.mcpTools`)",
    ),
    refused(
        gw!("middleware.mcpPrompts"),
        When::Set,
        "MCP prompt proxying (`middleware.mcpPrompts`)",
    ),
    refused(
        gw!("middleware.mcpResources"),
        When::Set,
        "MCP resource proxying (`middleware.mcpResources`)",
    ),
];

/// `x-tyk-streaming`.
pub(crate) const STREAMING_ROWS: &[Row] = &[honoured(
    "x-tyk-streaming.streams.*",
    "Tyk Streams: each stream is checked component by component at load; what the engine \
     lacks is refused there, naming the stream's path (docs/streams.md)",
)];
