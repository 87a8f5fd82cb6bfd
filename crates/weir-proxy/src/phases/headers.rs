//! Header rules: `global_headers` (set before `post` plugins, which see and may override them)
//! and `global_response_headers` (set before `response` plugins), as in Tyk.

use http::Response;

use crate::body::ProxyBody;
use crate::exchange::Exchange;

/// Removes, then sets, the request header rules.
pub fn request(ex: &mut Exchange<'_>) {
    let api = ex.api;
    let rules = &api.headers;
    let (remove, set) = (&rules.request_remove, &rules.request_set);
    let h = ex.headers_mut();
    for name in remove {
        h.remove(name);
    }
    for (name, value) in set {
        h.insert(name.clone(), value.clone());
    }
}

/// Removes, then sets, the response header rules.
pub fn response(ex: &mut Exchange<'_>, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let h = resp.headers_mut();
    for name in &ex.api.headers.response_remove {
        h.remove(name);
    }
    for (name, value) in &ex.api.headers.response_set {
        h.insert(name.clone(), value.clone());
    }
    resp
}
