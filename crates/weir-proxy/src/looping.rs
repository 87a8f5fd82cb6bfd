//! `tyk://` looping: a request handed in process to another API (or the same one), through
//! that API's whole lifecycle, without a network hop (Tyk's api_loader.go `DummyProxyHandler`).
//!
//! A loop URL is `tyk://<target>/<path>?<query>`. `<target>` is `self` (the API looping), an
//! api_id, or an API name as Tyk slugs it (`hidden api` → `hidden-api`, any case). Internal APIs
//! are reached (that is what they are for); so are inactive ones, as in Tyk. The query keys
//! `method` (the method of the looped request), `loop_limit` (the most loops allowed, set once
//! per request) and `check_limits` are Tyk's controls and are removed from the looped URL.
//!
//! Every request carries a [`Looping`]: the routing table it was routed with (a reload does
//! not change where a loop lands midway) and how many loops it has made. More than 5 (or
//! `loop_limit`) answers 500 `Loop level too deep…`; a target that names no API answers 500
//! `Can't detect loop target`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use crate::api::CompiledApi;
use crate::body::ProxyBody;
use crate::error_overrides::LoopedAnswer;
use crate::exchange::Exchange;
use crate::gateway::{Gateway, join_paths};
use crate::phases::plugins;
use crate::respond::error_response;
use crate::router::RoutingTable;

/// Tyk's loop limit when the loop URL sets none (`defaultLoopLevelLimit`).
pub const DEFAULT_LOOP_LIMIT: u32 = 5;

/// Tyk's answer to a loop URL that names no API.
pub const UNKNOWN_TARGET: &str = "Can't detect loop target";

/// Where a request may loop to, and how deep it already is.
#[derive(Clone)]
pub struct Looping {
    /// The gateway, whose lifecycle runner serves the looped request.
    pub(crate) gateway: Arc<Gateway>,
    /// The routing table the request started with.
    pub(crate) table: Arc<RoutingTable>,
    /// The client's Host, as the upstream of a looped request sees it.
    pub(crate) host: String,
    /// Loops made so far.
    pub(crate) level: u32,
    /// `loop_limit` once a loop URL set it (0 = the default).
    pub(crate) limit: u32,
}

/// A boxed response future: loops recurse through the gateway's request path.
pub type LoopFuture<'a> = Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send + 'a>>;

impl Looping {
    /// The state of a request that has not looped yet.
    pub fn new(gateway: Arc<Gateway>, table: Arc<RoutingTable>, host: String) -> Self {
        Looping {
            gateway,
            table,
            host,
            level: 0,
            limit: 0,
        }
    }

    /// Loops made so far (0 for a request from a client).
    pub fn level(&self) -> u32 {
        self.level
    }
}

/// Hands the exchange to the API a `tyk://` URL names and returns that API's answer.
///
/// The request (method, headers, body, as the phases so far left them) goes to the target with
/// the URL's path and query; the target runs its whole lifecycle and its upstream call (or its
/// own loop). The calling API's response phases and error overrides do not run on the answer
/// (marked [`LoopedAnswer`]), as in Tyk, where the looped handler of a URL rewrite to `tyk://`
/// writes the response (api_loader.go `DummyProxyHandler`). Call it from a request phase (a URL rewrite to
/// `tyk://…`) and return its answer; the exchange's request is taken.
pub async fn loop_to(ex: &mut Exchange<'_>, url: &str) -> Response<ProxyBody> {
    let Some(state) = ex.looping.clone() else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, UNKNOWN_TARGET);
    };
    let limit = if state.limit == 0 {
        DEFAULT_LOOP_LIMIT
    } else {
        state.limit
    };
    if state.level > limit {
        let msg = format!("Loop level too deep. Found more than {limit} loops in single request");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, &msg);
    }
    let target = LoopUrl::parse(url);
    let Some(api) = find_target(&state.table, ex.api, target.host) else {
        tracing::warn!(api_id = %ex.api.def.api_id, url, "loop target names no API");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, UNKNOWN_TARGET);
    };
    // A phase may loop while plugins hold the request: their copy is the current one.
    if let Some(answer) = plugins::leave_hook_form(ex) {
        return answer;
    }
    let (mut parts, body) = ex.take_request();
    let controls = target.controls();
    if let Some(m) = controls
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
    {
        parts.method = m;
    }
    let pq = match controls.query.is_empty() {
        true => target.path.to_string(),
        false => format!("{}?{}", target.path, controls.query),
    };
    parts.uri = match pq.parse() {
        Ok(uri) => uri,
        Err(_) => {
            tracing::warn!(api_id = %ex.api.def.api_id, url, "loop URL has an unusable path");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, UNKNOWN_TARGET);
        }
    };
    let next = Looping {
        level: state.level + 1,
        limit: if state.limit == 0 {
            controls.limit
        } else {
            state.limit
        },
        ..state
    };
    let gateway = next.gateway.clone();
    let req = Request::from_parts(parts, body);
    // Boxed (LoopFuture): the target's lifecycle may loop again.
    let mut answer = gateway.serve_looped(api, req, ex.conn, next).await;
    answer.extensions_mut().insert(LoopedAnswer);
    answer
}

/// Loops a request of an API whose upstream is `target` (`tyk://…`). The answer is not marked
/// [`LoopedAnswer`]: Tyk's reverse proxy gets it as an upstream's (reverse_proxy.go
/// `handleInMemoryLoop`), so the calling API's upstream error overrides apply to it too.
pub async fn loop_to_target(ex: &mut Exchange<'_>, target: &str) -> Response<ProxyBody> {
    let url = target_url(ex, target);
    let mut answer = loop_to(ex, &url).await;
    answer.extensions_mut().remove::<LoopedAnswer>();
    answer
}

/// The loop URL for a request of an API whose upstream is `target` (`tyk://…`): the target's
/// path joined with the request's path after the listen path (when `strip_listen_path`), as
/// for an upstream URL; the target's query, then the request's.
pub fn target_url(ex: &Exchange<'_>, target: &str) -> String {
    let api = ex.api;
    let url = LoopUrl::parse(target);
    let full = ex.parts.uri.path();
    let sub = if api.def.strip_listen_path {
        api.listen_path.strip_or_whole(full)
    } else {
        full
    };
    let path = join_paths(url.path, sub, api.def.disable_strip_slash);
    let query: Vec<&str> = [url.query, ex.parts.uri.query().unwrap_or("")]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect();
    match query.is_empty() {
        true => format!("tyk://{}{path}", url.host),
        false => format!("tyk://{}{path}?{}", url.host, query.join("&")),
    }
}

/// The API a loop URL's host names: `self`, an api_id, or a slugged name (any case).
fn find_target(
    table: &RoutingTable,
    current: &CompiledApi,
    host: &str,
) -> Option<Arc<CompiledApi>> {
    if host.eq_ignore_ascii_case("self") {
        return table.api(&current.def.api_id).cloned();
    }
    // Tyk slugs the host of a rewritten loop URL the way it slugs names.
    let slug = weir_config::looping::looping_name(host);
    table
        .api(host)
        .or_else(|| {
            table.apis.iter().find(|a| {
                weir_config::looping::looping_name(&a.def.name).eq_ignore_ascii_case(&slug)
            })
        })
        .cloned()
}

/// A `tyk://host/path?query` URL, split as written.
struct LoopUrl<'u> {
    host: &'u str,
    path: &'u str,
    query: &'u str,
}

/// The query of a loop URL with Tyk's control keys taken out.
struct Controls {
    /// `method`, upper-case.
    method: Option<String>,
    /// `loop_limit` (0 = not set).
    limit: u32,
    /// The other pairs, as written.
    query: String,
}

impl<'u> LoopUrl<'u> {
    fn parse(url: &'u str) -> Self {
        let url = url.trim();
        let rest = url
            .get(weir_config::looping::LOOP_SCHEME.len()..)
            .unwrap_or("");
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, "/"),
        };
        LoopUrl { host, path, query }
    }

    fn controls(&self) -> Controls {
        let mut method = None;
        let mut limit = 0;
        let mut kept = Vec::new();
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
                continue;
            };
            match k.as_ref() {
                "method" => method = Some(v.to_ascii_uppercase()).filter(|m| !m.is_empty()),
                "loop_limit" => limit = v.parse().unwrap_or(0),
                "check_limits" => {}
                _ => kept.push(pair),
            }
        }
        Controls {
            method,
            limit,
            query: kept.join("&"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_urls_split_into_host_path_and_query() {
        let u =
            LoopUrl::parse("tyk://hidden api/get/x?a=1&method=post&loop_limit=2&check_limits=true");
        assert_eq!((u.host, u.path), ("hidden api", "/get/x"));
        let c = u.controls();
        assert_eq!(c.method.as_deref(), Some("POST"));
        assert_eq!(c.limit, 2);
        assert_eq!(c.query, "a=1");
        let bare = LoopUrl::parse("tyk://self");
        assert_eq!((bare.host, bare.path, bare.query), ("self", "/", ""));
        assert!(bare.controls().method.is_none());
    }
}
