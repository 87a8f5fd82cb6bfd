//! Header maps and body buffers as the ABI sees them, over the hook's [`HookContext`].
//!
//! The request map carries HTTP/2 pseudo headers, as filters written for Envoy expect:
//! `:method` ↔ `request.method`, `:path` ↔ `request.url` (path and query), `:authority` ↔ the
//! `Host` header, `:scheme` ↔ `request.scheme`. The response map carries `:status`.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HOST, HeaderName, HeaderValue};

use crate::abi::{buffer, map, serialize_map, status};
use crate::state::{HostState, Stream};

/// What `grpc-message` percent-encodes: controls, space, `%` and non-ASCII (gRPC over HTTP/2).
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ').add(b'%');

/// How a header write combines with existing values.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Write {
    Add,
    Replace,
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// One header as bytes.
type Pair<'a> = (&'a [u8], &'a [u8]);

/// All pairs of a map, pseudo headers first.
fn pairs(state: &HostState, map_id: i32) -> Result<Vec<Pair<'_>>, i32> {
    let s = state.stream.as_ref().ok_or(status::NOT_FOUND)?;
    let req = &s.ctx.request;
    match map_id {
        map::HTTP_REQUEST_HEADERS => {
            let host = req.headers.get(HOST).map_or(&b""[..], |h| h.as_bytes());
            let mut out: Vec<(&[u8], &[u8])> = vec![
                (b":authority", host),
                (b":path", req.url.as_bytes()),
                (b":method", req.method.as_bytes()),
                (b":scheme", req.scheme.as_bytes()),
            ];
            header_pairs(&req.headers, &mut out, true);
            Ok(out)
        }
        map::HTTP_RESPONSE_HEADERS => Err(status::NOT_FOUND),
        map::HTTP_CALL_RESPONSE_HEADERS | map::GRPC_RECEIVE_INITIAL_METADATA => {
            let r = s.call_response.as_ref().ok_or(status::NOT_FOUND)?;
            Ok(r.headers
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.as_slice()))
                .collect())
        }
        map::HTTP_CALL_RESPONSE_TRAILERS | map::GRPC_RECEIVE_TRAILING_METADATA => {
            let r = s.call_response.as_ref().ok_or(status::NOT_FOUND)?;
            Ok(r.trailers
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.as_slice()))
                .collect())
        }
        _ => Err(status::NOT_FOUND),
    }
}

fn header_pairs<'a>(h: &'a HeaderMap, out: &mut Vec<(&'a [u8], &'a [u8])>, skip_host: bool) {
    for (k, v) in h {
        if !(skip_host && k == HOST) {
            out.push((k.as_str().as_bytes(), v.as_bytes()));
        }
    }
}

/// Serializes a whole map (for `proxy_get_header_map_pairs`); the count is also returned.
pub(crate) fn serialized(state: &HostState, map_id: i32) -> Result<(Vec<u8>, usize), i32> {
    if map_id == map::HTTP_RESPONSE_HEADERS {
        let s = state.stream.as_ref().ok_or(status::NOT_FOUND)?;
        let resp = s.ctx.response.as_ref().ok_or(status::NOT_FOUND)?;
        let code = resp.status.to_string();
        let mut out: Vec<(&[u8], &[u8])> = vec![(b":status", code.as_bytes())];
        header_pairs(&resp.headers, &mut out, false);
        return Ok((serialize_map(out.iter().copied()), out.len()));
    }
    let p = pairs(state, map_id)?;
    Ok((serialize_map(p.iter().copied()), p.len()))
}

/// One value (several values of a name are joined with `,`); `Ok(None)` when absent.
pub(crate) fn value(state: &HostState, map_id: i32, key: &[u8]) -> Result<Option<Vec<u8>>, i32> {
    let key = key.to_ascii_lowercase();
    let s = state.stream.as_ref().ok_or(status::NOT_FOUND)?;
    let from_map = |h: &HeaderMap| -> Option<Vec<u8>> {
        let name = HeaderName::from_bytes(&key).ok()?;
        let mut it = h.get_all(name).iter();
        let mut out = it.next()?.as_bytes().to_vec();
        for v in it {
            out.push(b',');
            out.extend_from_slice(v.as_bytes());
        }
        Some(out)
    };
    match map_id {
        map::HTTP_REQUEST_HEADERS => {
            let req = &s.ctx.request;
            Ok(match key.as_slice() {
                b":path" => Some(req.url.as_bytes().to_vec()),
                b":method" => Some(req.method.as_bytes().to_vec()),
                b":scheme" => Some(req.scheme.as_bytes().to_vec()),
                b":authority" => req.headers.get(HOST).map(|v| v.as_bytes().to_vec()),
                _ => from_map(&req.headers),
            })
        }
        map::HTTP_RESPONSE_HEADERS => {
            let resp = s.ctx.response.as_ref().ok_or(status::NOT_FOUND)?;
            Ok(match key.as_slice() {
                b":status" => Some(resp.status.to_string().into_bytes()),
                _ => from_map(&resp.headers),
            })
        }
        _ => Ok(pairs(state, map_id)?
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, v)| v.to_vec())),
    }
}

fn header(key: &[u8], value: &[u8]) -> Result<(HeaderName, HeaderValue), i32> {
    let name = HeaderName::from_bytes(key).map_err(|_| status::BAD_ARGUMENT)?;
    let value = HeaderValue::from_bytes(value).map_err(|_| status::BAD_ARGUMENT)?;
    Ok((name, value))
}

fn write_headers(h: &mut HeaderMap, key: &[u8], value: &[u8], how: Write) -> i32 {
    match header(key, value) {
        Ok((name, value)) => {
            if how == Write::Add {
                h.append(name, value);
            } else {
                h.insert(name, value);
            }
            status::OK
        }
        Err(e) => e,
    }
}

fn utf8(v: &[u8]) -> Result<String, i32> {
    String::from_utf8(v.to_vec()).map_err(|_| status::BAD_ARGUMENT)
}

/// Adds or replaces a value (pseudo headers always replace the field they stand for).
pub(crate) fn write(state: &mut HostState, map_id: i32, key: &[u8], val: &[u8], how: Write) -> i32 {
    let key = key.to_ascii_lowercase();
    let Some(s) = state.stream.as_mut() else {
        return status::NOT_FOUND;
    };
    if s.grpc.is_some() {
        // A message hook sees the call's request headers after they went upstream.
        return status::BAD_ARGUMENT;
    }
    let r = match map_id {
        map::HTTP_REQUEST_HEADERS => {
            let req = &mut s.ctx.request;
            match key.as_slice() {
                b":path" => utf8(val).map(|v| req.url = v),
                b":method" => utf8(val).map(|v| req.method = v),
                b":scheme" => utf8(val).map(|v| req.scheme = v),
                b":authority" => Err(write_headers(
                    &mut req.headers,
                    b"host",
                    val,
                    Write::Replace,
                )),
                k if k.starts_with(b":") => Err(status::BAD_ARGUMENT),
                k => Err(write_headers(&mut req.headers, k, val, how)),
            }
        }
        map::HTTP_RESPONSE_HEADERS => {
            let Some(resp) = s.ctx.response.as_mut() else {
                return status::NOT_FOUND;
            };
            match key.as_slice() {
                b":status" => std::str::from_utf8(val)
                    .ok()
                    .and_then(|v| v.parse::<u16>().ok())
                    .filter(|c| (100..=999).contains(c))
                    .map(|c| resp.status = c)
                    .ok_or(status::BAD_ARGUMENT),
                k if k.starts_with(b":") => Err(status::BAD_ARGUMENT),
                k => Err(write_headers(&mut resp.headers, k, val, how)),
            }
        }
        _ => Err(status::NOT_FOUND),
    };
    r.err().unwrap_or(status::OK)
}

/// Removes a header; removing `:authority` removes `Host`, other pseudo headers cannot go.
pub(crate) fn remove(state: &mut HostState, map_id: i32, key: &[u8]) -> i32 {
    let key = key.to_ascii_lowercase();
    let Some(s) = state.stream.as_mut() else {
        return status::NOT_FOUND;
    };
    if s.grpc.is_some() {
        return status::BAD_ARGUMENT;
    }
    let headers = match map_id {
        map::HTTP_REQUEST_HEADERS => &mut s.ctx.request.headers,
        map::HTTP_RESPONSE_HEADERS => match s.ctx.response.as_mut() {
            Some(r) => &mut r.headers,
            None => return status::NOT_FOUND,
        },
        _ => return status::NOT_FOUND,
    };
    let key: &[u8] = if key == b":authority" { b"host" } else { &key };
    if key.starts_with(b":") {
        return status::BAD_ARGUMENT;
    }
    match HeaderName::from_bytes(key) {
        Ok(name) => {
            headers.remove(name);
            status::OK
        }
        // A name that cannot exist is simply absent.
        Err(_) => status::OK,
    }
}

/// Replaces the whole map: every ordinary header goes, then the pairs are added. Pseudo headers
/// absent from the pairs keep their fields (a request always has a method and a path).
pub(crate) fn replace_all(state: &mut HostState, map_id: i32, pairs: &[(&[u8], &[u8])]) -> i32 {
    let Some(s) = state.stream.as_mut() else {
        return status::NOT_FOUND;
    };
    if s.grpc.is_some() {
        return status::BAD_ARGUMENT;
    }
    let mut fresh = HeaderMap::new();
    for (k, v) in pairs.iter().filter(|(k, _)| !k.starts_with(b":")) {
        let e = write_headers(&mut fresh, &k.to_ascii_lowercase(), v, Write::Add);
        if e != status::OK {
            return e;
        }
    }
    match map_id {
        map::HTTP_REQUEST_HEADERS => {
            // Keep Host unless the pairs set it or :authority.
            if !fresh.contains_key(HOST)
                && let Some(h) = s.ctx.request.headers.get(HOST)
            {
                fresh.insert(HOST, h.clone());
            }
            s.ctx.request.headers = fresh;
        }
        map::HTTP_RESPONSE_HEADERS => match s.ctx.response.as_mut() {
            Some(r) => r.headers = fresh,
            None => return status::NOT_FOUND,
        },
        _ => return status::NOT_FOUND,
    }
    for (k, v) in pairs.iter().filter(|(k, _)| k.starts_with(b":")) {
        let e = write(state, map_id, k, v, Write::Replace);
        if e != status::OK {
            return e;
        }
    }
    status::OK
}

/// The bytes of a buffer.
pub(crate) fn buffer(state: &HostState, id: i32) -> Result<Bytes, i32> {
    let s = state.stream.as_ref();
    let in_message = s.is_some_and(|s| s.grpc.is_some());
    if in_message && matches!(id, buffer::HTTP_REQUEST_BODY | buffer::HTTP_RESPONSE_BODY) {
        return Err(status::NOT_FOUND);
    }
    match id {
        buffer::HTTP_REQUEST_BODY => Ok(s.ok_or(status::NOT_FOUND)?.ctx.request.body.clone()),
        buffer::HTTP_RESPONSE_BODY => Ok(s
            .and_then(|s| s.ctx.response.as_ref())
            .ok_or(status::NOT_FOUND)?
            .body
            .clone()),
        buffer::HTTP_CALL_RESPONSE_BODY | buffer::GRPC_RECEIVE_BUFFER => Ok(s
            .and_then(|s| s.call_response.as_ref())
            .ok_or(status::NOT_FOUND)?
            .body
            .clone()),
        buffer::VM_CONFIGURATION => Ok(Bytes::new()),
        buffer::PLUGIN_CONFIGURATION => Ok(state.plugin_config.clone()),
        _ => Err(status::NOT_FOUND),
    }
}

/// Edits a body: `start >= len` appends, otherwise `size` bytes at `start` are replaced
/// (`start = 0, size = 0` prepends).
pub(crate) fn set_buffer(
    state: &mut HostState,
    id: i32,
    start: usize,
    size: usize,
    value: &[u8],
) -> i32 {
    let Some(s) = state.stream.as_mut() else {
        return status::NOT_FOUND;
    };
    if s.grpc.is_some() {
        // A message call has no body buffers: the message is read with weir_get_grpc_message.
        return status::NOT_FOUND;
    }
    let body = match id {
        buffer::HTTP_REQUEST_BODY => &mut s.ctx.request.body,
        buffer::HTTP_RESPONSE_BODY => match s.ctx.response.as_mut() {
            Some(r) => &mut r.body,
            None => return status::NOT_FOUND,
        },
        buffer::HTTP_CALL_RESPONSE_BODY
        | buffer::GRPC_RECEIVE_BUFFER
        | buffer::VM_CONFIGURATION
        | buffer::PLUGIN_CONFIGURATION => {
            return status::BAD_ARGUMENT;
        }
        _ => return status::NOT_FOUND,
    };
    let old = body.as_ref();
    let start = start.min(old.len());
    let end = start.saturating_add(size).min(old.len());
    let mut new = Vec::with_capacity(old.len() - (end - start) + value.len());
    new.extend_from_slice(&old[..start]);
    new.extend_from_slice(value);
    new.extend_from_slice(&old[end..]);
    *body = Bytes::from(new);
    status::OK
}

/// Turns `proxy_send_local_response` into Weir's answer: return overrides for request hooks
/// (`override_error = true`, so the filter's exact body reaches the client), the replaced
/// upstream response for response hooks.
pub(crate) fn local_response(
    s: &mut Stream,
    code: u16,
    body: &[u8],
    headers: &[(&[u8], &[u8])],
    grpc_status: i32,
) -> i32 {
    let mut list: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !k.starts_with(b":"))
        .map(|(k, v)| (lossy(k).to_ascii_lowercase(), lossy(v)))
        .collect();
    let mut body = body;
    if (0..=16).contains(&grpc_status) {
        // A gRPC answer (`send_grpc_response`) is trailers-only: the status and its message
        // travel as headers, percent-encoded, and there is no body.
        list.retain(|(k, _)| {
            !matches!(k.as_str(), "grpc-status" | "grpc-message" | "content-type")
        });
        list.push(("content-type".into(), "application/grpc".into()));
        list.push(("grpc-status".into(), grpc_status.to_string()));
        if !body.is_empty() {
            let message = percent_encoding::percent_encode(body, GRPC_MESSAGE).to_string();
            list.push(("grpc-message".into(), message));
        }
        body = b"";
    }
    if let Some(resp) = s.ctx.response.as_mut() {
        let mut h = HeaderMap::new();
        for (k, v) in &list {
            let e = write_headers(&mut h, k.as_bytes(), v.as_bytes(), Write::Add);
            if e != status::OK {
                return e;
            }
        }
        resp.status = code;
        resp.headers = h;
        resp.body = Bytes::copy_from_slice(body);
    } else {
        let o = &mut s.ctx.request.return_overrides;
        o.response_code = i32::from(code);
        o.response_body = lossy(body);
        o.response_error = String::new();
        o.headers = list;
        o.override_error = true;
    }
    s.local_response = true;
    status::OK
}
