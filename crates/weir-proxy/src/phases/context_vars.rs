//! Context variables (`enable_context_vars`, OAS `contextVariables`): the request captured
//! once, at Tyk's place (after `pre` plugins, IP lists and size limits, before
//! authentication), for `$tyk_context.*` placeholders (see [`crate::context_vars`]).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::body::{ProxyBody, RequestBody};
use crate::context_vars::ContextData;
use crate::exchange::Exchange;
use crate::respond::error_response;

/// Go's limit on a form body `ParseForm` reads (10 MB).
const MAX_FORM_BODY: u64 = 10 << 20;

/// Captures the request's context variables; answers 400 when a form body cannot be read.
pub async fn capture(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let form = match form_body(ex).await {
        Ok(form) => form,
        Err(()) => {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ));
        }
    };
    let data = ContextData::capture(ex, form.as_deref());
    ex.context = Some(Box::new(data));
    None
}

/// The body of an urlencoded form (POST, PUT, PATCH, as Go's `ParseForm` reads), read and
/// put back. A streamed body without a Content-Length, or over 10 MB, is not read: its
/// fields are not context variables (Weir's choice; Go would drain it).
async fn form_body(ex: &mut Exchange<'_>) -> Result<Option<Bytes>, ()> {
    if !matches!(ex.current_method(), "POST" | "PUT" | "PATCH") {
        return Ok(None);
    }
    if let Some(ctx) = ex.hooks.as_ref().filter(|_| ex.in_hook_form) {
        return Ok(is_form(&ctx.request.headers).then(|| ctx.request.body.clone()));
    }
    if !is_form(&ex.parts.headers) {
        return Ok(None);
    }
    let length = ex
        .parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match std::mem::replace(&mut ex.body, RequestBody::Buffered(Full::new(Bytes::new())))
    {
        RequestBody::Buffered(b) => b.collect().await.ok().map(|c| c.to_bytes()),
        RequestBody::Streaming(b) if length.is_some_and(|n| n <= MAX_FORM_BODY) => {
            Limited::new(b, MAX_FORM_BODY as usize)
                .collect()
                .await
                .ok()
                .map(|c| c.to_bytes())
        }
        other => {
            ex.body = other;
            return Ok(None);
        }
    };
    let body = body.ok_or(())?;
    ex.body = RequestBody::Buffered(Full::new(body.clone()));
    Ok(Some(body))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
