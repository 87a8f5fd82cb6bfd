//! Per-endpoint middleware, read from either form into one model.
//!
//! Classic definitions list entries under `version_data.versions.<v>.extended_paths.<list>`,
//! each with its own `path` and `method`. OAS definitions put them under
//! `x-tyk-api-gateway.middleware.operations.<operationId>`, and the path and method come from
//! the OpenAPI `paths` object that declares that operation. [`Operations`] resolves them, so
//! each feature's loader produces the same entries from either form.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::errors::ConfigError;

/// Where an endpoint entry applies: Tyk's path pattern (see `weir_proxy::endpoint`), a
/// method, and the entry's own case folding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointKey {
    /// The path after the listen path, as Tyk matches it (`{name}` segments).
    pub path: String,
    /// Upper-case; empty = any method.
    pub method: String,
    /// The entry's own `ignore_case`.
    pub ignore_case: bool,
}

/// The per-endpoint middleware of an API, each list in declaration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointRules {
    /// The version's `ignore_endpoint_case` (OAS `middleware.global.ignoreCase.enabled`):
    /// every entry of the API matches whatever the case, as the gateway's switch does.
    pub ignore_case: bool,
    /// URL rewrites (classic `url_rewrites`, OAS `urlRewrite`); the first matching entry applies.
    pub url_rewrites: Vec<crate::url_rewrites::UrlRewrite>,
    /// Endpoint lists (classic `mock_response`, `ignored`, `black_list`, `white_list` or the
    /// legacy `paths`; OAS `ignoreAuthentication`, `block`, `allow`), in the order Tyk checks
    /// them: the first entry whose path and method match decides.
    pub lists: Vec<crate::endpoint_lists::ListEntry>,
    /// True when an allow list is on: a request on no allow entry is forbidden.
    pub allow_list: bool,
    /// OAS `mockResponse`, answered after authentication.
    pub mock_responses: Vec<crate::endpoint_lists::OasMock>,
    /// Request size limits (classic `size_limits`, OAS `requestSizeLimit`); the first
    /// matching entry applies.
    pub size_limits: Vec<crate::limits::SizeLimit>,
    /// Enforced timeouts (classic `hard_timeouts`, OAS `enforceTimeout`); the first matching
    /// entry applies.
    pub hard_timeouts: Vec<crate::limits::EndpointTimeout>,
    /// Request validation (classic `validate_json`, OAS `validateRequest`); the first
    /// matching entry applies.
    pub validate: Vec<crate::request_schema::RequestValidation>,
    /// Request header rules (classic `transform_headers`, OAS `transformRequestHeaders`),
    /// matched on the path before the URL rewrite; the first matching entry applies.
    pub request_headers: Vec<crate::transforms::HeaderTransform>,
    /// Response header rules (classic `transform_response_headers`, OAS
    /// `transformResponseHeaders`), matched on the request's original path and method.
    pub response_headers: Vec<crate::transforms::HeaderTransform>,
    /// Method transforms (classic `method_transforms`, OAS `transformRequestMethod`); the
    /// first matching entry applies.
    pub method_transforms: Vec<crate::transforms::MethodTransform>,
    /// Internal endpoints (classic `internal`, OAS `internal`): only loops reach them.
    pub internal: Vec<crate::looping::InternalEndpoint>,
}

/// The HTTP methods an OpenAPI path item may declare operations for.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The OpenAPI operations of an OAS document, by the id Tyk gives them.
#[derive(Debug, Default)]
pub struct Operations {
    by_id: BTreeMap<String, EndpointKey>,
}

impl Operations {
    /// Reads `paths`. An operation's id is its `operationId`, or, as Tyk names one without,
    /// its path without the leading '/' followed by its method in capitals (`pets/{id}GET`).
    pub fn of(doc: &Value) -> Self {
        let mut by_id = BTreeMap::new();
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return Operations { by_id };
        };
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method) else {
                    continue;
                };
                let upper = method.to_ascii_uppercase();
                let id = match op.get("operationId").and_then(Value::as_str) {
                    Some(id) if !id.is_empty() => id.to_string(),
                    _ => format!("{}{upper}", path.trim_start_matches('/')),
                };
                by_id.insert(
                    id,
                    EndpointKey {
                        path: path.clone(),
                        method: upper,
                        ignore_case: false,
                    },
                );
            }
        }
        Operations { by_id }
    }

    /// The path and method of the operation `id`.
    pub fn get(&self, id: &str) -> Option<&EndpointKey> {
        self.by_id.get(id)
    }

    /// `x-tyk-api-gateway.middleware.operations` with each entry's path and method; an id
    /// that no operation in `paths` has is returned in the second list (the caller refuses
    /// the definition naming it).
    pub fn middleware<'d>(
        &self,
        doc: &'d Value,
    ) -> (Vec<(&'d str, EndpointKey, &'d Value)>, Vec<&'d str>) {
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        let ops = doc
            .pointer("/x-tyk-api-gateway/middleware/operations")
            .and_then(Value::as_object);
        for (id, block) in ops.into_iter().flatten() {
            match self.get(id) {
                Some(key) => found.push((id.as_str(), key.clone(), block)),
                None => unknown.push(id.as_str()),
            }
        }
        (found, unknown)
    }
}

/// The classic version whose `extended_paths` apply, as Tyk picks it for an API that is not
/// versioned (the only version, else the one named `Default`, `default` or ``), with the
/// field path of its `extended_paths`; `None` when there is none or `use_extended_paths` is
/// not true (Tyk then reads no entry).
pub fn classic_extended_paths(doc: &Value) -> Option<(String, &Value)> {
    let (name, version) = classic_version(doc)?;
    if version.get("use_extended_paths").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let paths = version.get("extended_paths")?;
    Some((
        format!("version_data.versions.{name}.extended_paths"),
        paths,
    ))
}

/// The version's `ignore_endpoint_case` (classic) or `middleware.global.ignoreCase.enabled`
/// (OAS).
pub fn ignores_endpoint_case(doc: &Value) -> bool {
    let flag = match doc.get("x-tyk-api-gateway") {
        Some(gw) => gw.pointer("/middleware/global/ignoreCase/enabled"),
        None => classic_version(doc).and_then(|(_, v)| v.get("ignore_endpoint_case")),
    };
    flag.and_then(Value::as_bool).unwrap_or(false)
}

/// The classic version whose rules apply (see [`classic_extended_paths`]), with its name.
pub(crate) fn classic_version(doc: &Value) -> Option<(&String, &Value)> {
    let versions = doc.pointer("/version_data/versions")?.as_object()?;
    let (name, version) = if versions.len() == 1 {
        versions.iter().next()?
    } else {
        let defaults: Vec<_> = ["Default", "default", ""]
            .into_iter()
            .filter_map(|n| versions.get_key_value(n))
            .collect();
        match defaults[..] {
            [one] => one,
            _ => return None,
        }
    };
    Some((name, version))
}

/// The `err(field, reason)` callback the feature readers report bad input through: each call
/// becomes a [`ConfigError`] naming the field in `file`.
pub(crate) fn error_sink<'e>(
    file: &'e Path,
    errors: &'e mut Vec<ConfigError>,
) -> impl FnMut(String, String) + 'e {
    move |field, reason| errors.push(ConfigError::new(file, field, reason))
}

/// A Tyk middleware block's `enabled`: the block acts only when it is literally `true`.
pub(crate) fn enabled(block: &Value) -> bool {
    block.get("enabled").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_are_found_by_id_or_by_tyks_generated_name() {
        let doc = json!({
            "paths": {
                "/pets/{id}": {"get": {"operationId": "getPet"}, "delete": {}},
            },
            "x-tyk-api-gateway": {"middleware": {"operations": {
                "getPet": {"allow": {"enabled": true}},
                "pets/{id}DELETE": {"block": {"enabled": true}},
                "nope": {}
            }}}
        });
        let ops = Operations::of(&doc);
        assert_eq!(ops.get("getPet").unwrap().method, "GET");
        assert_eq!(ops.get("pets/{id}DELETE").unwrap().path, "/pets/{id}");
        let (found, unknown) = ops.middleware(&doc);
        assert_eq!(found.len(), 2);
        assert_eq!(unknown, ["nope"]);
    }

    #[test]
    fn classic_entries_need_use_extended_paths() {
        let on = json!({"version_data": {"versions": {"Default": {
            "use_extended_paths": true, "extended_paths": {"white_list": []}}}}});
        let (field, _) = classic_extended_paths(&on).unwrap();
        assert_eq!(field, "version_data.versions.Default.extended_paths");
        let off = json!({"version_data": {"versions": {"v1": {
            "extended_paths": {"white_list": []}}}}});
        assert!(classic_extended_paths(&off).is_none());
    }
}
