//! Stream hooks: every message of a gRPC call (the gRPC side of a gRPC-Web call) is handed to
//! the API's message hooks, both ways.

use http::Response;

use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::stream_hooks::{HookedCall, PluginMessageHook};

/// Wraps the request body of a gRPC call so its messages pass through the hooks.
pub fn request(ex: &mut Exchange<'_>) {
    let Some(chain) = ex.api.plugins.as_ref().filter(|_| ex.grpc) else {
        return;
    };
    let session = ex.hooks.as_ref().and_then(|c| c.session.clone());
    let hook = PluginMessageHook::new(chain.clone(), ex.parts.headers.clone(), session);
    let mut call = HookedCall::new(hook, ex.parts.uri.path(), ex.grpc_max_message_size);
    let body = std::mem::replace(
        &mut ex.body,
        crate::body::RequestBody::Buffered(Default::default()),
    );
    ex.body = call.wrap_request(body, &ex.parts.headers);
    ex.stream_call = Some(call);
}

/// Wraps the response body of a hooked call.
pub fn response(ex: &mut Exchange<'_>, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    match &ex.stream_call {
        Some(call) => call.wrap_response(resp),
        None => resp,
    }
}
