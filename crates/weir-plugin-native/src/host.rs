//! The host side of the ABI: [`HOST_API`], whose functions map a plugin's calls onto the
//! current call's [`HostCtx`] (a hook's `HookContext`, or a stream hook's `GrpcMessage`).
//!
//! Getters hand out pointers into the context itself (header values, url, body) or into
//! `scratch` (decoded parameters, session JSON): both stay valid until the next host call on
//! the same ctx, which is what the ABI promises, and nothing is copied on the way out.
//! Functions that need a request hook's context return `WEIR_ERR_UNAVAILABLE` in a stream
//! hook (through [`HostCtx::hook`]), and the message functions do outside one.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use weir_core::plugin::{HookResponse, ReturnOverrides, Session, plugin_counter_add};
use weir_plugin_abi::*;

use crate::ctx::HostCtx;
use crate::query;

/// The table handed to every plugin.
pub(crate) static HOST_API: WeirHostApi = WeirHostApi {
    abi_version: WEIR_PLUGIN_ABI_VERSION,
    struct_size: std::mem::size_of::<WeirHostApi>() as u32,
    get_method,
    set_method,
    get_url,
    set_url,
    get_request_uri,
    get_scheme,
    get_request_header,
    set_request_header,
    delete_request_header,
    get_request_body,
    set_request_body,
    get_query_param,
    set_query_param,
    delete_query_param,
    get_response_status,
    set_response_status,
    get_response_header,
    set_response_header,
    delete_response_header,
    get_response_body,
    set_response_body,
    set_return_override,
    add_override_header,
    get_metadata,
    set_metadata,
    get_session_json,
    set_session_json,
    get_config_data,
    log,
    set_error,
    set_grpc_message,
    set_grpc_status,
    get_grpc_message_index,
    count,
};

type HostResult = Result<WeirStatus, WeirStatus>;

/// Runs `f` on the ctx behind `ctx`. Host code must never unwind into the plugin (that would
/// abort the process), so a bug here becomes `WEIR_ERR_INTERNAL`.
fn with_ctx(ctx: *mut WeirCtx, f: impl FnOnce(&mut HostCtx<'_>) -> HostResult) -> WeirStatus {
    if ctx.is_null() {
        return WEIR_ERR_INVALID;
    }
    // SAFETY: the host hands plugins only pointers to a live HostCtx, for the call's duration.
    let host = unsafe { &mut *ctx.cast::<HostCtx<'_>>() };
    match catch_unwind(AssertUnwindSafe(|| f(host))) {
        Ok(Ok(status)) | Ok(Err(status)) => status,
        Err(_) => WEIR_ERR_INTERNAL,
    }
}

/// Views an argument string.
fn arg<'b>(s: WeirStr) -> Result<&'b [u8], WeirStatus> {
    if s.ptr.is_null() && s.len != 0 {
        return Err(WEIR_ERR_INVALID);
    }
    // SAFETY: the plugin passes `len` readable bytes, valid during this host call.
    Ok(unsafe { s.as_bytes() })
}

fn arg_text<'b>(s: WeirStr) -> Result<&'b str, WeirStatus> {
    std::str::from_utf8(arg(s)?).map_err(|_| WEIR_ERR_INVALID)
}

/// Writes a result for the plugin; the bytes must live until the next host call on the ctx.
fn put(out: *mut WeirStr, bytes: &[u8]) -> HostResult {
    if out.is_null() {
        return Err(WEIR_ERR_INVALID);
    }
    // SAFETY: `out` is the plugin's writable WeirStr.
    unsafe { *out = WeirStr::from_bytes(bytes) };
    Ok(WEIR_OK)
}

fn put_opt(out: *mut WeirStr, bytes: Option<&[u8]>) -> HostResult {
    match bytes {
        Some(b) => put(out, b),
        None => Ok(WEIR_NOT_FOUND),
    }
}

fn header_name(name: WeirStr) -> Result<HeaderName, WeirStatus> {
    HeaderName::from_bytes(arg(name)?).map_err(|_| WEIR_ERR_INVALID)
}

fn header_value(value: WeirStr) -> Result<HeaderValue, WeirStatus> {
    HeaderValue::from_bytes(arg(value)?).map_err(|_| WEIR_ERR_INVALID)
}

fn get_header(headers: &HeaderMap, name: WeirStr, out: *mut WeirStr) -> HostResult {
    // Lookup by &[u8] would need a HeaderName anyway; an invalid name is simply absent.
    let Ok(name) = HeaderName::from_bytes(arg(name)?) else {
        return Ok(WEIR_NOT_FOUND);
    };
    put_opt(out, headers.get(&name).map(HeaderValue::as_bytes))
}

fn response<'h>(h: &'h mut HostCtx<'_>) -> Result<&'h mut HookResponse, WeirStatus> {
    h.hook()?.response.as_mut().ok_or(WEIR_ERR_UNAVAILABLE)
}

unsafe extern "C" fn get_method(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| match h.hook() {
        Ok(hook) => put(out, hook.request.method.as_bytes()),
        // Every gRPC call is a POST.
        Err(_) => put(out, b"POST"),
    })
}

unsafe extern "C" fn set_method(ctx: *mut WeirCtx, method: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let m = Method::from_bytes(arg(method)?).map_err(|_| WEIR_ERR_INVALID)?;
        h.hook()?.request.method = m.as_str().to_owned();
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_url(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| put(out, h.hook()?.request.url.as_bytes()))
}

unsafe extern "C" fn set_url(ctx: *mut WeirCtx, url: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let url = arg_text(url)?;
        // The pipeline parses it later; refuse here what can never be a request target.
        if url.is_empty() || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(WEIR_ERR_INVALID);
        }
        h.hook()?.request.url = url.to_owned();
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_request_uri(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| put(out, h.hook()?.request.request_uri.as_bytes()))
}

unsafe extern "C" fn get_scheme(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| put(out, h.hook()?.request.scheme.as_bytes()))
}

unsafe extern "C" fn get_request_header(
    ctx: *mut WeirCtx,
    name: WeirStr,
    out: *mut WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| get_header(h.request_headers(), name, out))
}

unsafe extern "C" fn set_request_header(
    ctx: *mut WeirCtx,
    name: WeirStr,
    value: WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let (n, v) = (header_name(name)?, header_value(value)?);
        h.hook()?.request.headers.insert(n, v);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn delete_request_header(ctx: *mut WeirCtx, name: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        h.hook()?.request.headers.remove(header_name(name)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_request_body(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| put(out, &h.hook()?.request.body))
}

unsafe extern "C" fn set_request_body(ctx: *mut WeirCtx, body: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        h.hook()?.request.body = Bytes::copy_from_slice(arg(body)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_query_param(
    ctx: *mut WeirCtx,
    name: WeirStr,
    out: *mut WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let name = arg(name)?;
        match query::get(&h.hook()?.request.url, name) {
            Some(value) => {
                h.scratch = value;
                put(out, &h.scratch)
            }
            None => Ok(WEIR_NOT_FOUND),
        }
    })
}

unsafe extern "C" fn set_query_param(
    ctx: *mut WeirCtx,
    name: WeirStr,
    value: WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let (name, value) = (arg(name)?, arg(value)?);
        if name.is_empty() {
            return Err(WEIR_ERR_INVALID);
        }
        let request = &mut h.hook()?.request;
        request.url = query::set(&request.url, name, value);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn delete_query_param(ctx: *mut WeirCtx, name: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let request = &mut h.hook()?.request;
        request.url = query::delete(&request.url, arg(name)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_response_status(ctx: *mut WeirCtx, out: *mut i32) -> WeirStatus {
    with_ctx(ctx, |h| {
        let status = response(h)?.status;
        if out.is_null() {
            return Err(WEIR_ERR_INVALID);
        }
        // SAFETY: `out` is the plugin's writable i32.
        unsafe { *out = i32::from(status) };
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn set_response_status(ctx: *mut WeirCtx, status: i32) -> WeirStatus {
    with_ctx(ctx, |h| {
        let resp = response(h)?;
        if !(100..=999).contains(&status) {
            return Err(WEIR_ERR_INVALID);
        }
        resp.status = status as u16;
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_response_header(
    ctx: *mut WeirCtx,
    name: WeirStr,
    out: *mut WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| get_header(&response(h)?.headers, name, out))
}

unsafe extern "C" fn set_response_header(
    ctx: *mut WeirCtx,
    name: WeirStr,
    value: WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let resp = response(h)?;
        resp.headers
            .insert(header_name(name)?, header_value(value)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn delete_response_header(ctx: *mut WeirCtx, name: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let resp = response(h)?;
        resp.headers.remove(header_name(name)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_response_body(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| put(out, &response(h)?.body))
}

unsafe extern "C" fn set_response_body(ctx: *mut WeirCtx, body: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let resp = response(h)?;
        resp.body = Bytes::copy_from_slice(arg(body)?);
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn set_return_override(
    ctx: *mut WeirCtx,
    code: i32,
    body: WeirStr,
    override_error: u32,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let ro = &mut h.hook()?.request.return_overrides;
        if code == -1 {
            *ro = ReturnOverrides::none();
            return Ok(WEIR_OK);
        }
        if !(100..=999).contains(&code) {
            return Err(WEIR_ERR_INVALID);
        }
        ro.response_body = arg_text(body)?.to_owned();
        ro.response_code = code;
        ro.override_error = override_error != 0;
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn add_override_header(
    ctx: *mut WeirCtx,
    name: WeirStr,
    value: WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        // Validated as HTTP so the pipeline never meets a header it cannot send.
        let (n, v) = (header_name(name)?, header_value(value)?);
        let v = v.to_str().map_err(|_| WEIR_ERR_INVALID)?.to_owned();
        let headers = &mut h.hook()?.request.return_overrides.headers;
        headers.push((n.as_str().to_owned(), v));
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_metadata(
    ctx: *mut WeirCtx,
    key: WeirStr,
    out: *mut WeirStr,
) -> WeirStatus {
    with_ctx(ctx, |h| {
        let key = arg_text(key)?;
        put_opt(out, h.metadata(key).map(str::as_bytes))
    })
}

unsafe extern "C" fn set_metadata(ctx: *mut WeirCtx, key: WeirStr, value: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let (key, value) = (arg_text(key)?, arg_text(value)?);
        h.hook()?.metadata.insert(key.to_owned(), value.to_owned());
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_session_json(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let Some(session) = h.session() else {
            return Ok(WEIR_NOT_FOUND);
        };
        h.scratch = serde_json::to_vec(session).map_err(|_| WEIR_ERR_INTERNAL)?;
        put(out, &h.scratch)
    })
}

unsafe extern "C" fn set_session_json(ctx: *mut WeirCtx, json: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let session: Option<Session> =
            serde_json::from_slice(arg(json)?).map_err(|_| WEIR_ERR_INVALID)?;
        h.hook()?.session = session;
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_config_data(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        put_opt(out, h.spec().config_data.as_deref().map(str::as_bytes))
    })
}

/// Logs a plugin's line; `ctx` may be null (during init), then the plugin is unnamed.
unsafe extern "C" fn log(ctx: *mut WeirCtx, level: u32, msg: WeirStr) -> WeirStatus {
    let Ok(msg) = arg(msg) else {
        return WEIR_ERR_INVALID;
    };
    let msg = String::from_utf8_lossy(msg);
    let emit = |plugin: &str, hook: &str| match level {
        WEIR_LOG_TRACE => tracing::trace!(plugin, hook, "{msg}"),
        WEIR_LOG_DEBUG => tracing::debug!(plugin, hook, "{msg}"),
        WEIR_LOG_INFO => tracing::info!(plugin, hook, "{msg}"),
        WEIR_LOG_WARN => tracing::warn!(plugin, hook, "{msg}"),
        _ => tracing::error!(plugin, hook, "{msg}"),
    };
    if ctx.is_null() {
        emit("", "init");
        return WEIR_OK;
    }
    with_ctx(ctx, |h| {
        emit(h.plugin, h.hook_name());
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn set_error(ctx: *mut WeirCtx, msg: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        h.error = Some(String::from_utf8_lossy(arg(msg)?).into_owned());
        Ok(WEIR_OK)
    })
}

/// Kept aside until the call returns: the plugin may still read the message it was given.
unsafe extern "C" fn set_grpc_message(ctx: *mut WeirCtx, message: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let bytes = Bytes::copy_from_slice(arg(message)?);
        h.message()?.replacement = Some(bytes);
        Ok(WEIR_OK)
    })
}

/// Highest gRPC status code (UNAUTHENTICATED).
const MAX_GRPC_CODE: u32 = 16;

unsafe extern "C" fn set_grpc_status(ctx: *mut WeirCtx, code: u32, message: WeirStr) -> WeirStatus {
    with_ctx(ctx, |h| {
        let call = h.message()?;
        if code > MAX_GRPC_CODE {
            return Err(WEIR_ERR_INVALID);
        }
        call.status = Some((code as u8, arg_text(message)?.to_owned()));
        Ok(WEIR_OK)
    })
}

unsafe extern "C" fn get_grpc_message_index(ctx: *mut WeirCtx, out: *mut u64) -> WeirStatus {
    with_ctx(ctx, |h| {
        let index = h.message()?.msg.index;
        if out.is_null() {
            return Err(WEIR_ERR_INVALID);
        }
        // SAFETY: `out` is the plugin's writable u64.
        unsafe { *out = index };
        Ok(WEIR_OK)
    })
}

/// Longest plugin counter name.
const MAX_COUNTER_NAME: usize = 64;

/// A counter name that is safe as a Prometheus label value and short enough to read.
fn counter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_COUNTER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

unsafe extern "C" fn count(ctx: *mut WeirCtx, name: WeirStr, delta: u64) -> WeirStatus {
    with_ctx(ctx, |h| {
        let name = arg_text(name)?;
        if !counter_name(name) {
            return Err(WEIR_ERR_INVALID);
        }
        // Past the limit on series a new name is refused; the plugin sees why.
        match plugin_counter_add(&h.spec().api_id, name, delta) {
            true => Ok(WEIR_OK),
            false => Err(WEIR_ERR_INVALID),
        }
    })
}
