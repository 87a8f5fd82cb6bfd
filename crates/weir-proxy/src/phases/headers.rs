//! Header rules. Request side: `global_headers` (OAS `transformRequestHeaders` of the API),
//! then the endpoint's `transform_headers` (OAS operation `transformRequestHeaders`), set
//! before the URL rewrite and before `post` plugins, which see and may override them.
//! Response side: the endpoint's `transform_response_headers`, then
//! `global_response_headers`, before `response` plugins. Tyk's order in both
//! (mw_modify_headers.go, res_handler_header_injector.go). Values may hold `$tyk_context.*`
//! and `$tyk_meta.*` placeholders (see [`crate::context_vars`]).

use http::header::HeaderName;
use http::{HeaderMap, Response};

use crate::body::ProxyBody;
use crate::exchange::{EndpointAt, Exchange};
use crate::transforms::HeaderText;

/// Removes, then sets, the API's request header rules, then the matching endpoint's.
pub fn request(ex: &mut Exchange<'_>) {
    let api = ex.api;
    let rules = &api.headers;
    apply_to_request(ex, &rules.request_remove, &rules.request_set);
    let per_path = &api.transforms;
    if !per_path.request_headers.is_empty() || !per_path.response_headers.is_empty() {
        // The URL rewrite and the method transform come next: endpoint rules on either side
        // match the request as it is now, as Tyk's do.
        ex.remember_original_endpoint();
    }
    if per_path.request_headers.is_empty() {
        return;
    }
    if let Some((_, ops)) = ex.find_endpoint(&per_path.request_headers, EndpointAt::Original) {
        apply_to_request(ex, &ops.remove, &ops.set);
    }
}

/// Removes, then sets, the matching endpoint's response header rules, then the API's.
pub fn response(ex: &mut Exchange<'_>, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let api = ex.api;
    let per_path = &api.transforms.response_headers;
    if let Some((_, ops)) = ex.find_endpoint(per_path, EndpointAt::Original) {
        apply(resp.headers_mut(), ex, &ops.remove, &ops.set);
    }
    let rules = &api.headers;
    apply(
        resp.headers_mut(),
        ex,
        &rules.response_remove,
        &rules.response_set,
    );
    resp
}

fn apply_to_request(
    ex: &mut Exchange<'_>,
    remove: &[HeaderName],
    set: &[(HeaderName, HeaderText)],
) {
    for name in remove {
        ex.headers_mut().remove(name);
    }
    // One growth of the map for all the headers set, not one per doubling.
    ex.headers_mut().reserve(set.len());
    for (name, text) in set {
        // A value filled in with a control character is not a header value: not set.
        if let Some(value) = text.value(ex) {
            ex.headers_mut().insert(name.clone(), value);
        }
    }
}

fn apply(
    headers: &mut HeaderMap,
    ex: &Exchange<'_>,
    remove: &[HeaderName],
    set: &[(HeaderName, HeaderText)],
) {
    for name in remove {
        headers.remove(name);
    }
    for (name, text) in set {
        if let Some(value) = text.value(ex) {
            headers.insert(name.clone(), value);
        }
    }
}
