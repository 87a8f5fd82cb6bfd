//! Error overrides and error templates, applied to an API's answer once, as it leaves.
//!
//! Every error the gateway writes itself goes through [`crate::respond::error_response`], which
//! marks the response with an [`ErrorMark`] (the message, and Tyk's error id when it has one).
//! [`ErrorPages::apply`] then treats a marked answer as Tyk's `HandleError` does
//! (`override_messages`, the API's then the gateway's `error_overrides`, the error templates of
//! `template_path`) and an unmarked 4xx/5xx as Tyk's upstream error-override response handler
//! does. gRPC answers are left alone: gRPC clients get trailers, not templates. So is the
//! answer of a URL rewrite's `tyk://` loop ([`LoopedAnswer`]): the looped API's handling ran.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use weir_config::error_overrides::{
    ErrorBody, ErrorOverride, ErrorOverrides, ErrorTemplate, GatewayErrors, MessageOverride,
};
use weir_core::errors::error_json;

use crate::body::{BoxError, ProxyBody};

/// Tyk reads at most this much of an upstream error body to match it.
const MATCH_LIMIT: usize = 4096;

/// Marks an answer the gateway wrote itself (Tyk's `HandleError`): its message, and Tyk's
/// error id (`auth.auth_field_missing`…) for `override_messages`.
#[derive(Clone, Debug)]
pub struct ErrorMark {
    /// The message of `{"error": …}`.
    pub message: String,
    /// Tyk's error id, when the error has one.
    pub id: Option<&'static str>,
}

/// Marks the answer of a URL rewrite's `tyk://` loop: the looped API's error handling already
/// ran on it (in Tyk the looped handler writes straight to the client), so the calling API's
/// overrides and templates leave it as it is. Errors of the loop itself are the caller's and are
/// not marked; nor is the answer of a loop in `target_url` (see `looping::loop_to_target`).
#[derive(Clone, Copy, Debug)]
pub struct LoopedAnswer;

/// Gives a marked answer its Tyk error id.
pub fn tag_id(resp: &mut Response<ProxyBody>, id: &'static str) {
    if let Some(mark) = resp.extensions_mut().get_mut::<ErrorMark>() {
        mark.id = Some(id);
    }
}

/// Tyk's error id of an auth-token refusal (mw_auth_key.go), for `override_messages`.
pub fn token_error_id(refusal: &weir_auth::checks::Refusal) -> Option<&'static str> {
    use weir_auth::checks::{DISALLOWED, MISSING};
    if *refusal == MISSING {
        Some("auth.auth_field_missing")
    } else if *refusal == DISALLOWED {
        Some("auth.key_not_found")
    } else {
        None
    }
}

/// What the request's Content-Type (up to `;`) asks of an error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    /// Anything else: JSON.
    #[default]
    Json,
    /// `application/xml`.
    Xml,
    /// `text/xml`.
    TextXml,
    /// `application/soap+xml`: XML for the default templates only, as in Tyk.
    SoapXml,
    /// A gRPC call: never rewritten.
    Grpc,
}

impl ErrorFormat {
    /// Reads the request's headers (Tyk compares the media type exactly).
    pub fn of(headers: &HeaderMap, grpc: bool) -> Self {
        if grpc {
            return ErrorFormat::Grpc;
        }
        let ct = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
        let media = ct.map(|v| v.split(|b| *b == b';').next().unwrap_or_default());
        match media {
            Some(b"application/xml") => ErrorFormat::Xml,
            Some(b"text/xml") => ErrorFormat::TextXml,
            Some(b"application/soap+xml") => ErrorFormat::SoapXml,
            _ => ErrorFormat::Json,
        }
    }

    /// The default templates' choice (handler_error.go `writeTemplateErrorResponse`).
    fn default_xml(self) -> Option<&'static str> {
        match self {
            ErrorFormat::Xml => Some("application/xml"),
            ErrorFormat::TextXml => Some("text/xml"),
            ErrorFormat::SoapXml => Some("application/soap+xml"),
            _ => None,
        }
    }

    /// The overrides' choice (error_response.go `DetectErrorResponseContext`): no SOAP.
    fn override_xml(self) -> Option<&'static str> {
        match self {
            ErrorFormat::Xml => Some("application/xml"),
            ErrorFormat::TextXml => Some("text/xml"),
            _ => None,
        }
    }
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    matcher: bool,
    pattern: Option<regex::bytes::Regex>,
    /// `body_field` split on dots and `body_value`, when both are set.
    field: Option<(Vec<String>, String)>,
    status: Option<StatusCode>,
    body: Option<ErrorBody>,
    message: String,
    template: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Rule {
    fn compile(r: &ErrorOverride) -> Self {
        let m = r.matcher.as_ref();
        let pattern = m.and_then(|m| m.message_pattern.as_deref());
        let field = m.and_then(|m| Some((m.body_field.as_deref()?, m.body_value.clone()?)));
        let res = &r.response;
        Rule {
            matcher: m.is_some(),
            // Checked at load; a pattern that does not compile here matches nothing.
            pattern: pattern.map(|p| regex::bytes::Regex::new(p).unwrap_or_else(|_| never())),
            field: field.map(|(f, v)| (f.split('.').map(str::to_string).collect(), v)),
            status: res.status_code.and_then(|c| StatusCode::from_u16(c).ok()),
            body: res.body.clone(),
            message: res.message.clone(),
            template: res.template.clone(),
            headers: res
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, HeaderValue::from_str(v).ok()?)))
                .collect(),
        }
    }

    /// handler matching (`matchesAdditionalCriteria`): only `message_pattern` counts.
    fn matches_gateway(&self, message: &str) -> bool {
        match &self.pattern {
            Some(p) => p.is_match(message.as_bytes()),
            None => true,
        }
    }

    /// Upstream matching (`matchesUpstreamCriteria`): `body_field`/`body_value`, then the pattern.
    fn matches_upstream(&self, body: &[u8]) -> bool {
        if !self.matcher {
            return true;
        }
        if let Some((path, value)) = &self.field
            && field_value(body, path).as_deref() == Some(value.as_str())
        {
            return true;
        }
        match &self.pattern {
            Some(p) => p.is_match(body),
            None => self.field.is_none(),
        }
    }

    fn needs_body(&self) -> bool {
        self.pattern.is_some() || self.field.is_some()
    }
}

fn never() -> regex::bytes::Regex {
    regex::bytes::Regex::new("[^\\x00-\\x{10FFFF}]").expect("a valid regex")
}

/// gjson's `String()` of a plain dotted path: strings as is, other values as JSON.
fn field_value(body: &[u8], path: &[String]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut v = &doc;
    for seg in path {
        v = match v {
            serde_json::Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            other => other.get(seg)?,
        };
    }
    Some(match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Override rules compiled for the request path: exact codes, then classes.
#[derive(Debug, Default)]
pub struct CompiledOverrides {
    exact: HashMap<u16, Vec<Rule>>,
    class: HashMap<u16, Vec<Rule>>,
}

impl CompiledOverrides {
    /// Compiles checked rules.
    pub fn compile(o: &ErrorOverrides) -> Self {
        let rules = |list: &Vec<ErrorOverride>| list.iter().map(Rule::compile).collect();
        CompiledOverrides {
            exact: o.exact.iter().map(|(k, v)| (*k, rules(v))).collect(),
            class: o
                .class
                .iter()
                .map(|(k, v)| (u16::from(*k), rules(v)))
                .collect(),
        }
    }

    fn candidates(&self, status: u16) -> impl Iterator<Item = &Rule> {
        let exact = self.exact.get(&status).into_iter().flatten();
        exact.chain(self.class.get(&(status / 100)).into_iter().flatten())
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.class.is_empty()
    }
}

/// The first rule for a gateway error of `status` with `message`.
fn find_gateway<'r>(o: &'r CompiledOverrides, status: u16, message: &str) -> Option<&'r Rule> {
    o.candidates(status).find(|r| r.matches_gateway(message))
}

/// A template found by name: one of `template_path`, or Tyk's stock ones.
enum Template<'a> {
    File(&'a ErrorTemplate),
    StockJson,
    StockXml,
}

/// The gateway-wide part, built once from tyk.conf.
#[derive(Debug, Default)]
pub struct ErrorPages {
    messages: HashMap<String, MessageOverride>,
    overrides: CompiledOverrides,
    templates: HashMap<String, ErrorTemplate>,
}

impl ErrorPages {
    /// Compiles the gateway's settings.
    pub fn new(cfg: &GatewayErrors) -> Self {
        ErrorPages {
            messages: cfg.override_messages.clone().into_iter().collect(),
            overrides: CompiledOverrides::compile(&cfg.error_overrides),
            templates: cfg.templates.clone().into_iter().collect(),
        }
    }

    /// Rewrites an API's answer as Tyk's error handling would.
    pub async fn apply(
        &self,
        api: Option<&CompiledOverrides>,
        format: ErrorFormat,
        mut resp: Response<ProxyBody>,
    ) -> Response<ProxyBody> {
        if format == ErrorFormat::Grpc || resp.extensions().get::<LoopedAnswer>().is_some() {
            return resp;
        }
        match resp.extensions_mut().remove::<ErrorMark>() {
            Some(mark) => self.gateway_error(api, format, resp, mark),
            None if resp.status().as_u16() >= 400
                && (api.is_some_and(|a| !a.is_empty()) || !self.overrides.is_empty()) =>
            {
                self.upstream_error(api, format, resp).await
            }
            None => resp,
        }
    }

    fn gateway_error(
        &self,
        api: Option<&CompiledOverrides>,
        format: ErrorFormat,
        mut resp: Response<ProxyBody>,
        mark: ErrorMark,
    ) -> Response<ProxyBody> {
        let (mut status, mut message) = (resp.status(), mark.message);
        let mut changed = false;
        // override_messages change the error where Tyk raises it, before the handler sees it.
        if let Some(m) = mark.id.and_then(|id| self.messages.get(id)) {
            if let Some(code) = m.code.and_then(|c| StatusCode::from_u16(c).ok()) {
                status = code;
            }
            if let Some(text) = &m.message {
                message = text.clone();
            }
            changed = true;
        }
        let code = status.as_u16();
        let find = |o| find_gateway(o, code, &message);
        if let Some(rule) = api.and_then(find).or_else(|| find(&self.overrides)) {
            self.write_override(&mut resp, rule, status, &message, format);
            return resp;
        }
        if changed || format.default_xml().is_some() || !self.templates.is_empty() {
            self.write_default(&mut resp, status, &message, format);
        }
        resp
    }

    /// Tyk's `writeTemplateErrorResponse`: `error_<code>.<ext>`, `error.<ext>`, `error.json`.
    fn write_default(
        &self,
        resp: &mut Response<ProxyBody>,
        status: StatusCode,
        message: &str,
        format: ErrorFormat,
    ) {
        let (ext, mut ct) = match format.default_xml() {
            Some(ct) => ("xml", ct),
            None => ("json", "application/json"),
        };
        let code = status.as_u16();
        let found = self
            .lookup(&format!("error_{code}.{ext}"))
            .or_else(|| self.lookup(&format!("error.{ext}")));
        let (tmpl, xml) = match found {
            Some(t) => (t, ext == "xml"),
            None => {
                ct = "application/json";
                (
                    self.lookup("error.json").unwrap_or(Template::StockJson),
                    false,
                )
            }
        };
        let escaped = if xml {
            html_escape(message)
        } else {
            json_escape(message)
        };
        let body = render(&tmpl, message, &escaped, code);
        set_body(resp, status, ct, body);
    }

    /// Tyk's `writeOverrideResponse`.
    fn write_override(
        &self,
        resp: &mut Response<ProxyBody>,
        rule: &Rule,
        original: StatusCode,
        message: &str,
        format: ErrorFormat,
    ) {
        let status = rule.status.unwrap_or(original);
        let xml = format.override_xml();
        let ct = xml.unwrap_or("application/json");
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        for (k, v) in &rule.headers {
            h.insert(k.clone(), v.clone());
        }
        if let Some(ErrorBody::Literal(b)) = &rule.body {
            return set_status_body(resp, status, b.clone());
        }
        if let Some(body) = self.rule_template(rule, xml.is_some(), status.as_u16()) {
            return set_status_body(resp, status, body);
        }
        let only_message =
            rule.body.is_none() && rule.template.is_none() && !rule.message.is_empty();
        let text = if only_message {
            rule.message.as_str()
        } else {
            message
        };
        self.write_default(resp, status, text, format);
    }

    /// An inline body template, or the rule's template file, rendered.
    fn rule_template(&self, rule: &Rule, xml: bool, status: u16) -> Option<String> {
        let escaped = if xml {
            html_escape(&rule.message)
        } else {
            js_escape(&rule.message)
        };
        if let Some(ErrorBody::Template(t)) = &rule.body {
            return Some(t.render(&escaped, status));
        }
        let name = rule.template.as_deref()?;
        let ext = if xml { "xml" } else { "json" };
        let t = self
            .lookup(&format!("{name}.{ext}"))
            .or_else(|| self.lookup(name))?;
        Some(render(&t, &rule.message, &escaped, status))
    }

    fn lookup(&self, name: &str) -> Option<Template<'_>> {
        if !self.templates.is_empty() {
            return self.templates.get(name).map(Template::File);
        }
        match name {
            "error.json" => Some(Template::StockJson),
            "error.xml" => Some(Template::StockXml),
            _ => None,
        }
    }

    /// Tyk's `ResponseErrorOverrideMiddleware` for an upstream 4xx/5xx.
    async fn upstream_error(
        &self,
        api: Option<&CompiledOverrides>,
        format: ErrorFormat,
        mut resp: Response<ProxyBody>,
    ) -> Response<ProxyBody> {
        let status = resp.status();
        let code = status.as_u16();
        let all = || {
            let api_rules = api.into_iter().flat_map(move |a| a.candidates(code));
            api_rules.chain(self.overrides.candidates(code))
        };
        if all().next().is_none() {
            return resp;
        }
        let mut prefix = Bytes::new();
        if all().any(Rule::needs_body) {
            let body = std::mem::take(resp.body_mut());
            let (read, restored) = read_prefix(body, MATCH_LIMIT).await;
            prefix = read;
            *resp.body_mut() = restored;
        }
        let Some(rule) = all().find(|r| r.matches_upstream(&prefix)) else {
            return resp;
        };
        let status = rule.status.unwrap_or(status);
        *resp.status_mut() = status;
        let xml = format.override_xml();
        let has_body = rule.body.is_some() || rule.template.is_some() || !rule.message.is_empty();
        let body = match &rule.body {
            _ if !has_body => None,
            Some(ErrorBody::Literal(b)) => Some(b.clone()),
            _ => self
                .rule_template(rule, xml.is_some(), status.as_u16())
                .or_else(|| {
                    // Message only: Tyk's `error.<ext>` (no per-code template here).
                    let only = rule.body.is_none() && rule.template.is_none();
                    let ext = if xml.is_some() { "xml" } else { "json" };
                    let t = self.lookup(&format!("error.{ext}")).filter(|_| only)?;
                    let escaped = if xml.is_some() {
                        html_escape(&rule.message)
                    } else {
                        js_escape(&rule.message)
                    };
                    Some(render(&t, &rule.message, &escaped, status.as_u16()))
                }),
        };
        if let Some(body) = body {
            let ct = xml.unwrap_or("application/json");
            set_body(&mut resp, status, ct, body);
            // The new body is not the upstream's encoding.
            resp.headers_mut().remove(header::CONTENT_ENCODING);
        }
        for (k, v) in &rule.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp
    }
}

fn render(t: &Template<'_>, raw: &str, escaped: &str, status: u16) -> String {
    match t {
        Template::File(t) => t.render(escaped, status),
        // Tyk's templates/error.json, as Weir writes it everywhere.
        Template::StockJson => error_json(raw),
        Template::StockXml => {
            format!("<?xml version = \"1.0\" encoding = \"UTF-8\"?>\n<error>{escaped}</error>")
        }
    }
}

fn set_body(resp: &mut Response<ProxyBody>, status: StatusCode, ct: &'static str, body: String) {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    set_status_body(resp, status, body);
}

fn set_status_body(resp: &mut Response<ProxyBody>, status: StatusCode, body: String) {
    *resp.status_mut() = status;
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.headers_mut().remove(header::TRANSFER_ENCODING);
    *resp.body_mut() = ProxyBody::full(body);
}

/// Tyk's `jsonEscapeString`: a message spliced into a JSON string.
pub fn json_escape(s: &str) -> String {
    weir_core::escape::json_string(s)
}

/// Go's `template.JSEscapeString`, which Tyk applies to an override's `{{.Message}}` in JSON.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `html.EscapeString`, for XML templates.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// Reads up to `limit` bytes of a body; gives them and a body that replays them, then the rest.
async fn read_prefix(mut body: ProxyBody, limit: usize) -> (Bytes, ProxyBody) {
    let mut seen = BytesMut::new();
    let mut frames = VecDeque::new();
    let mut done = false;
    while seen.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    seen.extend_from_slice(d);
                }
                frames.push_back(Ok(frame));
            }
            Some(Err(e)) => {
                frames.push_back(Err(e));
                done = true;
                break;
            }
            None => {
                done = true;
                break;
            }
        }
    }
    seen.truncate(limit);
    let rest = (!done).then_some(body);
    let replay = Replay { frames, rest };
    (seen.freeze(), ProxyBody::Boxed(replay.boxed_unsync()))
}

/// Frames already read, then the rest of the body.
struct Replay {
    frames: VecDeque<Result<Frame<Bytes>, BoxError>>,
    rest: Option<ProxyBody>,
}

impl Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(f) = this.frames.pop_front() {
            return Poll::Ready(Some(f));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.as_ref().is_none_or(ProxyBody::is_end_stream)
    }
}

#[cfg(test)]
#[path = "error_overrides_tests.rs"]
mod tests;
