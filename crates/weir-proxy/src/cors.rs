//! CORS as Tyk's `CORS` block describes it: preflights answered by the gateway (unless
//! `options_passthrough`), and the allow headers added to actual responses.

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode};
use weir_config::CorsConfig;

/// True when the request is a CORS preflight.
pub fn is_preflight<B>(req: &Request<B>) -> bool {
    is_preflight_parts(req.method(), req.headers())
}

/// True when a request with this method and these headers is a CORS preflight.
pub fn is_preflight_parts(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn origin_allowed(cors: &CorsConfig, origin: &str) -> bool {
    cors.allowed_origins.is_empty()
        || cors
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

/// The headers of a preflight answer, or None when the origin or method is not allowed
/// (the preflight then gets 403 and no allow headers).
pub fn preflight_headers(cors: &CorsConfig, req_headers: &HeaderMap) -> Option<HeaderMap> {
    let origin = req_headers.get(header::ORIGIN)?.to_str().ok()?;
    if !origin_allowed(cors, origin) {
        return None;
    }
    let method = req_headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
        .to_str()
        .ok()?;
    let methods: Vec<&str> = if cors.allowed_methods.is_empty() {
        vec!["GET", "POST", "HEAD"]
    } else {
        cors.allowed_methods.iter().map(String::as_str).collect()
    };
    if !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return None;
    }
    let mut out = HeaderMap::new();
    put(&mut out, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    put(
        &mut out,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &methods.join(", "),
    );
    let allowed_headers = if cors.allowed_headers.is_empty() {
        // Nothing configured: reflect what the browser asks for.
        req_headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    } else {
        cors.allowed_headers.join(", ")
    };
    if !allowed_headers.is_empty() {
        put(
            &mut out,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            &allowed_headers,
        );
    }
    if cors.allow_credentials {
        put(&mut out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if cors.max_age > 0 {
        put(
            &mut out,
            header::ACCESS_CONTROL_MAX_AGE,
            &cors.max_age.to_string(),
        );
    }
    put(&mut out, header::VARY, "Origin");
    Some(out)
}

/// Status of a preflight answer.
pub fn preflight_status(allowed: bool) -> StatusCode {
    if allowed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::FORBIDDEN
    }
}

/// Adds allow-origin (and exposed headers) to an actual response for an allowed origin.
pub fn decorate_response(cors: &CorsConfig, origin: Option<&HeaderValue>, out: &mut HeaderMap) {
    let Some(origin) = origin.and_then(|o| o.to_str().ok()) else {
        return;
    };
    if !origin_allowed(cors, origin) {
        return;
    }
    put(out, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if cors.allow_credentials {
        put(out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if !cors.exposed_headers.is_empty() {
        put(
            out,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &cors.exposed_headers.join(", "),
        );
    }
    out.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn put(map: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        map.insert(name, v);
    }
}
