//! JSVM virtual endpoints (Tyk's `extended_paths.virtual`): a request whose path and method
//! match one is answered by its JavaScript function; the upstream is not called. Runs where
//! Tyk runs it: after the key checks and header rules, before the `post` plugins.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use regex::Regex;
use weir_config::plugin_settings::EndpointMatching;
use weir_core::virtual_endpoint::{VirtualEndpoint, VirtualRequest};

use crate::body::{ProxyBody, RequestBody};
use crate::exchange::Exchange;
use crate::phases::plugins::MAX_HOOK_BODY;
use crate::respond::error_response;

/// A virtual endpoint with its path compiled as Tyk compiles endpoint paths.
pub struct CompiledVirtual {
    pattern: Regex,
    method: String,
    endpoint: VirtualEndpoint,
}

impl CompiledVirtual {
    /// Tyk's endpoint path as a regular expression: `{name}` (or `{name:regex}`) segments
    /// match one path segment; the pattern is found anywhere in the path unless prefix or
    /// suffix matching anchors it; `ignore_case` (the entry's or the gateway's) folds case.
    pub fn compile(endpoint: VirtualEndpoint, matching: EndpointMatching) -> Result<Self, String> {
        let params = Regex::new(r"\{[^}/]*\}").map_err(|e| e.to_string())?;
        let mut pattern = params.replace_all(&endpoint.path, "([^/]+)").into_owned();
        if matching.prefix && !pattern.starts_with('^') {
            pattern.insert(0, '^');
        }
        if matching.suffix && !pattern.ends_with('$') {
            pattern.push('$');
        }
        if matching.ignore_case || endpoint.ignore_case {
            pattern.insert_str(0, "(?i)");
        }
        let compiled = Regex::new(&pattern)
            .map_err(|e| format!("path `{}` is not a valid pattern: {e}", endpoint.path))?;
        Ok(CompiledVirtual {
            pattern: compiled,
            method: endpoint.method.clone(),
            endpoint,
        })
    }

    fn matches(&self, path: &str, method: &str) -> bool {
        (self.method.is_empty() || self.method == method) && self.pattern.is_match(path)
    }
}

/// Answers the request when a virtual endpoint matches it.
pub async fn answer(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let (url, method) = match &ex.hooks {
        Some(ctx) if ex.in_hook_form => (ctx.request.url.clone(), ctx.request.method.clone()),
        _ => (
            ex.parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string(),
            ex.parts.method.as_str().to_string(),
        ),
    };
    let path = url.split('?').next().unwrap_or("/");
    let relative = path
        .strip_prefix(ex.api.match_prefix.as_str())
        .unwrap_or(path);
    let compiled = ex
        .api
        .virtual_endpoints
        .iter()
        .find(|v| v.matches(relative, &method))?;
    let request = match request_of(ex, url).await {
        Ok(r) => r,
        Err(answer) => return Some(answer),
    };
    let endpoint = &compiled.endpoint;
    match endpoint.handler.call(request).await {
        Ok(answer) => Some(response(answer.status, &answer.headers, answer.body)),
        Err(e) if endpoint.proxy_on_error => {
            tracing::warn!(api_id = %ex.api.def.api_id, path = %endpoint.path, error = %e,
                "virtual endpoint failed; proxy_on_error sends the request upstream");
            None
        }
        Err(e) => {
            tracing::warn!(api_id = %ex.api.def.api_id, path = %endpoint.path, error = %e,
                "virtual endpoint failed");
            Some(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Middleware error",
            ))
        }
    }
}

/// The request as the function sees it; the body is read whole and kept for the upstream
/// (with `proxy_on_error`, the request may still go there).
async fn request_of(
    ex: &mut Exchange<'_>,
    url: String,
) -> Result<VirtualRequest, Response<ProxyBody>> {
    let scheme = if ex.conn.tls { "https" } else { "http" }.to_string();
    if let Some(ctx) = ex.hooks.as_ref().filter(|_| ex.in_hook_form) {
        return Ok(VirtualRequest {
            url,
            scheme,
            headers: ctx.request.headers.clone(),
            body: ctx.request.body.clone(),
        });
    }
    let body = std::mem::replace(&mut ex.body, RequestBody::Buffered(Full::new(Bytes::new())));
    let collected = match body {
        RequestBody::Streaming(b) => match Limited::new(b, MAX_HOOK_BODY).collect().await {
            Ok(c) => Some(c.to_bytes()),
            Err(_) => None,
        },
        RequestBody::Buffered(b) => b.collect().await.ok().map(|c| c.to_bytes()),
        // Only gRPC-Web translation boxes a body, and it runs after this phase.
        RequestBody::Boxed(_) => None,
    };
    let Some(bytes) = collected else {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        ));
    };
    ex.body = RequestBody::Buffered(Full::new(bytes.clone()));
    Ok(VirtualRequest {
        url,
        scheme,
        headers: ex.parts.headers.clone(),
        body: bytes,
    })
}

fn response(status: u16, headers: &[(String, String)], body: Bytes) -> Response<ProxyBody> {
    let mut out = Response::new(ProxyBody::full(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}
