//! Properties (`proxy_get_property` / `proxy_set_property`). Values are raw bytes (strings as
//! UTF-8, JSON as text). Weir-specific paths live under `weir`:
//!
//! | path | get | set |
//! |---|---|---|
//! | `request.path` (path and query), `request.url_path` (path only), `request.host`, `request.method`, `request.scheme`, `request.id` (`x-request-id`), `request.headers.<name>` | yes | no |
//! | `response.code`, `response.headers.<name>` (response hooks) | yes | no |
//! | `source.address` (last `X-Forwarded-For` hop) | yes | no |
//! | `plugin_name`, `plugin_root_id` (the hook's `name`) | yes | no |
//! | `weir.api_id`, `weir.org_id` | yes | no |
//! | `weir.session` (session JSON, Tyk REST names) | yes | yes: authenticates an `auth_check` hook |
//! | `weir.metadata.<key>` (e.g. `token`) | yes | yes |
//! | `grpc.method`, `grpc.direction` (`to_upstream` / `from_upstream`), `grpc.index` (decimal) (stream hooks) | yes | no |
//! | any other path | what the filter set in this call | yes (kept for the call only) |
//!
//! In a stream hook call (one gRPC message) nothing under `weir` can be set: the session and
//! metadata were settled before the call started.

use http::header::HOST;
use weir_core::plugin::Session;

use crate::abi::status;
use crate::state::HostState;

fn text(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

/// Reads a property; `Err(NOT_FOUND)` when it has no value.
pub(crate) fn get(state: &HostState, raw: &[u8], path: &[&str]) -> Result<Vec<u8>, i32> {
    let stream = state.stream.as_ref();
    let ctx = stream.map(|s| &s.ctx);
    let req = ctx.map(|c| &c.request);
    let grpc = stream.and_then(|s| s.grpc.as_ref());
    let header = |h: &http::HeaderMap, name: &str| h.get(name).map(|v| v.as_bytes().to_vec());
    let v = match path {
        ["request", "path"] => req.and_then(|r| text(&r.url)),
        ["request", "url_path"] => req.and_then(|r| text(r.url.split('?').next().unwrap_or(""))),
        ["request", "host"] => req.and_then(|r| header(&r.headers, HOST.as_str())),
        ["request", "method"] => req.and_then(|r| text(&r.method)),
        ["request", "scheme"] => req.and_then(|r| text(&r.scheme)),
        ["request", "id"] => req.and_then(|r| header(&r.headers, "x-request-id")),
        ["request", "headers", name] => {
            req.and_then(|r| header(&r.headers, &name.to_ascii_lowercase()))
        }
        ["response", "code"] => ctx
            .and_then(|c| c.response.as_ref())
            .and_then(|r| text(&r.status.to_string())),
        ["response", "headers", name] => ctx
            .and_then(|c| c.response.as_ref())
            .and_then(|r| header(&r.headers, &name.to_ascii_lowercase())),
        ["source", "address"] => req
            .and_then(|r| r.headers.get("x-forwarded-for"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| text(v.trim())),
        ["plugin_name"] | ["plugin_root_id"] => {
            text(ctx.map_or(state.root_name.as_str(), |c| c.name.as_str()))
        }
        ["weir", "api_id"] => text(&state.api.api_id),
        ["weir", "org_id"] => text(&state.api.org_id),
        ["weir", "session"] => ctx
            .and_then(|c| c.session.as_ref())
            .or_else(|| grpc.and_then(|g| g.session.as_deref()))
            .and_then(|s| serde_json::to_vec(s).ok()),
        ["grpc", "method"] => grpc.and_then(|g| text(&g.method)),
        ["grpc", "direction"] => grpc.and_then(|g| text(g.direction.as_str())),
        ["grpc", "index"] => grpc.and_then(|g| text(&g.index.to_string())),
        ["weir", "metadata", key] => ctx.and_then(|c| c.metadata.get(*key)).and_then(|v| text(v)),
        _ => stream.and_then(|s| s.scratch.get(raw).cloned()),
    };
    v.ok_or(status::NOT_FOUND)
}

/// Writes a property.
pub(crate) fn set(state: &mut HostState, raw: &[u8], path: &[&str], value: &[u8]) -> i32 {
    let Some(stream) = state.stream.as_mut() else {
        // Outside a hook call there is nothing to attach a property to.
        return status::NOT_FOUND;
    };
    let read_only = stream.grpc.is_some() && path.first() == Some(&"weir");
    match path {
        _ if read_only => status::BAD_ARGUMENT,
        ["weir", "session"] => match serde_json::from_slice::<Session>(value) {
            Ok(s) => {
                stream.ctx.session = Some(s);
                status::OK
            }
            Err(e) => {
                tracing::warn!(hook = %stream.ctx.name, "weir.session is not a session: {e}");
                status::BAD_ARGUMENT
            }
        },
        ["weir", "metadata", key] => match std::str::from_utf8(value) {
            Ok(v) => {
                stream.ctx.metadata.insert((*key).to_owned(), v.to_owned());
                status::OK
            }
            Err(_) => status::BAD_ARGUMENT,
        },
        ["weir", ..] | ["request", ..] | ["response", ..] | ["source", ..] | ["grpc", ..] => {
            status::BAD_ARGUMENT
        }
        _ => {
            stream.scratch.insert(raw.to_vec(), value.to_vec());
            status::OK
        }
    }
}
