//! Gateway config fields (tyk.conf, `config.Config`), plus the keys Weir adds.

use super::predicates as p;
use super::{Row, When, honoured, honoured_unless, no_effect, refused};

/// Every tyk.conf field, and Weir's own keys (marked "Weir").
pub(crate) const ROWS: &[Row] = &[
    refused(
        "hostname",
        When::Set,
        "serving only one host name (`hostname`)",
    ),
    honoured("listen_address", "the address of the main listener"),
    honoured("listen_port", "the port of the main listener"),
    honoured(
        "control_api_hostname",
        "the address of the control listener",
    ),
    honoured(
        "control_api_port",
        "a listener of its own for the control API, /metrics and health",
    ),
    honoured("secret", "the control API key (X-Tyk-Authorization)"),
    no_effect("node_secret", "Dashboard / MDCB node registration"),
    no_effect("pid_file_location", "Weir writes no pid file"),
    no_effect("allow_insecure_configs", "Dashboard config checks"),
    honoured(
        "public_key_path",
        "plugin bundles: the RSA key a bundle's `signature` must verify against (SHA-256, PKCS#1 v1.5)",
    ),
    no_effect("allow_remote_config", "Dashboard remote config"),
    refused(
        "enable_config_inspection",
        When::Set,
        "the config inspection endpoint (`/config`)",
    ),
    refused(
        "security.control_api_use_mutual_tls",
        When::Set,
        "mutual TLS on the control API",
    ),
    refused(
        "security.certificates",
        When::Rule(p::any_certificate),
        "certificates from Tyk's certificate store (`security.certificates`)",
    ),
    no_effect(
        "security",
        "certificate store encryption and Dashboard settings",
    ),
    no_effect(
        "external_services",
        "outbound proxies for OAuth, JWKS and webhooks, which are refused",
    ),
    honoured(
        "http_server_options.read_timeout",
        "time allowed for a connection's first request head, from accept (default 30 s)",
    ),
    refused(
        "http_server_options.write_timeout",
        When::Set,
        "a deadline for writing whole responses (`write_timeout`)",
    ),
    honoured("http_server_options.use_ssl", "TLS on the main listener"),
    honoured(
        "http_server_options.enable_http2",
        "h2 offered over TLS (ALPN); h2c is always accepted",
    ),
    honoured(
        "http_server_options.enable_strict_routes",
        "listen paths match only at a segment boundary (those with `{name}` segments always do)",
    ),
    honoured(
        "http_server_options.enable_path_prefix_matching",
        "virtual endpoint paths must start the path after the listen path (other endpoint lists are refused; `hard_timeouts`, `size_limits` and `validate_json` (OAS: their operations) too)",
    ),
    honoured(
        "http_server_options.enable_path_suffix_matching",
        "virtual endpoint paths must end the path (other endpoint lists are refused; `hard_timeouts`, `size_limits` and `validate_json` too)",
    ),
    refused(
        "http_server_options.ssl_insecure_skip_verify",
        When::Set,
        "Tyk's listener-level `ssl_insecure_skip_verify`",
    ),
    honoured(
        "http_server_options.enable_websockets",
        "WebSocket upgrades are proxied",
    ),
    honoured(
        "http_server_options.certificates",
        "TLS certificates by SNI name",
    ),
    refused(
        "http_server_options.ssl_certificates",
        When::Set,
        "certificates from Tyk's certificate store (`ssl_certificates`)",
    ),
    refused(
        "http_server_options.server_name",
        When::Set,
        "a fixed TLS server name (`server_name`)",
    ),
    refused(
        "http_server_options.min_version",
        When::Set,
        "TLS version limits on the listener (`min_version`)",
    ),
    refused(
        "http_server_options.max_version",
        When::Set,
        "TLS version limits on the listener (`max_version`)",
    ),
    refused(
        "http_server_options.skip_client_ca_announcement",
        When::Set,
        "client CA announcement (mutual TLS)",
    ),
    no_effect(
        "http_server_options.flush_interval",
        "Weir forwards every chunk at once",
    ),
    refused(
        "http_server_options.skip_url_cleaning",
        When::Set,
        "forwarding paths without cleaning them (`skip_url_cleaning`)",
    ),
    refused(
        "http_server_options.skip_target_path_escaping",
        When::Set,
        "forwarding paths unescaped (`skip_target_path_escaping`)",
    ),
    refused(
        "http_server_options.ssl_ciphers",
        When::Set,
        "cipher suites on the listener (`ssl_ciphers`)",
    ),
    refused(
        "http_server_options.max_request_body_size",
        When::Set,
        "a gateway-wide request body limit (`max_request_body_size`)",
    ),
    no_effect(
        "http_server_options.xff_depth",
        "which X-Forwarded-For entry is the client; used by IP lists and rate limits, which are refused",
    ),
    refused(
        "http_server_options.max_response_body_size",
        When::Set,
        "a gateway-wide response body limit (`max_response_body_size`)",
    ),
    honoured(
        "http_server_options.max_request_header_bytes",
        "Weir: larger request heads get 431 (default 64 KiB)",
    ),
    no_effect(
        "version_header",
        "not read by versioned APIs, which name their header in `definition.key`",
    ),
    refused(
        "suppress_redis_signal_reload",
        When::Set,
        "ignoring group reloads sent through Redis (`suppress_redis_signal_reload`)",
    ),
    no_effect("reload_interval", "cluster reload batching"),
    honoured(
        "hash_keys",
        "keys are stored by their hash, never in plain text (default true, as Tyk's tyk.conf)",
    ),
    refused(
        "disable_key_actions_by_username",
        When::Set,
        "refusing key actions by basic-auth username",
    ),
    honoured(
        "hash_key_function",
        "the hash new keys name (murmur32, murmur64, murmur128, sha256); each key is hashed by the function its token names",
    ),
    honoured(
        "basic_auth_hash_key_function",
        "how basic-auth passwords are hashed when a user is written",
    ),
    no_effect(
        "hash_key_function_fallback",
        "Weir hashes a key by the function its own token names, so no fallback list is needed",
    ),
    honoured(
        "enable_hashed_keys_listing",
        "`GET /tyk/keys` lists key hashes when keys are hashed",
    ),
    refused(
        "min_token_length",
        When::Set,
        "refusing keys shorter than a minimum (`min_token_length`)",
    ),
    honoured(
        "template_path",
        "the folder's `error*` templates; only `{{.Message}}` and `{{.StatusCode}}` are supported, anything else is refused naming the file",
    ),
    honoured(
        "policies",
        "`policy_source: file` with `policy_path` (a file or folder) or `policy_record_name`; other sources are refused",
    ),
    no_effect("ports_whitelist", "API listen ports, which are refused"),
    no_effect(
        "disable_ports_whitelist",
        "API listen ports, which are refused",
    ),
    honoured("app_path", "the folder of API definitions"),
    refused(
        "use_db_app_configs",
        When::Set,
        "loading APIs from the Dashboard",
    ),
    no_effect(
        "db_app_conf_options",
        "loading APIs from the Dashboard, which is refused",
    ),
    no_effect("disable_dashboard_zeroconf", "Dashboard discovery"),
    refused(
        "slave_options.use_rpc",
        When::Set,
        "MDCB (loading APIs and keys over RPC)",
    ),
    no_effect("slave_options", "MDCB, which is refused"),
    refused(
        "management_node",
        When::Set,
        "a management-only node (serves no APIs)",
    ),
    refused(
        "auth_override",
        When::Rule(p::auth_override_on),
        "an external key store (`auth_override.force_auth_provider`)",
    ),
    refused(
        "enforce_org_data_age",
        When::Set,
        "organisation quotas and data age",
    ),
    no_effect("enforce_org_data_detail_logging", "analytics only"),
    refused("enforce_org_quotas", When::Set, "organisation quotas"),
    no_effect(
        "experimental_process_org_off_thread",
        "organisation quotas, which are refused",
    ),
    refused(
        "monitor",
        When::Rule(p::trigger_monitors),
        "quota monitors and their webhooks (`monitor.enable_trigger_monitors`)",
    ),
    no_effect("max_idle_connections", "pool tuning"),
    honoured(
        "max_idle_connections_per_host",
        "idle upstream connections kept per host",
    ),
    no_effect("max_conn_time", "pool tuning"),
    refused(
        "close_connections",
        When::Set,
        "closing every client connection after one response (`close_connections`)",
    ),
    honoured(
        "enable_custom_domains",
        "false (Tyk's default): APIs' `domain` is ignored, as in Tyk",
    ),
    honoured(
        "allow_master_keys",
        "false (default): a key without access rights or policies is refused at creation",
    ),
    no_effect(
        "service_discovery",
        "service discovery cache; API service discovery is refused",
    ),
    honoured(
        "proxy_ssl_insecure_skip_verify",
        "skip upstream certificate checks for every API",
    ),
    honoured(
        "proxy_enable_http2",
        "h2 offered to https upstreams (ALPN); without it they speak HTTP/1.1, as in Tyk",
    ),
    refused(
        "proxy_ssl_min_version",
        When::Set,
        "TLS version limits toward upstreams",
    ),
    refused(
        "proxy_ssl_max_version",
        When::Set,
        "TLS version limits toward upstreams",
    ),
    refused(
        "proxy_ssl_ciphers",
        When::Set,
        "cipher suites toward upstreams",
    ),
    honoured(
        "proxy_default_timeout",
        "time allowed for the upstream's response head (504 after it)",
    ),
    no_effect(
        "proxy_ssl_disable_renegotiation",
        "Weir's TLS client never renegotiates",
    ),
    refused(
        "proxy_close_connections",
        When::Set,
        "a new upstream connection per request (`proxy_close_connections`)",
    ),
    no_effect("uptime_tests", "uptime tests, which are refused per API"),
    no_effect("health_check", "health check counters"),
    honoured("health_check_endpoint_name", "the health endpoint's name"),
    honoured(
        "readiness_check_endpoint_name",
        "the readiness endpoint's name",
    ),
    honoured(
        "graceful_shutdown_timeout_duration",
        "how long SIGTERM waits for in-flight requests",
    ),
    refused(
        "graceful_shutdown_delay_seconds",
        When::Set,
        "a delay before shutdown starts",
    ),
    no_effect("oauth_refresh_token_expire", "OAuth; refused"),
    no_effect("oauth_token_expire", "OAuth; refused"),
    no_effect("oauth_token_expired_retain_period", "OAuth; refused"),
    no_effect("oauth_redirect_uri_separator", "OAuth; refused"),
    no_effect("oauth_error_status_code", "OAuth; refused"),
    no_effect("enable_key_logging", "logs only"),
    refused(
        "ssl_force_common_name_check",
        When::Set,
        "common-name checks toward upstreams",
    ),
    no_effect("enable_analytics", "analytics only"),
    no_effect("analytics_config", "analytics only"),
    no_effect("enable_separate_analytics_store", "analytics only"),
    no_effect("analytics_storage", "analytics only"),
    no_effect("liveness_check", "health check cache"),
    no_effect("dns_cache", "resolver cache"),
    no_effect("disable_regexp_cache", "regexp cache"),
    no_effect("regexp_cache_expire", "regexp cache"),
    no_effect("regexp_cache_max_entries", "regexp cache"),
    no_effect("disable_regexp_cache_bound", "regexp cache"),
    no_effect("disable_auto_max_procs", "Go runtime tuning"),
    no_effect("local_session_cache", "key cache; keys are refused"),
    no_effect(
        "enable_separate_cache_store",
        "response cache store; caching is refused",
    ),
    no_effect("cache_storage", "response cache store; caching is refused"),
    honoured(
        "enable_bundle_downloader",
        "plugin bundles: fetch a bundle that is not unpacked yet",
    ),
    honoured(
        "bundle_base_url",
        "plugin bundles are fetched from `<bundle_base_url>/<name>`",
    ),
    honoured(
        "bundle_insecure_skip_verify",
        "plugin bundles: no certificate check on the download",
    ),
    honoured(
        "skip_verify_existing_plugin_bundle",
        "plugin bundles: an unpacked bundle is used without checking its checksum again",
    ),
    honoured(
        "enable_jsvm",
        "JavaScript plugins (drivers otto and javascript) run only when it is true",
    ),
    honoured(
        "jsvm_timeout",
        "the deadline of a JavaScript hook when its API sets no `custom_middleware.timeout`",
    ),
    honoured(
        "disable_virtual_path_blobs",
        "an API with a virtual endpoint whose code is a blob is refused at load",
    ),
    no_effect(
        "tyk_js_path",
        "Weir's JavaScript engine has Tyk's JSVM API built in; no core file is read",
    ),
    honoured(
        "middleware_path",
        "plugin bundles are unpacked under `<middleware_path>/bundles/<md5 of the name>`; hook paths stay relative to the definition's file",
    ),
    honoured(
        "coprocess_options",
        "the gRPC plugin server (`coprocess_grpc_server`, message sizes, authority)",
    ),
    honoured(
        "ignore_endpoint_case",
        "virtual endpoint paths match whatever the case (other endpoint lists are refused; `hard_timeouts`, `size_limits` and `validate_json` too)",
    ),
    no_effect(
        "ignore_canonical_mime_header_key",
        "header name case; HTTP header names are case-insensitive",
    ),
    honoured("log_level", "debug, info, warn, error"),
    no_effect("log_format", "log format"),
    honoured(
        "access_logs",
        "`enabled`: one JSON line per request (default on in Weir)",
    ),
    refused(
        "tracing",
        When::Enabled,
        "distributed tracing (trace headers sent upstream)",
    ),
    refused(
        "opentelemetry",
        When::Enabled,
        "OpenTelemetry (trace headers sent upstream)",
    ),
    refused(
        "newrelic",
        When::Rule(p::newrelic_on),
        "New Relic instrumentation",
    ),
    refused(
        "enable_http_profiler",
        When::Set,
        "the profiler endpoints (`/debug/pprof`)",
    ),
    no_effect("use_redis_log", "log sinks"),
    no_effect("use_sentry", "log sinks"),
    no_effect("sentry_code", "log sinks"),
    no_effect("sentry_log_level", "log sinks"),
    no_effect("use_syslog", "log sinks"),
    no_effect("syslog_transport", "log sinks"),
    no_effect("syslog_network_addr", "log sinks"),
    no_effect("use_graylog", "log sinks"),
    no_effect("graylog_network_addr", "log sinks"),
    no_effect("use_logstash", "log sinks"),
    no_effect("logstash_transport", "log sinks"),
    no_effect("logstash_network_addr", "log sinks"),
    no_effect("track_404_logs", "logs only"),
    no_effect("statsd_connection_string", "metrics sink"),
    no_effect("statsd_prefix", "metrics sink"),
    refused(
        "event_handlers",
        When::Rule(p::event_handlers_on),
        "gateway-wide event handlers",
    ),
    no_effect("hide_generator_header", "Weir never sends `X-Generator`"),
    no_effect("suppress_default_org_store", "organisation store"),
    no_effect("legacy_enable_allowance_countdown", "rate limits; refused"),
    no_effect(
        "force_global_session_lifetime",
        "key lifetimes; keys are refused",
    ),
    no_effect(
        "session_lifetime_respects_key_expiration",
        "key lifetimes; keys are refused",
    ),
    refused(
        "global_session_lifetime",
        When::Set,
        "keys removed from storage after a lifetime (`global_session_lifetime`)",
    ),
    no_effect(
        "kv",
        "secret stores for `$secret_` placeholders, which are refused",
    ),
    honoured_unless(
        "error_overrides",
        When::Rule(p::error_override_flag),
        "error-override rules matching on Tyk's error classification (`match.flag`)",
    ),
    honoured(
        "override_messages",
        "Tyk's error ids; Weir raises `auth.auth_field_missing` and `auth.key_not_found` (the others belong to refused features); an unknown id is refused",
    ),
    no_effect("cloud", "Tyk Cloud"),
    refused(
        "jwt_ssl_insecure_skip_verify",
        When::Set,
        "fetching JWKS without checking the server's certificate",
    ),
    no_effect("resource_sync", "Dashboard / MDCB sync"),
    no_effect("oas_config", "OAS example validation"),
    honoured(
        "streaming.enabled",
        "Tyk Streams: serves `x-tyk-streaming` (docs/streams.md); off refuses APIs with streams",
    ),
    honoured(
        "streaming.stream_idle_timeout",
        "Weir: idle time before a per-consumer stream instance stops",
    ),
    refused(
        "streaming.allow_unsafe",
        When::Set,
        "Tyk Streams' unsafe components (file, socket, subprocess): none are built",
    ),
    no_effect("labs", "experimental Tyk features"),
    no_effect(
        "jwks",
        "JWKS cache tuning; Weir caches keys and refetches on an unknown `kid` (at most once a second)",
    ),
    no_effect(
        "allow_unsafe_policy_ids",
        "policy ids written through the control API, which serves policies read-only",
    ),
    refused(
        "enable_fixed_window_rate_limiter",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    refused(
        "enable_sentinel_rate_limiter",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    refused(
        "enable_rate_limit_smoothing",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    no_effect(
        "enable_non_transactional_rate_limiter",
        "tunes Tyk's approximate limiters; Weir's limit is exact, one Redis script per request",
    ),
    no_effect(
        "drl_notification_frequency",
        "tunes Tyk's approximate limiters; Weir's limit is exact, one Redis script per request",
    ),
    no_effect(
        "drl_threshold",
        "tunes Tyk's approximate limiters; Weir's limit is exact, one Redis script per request",
    ),
    no_effect(
        "drl_enable_sentinel_rate_limiter",
        "tunes Tyk's approximate limiters; Weir's limit is exact, one Redis script per request",
    ),
    honoured(
        "rate_limit_response_headers",
        "X-RateLimit-* follow the quota (`quotas`, default) or the rate limit (`rate_limits`)",
    ),
    refused(
        "enable_leaky_bucket_rate_limiter",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    refused(
        "enable_token_bucket_rate_limiter",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    refused(
        "enable_sliding_window_rate_limiter",
        When::Set,
        "a rate limiter other than the exact sliding log Weir uses on every node",
    ),
    refused(
        "enable_rate_limiter_storage",
        When::Set,
        "a separate Redis for rate limits",
    ),
    refused(
        "rate_limiter_storage",
        When::Set,
        "a separate Redis for rate limits",
    ),
    honoured(
        "enable_redis_rolling_limiter",
        "the sliding log in Redis: what Weir always uses",
    ),
    no_effect(
        "event_trigers_defunct",
        "deprecated; read by no Tyk version that serves traffic",
    ),
    no_effect(
        "event_triggers_defunct",
        "deprecated; read by no Tyk version that serves traffic",
    ),
    no_effect(
        "secrets",
        "values for `$secret_conf.` placeholders, which are refused",
    ),
    honoured(
        "storage",
        "Redis (`type: redis`, host/port or addrs, username, password, database, timeout) shared by every node for keys, limits and group reloads; Redis Cluster (`enable_cluster`), Sentinel (`master_name`, `sentinel_password`) and TLS (`use_ssl`, `ssl_insecure_skip_verify`, `ca_file`, `cert_file`, `key_file`); `tls_min_version` 1.3 and `tls_max_version` below 1.3 are refused (docs/auth.md)",
    ),
    honoured(
        "local_first_limits",
        "Weir: with `storage`, limits taken from Redis `batch` permits at a time and used from memory for `lease_ms`; a window then admits the limit ± nodes × (batch − 1) (docs/auth.md)",
    ),
    honoured(
        "watch_app_path",
        "Weir: reload when files in app_path change",
    ),
    honoured(
        "proxy_ssl_ca_cert_file",
        "Weir: extra PEM roots for https upstreams",
    ),
    honoured(
        "grpc_max_message_size",
        "Weir: the largest gRPC message a stream hook is handed",
    ),
    honoured(
        "trust_x_forwarded_headers",
        "Weir: keep a client's X-Forwarded-Proto and -Host (behind a trusted proxy); X-Forwarded-For is always appended to; IP lists judge X-Real-IP / the first X-Forwarded-For entry",
    ),
    honoured(
        "http_server_options.idle_timeout",
        "Weir: a connection with no request in flight for this long is closed (default 120 s)",
    ),
    honoured(
        "http_server_options.http2_keepalive_interval",
        "Weir: HTTP/2 pings this often, closing a connection whose ping goes unanswered (default 30 s; 0 = off)",
    ),
    honoured(
        "wasm_upstreams",
        "Weir: name → http://host:port, the upstreams Wasm filters may call (proxy_http_call, proxy_grpc_call; Envoy's cluster names)",
    ),
    honoured(
        "upstream_read_idle_timeout",
        "Weir: an upstream response body that sends nothing for this long fails (nginx's proxy_read_timeout; default 60 s, 0 = none)",
    ),
];
