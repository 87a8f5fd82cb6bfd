//! The IP allow and block lists (Tyk's mw_ip_whitelist.go and mw_ip_blacklist.go): after the
//! `pre` plugins, before authentication.
//!
//! The client is the TCP peer; only when the gateway's `trust_x_forwarded_headers` is on is it
//! the `X-Real-IP` header, else the first `X-Forwarded-For` entry (Tyk's `request.RealIP`,
//! which always trusts them). A header that holds no IP address falls back to the peer.

use std::net::IpAddr;

use http::{HeaderMap, Response, StatusCode};

use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::respond::error_response;

/// Tyk's answer to a client outside the lists.
pub const DISALLOWED: &str = "access from this IP has been disallowed";

/// Answers 403 when the client may not call the API.
pub fn check(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let api = ex.api;
    let access = &api.def.ip_access;
    let peer = ex.conn.remote.ip();
    let ip = if access.trust_forwarded {
        client_ip(ex.headers_mut(), peer)
    } else {
        peer
    };
    if access.allows(ip) {
        return None;
    }
    tracing::debug!(api_id = %api.def.api_id, client = %ip, "IP not allowed");
    Some(error_response(StatusCode::FORBIDDEN, DISALLOWED))
}

/// `X-Real-IP`, else the first `X-Forwarded-For` entry, else `peer`.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let parse = |v: &str| v.trim().parse::<IpAddr>().ok();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ip) = header("x-real-ip").and_then(parse) {
        return ip;
    }
    header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .and_then(parse)
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn forwarded_headers_name_the_client() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(&h, peer), peer);
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static(" 203.0.113.9 , 10.0.0.2"),
        );
        assert_eq!(client_ip(&h, peer).to_string(), "203.0.113.9");
        h.insert("x-real-ip", HeaderValue::from_static("2001:db8::5"));
        assert_eq!(client_ip(&h, peer).to_string(), "2001:db8::5");
        h.insert("x-real-ip", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_ip(&h, peer).to_string(), "203.0.113.9");
        h.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(client_ip(&h, peer), peer);
    }
}
