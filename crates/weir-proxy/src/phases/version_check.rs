//! The version check of a versioned API (Tyk's mw_version_check.go): a request whose version
//! the gateway could not pick is answered with Tyk's status and reason (403 mostly) (see [`crate::versions`]).

use http::Response;

use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::respond::error_response;

/// Answers the refusal the gateway recorded when it picked the version, if any.
pub fn check(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let refusal = ex.version_refusal.take()?;
    tracing::debug!(api_id = %ex.api.def.api_id, reason = refusal.message(), "version refused");
    Some(error_response(refusal.status(), refusal.message()))
}
