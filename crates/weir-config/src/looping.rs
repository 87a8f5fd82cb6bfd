//! Internal APIs and `tyk://` looping targets.
//!
//! Classic `internal: true` / OAS `x-tyk-api-gateway.info.state.internal: true`: the API is not
//! routed from outside, only reached by a loop. A `proxy.target_url` (OAS `upstream.url`) of
//! `tyk://<api id or name>/<path>` or `tyk://self/<path>` hands each request to that API in
//! process instead of calling an upstream (see `weir_proxy::looping`).

use std::path::Path;

use serde_json::Value;

use crate::endpoints::{EndpointKey, EndpointRules, Operations, classic_extended_paths};
use crate::errors::ConfigError;

/// The scheme of a loop URL.
pub const LOOP_SCHEME: &str = "tyk://";

/// What an API says about looping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoopSettings {
    /// `internal` / `info.state.internal`: reached only by loops.
    pub internal: bool,
    /// The `tyk://` target URL as written, when the API's upstream is another API.
    pub target: Option<String>,
}

/// True when `url` is a `tyk://` loop URL (any case, as URL schemes are).
pub fn is_loop_url(url: &str) -> bool {
    let t = url.trim();
    // `get`: the text may hold a multi-byte character where the scheme would end.
    t.get(..LOOP_SCHEME.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(LOOP_SCHEME))
}

/// Reads classic `internal` and a `tyk://` `proxy.target_url` (load balancing off).
pub fn classic(doc: &Value, file: &Path, errors: &mut Vec<ConfigError>) -> LoopSettings {
    let lb = doc
        .pointer("/proxy/enable_load_balancing")
        .and_then(Value::as_bool)
        == Some(true);
    let target = doc.pointer("/proxy/target_url").and_then(Value::as_str);
    LoopSettings {
        internal: doc.get("internal").and_then(Value::as_bool) == Some(true),
        target: target
            .filter(|t| !lb && is_loop_url(t))
            .and_then(|t| checked(t, "proxy.target_url", file, errors)),
    }
}

/// Reads OAS `info.state.internal` and a `tyk://` `upstream.url` (load balancing off).
pub fn oas(doc: &Value, file: &Path, errors: &mut Vec<ConfigError>) -> LoopSettings {
    let gw = doc.get("x-tyk-api-gateway");
    let at = |p: &str| gw.and_then(|g| g.pointer(p));
    let lb = at("/upstream/loadBalancing/enabled").and_then(Value::as_bool) == Some(true);
    let target = at("/upstream/url").and_then(Value::as_str);
    LoopSettings {
        internal: at("/info/state/internal").and_then(Value::as_bool) == Some(true),
        target: target
            .filter(|t| !lb && is_loop_url(t))
            .and_then(|t| checked(t, "x-tyk-api-gateway.upstream.url", file, errors)),
    }
}

/// The URL when it names a target API; an error naming `field` otherwise.
fn checked(url: &str, field: &str, file: &Path, errors: &mut Vec<ConfigError>) -> Option<String> {
    let url = url.trim();
    let rest = &url[LOOP_SCHEME.len()..];
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() {
        errors.push(ConfigError::new(
            file,
            field,
            format!(
                "`{url}` names no API (expected tyk://<api id or name>/<path> or tyk://self/<path>)"
            ),
        ));
        return None;
    }
    Some(url.to_string())
}

/// An API name as a loop URL names it, as Tyk's `APILoopingName` does: the name up to a
/// ` #category` suffix, each run of characters other than ASCII letters and digits made one
/// '-' ("Hidden API" → "Hidden-API"). Compared without regard to case.
pub fn looping_name(name: &str) -> String {
    let name = match name.find('#') {
        // Tyk cuts one character before the '#' (the space of "name #category").
        Some(i) => {
            let before = &name[..i];
            &before[..before.char_indices().last().map_or(0, |(j, _)| j)]
        }
        None => name,
    };
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// An endpoint only loops reach (classic `extended_paths.internal`, OAS
/// `operations.<id>.internal`): a request from outside that matches it is forbidden.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalEndpoint {
    /// Path and method (Tyk matches the method exactly, so it is required).
    pub key: EndpointKey,
    /// The field that declares it, for errors found when its path is compiled.
    pub field: String,
}

/// Reads classic `extended_paths.internal` into `endpoints.internal`. Call it after the
/// endpoint lists: Weir refuses internal endpoints on an API with an allow list (Tyk lets a
/// looped request through the allow list on its internal entry; that is not built).
pub(crate) fn classic_internal(
    doc: &Value,
    endpoints: &mut EndpointRules,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) {
    let Some((base, paths)) = classic_extended_paths(doc) else {
        return;
    };
    let Some(list) = paths.get("internal").and_then(Value::as_array) else {
        return;
    };
    for (i, e) in list.iter().enumerate() {
        let field = format!("{base}.internal[{i}]");
        if e.get("disabled").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").trim();
        for (k, v) in [("path", text("path")), ("method", text("method"))] {
            if v.is_empty() {
                errors.push(ConfigError::new(
                    file,
                    format!("{field}.{k}"),
                    "is required",
                ));
            }
        }
        if text("path").is_empty() || text("method").is_empty() {
            continue;
        }
        let key = EndpointKey {
            path: text("path").to_string(),
            method: text("method").to_ascii_uppercase(),
            ignore_case: false,
        };
        endpoints.internal.push(InternalEndpoint { key, field });
    }
    refuse_with_allow_list(endpoints, file, errors);
}

/// Reads OAS `operations.<id>.internal` (`enabled: true`) into `endpoints.internal`; call it
/// after the endpoint lists (see [`classic_internal`]).
pub(crate) fn oas_internal(
    doc: &Value,
    ops: &Operations,
    endpoints: &mut EndpointRules,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) {
    for (id, key, block) in ops.middleware(doc).0 {
        if block.get("internal").is_some_and(crate::endpoints::enabled) {
            let field = format!("x-tyk-api-gateway.middleware.operations.{id}.internal");
            endpoints.internal.push(InternalEndpoint { key, field });
        }
    }
    refuse_with_allow_list(endpoints, file, errors);
}

fn refuse_with_allow_list(endpoints: &EndpointRules, file: &Path, errors: &mut Vec<ConfigError>) {
    if endpoints.allow_list
        && let Some(first) = endpoints.internal.first()
    {
        errors.push(ConfigError::new(
            file,
            &first.field,
            "internal endpoints on an API with an allow list (white_list / allow) are not built \
             in Weir yet",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_slugged_as_tyk_does() {
        assert_eq!(looping_name("hidden api"), "hidden-api");
        assert_eq!(looping_name("My  API (v2)"), "My-API-v2-");
        assert_eq!(looping_name("Pets #internal"), "Pets");
        assert_eq!(looping_name("Café#x"), "Caf");
        assert_eq!(looping_name("plain"), "plain");
        assert!(is_loop_url(" TYK://x") && !is_loop_url("tyk:/x") && !is_loop_url("tyk:é//"));
    }

    #[test]
    fn internal_endpoints_need_a_method_and_no_allow_list() {
        let file = Path::new("a.json");
        let doc = |extra: Value| {
            let mut paths = json!({"internal": [
                {"path": "/a", "method": "get"},
                {"path": "/b", "method": "GET", "disabled": true},
                {"path": "/c"}
            ]});
            paths
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"version_data": {"versions": {"v1": {"use_extended_paths": true,
                "extended_paths": paths}}}})
        };
        let mut errors = Vec::new();
        let mut rules = EndpointRules::default();
        classic_internal(&doc(json!({})), &mut rules, file, &mut errors);
        assert_eq!(rules.internal.len(), 1);
        assert_eq!(rules.internal[0].key.method, "GET");
        assert_eq!(
            errors[0].field,
            "version_data.versions.v1.extended_paths.internal[2].method"
        );
        let mut errors = Vec::new();
        let mut rules = EndpointRules {
            allow_list: true,
            ..EndpointRules::default()
        };
        classic_internal(&doc(json!({})), &mut rules, file, &mut errors);
        assert!(errors.iter().any(|e| e.field.ends_with("internal[0]")));
    }

    #[test]
    fn loop_targets_are_read_from_either_form() {
        let file = Path::new("a.json");
        let mut errors = Vec::new();
        let c = classic(
            &json!({"internal": true, "proxy": {"target_url": "tyk://other/x"}}),
            file,
            &mut errors,
        );
        assert!(c.internal);
        assert_eq!(c.target.as_deref(), Some("tyk://other/x"));
        let lb = json!({"proxy": {"target_url": "TYK://other", "enable_load_balancing": true}});
        assert_eq!(classic(&lb, file, &mut errors).target, None);
        let o = oas(
            &json!({"x-tyk-api-gateway": {"info": {"state": {"internal": true}},
                "upstream": {"url": "http://up"}}}),
            file,
            &mut errors,
        );
        assert!(o.internal && o.target.is_none());
        assert!(errors.is_empty());
        oas(
            &json!({"x-tyk-api-gateway": {"upstream": {"url": "tyk:///x"}}}),
            file,
            &mut errors,
        );
        assert_eq!(errors[0].field, "x-tyk-api-gateway.upstream.url");
    }
}
