//! CORS: preflights answered before anything else, allow headers on every answer.

use http::Response;

use crate::body::ProxyBody;
use crate::exchange::Exchange;

/// Answers a preflight, unless the API forwards them (`options_passthrough`).
pub fn preflight(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let cors = ex.api.cors.as_ref()?;
    if cors.options_passthrough || !ex.is_preflight() {
        return None;
    }
    let allowed = crate::cors::preflight_headers(cors, &ex.parts.headers);
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = crate::cors::preflight_status(allowed.is_some());
    if let Some(h) = allowed {
        resp.headers_mut().extend(h);
    }
    Some(resp)
}

/// Adds the allow headers to the answer (gRPC-Web answers got theirs when translated).
pub fn decorate(ex: &mut Exchange<'_>, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    if let (Some(cors), None) = (&ex.api.cors, ex.web) {
        crate::cors::decorate_response(cors, ex.origin.as_ref(), resp.headers_mut());
    }
    resp
}
