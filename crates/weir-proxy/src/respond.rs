//! Answers the gateway writes itself: Tyk's JSON error body, or, for gRPC clients, a
//! trailers-only response carrying grpc-status and grpc-message.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use weir_core::GatewayError;
use weir_core::errors::error_json;

use crate::body::ProxyBody;

/// Tyk's error response: `{"error": "<message>"}`, application/json.
pub fn error_response(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(error_json(message)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The mark lets error overrides and templates find the gateway's own errors.
    resp.extensions_mut()
        .insert(crate::error_overrides::ErrorMark {
            message: message.to_string(),
            id: None,
        });
    resp
}

/// The error as a gRPC client understands it: HTTP 200, no body, status in the headers.
pub fn grpc_error_response(code: weir_core::grpc::Code, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::empty());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", code.as_header_value());
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    resp
}

/// Renders a gateway error for the client's protocol.
pub fn gateway_error(err: &GatewayError, grpc: bool) -> Response<ProxyBody> {
    if grpc {
        grpc_error_response(err.grpc_code(), err.message())
    } else {
        error_response(err.status(), err.message())
    }
}

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec): bytes outside 0x20..=0x7E and '%'.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("a b%c\n"), "a b%25c%0A");
    }

    #[test]
    fn grpc_error_is_trailers_only() {
        let r = grpc_error_response(weir_core::grpc::Code::Unavailable, "down");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "down");
    }
}
