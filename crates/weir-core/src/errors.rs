//! Errors the gateway itself answers with, rendered the way Tyk renders them:
//! `{"error": "<message>"}` with `Content-Type: application/json`.

use http::StatusCode;

/// An error the gateway answers on its own, before or instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No API matches the request's host and path.
    NoRoute,
    /// The upstream refused or dropped the connection, or answered with garbage.
    UpstreamUnreachable,
    /// The upstream did not send a response head in time.
    UpstreamTimeout,
    /// The API has no upstream to send the request to.
    NoUpstream,
    /// The request itself is malformed (the message says why).
    BadRequest(String),
}

impl GatewayError {
    /// The HTTP status Tyk uses for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoRoute => StatusCode::NOT_FOUND,
            GatewayError::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::NoUpstream => StatusCode::BAD_GATEWAY,
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The message in the error body.
    pub fn message(&self) -> &str {
        match self {
            GatewayError::NoRoute => "Not Found",
            GatewayError::UpstreamUnreachable => "There was a problem proxying the request",
            GatewayError::UpstreamTimeout => "Upstream service reached hard timeout.",
            GatewayError::NoUpstream => "This API has no upstream to proxy to",
            GatewayError::BadRequest(m) => m,
        }
    }

    /// The gRPC status a gRPC client gets for this error (trailers-only response).
    pub fn grpc_code(&self) -> crate::grpc::Code {
        use crate::grpc::Code;
        match self {
            GatewayError::NoRoute => Code::Unimplemented,
            GatewayError::UpstreamUnreachable | GatewayError::NoUpstream => Code::Unavailable,
            GatewayError::UpstreamTimeout => Code::DeadlineExceeded,
            GatewayError::BadRequest(_) => Code::Internal,
        }
    }
}

/// Renders Tyk's error template: `{"error": "<message>"}` (message JSON-escaped).
pub fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_escaped_json() {
        let body = error_json("bad \"quote\"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "bad \"quote\"");
    }

    #[test]
    fn statuses_follow_tyk() {
        assert_eq!(GatewayError::NoRoute.status(), 404);
        assert_eq!(GatewayError::UpstreamUnreachable.status(), 502);
        assert_eq!(GatewayError::UpstreamTimeout.status(), 504);
        assert_eq!(GatewayError::UpstreamUnreachable.grpc_code() as u8, 14);
    }
}
