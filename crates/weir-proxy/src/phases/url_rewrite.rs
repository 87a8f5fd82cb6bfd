//! URL rewrites (Tyk's gateway/mw_url_rewrite.go): after the header rules, before the method
//! transform.
//!
//! The first entry whose path and method match the request (the shared endpoint matcher,
//! over the path after the listen path) applies. Its `match_pattern` is then matched against
//! the request's URL as Tyk's `r.URL.String()` has it: the full path, listen path included,
//! with the query; `$1`… in the target are its groups, so a plain rewrite drops the query
//! unless the pattern captured it. Triggers are checked in order; the first that fires gives
//! its own target, and what its rules matched becomes `$tyk_context.trigger-<n>-<name>-<i>`
//! (see [`super::url_rewrite_triggers`]). `$tyk_context.*` and `$tyk_meta.*` placeholders are
//! then filled in, query-escaped.
//!
//! The rewritten path replaces the request's path; `strip_listen_path` still removes the listen
//! path from it when it starts with it (Tyk strips after the rewrite). A rewrite to a full URL
//! (`http://host/path`) sends the request to that host instead of the API's targets; a rewrite
//! to `tyk://…` loops to another API ([`crate::looping`]).

use std::borrow::Cow;

use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Response, StatusCode};
use regex::{CaptureLocations, Regex};
use weir_config::UpstreamScheme;
use weir_config::plugin_settings::EndpointMatching;
use weir_config::url_rewrites::UrlRewrite;

use super::url_rewrite_triggers::{CompiledTrigger, Inputs};
use crate::body::ProxyBody;
use crate::context_vars::Template;
use crate::endpoint::{EndpointEntry, EndpointList};
use crate::exchange::{EndpointAt, Exchange};
use crate::respond::error_response;

/// An API's URL rewrites, compiled once per load.
#[derive(Debug, Default)]
pub struct CompiledRewrites {
    list: EndpointList<Rewrite>,
}

#[derive(Debug)]
struct Rewrite {
    pattern: Regex,
    target: Target,
    triggers: Vec<CompiledTrigger>,
    /// True when a target (the rewrite's or a trigger's) uses `$N`: the pattern's groups are
    /// read only then.
    needs_groups: bool,
}

/// A rewrite target: literal text with `$tyk_context`/`$tyk_meta` placeholders, and `$N`
/// group references between them.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pieces: Vec<TargetPiece>,
}

/// Where a rewrite's pattern matched: the URL, or (as Tyk retries) the URL decoded, with the
/// groups' offsets when a target reads them.
struct Matched<'u> {
    haystack: Cow<'u, str>,
    locations: Option<CaptureLocations>,
}

impl Matched<'_> {
    /// Group `n`'s text; `None` when it took no part or the groups were not read.
    fn group(&self, n: usize) -> Option<&str> {
        let (start, end) = self.locations.as_ref()?.get(n)?;
        self.haystack.get(start..end)
    }
}

#[derive(Debug, Clone)]
enum TargetPiece {
    Text(Template),
    Group(usize),
}

/// Where a rewrite to a full URL sends the request, instead of the API's targets. The
/// gateway's upstream call reads it from the request's extensions.
#[derive(Debug, Clone)]
pub struct RewrittenUpstream {
    /// `http` or `https`.
    pub scheme: UpstreamScheme,
    /// The same, as the connector expects it.
    pub uri_scheme: Scheme,
    /// host:port.
    pub authority: Authority,
    /// The Host header to send (unless the API preserves the client's).
    pub host_header: HeaderValue,
}

impl From<RewrittenUpstream> for crate::api::Target {
    fn from(u: RewrittenUpstream) -> Self {
        crate::api::Target {
            scheme: u.scheme,
            uri_scheme: u.uri_scheme,
            authority: u.authority,
            // The rewritten path is the whole path: nothing is joined in front of it.
            base_path: String::new(),
            host_header: u.host_header,
        }
    }
}

impl CompiledRewrites {
    /// Links the rewrites' endpoints to their API's index.
    pub fn link(&mut self, index: &mut crate::endpoint::IndexBuilder) {
        self.list.link(index);
    }

    /// Compiles the definition's rewrites; an error names the field and why.
    pub fn compile(
        rewrites: &[UrlRewrite],
        matching: EndpointMatching,
    ) -> Result<Option<Self>, (String, String)> {
        if rewrites.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(rewrites.len());
        for rw in rewrites {
            let pattern = Regex::new(&rw.match_pattern).map_err(|e| {
                let field = format!("{}.{}", rw.field, rw.names.pattern);
                (field, format!("is not a valid regular expression: {e}"))
            })?;
            let target_field = format!("{}.{}", rw.field, rw.names.rewrite_to);
            let target = Target::compile(&rw.rewrite_to, &target_field)?;
            let triggers = rw
                .triggers
                .iter()
                .map(|t| {
                    let field = format!("{}.{}", t.field, rw.names.rewrite_to);
                    let target = Target::compile(&t.rewrite_to, &field)?;
                    CompiledTrigger::compile(t, target)
                })
                .collect::<Result<Vec<_>, _>>()?;
            entries.push(EndpointEntry {
                path: rw.key.path.clone(),
                method: rw.key.method.clone(),
                ignore_case: rw.key.ignore_case,
                value: Rewrite {
                    needs_groups: target.uses_groups()
                        || triggers.iter().any(|t| t.target().uses_groups()),
                    pattern,
                    target,
                    triggers,
                },
            });
        }
        let list = EndpointList::compile(entries, matching)
            .map_err(|(i, reason)| (format!("{}.path", rewrites[i].field), reason))?;
        Ok(Some(CompiledRewrites { list }))
    }
}

impl Target {
    /// Splits `text` at its `$N` group references; the rest may hold `$tyk_context.` and
    /// `$tyk_meta.` placeholders (`$secret_…` ones are refused).
    fn compile(text: &str, field: &str) -> Result<Self, (String, String)> {
        if text.contains("$secret_") {
            let why = "`$secret_…` placeholders in rewrite targets are not built in Weir yet";
            return Err((field.to_string(), why.to_string()));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(at) = find_group(rest) {
            if at > 0 {
                pieces.push(TargetPiece::Text(Template::parse(&rest[..at])));
            }
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len() - at - 1, |n| n);
            let n = rest[at + 1..at + 1 + digits].parse().map_err(|_| {
                (
                    field.to_string(),
                    format!("`{text}`: group number too large"),
                )
            })?;
            pieces.push(TargetPiece::Group(n));
            rest = &rest[at + 1 + digits..];
        }
        if !rest.is_empty() || pieces.is_empty() {
            pieces.push(TargetPiece::Text(Template::parse(rest)));
        }
        Ok(Target { pieces })
    }

    /// True when the target reads a group (`$N`).
    fn uses_groups(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, TargetPiece::Group(_)))
    }

    /// The target for this request: groups from `found` (missing ones are ""), placeholders
    /// query-escaped as Tyk fills URLs.
    fn render(&self, ex: &Exchange<'_>, found: &Matched<'_>) -> String {
        self.render_with(found, |t| t.render_escaped(ex))
    }

    /// The target with groups from `found` and placeholders filled by `fill`.
    fn render_with(&self, found: &Matched<'_>, fill: impl Fn(&Template) -> String) -> String {
        let mut out = String::with_capacity(64);
        for piece in &self.pieces {
            match piece {
                TargetPiece::Text(t) => match t.literal() {
                    Some(s) => out.push_str(s),
                    None => out.push_str(&fill(t)),
                },
                TargetPiece::Group(n) => out.push_str(found.group(*n).unwrap_or("")),
            }
        }
        out
    }
}

/// The byte offset of the next `$<digit>` in `s`.
fn find_group(s: &str) -> Option<usize> {
    s.match_indices('$')
        .map(|(i, _)| i)
        .find(|&i| s.as_bytes().get(i + 1).is_some_and(u8::is_ascii_digit))
}

/// Runs the phase: rewrites the request's URL when an entry applies; `Some` is an answer
/// (a loop's, or an error).
pub async fn rewrite(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let api = ex.api;
    let rewrites = api.url_rewrites.as_ref()?;
    let (_, rw) = ex.find_endpoint(&rewrites.list, EndpointAt::Current)?;
    // Without a match the URL stays as it is, and (as Tyk documents) no trigger is checked.
    if rw.triggers.is_empty() {
        // Nothing changes the exchange before the target is made: the URL is borrowed.
        let found = matched(&rw.pattern, ex.current_url(), rw.needs_groups)?;
        let new_url = rw.target.render(ex, &found);
        return apply(ex, new_url).await;
    }
    // Owned: the triggers below change the exchange (its context data).
    let url = ex.current_url().to_owned();
    let found = matched(&rw.pattern, &url, rw.needs_groups)?;
    let mut target = &rw.target;
    // Tyk records trigger matches in the context data, creating it when needed.
    crate::context_vars::data_mut(ex);
    let mut inputs = Inputs::default();
    for (n, trigger) in rw.triggers.iter().enumerate() {
        match trigger.fires(ex, n, &url, &mut inputs).await {
            Ok(true) => {
                target = trigger.target();
                break;
            }
            Ok(false) => {}
            Err(answer) => return Some(answer),
        }
    }
    let new_url = target.render(ex, &found);
    apply(ex, new_url).await
}

/// Matches the pattern over the URL; when it does not match and the URL has escapes, over the
/// decoded URL, as Tyk retries. The groups are read only when `groups` (a target uses them).
fn matched<'u>(pattern: &Regex, url: &'u str, groups: bool) -> Option<Matched<'u>> {
    let try_on = |text: &str| -> Option<Option<CaptureLocations>> {
        if !groups {
            return pattern.is_match(text).then_some(None);
        }
        let mut locations = pattern.capture_locations();
        pattern.captures_read(&mut locations, text)?;
        Some(Some(locations))
    };
    if let Some(locations) = try_on(url) {
        let haystack = Cow::Borrowed(url);
        return Some(Matched {
            haystack,
            locations,
        });
    }
    if !url.contains('%') {
        return None;
    }
    let decoded = percent_decode(url)?;
    let locations = try_on(&decoded)?;
    let haystack = Cow::Owned(decoded);
    Some(Matched {
        haystack,
        locations,
    })
}

/// Go's `url.PathUnescape`: `%XX` decoded (a malformed escape is an error), `+` kept.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Puts the rewritten URL on the request: a loop, another host, or a new path and query.
async fn apply(ex: &mut Exchange<'_>, new_url: String) -> Option<Response<ProxyBody>> {
    ex.remember_original_endpoint();
    // The common case first: a path, which names no scheme (its query may hold "://").
    if is_request_target(&new_url) {
        // What path_and_query would make of it, without copying it.
        let pq = PathAndQuery::from_maybe_shared(Bytes::from(new_url))
            .unwrap_or_else(|_| PathAndQuery::from_static("/"));
        set_url(ex, pq);
        return None;
    }
    if has_scheme(&new_url, "tyk") {
        return Some(crate::looping::loop_to(ex, &new_url).await);
    }
    let pq = if has_scheme(&new_url, "http") || has_scheme(&new_url, "https") {
        match upstream_of(&new_url) {
            Some((upstream, pq)) => {
                ex.parts.extensions.insert(upstream);
                pq
            }
            None => {
                tracing::warn!(api_id = %ex.api.def.api_id, url = new_url, "URL rewrite to an unusable URL");
                return Some(error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "There was a problem proxying the request",
                ));
            }
        }
    } else if names_a_scheme(&new_url) {
        tracing::warn!(api_id = %ex.api.def.api_id, url = new_url, "URL rewrite to an unsupported scheme");
        return Some(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "There was a problem proxying the request",
        ));
    } else {
        path_and_query(&new_url)
    };
    set_url(ex, pq);
    None
}

/// True when `url` starts with `<scheme>://` (scheme in any case).
fn has_scheme(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        && url[scheme.len()..].starts_with("://")
}

/// True when `url` starts with `<scheme>://` for some scheme, as Go's URL parser reads one: a
/// letter, then letters, digits, `+`, `-` or `.`, before the first `:`.
fn names_a_scheme(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && rest.starts_with("//")
}

/// The upstream and the path and query of a full `http(s)://` URL.
fn upstream_of(url: &str) -> Option<(RewrittenUpstream, PathAndQuery)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let tls = parsed.scheme() == "https";
    let port = parsed.port().unwrap_or(if tls { 443 } else { 80 });
    let host_port = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let authority: Authority = host_port.parse().ok()?;
    let host_header = match parsed.port() {
        Some(_) => HeaderValue::from_str(&host_port),
        None => HeaderValue::from_str(host),
    }
    .ok()?;
    let pq = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let upstream = RewrittenUpstream {
        scheme: if tls {
            UpstreamScheme::Https
        } else {
            UpstreamScheme::Http
        },
        uri_scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
        authority,
        host_header,
    };
    Some((upstream, PathAndQuery::try_from(pq).ok()?))
}

/// A rewritten path and query, made valid for a request line: a leading '/' added (Tyk
/// joins a relative one to the target's path), the fragment dropped as Go's URL parser
/// does, and bytes a request line cannot carry percent-encoded.
fn path_and_query(url: &str) -> PathAndQuery {
    let url = url.split('#').next().unwrap_or("");
    let mut out = String::with_capacity(url.len() + 1);
    if !url.starts_with('/') {
        out.push('/');
    }
    for b in url.bytes() {
        if is_target_byte(b) {
            out.push(b as char)
        } else {
            out.push_str(&format!("%{b:02X}"))
        }
    }
    PathAndQuery::try_from(out).unwrap_or_else(|_| PathAndQuery::from_static("/"))
}

/// True when [`path_and_query`] would keep `url` as it is.
fn is_request_target(url: &str) -> bool {
    url.starts_with('/') && url.bytes().all(|b| b != b'#' && is_target_byte(b))
}

/// A byte a request line carries as it is.
fn is_target_byte(b: u8) -> bool {
    matches!(b, b'!'..=b'~')
        && !matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

/// Replaces the request's path and query (the hooks' copy while hooks hold the request).
fn set_url(ex: &mut Exchange<'_>, pq: PathAndQuery) {
    if let (Some(ctx), true) = (&mut ex.hooks, ex.in_hook_form) {
        ctx.request.url = pq.as_str().to_string();
        return;
    }
    crate::path::replace_path_and_query(&mut ex.parts.uri, pq);
}

#[cfg(test)]
#[path = "url_rewrite_tests.rs"]
mod tests;
