//! Tyk's context variables (gateway/mw_context_vars.go) and its `$tyk_context.<name>` /
//! `$tyk_meta.<name>` placeholders (gateway/mw_url_rewrite.go `replaceTykVariables`).
//!
//! With `enable_context_vars` (OAS `middleware.global.contextVariables.enabled`) the
//! [`crate::phases::context_vars`] phase captures the request once, after the `pre` plugins as
//! Tyk does, into [`ContextData`] on the exchange. A `$tyk_context.*` placeholder reads that
//! snapshot; without it (context variables off) Tyk has no context data and every
//! `$tyk_context.*` placeholder becomes "" — Weir does the same. `$tyk_meta.<field>` reads the
//! caller's session `meta_data` ("" on a keyless API or for a missing field).
//!
//! Placeholder grammar, as Tyk's: the label followed by one or more of `[A-Za-z0-9_.-]`.
//! Templates are parsed once per load ([`Template::parse`]); one without placeholders renders
//! to its literal text at no per-request cost.

use std::collections::BTreeMap;
use std::net::IpAddr;

use http::HeaderMap;
use http::header::{COOKIE, HOST};
use serde_json::Value;

use crate::exchange::Exchange;

/// The label of a context variable placeholder.
pub const CONTEXT_LABEL: &str = "$tyk_context.";
/// The label of a session meta-data placeholder.
pub const META_LABEL: &str = "$tyk_meta.";

/// True when `s` holds a `$tyk_context.*` or `$tyk_meta.*` placeholder (cheap, for load time).
pub fn has_placeholders(s: &str) -> bool {
    [CONTEXT_LABEL, META_LABEL].into_iter().any(|label| {
        s.match_indices(label)
            .any(|(at, _)| s[at + label.len()..].starts_with(name_char))
    })
}

/// What Tyk's context-variables middleware captures of a request, once per request.
#[derive(Debug, Clone, Default)]
pub struct ContextData {
    captured: Option<Captured>,
    /// Values other phases add (the URL rewrite's `trigger-<n>-…` matches), by name.
    extra: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Captured {
    /// The full request path (listen path included), as Tyk's `r.URL.Path`.
    path: String,
    host: String,
    headers: HeaderMap,
    /// Body form values first, then query values, per key in first-seen order (Go's `r.Form`).
    form: Vec<(String, Vec<String>)>,
    remote_addr: String,
    request_id: String,
}

impl ContextData {
    /// Captures the request as it is now; `form_body` is an urlencoded form body, when the
    /// request has one.
    pub fn capture(ex: &Exchange<'_>, form_body: Option<&[u8]>) -> Self {
        let authority = ex.parts.uri.authority().map(|a| a.as_str());
        Self::of_request(
            ex.current_url(),
            current_headers(ex),
            authority,
            ex.conn.remote.ip(),
            form_body,
        )
    }

    /// Captures a request from its path and query, headers, URI authority (HTTP/2), peer
    /// address and urlencoded form body.
    pub fn of_request(
        url: &str,
        headers: &HeaderMap,
        authority: Option<&str>,
        peer: IpAddr,
        form_body: Option<&[u8]>,
    ) -> Self {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or(authority)
            .unwrap_or_default()
            .to_string();
        let mut form: Vec<(String, Vec<String>)> = Vec::new();
        let pairs = form_body
            .into_iter()
            .flat_map(url::form_urlencoded::parse)
            .chain(url::form_urlencoded::parse(query.as_bytes()));
        for (k, v) in pairs {
            match form.iter_mut().find(|(key, _)| *key == k) {
                Some((_, vals)) => vals.push(v.into_owned()),
                None => form.push((k.into_owned(), vec![v.into_owned()])),
            }
        }
        ContextData {
            captured: Some(Captured {
                path: path.to_string(),
                host,
                headers: headers.clone(),
                form,
                remote_addr: real_ip(headers, peer),
                request_id: uuid::Uuid::new_v4().to_string(),
            }),
            extra: Vec::new(),
        }
    }

    /// Sets (or replaces) a variable another phase derives, such as a rewrite trigger's match.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.extra.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.extra.push((name, value)),
        }
    }

    /// The request's id (`request_id`), when the request was captured.
    pub fn request_id(&self) -> Option<&str> {
        self.captured.as_ref().map(|c| c.request_id.as_str())
    }

    /// The variable `name` (without `$tyk_context.`); `None` when Tyk has no such key.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.extra.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        let c = self.captured.as_ref()?;
        match name {
            "path" => return Some(c.path.clone()),
            "path_parts" => return Some(path_parts(&c.path)),
            "remote_addr" => return Some(c.remote_addr.clone()),
            "request_id" => return Some(c.request_id.clone()),
            "headers_Host" => return Some(c.host.clone()),
            "request_data" => return Some(form_text(&c.form)),
            // A map of lists: Tyk knows the key but cannot print it.
            "headers" => return Some(String::new()),
            _ => {}
        }
        if let Some(field) = name.strip_prefix("request_data_") {
            return c
                .form
                .iter()
                .find(|(k, _)| underscored(k) == field)
                .and_then(|(_, v)| v.first().cloned());
        }
        if let Some(wanted) = name.strip_prefix("headers_") {
            return c
                .headers
                .iter()
                .find(|(n, _)| *n != HOST && canonical_underscored(n.as_str()) == wanted)
                .map(|(n, _)| first_value(&c.headers, n));
        }
        if let Some(wanted) = name.strip_prefix("cookies_") {
            // Later cookies of the same name win, as Tyk fills its map in order.
            return cookies(&c.headers)
                .filter(|(n, _)| underscored(n) == wanted)
                .last()
                .map(|(_, v)| v.to_string());
        }
        None
    }
}

/// The context variable `name` (without `$tyk_context.`) of this request; `None` when the
/// request has no context data (context variables off) or no such variable.
pub fn value(ex: &Exchange<'_>, name: &str) -> Option<String> {
    ex.context.as_deref()?.get(name)
}

/// The caller's session `meta_data` field `name`, as Tyk prints it; `None` on a keyless API
/// or when the field is missing.
pub fn meta_value(ex: &Exchange<'_>, name: &str) -> Option<String> {
    session_meta(ex)?.get(name).map(value_text)
}

/// The exchange's context data, created empty when context variables are off (Tyk's URL
/// rewrite triggers record their matches this way even then).
pub fn data_mut<'e>(ex: &'e mut Exchange<'_>) -> &'e mut ContextData {
    ex.context.get_or_insert_with(Default::default)
}

/// Replaces `$tyk_context.<name>` and `$tyk_meta.<name>` in `template`; unknown names become
/// "" as in Tyk. Parses the template each call: compile a [`Template`] once where you can.
pub fn substitute(ex: &Exchange<'_>, template: &str) -> String {
    Template::parse(template).render(ex)
}

/// A text with placeholders, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Context(String),
    Meta(String),
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl Template {
    /// Splits `s` into literal text and placeholders.
    pub fn parse(s: &str) -> Self {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let tail = &rest[at..];
            let found = [(CONTEXT_LABEL, true), (META_LABEL, false)]
                .into_iter()
                .find_map(|(label, ctx)| {
                    let after = tail.strip_prefix(label)?;
                    let len = after.find(|c: char| !name_char(c)).unwrap_or(after.len());
                    (len > 0).then(|| (label.len() + len, after[..len].to_string(), ctx))
                });
            match found {
                Some((consumed, name, ctx)) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(if ctx {
                        Piece::Context(name)
                    } else {
                        Piece::Meta(name)
                    });
                    rest = &tail[consumed..];
                }
                None => {
                    literal.push('$');
                    rest = &tail[1..];
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Template { pieces }
    }

    /// True when the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.literal().is_some()
    }

    /// The text of a template without placeholders.
    pub fn literal(&self) -> Option<&str> {
        match &self.pieces[..] {
            [Piece::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The text for this request (values as they are: header values).
    pub fn render(&self, ex: &Exchange<'_>) -> String {
        self.render_from(ex.context.as_deref(), session_meta(ex), false)
    }

    /// The text for this request with values query-escaped unless they start with `http`,
    /// as Tyk substitutes into URLs (the URL rewrite).
    pub fn render_escaped(&self, ex: &Exchange<'_>) -> String {
        self.render_from(ex.context.as_deref(), session_meta(ex), true)
    }

    /// The text from a request's context data and its caller's `meta_data` (either absent:
    /// its placeholders print as ""); `escape` as in [`Template::render_escaped`].
    pub fn render_from(
        &self,
        context: Option<&ContextData>,
        meta: Option<&BTreeMap<String, Value>>,
        escape: bool,
    ) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            let v = match piece {
                Piece::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Piece::Context(name) => context.and_then(|c| c.get(name)),
                Piece::Meta(name) => meta.and_then(|m| m.get(name)).map(value_text),
            };
            let v = v.unwrap_or_default();
            if escape && !v.starts_with("http") {
                out.push_str(&query_escape(&v));
            } else {
                out.push_str(&v);
            }
        }
        out
    }
}

/// The caller's session `meta_data` (none on a keyless API).
fn session_meta<'e>(ex: &'e Exchange<'_>) -> Option<&'e BTreeMap<String, Value>> {
    ex.caller.as_ref().map(|c| &c.session.session.meta_data)
}

/// The request headers as they are now (the hooks' copy while hooks hold the request).
fn current_headers<'e>(ex: &'e Exchange<'_>) -> &'e HeaderMap {
    match (&ex.hooks, ex.in_hook_form) {
        (Some(ctx), true) => &ctx.request.headers,
        _ => &ex.parts.headers,
    }
}

/// Tyk's `request.RealIP`: X-Real-IP, else the first X-Forwarded-For entry, else the peer.
fn real_ip(headers: &HeaderMap, peer: IpAddr) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    if let Some(ip) = header("x-real-ip") {
        return ip.to_string();
    }
    if let Some(xff) = header("x-forwarded-for") {
        return xff.split(',').next().unwrap_or(xff).to_string();
    }
    peer.to_string()
}

/// `strings.Split(path, "/")` joined with ',' and one leading ',' trimmed, as Tyk prints it.
fn path_parts(path: &str) -> String {
    let joined = path.split('/').collect::<Vec<_>>().join(",");
    joined.strip_prefix(',').unwrap_or(&joined).to_string()
}

/// Go's `url.Values` as Tyk prints it: `key:v1,v2;key2:v`.
fn form_text(form: &[(String, Vec<String>)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{k}:{}", v.join(",")))
        .collect::<Vec<_>>()
        .join(";")
}

fn underscored(s: &str) -> String {
    s.replace('-', "_")
}

/// Go's canonical header name (`x-request-id` → `X-Request-Id`) with '-' as '_'.
fn canonical_underscored(name: &str) -> String {
    underscored(&weir_core::headers::canonical(name))
}

fn first_value(headers: &HeaderMap, name: &http::HeaderName) -> String {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The request's cookies, in order, from every Cookie header.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (!n.is_empty()).then_some((n, v))
        })
}

/// Tyk's `valToStr` over a JSON meta-data value: strings as they are, numbers printed at
/// float32 precision, lists comma-joined (items query-escaped); other kinds print as "".
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| format!("{}", f as f32))
            .unwrap_or_default(),
        Value::Array(items) => items
            .iter()
            .map(value_text)
            .filter(|s| !s.is_empty())
            .map(|s| query_escape(&s))
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// Go's `url.QueryEscape`: unreserved bytes kept, ' ' as '+', the rest %XX.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[path = "context_vars_tests.rs"]
mod tests;
