//! A URL rewrite's advanced triggers, checked as Tyk's mw_url_rewrite.go does.
//!
//! Each trigger has rules of up to six kinds (headers, query values, path segments, session
//! meta data, request context, body). A kind holds when, over all its rules, at least one
//! value matched (`any`) or at least as many values matched as it has rules (`all`, Tyk's
//! count). `any` fires on the first kind that holds; `all` when every kind it has holds (so an
//! `all` trigger without rules always fires, as in Tyk). A `reverse` rule holds for a present
//! value that does not match; it records nothing.
//!
//! What a rule matched becomes a context variable: `trigger-<n>-<Name>-<i>` for the i-th
//! matching value (headers by their canonical name, query values by parameter, path segments
//! numbered across the kind's rules), `trigger-<n>-<name>` for session meta data and request
//! context, `trigger-<n>-payload` plus `trigger-<n>-payload-<i>` for the body's matches, and
//! `<key>-<g>` for each group of a match.

use bytes::Bytes;
use http::{HeaderName, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use regex::Regex;
use serde_json::Value;
use weir_config::url_rewrites::{Rule, Trigger, TriggerMode};

use super::url_rewrite::{Target, percent_decode};
use crate::body::{ProxyBody, RequestBody};
use crate::exchange::Exchange;
use crate::respond::error_response;

/// The most of a body the payload rules read (the plugins' limit).
pub const MAX_TRIGGER_BODY: usize = crate::phases::plugins::MAX_HOOK_BODY;

/// Context keys Tyk holds as lists or maps, which its string rules never match.
const NOT_STRINGS: [&str; 3] = ["request_data", "headers", "path_parts"];

#[derive(Debug)]
struct Matcher {
    rx: Regex,
    reverse: bool,
}

impl Matcher {
    fn compile(rule: &Rule) -> Result<Self, (String, String)> {
        let rx = Regex::new(&rule.pattern).map_err(|e| {
            (
                rule.field.clone(),
                format!("is not a valid regular expression: {e}"),
            )
        })?;
        Ok(Matcher {
            rx,
            reverse: rule.reverse,
        })
    }

    /// Tyk's `FindStringSubmatch`: whether the rule holds, and the match with its groups.
    fn find(&self, value: &str) -> (bool, Vec<String>) {
        let found: Vec<String> = self
            .rx
            .captures(value)
            .map(|c| {
                c.iter()
                    .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        (found.is_empty() == self.reverse, found)
    }
}

/// One trigger, its patterns compiled.
#[derive(Debug)]
pub(crate) struct CompiledTrigger {
    any: bool,
    /// Header name, its canonical form (for the variable names), rule.
    header: Vec<(HeaderName, String, Matcher)>,
    query: Vec<(String, Matcher)>,
    path_part: Vec<(String, Matcher)>,
    session_meta: Vec<(String, Matcher)>,
    request_context: Vec<(String, Matcher)>,
    payload: Option<Matcher>,
    target: Target,
}

/// Matches found while checking, as (variable, value), recorded once a kind is checked.
type Found = Vec<(String, String)>;

/// One kind's check: how many values matched, and what to record.
type Check = fn(&CompiledTrigger, &Exchange<'_>, usize, &str, &mut Inputs) -> (usize, Found);

impl CompiledTrigger {
    /// Compiles a trigger with its already compiled target.
    pub(crate) fn compile(t: &Trigger, target: Target) -> Result<Self, (String, String)> {
        let rules = |map: &std::collections::BTreeMap<String, Rule>| {
            map.iter()
                .map(|(name, rule)| Ok((name.clone(), Matcher::compile(rule)?)))
                .collect::<Result<Vec<_>, (String, String)>>()
        };
        let mut header = Vec::new();
        for (name, rule) in &t.options.header {
            let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                let field = rule.field.trim_end_matches(".match_rx").to_string();
                (field, format!("`{name}` is not a valid header name"))
            })?;
            header.push((parsed, canonical(name), Matcher::compile(rule)?));
        }
        Ok(CompiledTrigger {
            any: t.mode == TriggerMode::Any,
            header,
            query: rules(&t.options.query)?,
            path_part: rules(&t.options.path_part)?,
            session_meta: rules(&t.options.session_meta)?,
            request_context: rules(&t.options.request_context)?,
            payload: t
                .options
                .payload
                .as_ref()
                .map(Matcher::compile)
                .transpose()?,
            target,
        })
    }

    /// The target when the trigger fires.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Checks trigger `n` against the request (whose URL is `url`), recording what matched
    /// in the context data. `Err` is an answer (the body could not be read).
    pub(crate) async fn fires(
        &self,
        ex: &mut Exchange<'_>,
        n: usize,
        url: &str,
        inputs: &mut Inputs,
    ) -> Result<bool, Response<ProxyBody>> {
        let mut held = 0;
        let mut kinds = 0;
        // The kinds in Tyk's order, each with its number of rules.
        let checks: [(usize, Check); 5] = [
            (self.header.len(), Self::headers),
            (self.query.len(), Self::query),
            (self.path_part.len(), Self::path_parts),
            (self.session_meta.len(), Self::session_meta),
            (self.request_context.len(), Self::request_context),
        ];
        for (rules, check) in checks {
            if rules == 0 {
                continue;
            }
            kinds += 1;
            let (count, found) = check(self, ex, n, url, inputs);
            record(ex, found);
            if count > 0 && (self.any || rules <= count) {
                held += 1;
                if self.any {
                    return Ok(true);
                }
            }
        }
        if let Some(payload) = &self.payload {
            kinds += 1;
            let body = inputs.body(ex).await?;
            let (holds, found) = payload_matches(payload, n, &body);
            record(ex, found);
            if holds {
                held += 1;
                if self.any {
                    return Ok(true);
                }
            }
        }
        Ok(!self.any && held == kinds)
    }

    fn headers(&self, ex: &Exchange<'_>, n: usize, _: &str, _: &mut Inputs) -> (usize, Found) {
        let headers = current_headers(ex);
        let mut count = 0;
        let mut found = Found::new();
        for (name, canonical, m) in &self.header {
            for (i, v) in headers.get_all(name).iter().enumerate() {
                let (holds, groups) = m.find(&String::from_utf8_lossy(v.as_bytes()));
                if holds {
                    add_match(&mut found, &groups, &format!("trigger-{n}-{canonical}-{i}"));
                    count += 1;
                }
            }
        }
        (count, found)
    }

    fn query(&self, _: &Exchange<'_>, n: usize, url: &str, inputs: &mut Inputs) -> (usize, Found) {
        let query = inputs.query(url);
        let mut count = 0;
        let mut found = Found::new();
        for (name, m) in &self.query {
            let values = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
            for (i, v) in values.enumerate() {
                let (holds, groups) = m.find(v);
                if holds {
                    add_match(&mut found, &groups, &format!("trigger-{n}-{name}-{i}"));
                    count += 1;
                }
            }
        }
        (count, found)
    }

    fn path_parts(&self, _: &Exchange<'_>, n: usize, url: &str, _: &mut Inputs) -> (usize, Found) {
        let raw = url.split('?').next().unwrap_or("");
        // Tyk splits the decoded path (`r.URL.Path`).
        let path = percent_decode(raw).unwrap_or_else(|| raw.to_string());
        let mut count = 0;
        let mut found = Found::new();
        for (name, m) in &self.path_part {
            for part in path.split('/') {
                let (holds, groups) = m.find(part);
                if holds {
                    add_match(&mut found, &groups, &format!("trigger-{n}-{name}-{count}"));
                    count += 1;
                }
            }
        }
        (count, found)
    }

    fn session_meta(&self, ex: &Exchange<'_>, n: usize, _: &str, _: &mut Inputs) -> (usize, Found) {
        let Some(caller) = ex.caller.as_ref() else {
            return (0, Found::new());
        };
        let meta = &caller.session.session.meta_data;
        let values = self.session_meta.iter().map(|(name, m)| {
            let value = match meta.get(name) {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            (name, m, value)
        });
        named_matches(values, n)
    }

    fn request_context(
        &self,
        ex: &Exchange<'_>,
        n: usize,
        _: &str,
        _: &mut Inputs,
    ) -> (usize, Found) {
        let context = ex.context.as_deref();
        let values = self.request_context.iter().map(|(name, m)| {
            let value = context
                .filter(|_| !NOT_STRINGS.contains(&name.as_str()))
                .and_then(|c| c.get(name));
            (name, m, value)
        });
        named_matches(values, n)
    }
}

/// Rules over single named values (session meta data, request context): the variable is
/// `trigger-<n>-<name>`.
fn named_matches<'a>(
    values: impl Iterator<Item = (&'a String, &'a Matcher, Option<String>)>,
    n: usize,
) -> (usize, Found) {
    let mut count = 0;
    let mut found = Found::new();
    for (name, m, value) in values {
        let Some(value) = value else {
            continue;
        };
        let (holds, groups) = m.find(&value);
        if holds {
            add_match(&mut found, &groups, &format!("trigger-{n}-{name}"));
            count += 1;
        }
    }
    (count, found)
}

/// Tyk's `checkPayload`: every match of the pattern in the body.
fn payload_matches(m: &Matcher, n: usize, body: &str) -> (bool, Found) {
    let all: Vec<Vec<String>> =
        m.rx.captures_iter(body)
            .map(|c| {
                c.iter()
                    .map(|g| g.map_or(String::new(), |g| g.as_str().to_string()))
                    .collect()
            })
            .collect();
    let holds = all.is_empty() == m.reverse;
    let mut found = Found::new();
    if holds && let Some(first) = all.first() {
        found.push((format!("trigger-{n}-payload"), first[0].clone()));
        for (i, groups) in all.iter().enumerate() {
            add_match(&mut found, groups, &format!("trigger-{n}-payload-{i}"));
        }
    }
    (holds, found)
}

/// Tyk's `addMatchToContextData`: the whole match under `key`, group g under `key-g`.
fn add_match(found: &mut Found, groups: &[String], key: &str) {
    let Some((whole, rest)) = groups.split_first() else {
        return;
    };
    found.push((key.to_string(), whole.clone()));
    for (g, value) in rest.iter().enumerate() {
        found.push((format!("{key}-{g}"), value.clone()));
    }
}

fn record(ex: &mut Exchange<'_>, found: Found) {
    if found.is_empty() {
        return;
    }
    let data = crate::context_vars::data_mut(ex);
    for (k, v) in found {
        data.set(k, v);
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-test` → `X-Test` (names with characters
/// outside a token are kept as they are).
fn canonical(name: &str) -> String {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-!#$%&'*+.^_`|~".contains(&b))
    {
        return name.to_string();
    }
    weir_core::headers::canonical(name)
}

fn current_headers<'e>(ex: &'e Exchange<'_>) -> &'e http::HeaderMap {
    match (&ex.hooks, ex.in_hook_form) {
        (Some(ctx), true) => &ctx.request.headers,
        _ => &ex.parts.headers,
    }
}

/// What the rules read of the request, read once for all the triggers of a request.
#[derive(Default)]
pub(crate) struct Inputs {
    query: Option<Vec<(String, String)>>,
    body: Option<String>,
}

impl Inputs {
    /// The query's values, decoded, in order.
    fn query(&mut self, url: &str) -> &[(String, String)] {
        self.query.get_or_insert_with(|| {
            let q = url.split_once('?').map_or("", |(_, q)| q);
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
    }

    /// The body as text; read whole once, and kept for the upstream.
    async fn body(&mut self, ex: &mut Exchange<'_>) -> Result<String, Response<ProxyBody>> {
        if let Some(b) = &self.body {
            return Ok(b.clone());
        }
        let bytes = read_body(ex).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.body = Some(text.clone());
        Ok(text)
    }
}

/// Reads the request body whole (the hooks' copy while hooks hold it), leaving it in place.
async fn read_body(ex: &mut Exchange<'_>) -> Result<Bytes, Response<ProxyBody>> {
    if let (Some(ctx), true) = (&ex.hooks, ex.in_hook_form) {
        return Ok(ctx.request.body.clone());
    }
    let body = std::mem::replace(&mut ex.body, RequestBody::Buffered(Full::new(Bytes::new())));
    if matches!(body, RequestBody::Boxed(_)) {
        // Only gRPC-Web translation boxes a body, and it runs after this phase.
        ex.body = body;
        return Ok(Bytes::new());
    }
    match Limited::new(body, MAX_TRIGGER_BODY).collect().await {
        Ok(c) => {
            let bytes = c.to_bytes();
            ex.body = RequestBody::Buffered(Full::new(bytes.clone()));
            Ok(bytes)
        }
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large for the URL rewrite triggers",
        )),
        Err(_) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(rx: &str, reverse: bool) -> Matcher {
        Matcher {
            rx: Regex::new(rx).unwrap(),
            reverse,
        }
    }

    #[test]
    fn a_reverse_rule_holds_without_a_match_and_records_nothing() {
        assert!(matcher("w.*", false).find("world").0);
        let (holds, groups) = matcher("w.*", true).find("hello");
        assert!(holds);
        assert!(groups.is_empty());
        assert!(!matcher("w.*", true).find("world").0);
    }

    #[test]
    fn matches_and_groups_are_named_as_tyk_names_them() {
        let mut found = Found::new();
        let (_, groups) = matcher("hello-(\\w+)", false).find("hello-there");
        add_match(&mut found, &groups, "trigger-0-X-Test-0");
        assert_eq!(
            found,
            [
                ("trigger-0-X-Test-0".to_string(), "hello-there".to_string()),
                ("trigger-0-X-Test-0-0".to_string(), "there".to_string()),
            ]
        );
    }

    #[test]
    fn the_body_records_every_match() {
        let (holds, found) = payload_matches(&matcher("bar(\\w*)", false), 1, "barone bartwo");
        assert!(holds);
        let get = |k: &str| found.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("trigger-1-payload"), Some("barone"));
        assert_eq!(get("trigger-1-payload-0"), Some("barone"));
        assert_eq!(get("trigger-1-payload-1-0"), Some("two"));
        let (holds, found) = payload_matches(&matcher("apple", true), 0, "pear");
        assert!(holds && found.is_empty());
    }

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical("x-test"), "X-Test");
        assert_eq!(canonical("X-TEST-two"), "X-Test-Two");
        assert_eq!(canonical("bad name"), "bad name");
    }
}
