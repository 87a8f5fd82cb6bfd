//! Plugin phases: `pre`, custom auth, `post_key_auth`, `post` and `response` hooks.
//!
//! The first request hook takes the request into the plugins' model (its body read whole, as
//! every driver needs it); the request stays there while later phases (header rules
//! included) work on it, and [`leave_hook_form`] applies what they changed before the
//! upstream call.

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use weir_core::GatewayError;
use weir_core::plugin::{
    HookContext, HookDecl, HookRequest, HookResponse, PluginChain, ReturnOverrides,
};

use crate::body::{ProxyBody, RequestBody};
use crate::exchange::Exchange;
use crate::phases::grpc_web::web_response;
use crate::pipeline;
use crate::respond::{error_response, gateway_error, grpc_error_response};

/// Largest body a hook is handed (request or response); larger ones are refused.
pub const MAX_HOOK_BODY: usize = 64 * 1024 * 1024;

/// `pre` hooks.
pub async fn pre(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    run(ex, |c| &c.pre).await
}

/// `post_key_auth` hooks.
pub async fn post_auth(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    run(ex, |c| &c.post_key_auth).await
}

/// `post` hooks.
pub async fn post(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    run(ex, |c| &c.post).await
}

/// The custom authentication hook.
pub async fn auth(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let chain = ex.api.plugins.as_ref()?;
    let hook = chain.auth.as_ref()?;
    let answer = match enter_hook_form(ex, chain).await {
        Err(resp) => Some(resp),
        Ok(ctx) => pipeline::run_auth(chain, ctx, hook).await,
    };
    answer.map(|resp| for_client(ex, resp))
}

async fn run(
    ex: &mut Exchange<'_>,
    hooks: fn(&PluginChain) -> &Vec<HookDecl>,
) -> Option<Response<ProxyBody>> {
    let chain = ex.api.plugins.as_ref()?;
    let answer = match enter_hook_form(ex, chain).await {
        Err(resp) => Some(resp),
        Ok(ctx) => pipeline::run_hooks(chain, ctx, hooks(chain)).await,
    };
    answer.map(|resp| for_client(ex, resp))
}

/// A hook's answer in the client's protocol: gRPC-Web for browsers, a trailers-only status
/// for gRPC clients (which cannot read an HTTP error), Tyk's answer for everyone else.
pub(crate) fn for_client(ex: &Exchange<'_>, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    match ex.web {
        Some(mode) => web_response(resp, mode, ex.api, ex.origin.as_ref()),
        None if ex.grpc && resp.status().as_u16() >= 400 => grpc_answer(resp),
        None => resp,
    }
}

/// An error answer as gRPC status: 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 429
/// RESOURCE_EXHAUSTED, anything else INTERNAL; the message is the error body's.
fn grpc_answer(resp: Response<ProxyBody>) -> Response<ProxyBody> {
    use weir_core::grpc::Code;
    let code = match resp.status().as_u16() {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        429 => Code::ResourceExhausted,
        _ => Code::Internal,
    };
    let status = resp.status();
    // The gateway's own answers are whole in memory: reading them does not wait.
    let body = match resp.into_body() {
        ProxyBody::Full(full) => full.collect().now_or_never().and_then(Result::ok),
        _ => None,
    }
    .map(|c| c.to_bytes())
    .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body).into_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text
            }
        });
    grpc_error_response(code, &message)
}

/// Moves the request into the plugins' model, reading its body, unless it is there already.
async fn enter_hook_form<'e>(
    ex: &'e mut Exchange<'_>,
    chain: &PluginChain,
) -> Result<&'e mut HookContext, Response<ProxyBody>> {
    if !ex.in_hook_form {
        let body = std::mem::replace(&mut ex.body, RequestBody::Buffered(Full::new(Bytes::new())));
        // Streaming, or already read by request validation.
        let bytes = match Limited::new(body, MAX_HOOK_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large for the API's plugins",
                ));
            }
            Err(_) => {
                return Err(error_response(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                ));
            }
        };
        // Response hooks see the request too; only then is a copy of the headers kept.
        let headers = std::mem::take(&mut ex.parts.headers);
        ex.hooks = Some(pipeline::new_context(
            chain,
            hook_request(ex, headers, bytes),
        ));
        ex.in_hook_form = true;
    }
    Ok(ex.hooks.as_mut().expect("the hook context was just made"))
}

fn hook_request(ex: &Exchange<'_>, headers: http::HeaderMap, body: Bytes) -> HookRequest {
    let url = ex
        .parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    HookRequest {
        method: ex.parts.method.as_str().to_string(),
        request_uri: url.clone(),
        url,
        scheme: if ex.conn.tls { "https" } else { "http" }.to_string(),
        headers,
        body,
        return_overrides: ReturnOverrides::none(),
    }
}

/// Applies what the request hooks changed (method, URL, headers, body) and gives the request
/// back to the proxy. For an API with only response hooks, makes the context they need.
pub fn leave_hook_form(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let chain = ex.api.plugins.as_ref()?;
    if !ex.in_hook_form {
        if ex.hooks.is_none() && !chain.response.is_empty() {
            let request = hook_request(ex, ex.parts.headers.clone(), Bytes::new());
            ex.hooks = Some(pipeline::new_context(chain, request));
        }
        return None;
    }
    ex.in_hook_form = false;
    let keep_copy = !chain.response.is_empty();
    let api_id = &chain.spec.api_id;
    let ctx = ex.hooks.as_mut().expect("in hook form");
    let bad = |what: &str| {
        tracing::warn!(api_id = %api_id, "a hook set an unusable {what}");
        error_response(StatusCode::INTERNAL_SERVER_ERROR, "Middleware error")
    };
    match http::Method::from_bytes(ctx.request.method.as_bytes()) {
        Ok(method) => ex.parts.method = method,
        Err(_) => return Some(bad("method")),
    }
    if ctx.request.url != ex.parts.uri.path_and_query().map_or("/", |pq| pq.as_str()) {
        match ctx.request.url.parse() {
            Ok(uri) => ex.parts.uri = uri,
            Err(_) => return Some(bad("url")),
        }
    }
    ex.parts.headers = if keep_copy {
        ctx.request.headers.clone()
    } else {
        std::mem::take(&mut ctx.request.headers)
    };
    ex.parts.headers.remove(header::TRANSFER_ENCODING);
    ex.parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(ctx.request.body.len()),
    );
    ex.body = RequestBody::Buffered(Full::new(ctx.request.body.clone()));
    None
}

/// `response` hooks, on the upstream's answer read whole (not on a 101 upgrade).
pub async fn response(ex: &mut Exchange<'_>, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let (Some(chain), Some(ctx)) = (ex.api.plugins.as_ref(), ex.hooks.as_mut()) else {
        return resp;
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match Limited::new(body, MAX_HOOK_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::warn!(api_id = %chain.spec.api_id, error = %e, "cannot read the upstream response for response hooks");
            return gateway_error(&GatewayError::UpstreamUnreachable, false);
        }
    };
    let response = HookResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: bytes,
    };
    pipeline::run_response_hooks(chain, ctx, response).await
}
