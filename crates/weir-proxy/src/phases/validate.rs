//! Request validation (classic `validate_json`, OAS `validateRequest`): the body of a
//! matching request is read whole (up to [`MAX_VALIDATED_BODY`]), checked, and sent on to the
//! upstream unchanged.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::body::{ProxyBody, RequestBody};
use crate::exchange::Exchange;
use crate::request_validation::{RequestView, Rules, check_json, check_operation};
use crate::respond::error_response;

/// Largest body Weir reads to validate; a larger one is answered 413 (Tyk reads any size).
pub const MAX_VALIDATED_BODY: usize = 16 * 1024 * 1024;

/// Answers a request that fails its endpoint's validation.
pub async fn check(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let api = ex.api;
    let path = ex.endpoint_path().to_owned();
    let (matcher, check) = api.limits.validation.find(&path, ex.current_method())?;
    let body = match read_body(ex).await {
        Ok(b) => b,
        Err(answer) => return Some(answer),
    };
    match &check.rules {
        Rules::Json(v) => check_json(v, check.status, &body)
            .err()
            .map(|(status, msg)| error_response(status, &msg)),
        Rules::Operation {
            path_names,
            params,
            body: rule,
        } => {
            let url = ex.current_url();
            let query = url.split_once('?').map(|(_, q)| q);
            let headers = match (&ex.hooks, ex.in_hook_form) {
                (Some(ctx), true) => &ctx.request.headers,
                _ => &ex.parts.headers,
            };
            let view = RequestView {
                path: &path,
                query,
                headers,
                body: &body,
            };
            check_operation(path_names, matcher, params, rule.as_ref(), &view)
                .err()
                .map(|msg| error_response(check.status, &msg))
        }
    }
}

/// The whole request body, left in place for the upstream.
async fn read_body(ex: &mut Exchange<'_>) -> Result<Bytes, Response<ProxyBody>> {
    if let (Some(ctx), true) = (&ex.hooks, ex.in_hook_form) {
        return Ok(ctx.request.body.clone());
    }
    let body = std::mem::replace(&mut ex.body, RequestBody::Buffered(Full::new(Bytes::new())));
    match Limited::new(body, MAX_VALIDATED_BODY).collect().await {
        Ok(c) => {
            let bytes = c.to_bytes();
            ex.body = RequestBody::Buffered(Full::new(bytes.clone()));
            Ok(bytes)
        }
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large to validate",
            ))
        }
        Err(_) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}
