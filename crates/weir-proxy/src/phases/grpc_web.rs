//! gRPC-Web (`proxy.enable_grpc_web`): browsers' calls become gRPC toward the upstream and
//! the answers become gRPC-Web again, trailers included.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

use crate::api::CompiledApi;
use crate::body::{ProxyBody, RequestBody};
use crate::exchange::Exchange;
use crate::grpc_web::{self as codec, GrpcWebMode};

/// A browser asks before every gRPC-Web call; answered even without a CORS block.
pub fn preflight(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    if !ex.is_preflight() {
        return None;
    }
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    *resp.headers_mut() = codec::preflight_response_headers(&ex.parts.headers);
    Some(resp)
}

/// Translates a gRPC-Web call to gRPC.
pub fn request(ex: &mut Exchange<'_>) {
    let Some(mode) = ex.web else {
        return;
    };
    let (parts, body) = ex.take_request();
    let (parts, body) = codec::to_grpc_request(Request::from_parts(parts, body), mode).into_parts();
    ex.parts = parts;
    ex.body = RequestBody::Boxed(body.boxed_unsync());
}

/// Translates the upstream's gRPC answer (or the gateway's error) to gRPC-Web.
pub fn response(ex: &mut Exchange<'_>, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    match ex.web {
        Some(mode) => web_response(resp, mode, ex.api, ex.origin.as_ref()),
        None => resp,
    }
}

/// Turns any answer to a gRPC-Web call into gRPC-Web (gateway errors and plugin rejections
/// included), with the CORS headers a browser needs to read its status.
pub fn web_response(
    resp: Response<ProxyBody>,
    mode: GrpcWebMode,
    api: &CompiledApi,
    origin: Option<&HeaderValue>,
) -> Response<ProxyBody> {
    let mut resp =
        codec::to_grpc_web_response(resp, mode).map(|b| ProxyBody::Boxed(b.boxed_unsync()));
    let h = resp.headers_mut();
    match &api.cors {
        Some(cors_cfg) => crate::cors::decorate_response(cors_cfg, origin, h),
        None => {
            if let Some(o) = origin {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
                h.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
    }
    codec::expose_headers(h);
    resp
}
