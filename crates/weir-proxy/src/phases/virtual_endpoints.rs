//! JSVM virtual endpoints (Tyk's `extended_paths.virtual`): a request whose path and method
//! match one is answered by its JavaScript function; the upstream is not called. Runs where
//! Tyk runs it: after the key checks and header rules, before the `post` plugins.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use weir_config::plugin_settings::EndpointMatching;
use weir_core::virtual_endpoint::{VirtualEndpoint, VirtualRequest};

use crate::body::{ProxyBody, RequestBody};
use crate::endpoint::EndpointMatcher;
use crate::exchange::Exchange;
use crate::phases::plugins::MAX_HOOK_BODY;
use crate::respond::error_response;

/// A virtual endpoint with its path compiled as Tyk compiles endpoint paths.
pub struct CompiledVirtual {
    matcher: EndpointMatcher,
    endpoint: VirtualEndpoint,
}

impl CompiledVirtual {
    /// Compiles the endpoint's path (see [`crate::endpoint`]); the entry's `ignore_case`
    /// adds to the gateway's.
    pub fn compile(endpoint: VirtualEndpoint, matching: EndpointMatching) -> Result<Self, String> {
        let matcher = EndpointMatcher::compile(
            &endpoint.path,
            &endpoint.method,
            endpoint.ignore_case,
            matching,
        )?;
        Ok(CompiledVirtual { matcher, endpoint })
    }
}

/// Answers the request when a virtual endpoint matches it.
pub async fn answer(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    // As Tyk's rules after the URL rewrite, the endpoint matches the request as it came in;
    // the function sees the request as it is now.
    let (relative, method) = ex.original_endpoint();
    let compiled = ex
        .api
        .virtual_endpoints
        .iter()
        .find(|v| v.matcher.matches(relative, method))?;
    let url = ex.current_url().to_owned();
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
/// (with `proxy_on_error`, the request may still go there). No session: the config refuses
/// `use_session`, so the function gets an empty one.
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
            session: None,
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
        session: None,
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
