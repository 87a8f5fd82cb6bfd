//! The rules of rows whose "on" is more than set / enabled / active entries: each mirrors
//! the condition under which Tyk acts on the setting.

use serde_json::Value;

use super::{Site, has_active_entries, is_enabled, is_set};

fn bool_of(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool) == Some(true)
}

/// Classic: authentication settings act only on protected APIs (`use_keyless` not true).
pub(crate) fn protected_and_set(site: &Site<'_>) -> bool {
    !bool_of(site.root.get("use_keyless")) && is_set(site.value)
}

/// OAS `server.authentication.securitySchemes`: an enabled scheme of a protected API that asks
/// for what Weir does not build.
pub(crate) fn oas_unbuilt_schemes(site: &Site<'_>) -> bool {
    let protected = site
        .root
        .pointer("/x-tyk-api-gateway/server/authentication/enabled")
        .and_then(Value::as_bool)
        == Some(true);
    protected
        && site.value.as_object().is_some_and(|schemes| {
            schemes.values().filter(|s| is_enabled(s)).any(|s| {
                bool_of(s.get("enableClientCertificate"))
                    || s.get("signatureValidation").is_some_and(is_enabled)
                    || s.get("extractCredentialsFromBody").is_some_and(is_enabled)
                    || s.get("clientBaseField").is_some_and(is_set)
                    || s.get("jwksURIs").is_some_and(is_set)
            })
        })
}

/// tyk.conf `auth_override`: an external auth provider forced.
pub(crate) fn auth_override_on(site: &Site<'_>) -> bool {
    bool_of(site.value.get("force_auth_provider"))
        || bool_of(site.value.get("force_session_provider"))
}

/// Classic `auth_configs`: an entry on a protected API that reads a client certificate or
/// checks a request signature.
pub(crate) fn credential_extras(site: &Site<'_>) -> bool {
    !bool_of(site.root.get("use_keyless"))
        && site.value.as_object().is_some_and(|configs| {
            configs
                .values()
                .any(|c| bool_of(c.get("use_certificate")) || bool_of(c.get("validate_signature")))
        })
}

/// Classic `basic_auth`: credentials read from the body.
pub(crate) fn basic_from_body(site: &Site<'_>) -> bool {
    bool_of(site.root.get("use_basic_auth"))
        && !bool_of(site.root.get("use_keyless"))
        && bool_of(site.value.get("extract_from_body"))
}

/// Classic `scopes`: OIDC scopes mapped to policies (JWT scope mapping is built).
pub(crate) fn scopes_set(site: &Site<'_>) -> bool {
    !bool_of(site.root.get("use_keyless"))
        && bool_of(site.root.get("use_openid"))
        && site
            .value
            .pointer("/oidc/scope_to_policy")
            .is_some_and(is_set)
}

/// Classic blocks with their own `enabled` (`external_oauth`): enabled on a protected API.
pub(crate) fn enabled_on_protected(site: &Site<'_>) -> bool {
    !bool_of(site.root.get("use_keyless")) && is_enabled(site.value)
}

/// Classic `extended_paths.<list>`: read only when the version has `use_extended_paths`.
pub(crate) fn extended_entries(site: &Site<'_>) -> bool {
    bool_of(site.up(2).get("use_extended_paths")) && has_active_entries(site.value)
}

/// Classic `extended_paths.cache` / `advance_cache_config`: cached paths cache only when
/// `cache_options.enable_cache` is on.
pub(crate) fn cached_paths(site: &Site<'_>) -> bool {
    let cache_on = bool_of(site.root.pointer("/cache_options/enable_cache"));
    cache_on && bool_of(site.up(2).get("use_extended_paths")) && is_set(site.value)
}

/// Classic `cache_options`: `enable_cache` alone caches nothing; with
/// `cache_all_safe_requests` every GET, HEAD and OPTIONS is cached.
pub(crate) fn caches_safe_requests(site: &Site<'_>) -> bool {
    bool_of(site.value.get("enable_cache")) && bool_of(site.value.get("cache_all_safe_requests"))
}

/// A value that is set and not the "never" marker `-1`.
pub(crate) fn set_not_never(site: &Site<'_>) -> bool {
    is_set(site.value) && site.value.as_str() != Some("-1")
}

/// A map of certificates or keys that is not switched off by its `*_disabled` sibling.
pub(crate) fn certificate_map(site: &Site<'_>, disabled_key: &str) -> bool {
    is_set(site.value) && !bool_of(site.sibling(disabled_key))
}

/// Classic `upstream_certificates`.
pub(crate) fn upstream_certificates(site: &Site<'_>) -> bool {
    certificate_map(site, "upstream_certificates_disabled")
}

/// Classic `pinned_public_keys`.
pub(crate) fn pinned_public_keys(site: &Site<'_>) -> bool {
    certificate_map(site, "certificate_pinning_disabled")
}

/// Error overrides in use (classic and tyk.conf `error_overrides` unless
/// `error_overrides_disabled`; OAS `errorOverrides` when `enabled`) with a rule matching on
/// Tyk's error classification `match.flag`.
pub(crate) fn error_override_flag(site: &Site<'_>) -> bool {
    let (map, on) = match (site.value.get("enabled"), site.value.get("value")) {
        (Some(enabled), Some(map)) => (map, bool_of(Some(enabled))),
        _ => (
            site.value,
            !bool_of(site.root.get("error_overrides_disabled")),
        ),
    };
    let flag = |rule: &Value| {
        let flag = rule.get("match").and_then(|m| m.get("flag"));
        flag.and_then(Value::as_str).is_some_and(|f| !f.is_empty())
    };
    on && map
        .as_object()
        .is_some_and(|m| m.values().filter_map(Value::as_array).flatten().any(flag))
}

/// Classic `protocol`: the main listener speaks HTTP/1.1, h2 and h2c, with or without TLS.
pub(crate) fn other_protocol(site: &Site<'_>) -> bool {
    !matches!(site.value.as_str(), None | Some("" | "http" | "https"))
}

/// Context variables enabled while an honoured header rule uses `$tyk_context.`.
pub(crate) fn context_vars_used(site: &Site<'_>) -> bool {
    let enabled = match site.value {
        Value::Bool(b) => *b,
        other => is_enabled(other),
    };
    enabled && mentions(site.root, "$tyk_context.")
}

/// True when any string in `value` (outside `x-tyk-streaming`) contains `needle`.
fn mentions(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| mentions(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k != "x-tyk-streaming" && mentions(v, needle)),
        _ => false,
    }
}

/// Header values with secrets placeholders (`$secret_env.`, `$secret_conf.`, vault, consul),
/// which Tyk fills whatever the API's settings; `$tyk_meta.` is filled (crate::transforms).
pub(crate) fn header_placeholders(site: &Site<'_>) -> bool {
    mentions(site.value, "$secret_")
}

/// OAS `server.authentication.*`: an `enabled: true` block on a protected API.
pub(crate) fn enabled_on_protected_oas(site: &Site<'_>) -> bool {
    let auth_on = bool_of(
        site.root
            .pointer("/x-tyk-api-gateway/server/authentication/enabled"),
    );
    auth_on && (is_enabled(site.value) || has_active_entries(site.value))
}

/// OAS `upstream.tlsTransport`: anything but `insecureSkipVerify` set.
pub(crate) fn tls_transport_tuning(site: &Site<'_>) -> bool {
    site.value.as_object().is_some_and(|m| {
        m.iter()
            .any(|(k, v)| k != "insecureSkipVerify" && is_set(v))
    })
}

/// Classic `proxy.transport`: anything but `ssl_insecure_skip_verify` set.
pub(crate) fn transport_tuning(site: &Site<'_>) -> bool {
    site.value.as_object().is_some_and(|m| {
        m.iter()
            .any(|(k, v)| k != "ssl_insecure_skip_verify" && is_set(v))
    })
}

/// Classic `request_signing`: `is_enabled`.
pub(crate) fn request_signing_on(site: &Site<'_>) -> bool {
    bool_of(site.value.get("is_enabled"))
}

/// Classic `version_data.versions` of an API that is not versioned: Tyk serves the only version, else
/// the one named `Default`, `default` or ``; anything else is an error on every request.
pub(crate) fn no_single_version(site: &Site<'_>) -> bool {
    let Some(map) = site.value.as_object() else {
        return false;
    };
    if !bool_of(site.up(1).get("not_versioned")) {
        return false;
    }
    let defaults = ["Default", "default", ""]
        .iter()
        .filter(|k| map.contains_key(**k))
        .count();
    map.len() != 1 && defaults != 1
}

/// Classic `uptime_tests`: checks listed and not disabled.
pub(crate) fn uptime_checks(site: &Site<'_>) -> bool {
    !bool_of(site.value.get("disabled")) && site.value.get("check_list").is_some_and(is_set)
}

/// Classic `proxy.service_discovery`: `use_discovery_service`.
pub(crate) fn discovery_on(site: &Site<'_>) -> bool {
    bool_of(site.value.get("use_discovery_service"))
}

/// A single hook `{name, disabled}` that names a function and is not disabled.
pub(crate) fn named_hook(site: &Site<'_>) -> bool {
    site.value.get("name").is_some_and(is_set) && !bool_of(site.value.get("disabled"))
}

/// Classic `custom_middleware.id_extractor` on a protected API: `extract_from` set.
pub(crate) fn id_extractor_on(site: &Site<'_>) -> bool {
    !bool_of(site.root.get("use_keyless"))
        && !bool_of(site.value.get("disabled"))
        && site.value.get("extract_from").is_some_and(is_set)
}

/// Classic `event_handlers`: any handler under `events`.
pub(crate) fn event_handlers_on(site: &Site<'_>) -> bool {
    site.value
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.values().any(is_set))
}

/// OAS lists of `{enabled}` entries: one is enabled.
pub(crate) fn oas_enabled_entries(site: &Site<'_>) -> bool {
    site.value
        .as_array()
        .is_some_and(|items| items.iter().any(is_enabled))
}

/// OAS `mockResponse`: enabled, built from the OpenAPI examples.
pub(crate) fn oas_mock_from_examples(site: &Site<'_>) -> bool {
    is_enabled(site.value) && site.value.get("fromOASExamples").is_some_and(is_enabled)
}

/// OAS `middleware.global.cache`: `enabled` with `cacheAllSafeRequests`.
pub(crate) fn oas_caches_safe_requests(site: &Site<'_>) -> bool {
    is_enabled(site.value) && bool_of(site.value.get("cacheAllSafeRequests"))
}

/// OAS `server.customDomain`: certificates of its own.
pub(crate) fn custom_domain_certificates(site: &Site<'_>) -> bool {
    is_enabled(site.value) && site.value.get("certificates").is_some_and(is_set)
}

/// tyk.conf `security.certificates`: any certificate id listed.
pub(crate) fn any_certificate(site: &Site<'_>) -> bool {
    site.value
        .as_object()
        .is_some_and(|m| m.values().any(is_set))
}

/// tyk.conf `monitor`: `enable_trigger_monitors`.
pub(crate) fn trigger_monitors(site: &Site<'_>) -> bool {
    bool_of(site.value.get("enable_trigger_monitors"))
}

/// tyk.conf `newrelic`: an application name or licence key.
pub(crate) fn newrelic_on(site: &Site<'_>) -> bool {
    site.value.get("license_key").is_some_and(is_set)
}
