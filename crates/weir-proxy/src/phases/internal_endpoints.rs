//! Internal endpoints (classic `extended_paths.internal`, OAS `operations.<id>.internal`): a
//! request from outside that matches one is answered 403 `Requested endpoint is forbidden`;
//! only a `tyk://` loop reaches it. Tyk checks them first in `URLAllowedAndIgnored`
//! (gateway/api_definition.go), so this runs where the endpoint lists do, just before them.

use http::{Response, StatusCode};
use weir_config::ApiDefinition;
use weir_config::plugin_settings::EndpointMatching;

use crate::body::ProxyBody;
use crate::endpoint::{EndpointEntry, EndpointList};
use crate::exchange::Exchange;
use crate::respond::error_response;

/// Tyk's answer to a request from outside on an internal endpoint.
pub const FORBIDDEN: &str = "Requested endpoint is forbidden";

/// Compiles the API's internal endpoints; an error names the entry's field.
pub fn compile(
    def: &ApiDefinition,
    matching: EndpointMatching,
) -> Result<EndpointList<()>, (String, String)> {
    let internal = &def.endpoints.internal;
    let entries = internal
        .iter()
        .map(|e| EndpointEntry::new(&e.key, ()))
        .collect();
    EndpointList::compile(entries, matching)
        .map_err(|(i, reason)| (format!("{}.path", internal[i].field), reason))
}

/// Forbids a request that did not come through a loop and matches an internal endpoint.
pub fn check(ex: &Exchange<'_>) -> Option<Response<ProxyBody>> {
    // CORS preflights never get here when the API answers them (Tyk skips them too).
    if ex.looping.as_ref().is_some_and(|l| l.level() > 0) {
        return None;
    }
    let (path, method) = (ex.endpoint_path(), ex.current_method());
    ex.api
        .internal_endpoints
        .find(path, method)
        .map(|_| error_response(StatusCode::FORBIDDEN, FORBIDDEN))
}
