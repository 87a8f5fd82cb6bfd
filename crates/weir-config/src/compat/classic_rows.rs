//! Tyk classic API definition fields (`apidef.APIDefinition`).

use super::predicates as p;
use super::{Row, When, honoured, honoured_unless, no_effect, refused};

/// Path prefix of a version's endpoint settings.
macro_rules! ep {
    ($name:literal) => {
        concat!("version_data.versions.*.extended_paths.", $name)
    };
}

/// Every classic field, in the order of Tyk's struct.
pub(crate) const ROWS: &[Row] = &[
    // Identity and bookkeeping.
    no_effect("id", "the Dashboard's database id"),
    honoured("name", "the API's name (logs, plugin spec)"),
    refused(
        "expiration",
        When::Rule(p::set_not_never),
        "API expiry (Tyk answers 403 once the date has passed)",
    ),
    no_effect("slug", "the Dashboard's URL name"),
    refused(
        "listen_port",
        When::Set,
        "a listener of the API's own (`listen_port`)",
    ),
    refused(
        "protocol",
        When::Rule(p::other_protocol),
        "a protocol other than http/https on a port of its own (`protocol`: h2c, tcp, tls)",
    ),
    refused(
        "enable_proxy_protocol",
        When::Set,
        "the PROXY protocol on the API's listener",
    ),
    refused("json_rpc_version", When::Set, "MCP / JSON-RPC proxying"),
    refused("application_protocol", When::Set, "MCP / JSON-RPC proxying"),
    honoured(
        "api_id",
        "the API's id (metrics, logs, control API, plugins)",
    ),
    honoured("org_id", "the organisation id handed to plugins"),
    honoured(
        "use_keyless",
        "true: open; false: callers authenticate (an auth token unless another method is on, as in Tyk)",
    ),
    // Authentication: acts only on protected APIs (use_keyless false).
    refused(
        "use_oauth2",
        When::Rule(p::protected_and_set),
        "OAuth 2.0 authentication",
    ),
    refused(
        "external_oauth",
        When::Rule(p::enabled_on_protected),
        "external OAuth authentication (`external_oauth.enabled`)",
    ),
    refused(
        "use_openid",
        When::Rule(p::protected_and_set),
        "OpenID Connect authentication",
    ),
    no_effect(
        "openid_options",
        "used only with `use_openid`, which is refused",
    ),
    no_effect(
        "oauth_meta",
        "used only with `use_oauth2`, which is refused",
    ),
    honoured(
        "auth",
        "where tokens and JWTs are read when `auth_configs` has no entry (deprecated form)",
    ),
    honoured_unless(
        "auth_configs",
        When::Rule(p::credential_extras),
        "where credentials are read: `auth_header_name`, `use_param`/`param_name`, `use_cookie`/`cookie_name`, `disable_header`; refused: `use_certificate`, `validate_signature`",
    ),
    honoured(
        "use_basic_auth",
        "basic authentication: users are keys with `basic_auth_data` (bcrypt or plain)",
    ),
    honoured_unless(
        "basic_auth",
        When::Rule(p::basic_from_body),
        "`disable_caching`, `cache_ttl`; refused: `extract_from_body`",
    ),
    refused(
        "use_mutual_tls_auth",
        When::Set,
        "mutual-TLS client certificates (checked on keyless APIs too, as Tyk's static mTLS)",
    ),
    no_effect(
        "client_certificates",
        "used only with `use_mutual_tls_auth`, which is refused",
    ),
    refused(
        "upstream_certificates",
        When::Rule(p::upstream_certificates),
        "client certificates toward the upstream (mutual TLS)",
    ),
    honoured(
        "upstream_certificates_disabled",
        "switches `upstream_certificates` off",
    ),
    refused(
        "pinned_public_keys",
        When::Rule(p::pinned_public_keys),
        "upstream certificate pinning",
    ),
    honoured(
        "certificate_pinning_disabled",
        "switches `pinned_public_keys` off",
    ),
    honoured(
        "enable_jwt",
        "JWT authentication (HMAC, RSA, RSA-PSS, ECDSA; a secret, a PEM key or a JWKS URL)",
    ),
    honoured(
        "use_standard_auth",
        "auth-token authentication with keys from the control API",
    ),
    honoured(
        "use_go_plugin_auth",
        "custom authentication by a plugin (legacy name)",
    ),
    honoured(
        "enable_coprocess_auth",
        "custom authentication by a plugin (legacy name)",
    ),
    honoured(
        "custom_plugin_auth_enabled",
        "custom authentication by the `custom_middleware.auth_check` plugin",
    ),
    honoured(
        "jwt_signing_method",
        "the algorithm family a token must use (`hmac`, `rsa`, `ecdsa`, `rsa-pss`); others are refused per token",
    ),
    honoured(
        "jwt_source",
        "the HMAC secret, PEM key or JWKS URL (base64, as Tyk writes it)",
    ),
    refused(
        "jwt_jwks_uris",
        When::Rule(p::protected_and_set),
        "several JWKS URLs (`jwt_jwks_uris`); one in `jwt_source` is honoured",
    ),
    honoured(
        "jwt_identity_base_field",
        "the claim naming the caller (default `sub`); its tokens share limits",
    ),
    refused(
        "jwt_client_base_field",
        When::Rule(p::protected_and_set),
        "JWT client ids mapped to OAuth clients (`jwt_client_base_field`)",
    ),
    honoured(
        "jwt_policy_field_name",
        "the claim naming the caller's policies (default `pol`)",
    ),
    honoured(
        "jwt_default_policies",
        "policies for tokens whose claim names none",
    ),
    honoured(
        "jwt_issued_at_validation_skew",
        "seconds of clock skew allowed on `iat`",
    ),
    honoured(
        "jwt_expires_at_validation_skew",
        "seconds of clock skew allowed on `exp`",
    ),
    honoured(
        "jwt_not_before_validation_skew",
        "seconds of clock skew allowed on `nbf`",
    ),
    honoured("jwt_skip_kid", "true: the key is not chosen by `kid`"),
    honoured_unless(
        "scopes",
        When::Rule(p::scopes_set),
        "`scopes.jwt`: a JWT's scopes mapped to policies that join its base policy; refused: `scopes.oidc` mappings (OpenID Connect is refused)",
    ),
    no_effect(
        "idp_client_id_mapping_disabled",
        "switches off client-id mapping, which is refused",
    ),
    honoured(
        "jwt_scope_to_policy_mapping",
        "a JWT's scopes mapped to policies (older form of `scopes.jwt.scope_to_policy`)",
    ),
    honoured(
        "jwt_scope_claim_name",
        "the claim holding a JWT's scopes (default `scope`)",
    ),
    no_effect(
        "notifications",
        "OAuth key-change notifications; used only with `use_oauth2`, which is refused",
    ),
    refused(
        "enable_signature_checking",
        When::Rule(p::protected_and_set),
        "HMAC request signature authentication",
    ),
    no_effect(
        "hmac_allowed_clock_skew",
        "used only with `enable_signature_checking`, which is refused",
    ),
    no_effect(
        "hmac_allowed_algorithms",
        "used only with `enable_signature_checking`, which is refused",
    ),
    refused(
        "request_signing",
        When::Rule(p::request_signing_on),
        "signing requests toward the upstream (`request_signing.is_enabled`)",
    ),
    no_effect(
        "base_identity_provided_by",
        "which of several auth methods names the session; an API with several is refused, naming them",
    ),
    // Versions.
    honoured(
        "definition.enabled",
        "versions as separate APIs: a request naming a version in `definition.versions` is served by that API",
    ),
    honoured(
        "definition.versions",
        "with `enabled`: version name → the api_id (or name) of the API serving it",
    ),
    honoured(
        "definition.location",
        "where a versioned API reads the version: `header`, `url-param` or `url` (the first segment after the listen path)",
    ),
    honoured(
        "definition.key",
        "the header or query parameter naming the version",
    ),
    honoured(
        "definition.strip_versioning_data",
        "the version header, parameter or URL segment is removed before the upstream",
    ),
    honoured(
        "definition.strip_path",
        "the older name of `strip_versioning_data`",
    ),
    honoured(
        "definition.url_versioning_pattern",
        "with `url` location, only a segment matching it is stripped",
    ),
    honoured(
        "definition.fallback_to_default",
        "an unknown version is served as the default one instead of 403",
    ),
    honoured(
        "definition.name",
        "with `enabled`: this API's own version name (`self` names it too)",
    ),
    honoured(
        "definition.default",
        "with `enabled`: the version of a request that names none (classic versioning uses `version_data.default_version`)",
    ),
    honoured(
        "version_data",
        "versioning (`not_versioned` not true): each request served by the version it names (docs/tyk-middleware.md)",
    ),
    honoured(
        "version_data.not_versioned",
        "true: one version serves every request",
    ),
    honoured(
        "version_data.default_version",
        "the version of a request that names none (else 403 `Version information not found`)",
    ),
    honoured_unless(
        "version_data.versions",
        When::Rule(p::no_single_version),
        "on an API that is not versioned, several versions with no `Default` (Tyk answers every request with an error then)",
    ),
    no_effect("version_data.versions.*.name", "the version's name"),
    honoured(
        "version_data.versions.*.expires",
        "on versioned APIs, 403 `Api Version has expired…` after the date (UTC); `x-tyk-api-expires` before",
    ),
    honoured(
        "version_data.versions.*.paths.ignored",
        "legacy endpoint lists (plain paths, any method), read without `use_extended_paths`",
    ),
    honoured(
        "version_data.versions.*.paths.white_list",
        "legacy endpoint lists (plain paths, any method), read without `use_extended_paths`",
    ),
    honoured(
        "version_data.versions.*.paths.black_list",
        "legacy endpoint lists (plain paths, any method), read without `use_extended_paths`",
    ),
    honoured(
        "version_data.versions.*.use_extended_paths",
        "false switches every `extended_paths` entry off, as in Tyk",
    ),
    honoured(
        ep!("ignored"),
        "endpoints served without authentication or key checks (`method_actions` replies too)",
    ),
    honoured(
        ep!("white_list"),
        "endpoint allow lists: any other endpoint is 403 (`method_actions` replies too)",
    ),
    honoured(
        ep!("black_list"),
        "endpoint block lists: 403 (`method_actions` replies too)",
    ),
    honoured(
        ep!("mock_response"),
        "mock replies, before authentication, without the upstream",
    ),
    refused(
        ep!("cache"),
        When::Rule(p::cached_paths),
        "response caching of listed paths (`extended_paths.cache` with `cache_options.enable_cache`)",
    ),
    refused(
        ep!("advance_cache_config"),
        When::Rule(p::cached_paths),
        "response caching of listed paths (`advance_cache_config` with `cache_options.enable_cache`)",
    ),
    refused(
        ep!("transform"),
        When::Rule(p::extended_entries),
        "request body templates (`transform`)",
    ),
    refused(
        ep!("transform_response"),
        When::Rule(p::extended_entries),
        "response body templates (`transform_response`)",
    ),
    refused(
        ep!("transform_jq"),
        When::Rule(p::extended_entries),
        "jq request transforms (`transform_jq`)",
    ),
    refused(
        ep!("transform_jq_response"),
        When::Rule(p::extended_entries),
        "jq response transforms (`transform_jq_response`)",
    ),
    honoured(
        ep!("transform_headers"),
        "per-path request headers removed then set (after `global_headers`, matched on the path before the URL rewrite); values may hold `$tyk_context.` and `$tyk_meta.` placeholders; an entry needs its `method`",
    ),
    honoured(
        ep!("transform_response_headers"),
        "per-path response headers removed then set (before `global_response_headers`, matched on the request's original path and method); placeholders as in `transform_headers`",
    ),
    honoured(
        ep!("hard_timeouts"),
        "per-path time allowed for the upstream's response head (`duration`, else `timeout` seconds; 504 `Upstream service reached hard timeout.`), never beyond `proxy_default_timeout`",
    ),
    refused(
        ep!("circuit_breakers"),
        When::Rule(p::extended_entries),
        "circuit breakers (`circuit_breakers`)",
    ),
    honoured(
        ep!("url_rewrites"),
        "URL rewrites: `match_pattern` over the URL (listen path and query included) with `$1`… groups; triggers (`any`/`all`) on headers, query values, path parts, session meta data, request context and body, their matches as `$tyk_context.trigger-<n>-…`; a full URL changes the upstream host; `tyk://` loops",
    ),
    honoured(
        ep!("virtual"),
        "JSVM virtual endpoints: the JavaScript function answers the path and method (Tyk's path patterns, `proxy_on_error`, file or blob code; `use_session` is refused)",
    ),
    honoured(
        ep!("size_limits"),
        "per-path request size limits: 400 `Request is too large` by Content-Length, 411 without one; GET, DELETE, TRACE, OPTIONS and HEAD are not checked",
    ),
    honoured(
        ep!("method_transforms"),
        "the request goes upstream with `to_method` (GET, POST, PUT, DELETE, OPTIONS or PATCH; after the URL rewrite, matched on the original path and method)",
    ),
    no_effect(ep!("track_endpoints"), "analytics only"),
    no_effect(ep!("do_not_track_endpoints"), "analytics only"),
    honoured(
        ep!("validate_json"),
        "the body against a JSON Schema: 422 (or `error_response_code`) with the schema errors, 400 `JSON parsing error: …` for a body that is not JSON",
    ),
    no_effect(
        ep!("validate_request"),
        "Tyk runs it for OAS APIs only (OAS `validateRequest` is honoured)",
    ),
    honoured(
        ep!("internal"),
        "internal endpoints: 403 unless reached through a `tyk://` loop (refused with an allow list)",
    ),
    refused(
        ep!("go_plugin"),
        When::Rule(p::extended_entries),
        "per-endpoint Go plugins (`go_plugin`)",
    ),
    refused(
        ep!("persist_graphql"),
        When::Rule(p::extended_entries),
        "persisted GraphQL queries (`persist_graphql`)",
    ),
    refused(
        ep!("rate_limit"),
        When::Rule(p::extended_entries),
        "per-endpoint rate limits (`extended_paths.rate_limit`)",
    ),
    honoured(
        "version_data.versions.*.global_headers",
        "headers set on the upstream request, before `post` plugins",
    ),
    honoured(
        "version_data.versions.*.global_headers_remove",
        "headers removed from the upstream request",
    ),
    honoured(
        "version_data.versions.*.global_headers_disabled",
        "switches `global_headers` and `global_headers_remove` off",
    ),
    honoured(
        "version_data.versions.*.global_response_headers",
        "headers set on the response, before `response` plugins",
    ),
    honoured(
        "version_data.versions.*.global_response_headers_remove",
        "headers removed from the response",
    ),
    honoured(
        "version_data.versions.*.global_response_headers_disabled",
        "switches the response header rules off",
    ),
    honoured(
        "version_data.versions.*.ignore_endpoint_case",
        "every per-path entry of the API matches whatever the case",
    ),
    honoured(
        "version_data.versions.*.global_size_limit",
        "a request size limit for every endpoint, checked before the per-path `size_limits`",
    ),
    honoured(
        "version_data.versions.*.global_size_limit_disabled",
        "switches `global_size_limit` off",
    ),
    honoured(
        "version_data.versions.*.global_enforce_timeout",
        "the response-head timeout of endpoints without a `hard_timeouts` entry (a duration such as \"5s\")",
    ),
    honoured(
        "version_data.versions.*.global_enforce_timeout_disabled",
        "switches `global_enforce_timeout` off",
    ),
    honoured(
        "version_data.versions.*.override_target",
        "a version's own upstream, on versioned APIs (Tyk ignores it when `not_versioned` is true, and so does Weir)",
    ),
    refused(
        "uptime_tests",
        When::Rule(p::uptime_checks),
        "uptime tests (`uptime_tests.check_list`)",
    ),
    // Proxy.
    honoured(
        "proxy.preserve_host_header",
        "the client's Host is sent upstream",
    ),
    honoured(
        "proxy.listen_path",
        "the path prefix the API serves; `{name}` / `{name:regex}` segments match as in Tyk's mux",
    ),
    honoured(
        "proxy.target_url",
        "the upstream (http, https, h2c, grpc, grpcs, ws, wss), or another API (`tyk://`)",
    ),
    honoured(
        "proxy.disable_strip_slash",
        "keeps the target path as is for an empty request path",
    ),
    honoured(
        "proxy.strip_listen_path",
        "strips the listen path (never from gRPC method paths; README)",
    ),
    honoured(
        "proxy.enable_load_balancing",
        "round-robin over `target_list`, skipping targets that refuse connections",
    ),
    honoured("proxy.target_list", "the load-balanced upstreams"),
    refused(
        "proxy.check_host_against_uptime_tests",
        When::Set,
        "skipping targets marked down by uptime tests",
    ),
    refused(
        "proxy.service_discovery",
        When::Rule(p::discovery_on),
        "service discovery (`service_discovery.use_discovery_service`)",
    ),
    honoured_unless(
        "proxy.transport",
        When::Rule(p::transport_tuning),
        "upstream TLS tuning (`ssl_ciphers`, `ssl_min_version`, `ssl_max_version`, `ssl_force_common_name_check`) or an outbound proxy (`proxy_url`); `ssl_insecure_skip_verify` is honoured",
    ),
    honoured(
        "proxy.enable_grpc",
        "Weir (seed 000): gRPC proxying and stream hooks",
    ),
    honoured(
        "proxy.enable_grpc_web",
        "Weir (seed 000): gRPC-Web translation for browsers",
    ),
    honoured(
        "disable_rate_limit",
        "true: keys' rate limits are not checked on this API",
    ),
    honoured(
        "disable_quota",
        "true: keys' quotas are not counted on this API",
    ),
    // Plugins.
    honoured(
        "custom_middleware.driver",
        "the plugin driver (grpc, goplugin/native, wasm, lua, python, otto/javascript; others refused by the plugin host)",
    ),
    honoured("custom_middleware.pre", "pre plugins"),
    honoured("custom_middleware.post", "post plugins"),
    honoured(
        "custom_middleware.post_key_auth",
        "post-authentication plugins",
    ),
    honoured(
        "custom_middleware.auth_check",
        "the custom authentication plugin",
    ),
    honoured("custom_middleware.response", "response plugins"),
    honoured(
        "custom_middleware.driver_specific_middleware",
        "Weir (seed 000): `<driver>_streams` stream hooks",
    ),
    honoured(
        "custom_middleware.timeout",
        "Weir: the deadline of one hook call",
    ),
    refused(
        "custom_middleware.traffic_logs",
        When::Rule(p::named_hook),
        "traffic-log (analytics) plugins",
    ),
    refused(
        "custom_middleware.id_extractor",
        When::Rule(p::id_extractor_on),
        "session id extractors for custom auth (`id_extractor`)",
    ),
    honoured_unless(
        "custom_middleware_bundle",
        When::Never,
        "the plugin bundle: used from `<middleware_path>/bundles/<md5>` or downloaded from `bundle_base_url`, checksum and signature checked, its manifest's hooks replacing the definition's; a bundle that is neither there nor downloadable leaves the definition's own hooks (seed 000 keys `middleware_global_config` by its name) or, without any, refuses the API",
    ),
    honoured(
        "custom_middleware_bundle_disabled",
        "switches `custom_middleware_bundle` off",
    ),
    honoured(
        "middleware_global_config",
        "Weir (seed 000): plugin configuration keyed by bundle name",
    ),
    honoured("config_data", "configuration handed to plugins"),
    honoured("config_data_disabled", "switches `config_data` off"),
    refused(
        "cache_options",
        When::Rule(p::caches_safe_requests),
        "response caching (`enable_cache` with `cache_all_safe_requests`; `enable_cache` alone caches nothing, as in Tyk)",
    ),
    no_effect(
        "session_lifetime_respects_key_expiration",
        "used only with `session_lifetime`, which is refused",
    ),
    refused(
        "session_lifetime",
        When::Rule(p::protected_and_set),
        "keys removed from storage after a lifetime (`session_lifetime`); `expires` is honoured",
    ),
    honoured("active", "false: loaded but not routed"),
    honoured(
        "internal",
        "true: not routed from outside (404), reached only through `tyk://` loops",
    ),
    no_effect("auth_provider", "the Dashboard's auth provider metadata"),
    no_effect(
        "session_provider",
        "the Dashboard's session provider metadata",
    ),
    refused(
        "event_handlers",
        When::Rule(p::event_handlers_on),
        "event handlers (webhooks, JS handlers)",
    ),
    refused(
        "enable_batch_request_support",
        When::Set,
        "batch requests (`/tyk/batch/`)",
    ),
    honoured(
        "enable_ip_whitelisting",
        "keeps `allowed_ips` on when `ip_access_control_disabled` is true, as in Tyk",
    ),
    honoured(
        "allowed_ips",
        "IPs and CIDR ranges allowed to call (403 otherwise); acts when not empty",
    ),
    honoured(
        "enable_ip_blacklisting",
        "keeps `blacklisted_ips` on when `ip_access_control_disabled` is true, as in Tyk",
    ),
    honoured(
        "blacklisted_ips",
        "IPs and CIDR ranges refused (403); acts when not empty",
    ),
    honoured(
        "ip_access_control_disabled",
        "switches off each IP list whose `enable_ip_*` switch is off",
    ),
    no_effect(
        "dont_set_quota_on_create",
        "Weir never resets a quota when a key is written (as Tyk with this on)",
    ),
    no_effect("expire_analytics_after", "analytics only"),
    refused(
        "response_processors",
        When::Set,
        "response processors (`header_injector`, `response_body_transform`)",
    ),
    honoured(
        "CORS",
        "CORS: preflights answered, response headers decorated (`options_passthrough` forwards preflights)",
    ),
    honoured_unless("domain", When::Never, "routing by host"),
    honoured("domain_disabled", "switches `domain` off"),
    refused(
        "certificates",
        When::Set,
        "per-API server certificates (`certificates`)",
    ),
    no_effect("do_not_track", "analytics only"),
    honoured(
        "enable_context_vars",
        "context variables: `$tyk_context.<name>` in header rules and URL rewrites (off: they print as \"\", as in Tyk)",
    ),
    no_effect("tag_headers", "analytics tags only"),
    honoured(
        "global_rate_limit",
        "the API-wide rate limit, exact across nodes (429 `API Rate Limit Exceeded`)",
    ),
    honoured(
        "strip_auth_data",
        "the credential (header, parameter, cookie) is removed before the upstream",
    ),
    no_effect("enable_detailed_recording", "analytics only"),
    refused(
        "graphql",
        When::Enabled,
        "GraphQL proxying and federation (`graphql.enabled`)",
    ),
    no_effect("analytics_plugin", "analytics only"),
    no_effect("tags_disabled", "node segmentation tags (Dashboard / MDCB)"),
    no_effect(
        "tags",
        "node segmentation tags (Dashboard / MDCB); every file in app_path is loaded",
    ),
    no_effect(
        "is_oas",
        "marks a classic copy of an OAS API; the OAS file is loaded",
    ),
    no_effect("detailed_tracing", "OpenTelemetry span detail"),
    refused(
        "upstream_auth",
        When::Enabled,
        "authentication toward the upstream (`upstream_auth.enabled`)",
    ),
    no_effect(
        "security_requirements",
        "OAS security requirement bookkeeping; used only with built-in auth, which is refused",
    ),
    no_effect(
        "security_requirement_scopes",
        "OAS security requirement bookkeeping; used only with built-in auth, which is refused",
    ),
    honoured_unless(
        "error_overrides",
        When::Rule(p::error_override_flag),
        "error-override rules matching on Tyk's error classification (`match.flag`)",
    ),
    honoured("error_overrides_disabled", "switches `error_overrides` off"),
    honoured_unless(
        "version_data.versions.*",
        When::Rule(p::header_placeholders),
        "`$secret_…` placeholders in header values",
    ),
];
