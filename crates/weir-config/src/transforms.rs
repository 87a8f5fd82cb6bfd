//! Transforms without bodies, read from either form: per-path request and response header
//! rules, method transforms, and the API's context-variables switch.
//!
//! Classic: `enable_context_vars` and the `extended_paths` lists `transform_headers`,
//! `transform_response_headers` (`{path, method, delete_headers, add_headers}`) and
//! `method_transforms` (`{path, method, to_method}`). OAS:
//! `middleware.global.contextVariables.enabled` and the operations' `transformRequestHeaders`,
//! `transformResponseHeaders` (`{enabled, add: [{name, value}], remove: [..]}`) and
//! `transformRequestMethod` (`{enabled, toMethod}`).
//!
//! Tyk applies an entry only to the method it names (an entry without one matches nothing),
//! so a classic entry without `method` is refused rather than silently dead.

use std::path::Path;

use serde_json::Value;

use crate::endpoints::{
    EndpointKey, EndpointRules, Operations, classic_extended_paths, enabled, error_sink,
};
use crate::errors::ConfigError;
use crate::limits::{classic_key, entries};

/// Header rules of one endpoint, in Tyk's order: removals, then additions.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderTransform {
    /// Where it applies.
    pub key: EndpointKey,
    /// Headers removed (`delete_headers` / `remove`).
    pub remove: Vec<String>,
    /// Headers set, replacing any value (`add_headers` / `add`); values may hold
    /// `$tyk_context.*` and `$tyk_meta.*` placeholders.
    pub set: Vec<(String, String)>,
}

/// One method transform: requests to the endpoint go upstream with `to_method`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodTransform {
    /// Where it applies.
    pub key: EndpointKey,
    /// The upstream method, upper-case.
    pub to_method: String,
}

/// The methods Tyk transforms to (mw_method_transform.go); any other answers 405 on every
/// request, so Weir refuses it at load.
const TO_METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

type ErrFn<'e> = dyn FnMut(String, String) + 'e;

/// Reads a classic definition's transforms into `endpoints`; returns `enable_context_vars`.
pub(crate) fn classic(
    doc: &Value,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) -> bool {
    let mut err = error_sink(file, errors);
    let context_vars = doc.get("enable_context_vars").and_then(Value::as_bool) == Some(true);
    let Some((base, paths)) = classic_extended_paths(doc) else {
        return context_vars;
    };
    for (list, out) in [
        ("transform_headers", &mut endpoints.request_headers),
        (
            "transform_response_headers",
            &mut endpoints.response_headers,
        ),
    ] {
        for (i, e) in entries(paths, list) {
            let field = format!("{base}.{list}[{i}]");
            if let Some(key) = classic_entry_key(e, &field, &mut err) {
                let remove = names(
                    e.get("delete_headers"),
                    &format!("{field}.delete_headers"),
                    &mut err,
                );
                let set = classic_additions(e.get("add_headers"), &field, &mut err);
                out.push(HeaderTransform { key, remove, set });
            }
        }
    }
    for (i, e) in entries(paths, "method_transforms") {
        let field = format!("{base}.method_transforms[{i}]");
        let Some(key) = classic_entry_key(e, &field, &mut err) else {
            continue;
        };
        if let Some(to_method) =
            to_method(e.get("to_method"), &format!("{field}.to_method"), &mut err)
        {
            endpoints
                .method_transforms
                .push(MethodTransform { key, to_method });
        }
    }
    context_vars
}

/// Reads an OAS definition's transforms into `endpoints`; returns whether context variables
/// are enabled.
pub(crate) fn oas(
    doc: &Value,
    ops: &Operations,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) -> bool {
    const ROOT: &str = "x-tyk-api-gateway.middleware";
    let mut err = error_sink(file, errors);
    let context_vars = doc
        .pointer("/x-tyk-api-gateway/middleware/global/contextVariables")
        .is_some_and(enabled);
    let (found, _unknown) = ops.middleware(doc);
    for (id, key, block) in found {
        let field = format!("{ROOT}.operations.{id}");
        for (name, out) in [
            ("transformRequestHeaders", &mut endpoints.request_headers),
            ("transformResponseHeaders", &mut endpoints.response_headers),
        ] {
            let Some(t) = block.get(name).filter(|t| enabled(t)) else {
                continue;
            };
            let field = format!("{field}.{name}");
            let remove = names(t.get("remove"), &format!("{field}.remove"), &mut err);
            let set = oas_additions(t.get("add"), &format!("{field}.add"), &mut err);
            out.push(HeaderTransform {
                key: key.clone(),
                remove,
                set,
            });
        }
        if let Some(t) = block.get("transformRequestMethod").filter(|t| enabled(t)) {
            let field = format!("{field}.transformRequestMethod.toMethod");
            if let Some(to_method) = to_method(t.get("toMethod"), &field, &mut err) {
                endpoints.method_transforms.push(MethodTransform {
                    key: key.clone(),
                    to_method,
                });
            }
        }
    }
    context_vars
}

/// A classic entry's key; its `method` is required (Tyk matches an entry's method exactly).
fn classic_entry_key(e: &Value, field: &str, err: &mut ErrFn<'_>) -> Option<EndpointKey> {
    let mut call = |f: String, r: String| err(f, r);
    let key = classic_key(e, field, &mut call)?;
    if key.method.is_empty() {
        err(
            format!("{field}.method"),
            "is required: Tyk applies the entry to no request without one".into(),
        );
        return None;
    }
    Some(key)
}

/// A list of header names (absent = none).
fn names(v: Option<&Value>, field: &str, err: &mut ErrFn<'_>) -> Vec<String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(items) = v.as_array() else {
        err(
            field.to_string(),
            format!("expected a list of header names, found {v}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(n) if is_token(n) => out.push(n.to_string()),
            _ => err(
                format!("{field}[{j}]"),
                format!("{item} is not a valid header name"),
            ),
        }
    }
    out
}

/// Classic `add_headers`: an object of name → value.
fn classic_additions(v: Option<&Value>, field: &str, err: &mut ErrFn<'_>) -> Vec<(String, String)> {
    let field = format!("{field}.add_headers");
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(map) = v.as_object() else {
        err(
            field,
            format!("expected an object of header names and values, found {v}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in map {
        if let Some(pair) = addition(name, value, &format!("{field}.{name}"), err) {
            out.push(pair);
        }
    }
    out
}

/// OAS `add`: a list of `{name, value}`.
fn oas_additions(v: Option<&Value>, field: &str, err: &mut ErrFn<'_>) -> Vec<(String, String)> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(items) = v.as_array() else {
        err(
            field.to_string(),
            format!("expected a list of {{name, value}}, found {v}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (j, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let value = item.get("value").unwrap_or(&Value::Null);
        if name.is_empty() {
            err(format!("{field}[{j}].name"), "is required".into());
        } else if let Some(pair) = addition(name, value, &format!("{field}[{j}].value"), err) {
            out.push(pair);
        }
    }
    out
}

/// One header to set: a valid name and a string value without control characters.
fn addition(
    name: &str,
    value: &Value,
    field: &str,
    err: &mut ErrFn<'_>,
) -> Option<(String, String)> {
    if !is_token(name) {
        err(
            field.to_string(),
            format!("`{name}` is not a valid header name"),
        );
        return None;
    }
    let Some(text) = value.as_str() else {
        err(
            field.to_string(),
            format!("expected a string, found {value}"),
        );
        return None;
    };
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        err(
            field.to_string(),
            "is not a valid header value (control characters)".into(),
        );
        return None;
    }
    Some((name.to_string(), text.to_string()))
}

/// The method to transform to, upper-case; one Tyk accepts.
fn to_method(v: Option<&Value>, field: &str, err: &mut ErrFn<'_>) -> Option<String> {
    let Some(m) = v.and_then(Value::as_str).filter(|m| !m.trim().is_empty()) else {
        err(field.to_string(), "is required".into());
        return None;
    };
    let upper = m.trim().to_ascii_uppercase();
    if !TO_METHODS.contains(&upper.as_str()) {
        err(
            field.to_string(),
            format!(
                "`{m}` is not a method Tyk transforms to (it answers 405 instead): one of {}",
                TO_METHODS.join(", ")
            ),
        );
        return None;
    }
    Some(upper)
}

/// An HTTP token (RFC 9110 §5.6.2): what a header name may be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
#[path = "transforms_tests.rs"]
mod tests;
