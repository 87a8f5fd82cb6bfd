//! Error overrides and error templates (Tyk's gateway/error_overrides.go, handler_error.go):
//! the API's `error_overrides` (OAS `x-tyk-api-gateway.errorOverrides`), tyk.conf's
//! `error_overrides`, `override_messages` and the `template_path` folder.
//!
//! Everything is checked here, once per load: status keys, regexes, inline body templates and
//! template files. Tyk logs and skips a rule it cannot compile; Weir refuses it, naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::errors::ConfigError;

/// The error ids of tyk.conf `override_messages` (Tyk's `TykErrors`). Weir raises the first two
/// (auth-token authentication); the others belong to features Weir refuses at API load.
pub const KNOWN_ERROR_IDS: [&str; 11] = [
    "auth.auth_field_missing",
    "auth.key_not_found",
    "auth.cert_not_found",
    "auth.key_is_invalid",
    "auth.cert_expired",
    "auth.cert_required",
    "auth.cert_mismatch",
    "oauth.auth_field_missing",
    "oauth.auth_field_malformed",
    "oauth.key_not_found",
    "oauth.client_deleted",
];

/// The template folder's Tyk defaults, which may be absent (Weir then uses built-in templates).
const DEFAULT_TEMPLATE_PATHS: [&str; 3] =
    ["templates", "./templates", "/opt/tyk-gateway/templates"];

/// Override rules by status: exact codes first, then `4xx`/`5xx` classes (Tyk's lookup order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorOverrides {
    /// Rules of an exact status code (`"401"`), in written order.
    pub exact: BTreeMap<u16, Vec<ErrorOverride>>,
    /// Rules of a status class (`"5xx"` → 5), in written order.
    pub class: BTreeMap<u8, Vec<ErrorOverride>>,
}

impl ErrorOverrides {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.class.is_empty()
    }
}

/// One rule: an optional matcher and the answer it gives.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorOverride {
    /// `match`, when set.
    pub matcher: Option<ErrorMatch>,
    /// `response`.
    pub response: OverrideResponse,
}

/// `match`: extra criteria beyond the status code.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorMatch {
    /// `message_pattern`: a regex over the error message (gateway errors) or the first 4 KiB of
    /// the body (upstream errors). Checked to compile at load.
    pub message_pattern: Option<String>,
    /// `body_field` (a dotted JSON path) and `body_value`: upstream errors only.
    pub body_field: Option<String>,
    /// `body_value`.
    pub body_value: Option<String>,
}

/// `response`: what replaces the error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverrideResponse {
    /// `status_code`; `None` (0) keeps the original status.
    pub status_code: Option<u16>,
    /// `body`: written as is, or a template when it contains `{{.`.
    pub body: Option<ErrorBody>,
    /// `message`: `{{.Message}}` in templates; alone, the message of the default template.
    pub message: String,
    /// `template`: a template file name in `template_path` (with or without extension).
    pub template: Option<String>,
    /// `headers`, set on the answer.
    pub headers: Vec<(String, String)>,
}

/// An override's `body`.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorBody {
    /// Written as is.
    Literal(String),
    /// An inline template.
    Template(ErrorTemplate),
}

/// A Go error template restricted to `{{.Message}}` and `{{.StatusCode}}`, parsed once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Message,
    StatusCode,
}

impl ErrorTemplate {
    /// Parses a template; the error names the first action that is not one of the two.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "an action `{{` is not closed by `}}`".to_string())?;
            parts.push(match after[..end].trim() {
                ".Message" => Part::Message,
                ".StatusCode" => Part::StatusCode,
                other => {
                    return Err(format!(
                        "uses `{{{{{other}}}}}`; Weir's error templates support only \
                         {{{{.Message}}}} and {{{{.StatusCode}}}}"
                    ));
                }
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(ErrorTemplate { parts })
    }

    /// Renders with an already escaped message.
    pub fn render(&self, message: &str, status: u16) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Message => out.push_str(message),
                Part::StatusCode => out.push_str(&status.to_string()),
            }
        }
        out
    }
}

/// A tyk.conf `override_messages` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageOverride {
    /// `code`; `None` (0) keeps Tyk's.
    pub code: Option<u16>,
    /// `message`; `None` (empty) keeps Tyk's.
    pub message: Option<String>,
}

/// The gateway-wide settings: `override_messages`, `error_overrides`, `template_path`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatewayErrors {
    /// `override_messages`, by error id.
    pub override_messages: BTreeMap<String, MessageOverride>,
    /// `error_overrides`, applied after the API's own rules.
    pub error_overrides: ErrorOverrides,
    /// The `error*` files of `template_path`, by file name; empty = Tyk's stock templates.
    pub templates: BTreeMap<String, ErrorTemplate>,
    /// The folder the templates came from, when one was read.
    pub template_dir: Option<PathBuf>,
}

/// The key names of one form (classic and tyk.conf: snake_case; OAS: camelCase).
#[derive(Clone, Copy)]
struct Names {
    status_code: &'static str,
    message_pattern: &'static str,
    body_field: &'static str,
    body_value: &'static str,
}

const SNAKE: Names = Names {
    status_code: "status_code",
    message_pattern: "message_pattern",
    body_field: "body_field",
    body_value: "body_value",
};
const CAMEL: Names = Names {
    status_code: "statusCode",
    message_pattern: "messagePattern",
    body_field: "bodyField",
    body_value: "bodyValue",
};

/// Classic `error_overrides`, unless `error_overrides_disabled`.
pub(crate) fn classic(
    doc: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ErrorOverrides> {
    if doc.get("error_overrides_disabled").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let v = doc.get("error_overrides").filter(|v| !v.is_null())?;
    let o = read_map(v, "error_overrides", SNAKE, file, errors);
    (!o.is_empty()).then_some(o)
}

/// OAS `x-tyk-api-gateway.errorOverrides`, when `enabled`.
pub(crate) fn oas(
    doc: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ErrorOverrides> {
    let block = doc.get("x-tyk-api-gateway")?.get("errorOverrides")?;
    if !crate::endpoints::enabled(block) {
        return None;
    }
    let v = block.get("value")?;
    let o = read_map(
        v,
        "x-tyk-api-gateway.errorOverrides.value",
        CAMEL,
        file,
        errors,
    );
    (!o.is_empty()).then_some(o)
}

/// The gateway keys, from the merged tyk.conf document; relative paths resolve in `base_dir`.
pub(crate) fn gateway(
    doc: &Value,
    file: &Path,
    base_dir: &Path,
) -> Result<GatewayErrors, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = GatewayErrors::default();
    if let Some(v) = doc.get("error_overrides").filter(|v| !v.is_null()) {
        out.error_overrides = read_map(v, "error_overrides", SNAKE, file, &mut errors);
    }
    if let Some(v) = doc.get("override_messages").filter(|v| !v.is_null()) {
        out.override_messages = override_messages(v, file, &mut errors);
    }
    let path = doc
        .get("template_path")
        .and_then(Value::as_str)
        .unwrap_or("");
    read_templates(path, base_dir, file, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// tyk.conf defaults of the keys read here (so `TYK_GW_TEMPLATEPATH` is known to the env walk).
pub(crate) fn defaults() -> Value {
    serde_json::json!({ "template_path": "templates" })
}

fn read_map(
    v: &Value,
    base: &str,
    names: Names,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> ErrorOverrides {
    let mut out = ErrorOverrides::default();
    let Some(map) = v.as_object() else {
        errors.push(ConfigError::new(
            file,
            base,
            "expected an object of status codes",
        ));
        return out;
    };
    for (key, rules) in map {
        let field = format!("{base}.{key}");
        let Some(list) = rules.as_array() else {
            errors.push(ConfigError::new(file, &field, "expected a list of rules"));
            continue;
        };
        let parsed: Vec<ErrorOverride> = list
            .iter()
            .enumerate()
            .filter_map(|(i, r)| read_rule(r, &format!("{field}[{i}]"), names, file, errors))
            .collect();
        match status_key(key) {
            Some(StatusKey::Exact(code)) => {
                out.exact.insert(code, parsed);
            }
            Some(StatusKey::Class(c)) => {
                out.class.insert(c, parsed);
            }
            None => errors.push(ConfigError::new(
                file,
                &field,
                format!("`{key}` is not a status code (100-599) nor a class such as `4xx`"),
            )),
        }
    }
    out
}

enum StatusKey {
    Exact(u16),
    Class(u8),
}

fn status_key(key: &str) -> Option<StatusKey> {
    if let Ok(code) = key.parse::<u16>() {
        return (100..=599)
            .contains(&code)
            .then_some(StatusKey::Exact(code));
    }
    let b = key.as_bytes();
    (b.len() == 3 && key.get(1..) == Some("xx") && (b'1'..=b'5').contains(&b[0]))
        .then(|| StatusKey::Class(b[0] - b'0'))
}

fn read_rule(
    v: &Value,
    field: &str,
    names: Names,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ErrorOverride> {
    let mut push = crate::endpoints::error_sink(file, errors);
    let Some(obj) = v.as_object() else {
        push(
            field.to_string(),
            "expected an object with `response`".into(),
        );
        return None;
    };
    unknown_keys(obj, &["match", "response"], field, &mut push);
    let matcher = match obj.get("match").filter(|m| !m.is_null()) {
        Some(m) => read_match(m, &format!("{field}.match"), names, &mut push),
        None => None,
    };
    let response = match obj.get("response") {
        Some(r) => read_response(r, &format!("{field}.response"), names, &mut push)?,
        None => {
            push(format!("{field}.response"), "is required".into());
            return None;
        }
    };
    Some(ErrorOverride { matcher, response })
}

fn read_match(
    v: &Value,
    field: &str,
    n: Names,
    push: &mut impl FnMut(String, String),
) -> Option<ErrorMatch> {
    let known = ["flag", n.message_pattern, n.body_field, n.body_value];
    let obj = object_of(v, &known, field, push)?;
    if let Some(flag) = obj
        .get("flag")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        push(
            format!("{field}.flag"),
            format!(
                "matching on Tyk's error classification flag (`{flag}`) is not built in Weir yet"
            ),
        );
    }
    let mut m = ErrorMatch {
        message_pattern: string(obj, n.message_pattern, field, push),
        body_field: string(obj, n.body_field, field, push),
        body_value: string(obj, n.body_value, field, push),
    };
    if let Some(p) = &m.message_pattern
        && let Err(e) = regex::Regex::new(p)
    {
        push(
            format!("{field}.{}", n.message_pattern),
            format!("not a valid regex: {e}"),
        );
        m.message_pattern = None;
    }
    if let Some(path) = &m.body_field
        && let Err(why) = check_body_field(path)
    {
        push(format!("{field}.{}", n.body_field), why);
    }
    Some(m)
}

/// `body_field` is gjson syntax in Tyk; Weir takes its plain dotted form (`error.code`, `a.0.b`).
fn check_body_field(path: &str) -> Result<(), String> {
    let special = |c: char| "*?#@|\\!=<>%{}[]()\"'`, ".contains(c);
    if path.split('.').any(str::is_empty) || path.contains(special) {
        return Err(format!(
            "`{path}`: Weir supports plain dotted JSON paths (`a.b.0.c`), not gjson queries"
        ));
    }
    Ok(())
}

fn read_response(
    v: &Value,
    field: &str,
    n: Names,
    push: &mut impl FnMut(String, String),
) -> Option<OverrideResponse> {
    let known = [n.status_code, "body", "message", "template", "headers"];
    let obj = object_of(v, &known, field, push)?;
    let status_code = match obj.get(n.status_code) {
        None | Some(Value::Null) => None,
        Some(s) => match s.as_u64() {
            Some(0) => None,
            Some(c @ 100..=599) => Some(c as u16),
            _ => {
                push(
                    format!("{field}.{}", n.status_code),
                    format!("expected a status code 100-599, found {s}"),
                );
                None
            }
        },
    };
    let body = string(obj, "body", field, push).map(|b| {
        // Tyk treats a body as a template only when it contains `{{.`.
        if !b.contains("{{.") {
            return ErrorBody::Literal(b);
        }
        ErrorTemplate::parse(&b)
            .map(ErrorBody::Template)
            .unwrap_or_else(|why| {
                push(format!("{field}.body"), why);
                ErrorBody::Literal(b)
            })
    });
    let mut headers = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                let hf = format!("{field}.headers.{k}");
                match v.as_str() {
                    Some(s)
                        if http_token(k)
                            && s.bytes()
                                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80) =>
                    {
                        headers.push((k.clone(), s.to_string()))
                    }
                    _ => push(
                        hf,
                        "expected a valid header name with a string value".into(),
                    ),
                }
            }
        }
        Some(_) => push(
            format!("{field}.headers"),
            "expected an object of header values".into(),
        ),
    }
    Some(OverrideResponse {
        status_code,
        body,
        message: string(obj, "message", field, push).unwrap_or_default(),
        template: string(obj, "template", field, push),
        headers,
    })
}

fn http_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A string field; empty counts as unset (Go's zero value).
fn string(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    push: &mut impl FnMut(String, String),
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => (!s.is_empty()).then(|| s.clone()),
        Some(_) => {
            push(format!("{field}.{key}"), "expected a string".into());
            None
        }
    }
}

/// `v` as an object, reporting it when it is not one and any key outside `known`.
fn object_of<'v>(
    v: &'v Value,
    known: &[&str],
    field: &str,
    push: &mut impl FnMut(String, String),
) -> Option<&'v Map<String, Value>> {
    let Some(obj) = v.as_object() else {
        push(field.to_string(), "expected an object".into());
        return None;
    };
    unknown_keys(obj, known, field, push);
    Some(obj)
}

fn unknown_keys(
    obj: &Map<String, Value>,
    known: &[&str],
    field: &str,
    push: &mut impl FnMut(String, String),
) {
    for k in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        push(
            format!("{field}.{k}"),
            format!("unknown field; expected one of {}", known.join(", ")),
        );
    }
}

fn override_messages(
    v: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, MessageOverride> {
    let mut out = BTreeMap::new();
    let Some(map) = v.as_object() else {
        errors.push(ConfigError::new(
            file,
            "override_messages",
            "expected an object of error ids",
        ));
        return out;
    };
    for (id, entry) in map {
        let field = format!("override_messages.{id}");
        if !KNOWN_ERROR_IDS.contains(&id.as_str()) {
            let reason = format!(
                "unknown error id; Tyk's ids are {}",
                KNOWN_ERROR_IDS.join(", ")
            );
            errors.push(ConfigError::new(file, &field, reason));
            continue;
        }
        let Some(obj) = entry.as_object() else {
            errors.push(ConfigError::new(
                file,
                &field,
                "expected an object with `code` and `message`",
            ));
            continue;
        };
        let mut push = crate::endpoints::error_sink(file, errors);
        unknown_keys(obj, &["code", "message"], &field, &mut push);
        let code = match obj.get("code") {
            None | Some(Value::Null) => None,
            Some(c) => match c.as_u64() {
                Some(0) => None,
                Some(c @ 100..=599) => Some(c as u16),
                _ => {
                    push(
                        format!("{field}.code"),
                        format!("expected a status code 100-599, found {c}"),
                    );
                    None
                }
            },
        };
        let message = string(obj, "message", &field, &mut push);
        out.insert(id.clone(), MessageOverride { code, message });
    }
    out
}

/// Reads the `error*` files of the template folder (Tyk parses `<template_path>/error*`).
fn read_templates(
    path: &str,
    base_dir: &Path,
    file: &Path,
    out: &mut GatewayErrors,
    errors: &mut Vec<ConfigError>,
) {
    let trimmed = path.trim_end_matches('/');
    let is_default = trimmed.is_empty() || DEFAULT_TEMPLATE_PATHS.contains(&trimmed);
    let dir = base_dir.join(if trimmed.is_empty() {
        "templates"
    } else {
        path
    });
    let mut push = |r: String| errors.push(ConfigError::new(file, "template_path", r));
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        // Tyk's default folder holds its stock templates, which Weir has built in.
        Err(_) if is_default => return,
        Err(e) => return push(format!("cannot read the folder {}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let p = entry.path();
        if !name.starts_with("error") || !p.is_file() {
            continue;
        }
        match std::fs::read_to_string(&p) {
            Ok(text) => match ErrorTemplate::parse(&text) {
                Ok(t) => {
                    out.templates.insert(name, t);
                }
                Err(why) => push(format!("{}: {why}", p.display())),
            },
            Err(e) => push(format!("cannot read {}: {e}", p.display())),
        }
    }
    if !out.templates.contains_key("error.json") {
        // Tyk falls back to error.json for every error; without it Tyk cannot answer.
        push(format!(
            "the folder {} has no error.json (Tyk's fallback error template)",
            dir.display()
        ));
    }
    out.template_dir = Some(dir);
}

#[cfg(test)]
#[path = "error_overrides_tests.rs"]
mod tests;
