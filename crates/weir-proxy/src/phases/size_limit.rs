//! Request size limits (Tyk's `mw_request_size_limit.go`): `global_size_limit` /
//! `requestSizeLimit` for every endpoint, then the first matching `size_limits` entry.
//!
//! As in Tyk, the limit is checked against the request's `Content-Length` before the body is
//! read: a request on a limited endpoint without one (a chunked body) is answered 411, so no
//! body of unknown length reaches the upstream; over the limit is 400 `Request is too large`.
//! GET, DELETE, TRACE, OPTIONS and HEAD are not checked (Tyk skips them).

use http::{Method, Response, StatusCode};

use crate::body::ProxyBody;
use crate::endpoint::{EndpointEntry, EndpointList};
use crate::exchange::Exchange;
use crate::respond::error_response;
use weir_config::plugin_settings::EndpointMatching;

/// An API's size limits, compiled.
#[derive(Default)]
pub struct CompiledSizeLimits {
    /// The API-wide limit, in bytes.
    pub global: Option<u64>,
    /// Per-endpoint limits, in bytes.
    pub paths: EndpointList<u64>,
}

impl CompiledSizeLimits {
    /// Compiles an API's limits; an error names the entry's index and why.
    pub fn compile(
        global: Option<u64>,
        entries: &[weir_config::limits::SizeLimit],
        matching: EndpointMatching,
    ) -> Result<Self, (usize, String)> {
        let entries = entries
            .iter()
            .map(|e| EndpointEntry::new(&e.key, e.limit))
            .collect();
        Ok(CompiledSizeLimits {
            global,
            paths: EndpointList::compile(entries, matching)?,
        })
    }

    /// True when the API limits anything.
    pub fn is_on(&self) -> bool {
        self.global.is_some() || !self.paths.is_empty()
    }
}

/// The methods Tyk does not check (their bodies are not expected).
fn skipped(method: &str) -> bool {
    [
        Method::GET,
        Method::DELETE,
        Method::TRACE,
        Method::OPTIONS,
        Method::HEAD,
    ]
    .iter()
    .any(|m| m.as_str() == method)
}

/// Answers a request over its limit.
pub fn check(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let limits = ex.api.limits.size.as_ref()?;
    let method = ex.current_method();
    if skipped(method) {
        return None;
    }
    if let Some(limit) = limits.global
        && let Some(answer) = over(ex, limit)
    {
        return Some(answer);
    }
    let path = ex.endpoint_path();
    let (_, limit) = limits.paths.find(path, method)?;
    over(ex, *limit)
}

/// Tyk's `checkRequestLimit`: the stated length (or, once plugins hold the body, its real
/// length) against `limit`.
fn over(ex: &Exchange<'_>, limit: u64) -> Option<Response<ProxyBody>> {
    let size = match (&ex.hooks, ex.in_hook_form) {
        (Some(ctx), true) => ctx.request.body.len() as u64,
        _ => {
            let Some(stated) = ex.parts.headers.get(http::header::CONTENT_LENGTH) else {
                return Some(error_response(
                    StatusCode::LENGTH_REQUIRED,
                    "Content length is required for this request",
                ));
            };
            match stated
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            {
                Some(n) => n,
                None => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "content length is not a valid Integer",
                    ));
                }
            }
        }
    };
    (size > limit).then(|| error_response(StatusCode::BAD_REQUEST, "Request is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_methods_are_skipped() {
        assert!(skipped("GET") && skipped("HEAD") && skipped("DELETE"));
        assert!(!skipped("POST") && !skipped("PUT") && !skipped("PATCH"));
    }

    #[test]
    fn size_limits_run_before_authentication_and_validation_after_the_global_rate_limit() {
        use crate::lifecycle::{Features, Lifecycle, RequestPhase as Rq};
        let l = Lifecycle::compile(&Features {
            size_limit: true,
            validation: true,
            ..Features::default()
        });
        assert_eq!(l.request, [Rq::SizeLimit, Rq::Validate]);
    }

    #[test]
    fn an_api_without_limits_is_off() {
        let none = CompiledSizeLimits::compile(None, &[], EndpointMatching::default()).unwrap();
        assert!(!none.is_on());
        let global = CompiledSizeLimits::compile(Some(1), &[], EndpointMatching::default());
        assert!(global.unwrap().is_on());
    }
}
