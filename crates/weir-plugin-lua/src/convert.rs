//! The coprocess `Object` as Lua tables (the shape Tyk's Lua bundle decoded from JSON), and
//! the hook's answer applied back to the [`HookContext`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::worker::{Failure, bounded};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use mlua::{Function, Lua, LuaSerdeExt, MultiValue, Table, Value};
use weir_core::plugin::{
    ApiSpecInfo, GrpcMessage, HookContext, HookKind, MessageVerdict, ReturnOverrides, Session,
};

/// What was handed to the hook, to tell its changes apart.
pub(crate) struct Sent {
    request: Table,
    session: Value,
    metadata: Table,
    spec: Table,
    body: Bytes,
    url: String,
}

/// Lua's message for an error: the innermost cause, with file and line when Lua gave them.
pub(crate) fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::WithContext { cause, .. } => lua_message(cause),
        mlua::Error::SyntaxError { message, .. } => format!("syntax error: {message}"),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::MemoryError(_) => "out of memory: the lua memory limit was reached".into(),
        other => other.to_string(),
    }
}

/// Tyk's (Go's) canonical header spelling, as Lua scripts index `request.headers`:
/// `user-agent` → `User-Agent`.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// First value of each header, by canonical name.
fn headers_table(lua: &Lua, headers: &HeaderMap) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for name in headers.keys() {
        if let Some(v) = headers.get(name) {
            t.set(canonical(name.as_str()), lua.create_string(v.as_bytes())?)?;
        }
    }
    Ok(t)
}

fn spec_table(lua: &Lua, spec: &ApiSpecInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("OrgID", spec.org_id.as_str())?;
    t.set("APIID", spec.api_id.as_str())?;
    if let Some(h) = &spec.bundle_hash {
        t.set("bundle_hash", h.as_str())?;
    }
    if let Some(c) = &spec.config_data {
        t.set("config_data", c.as_str())?;
    }
    Ok(t)
}

/// The session with the proto's `metadata` name (Weir's REST JSON says `meta_data`).
fn session_value(lua: &Lua, session: Option<&Session>) -> mlua::Result<Value> {
    let Some(session) = session else {
        return Ok(Value::Nil);
    };
    let mut json = serde_json::to_value(session).map_err(mlua::Error::external)?;
    if let Some(map) = json.as_object_mut()
        && let Some(meta) = map.remove("meta_data")
    {
        map.insert("metadata".into(), meta);
    }
    lua.to_value(&json)
}

/// Builds the object, sets it as the global `object` Tyk's helpers use, and returns what
/// was sent.
pub(crate) fn object(lua: &Lua, ctx: &HookContext) -> mlua::Result<Sent> {
    let r = &ctx.request;
    let req = lua.create_table()?;
    let headers = headers_table(lua, &r.headers)?;
    req.set("headers", headers.clone())?;
    req.set("set_headers", lua.create_table()?)?;
    req.set("delete_headers", lua.create_table()?)?;
    req.set("body", lua.create_string(&r.body)?)?;
    req.set("raw_body", lua.create_string(&r.body)?)?;
    req.set("url", r.url.as_str())?;
    let params = lua.create_table()?;
    let query = r.url.split_once('?').map(|(_, q)| q).unwrap_or("");
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !params.contains_key(k.as_ref())? {
            params.set(k.as_ref(), v.as_ref())?;
        }
    }
    req.set("params", params)?;
    req.set("add_params", lua.create_table()?)?;
    req.set("extended_params", lua.create_table()?)?;
    req.set("delete_params", lua.create_table()?)?;
    let o = &r.return_overrides;
    let overrides = lua.create_table()?;
    overrides.set("response_code", o.response_code)?;
    overrides.set("response_error", o.response_error.as_str())?;
    let oh = lua.create_table()?;
    for (k, v) in &o.headers {
        oh.set(k.as_str(), v.as_str())?;
    }
    overrides.set("headers", oh)?;
    overrides.set("override_error", o.override_error)?;
    overrides.set("response_body", o.response_body.as_str())?;
    req.set("return_overrides", overrides)?;
    req.set("method", r.method.as_str())?;
    req.set("request_uri", r.request_uri.as_str())?;
    req.set("scheme", r.scheme.as_str())?;

    let session = session_value(lua, ctx.session.as_ref())?;
    let metadata = lua.create_table()?;
    for (k, v) in &ctx.metadata {
        metadata.set(k.as_str(), v.as_str())?;
    }
    let spec = spec_table(lua, &ctx.spec)?;
    let object = lua.create_table()?;
    object.set("hook_type", ctx.kind.tyk_hook_type())?;
    object.set("hook_name", ctx.name.as_str())?;
    object.set("request", req.clone())?;
    object.set("session", session.clone())?;
    object.set("metadata", metadata.clone())?;
    object.set("spec", spec.clone())?;
    lua.globals().set("object", object)?;
    let tyk: Table = lua.globals().get("tyk")?;
    tyk.set("header", headers)?;
    Ok(Sent {
        request: req,
        session,
        metadata,
        spec,
        body: r.body.clone(),
        url: r.url.clone(),
    })
}

/// Calls a request hook: `(request, session, spec)`, or `(request, session, metadata, spec)`
/// for custom auth.
pub(crate) fn call_hook(
    lua: &Lua,
    limit: Duration,
    f: &Function,
    kind: HookKind,
    sent: &Sent,
) -> Result<MultiValue, Failure> {
    let (req, session, spec) = (
        sent.request.clone(),
        sent.session.clone(),
        sent.spec.clone(),
    );
    if kind == HookKind::CustomAuth {
        bounded(lua, limit, f, (req, session, sent.metadata.clone(), spec))
    } else {
        bounded(lua, limit, f, (req, session, spec))
    }
}

fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    bytes_of(v).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A table's string pairs, sorted by key (Lua's order is not stable).
fn string_map(t: &Table, field: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Ok(Value::Table(map)) = t.get::<Value>(field) else {
        return Ok(out);
    };
    for pair in map.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| format!("`{field}`: {e}"))?;
        match (text_of(&k), text_of(&v)) {
            (Some(k), Some(v)) => out.insert(k, v),
            _ => return Err(format!("`{field}` must map strings to strings")),
        };
    }
    Ok(out)
}

fn string_list(t: &Table, field: &str) -> Result<Vec<String>, String> {
    let Ok(Value::Table(list)) = t.get::<Value>(field) else {
        return Ok(Vec::new());
    };
    list.sequence_values::<Value>()
        .map(|v| {
            v.ok()
                .as_ref()
                .and_then(text_of)
                .ok_or_else(|| format!("`{field}` must be a list of strings"))
        })
        .collect()
}

fn field_text(t: &Table, field: &str) -> Option<String> {
    t.get::<Value>(field).ok().as_ref().and_then(text_of)
}

/// Applies the hook's return values (request, session[, metadata]) to the context.
pub(crate) fn apply(
    lua: &Lua,
    ctx: &mut HookContext,
    sent: &Sent,
    returned: MultiValue,
) -> Result<(), String> {
    let mut values = returned.into_iter();
    let req = match values.next() {
        Some(Value::Table(t)) => t,
        None | Some(Value::Nil) => sent.request.clone(),
        Some(other) => {
            return Err(format!(
                "the hook returned a {} as the request",
                other.type_name()
            ));
        }
    };
    apply_request(ctx, sent, &req)?;
    match values.next().unwrap_or(Value::Nil) {
        Value::Nil => {}
        Value::Table(t) => ctx.session = Some(session_from(lua, ctx.session.as_ref(), t)?),
        other => {
            return Err(format!(
                "the hook returned a {} as the session",
                other.type_name()
            ));
        }
    }
    if ctx.kind == HookKind::CustomAuth {
        let meta = match values.next() {
            Some(Value::Table(t)) => t,
            _ => sent.metadata.clone(),
        };
        for pair in meta.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| format!("metadata: {e}"))?;
            if let (Some(k), Some(v)) = (text_of(&k), text_of(&v)) {
                ctx.metadata.insert(k, v);
            }
        }
    }
    Ok(())
}

fn apply_request(ctx: &mut HookContext, sent: &Sent, req: &Table) -> Result<(), String> {
    let r = &mut ctx.request;
    let body = req.get::<Value>("body").ok().as_ref().and_then(bytes_of);
    let raw = req
        .get::<Value>("raw_body")
        .ok()
        .as_ref()
        .and_then(bytes_of);
    let changed = |b: &Option<Vec<u8>>| {
        b.as_ref()
            .filter(|b| b.as_slice() != sent.body.as_ref())
            .cloned()
    };
    if let Some(new) = changed(&body).or_else(|| changed(&raw)) {
        r.body = Bytes::from(new);
        if r.headers.contains_key(CONTENT_LENGTH) {
            r.headers
                .insert(CONTENT_LENGTH, HeaderValue::from(r.body.len()));
        }
    }
    for name in string_list(req, "delete_headers")? {
        r.headers.remove(header_name(&name)?);
    }
    for (name, value) in string_map(req, "set_headers")? {
        let v = HeaderValue::from_str(&value)
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        r.headers.insert(header_name(&name)?, v);
    }
    let mut url = match field_text(req, "url") {
        Some(u) if !u.is_empty() && u != sent.url => {
            if !(u.starts_with('/') || u.contains("://")) {
                return Err(format!(
                    "unparsable url `{u}`: expected /path?query or scheme://host/path"
                ));
            }
            u
        }
        _ => r.url.clone(),
    };
    let delete = string_list(req, "delete_params")?;
    let add = string_map(req, "add_params")?;
    if !delete.is_empty() || !add.is_empty() {
        url = weir_core::plugin::rewrite_query(
            &url,
            &delete,
            add.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    r.url = url;
    if let Some(m) = field_text(req, "method").filter(|m| !m.is_empty()) {
        Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?;
        r.method = m;
    }
    if let Ok(Value::Table(o)) = req.get::<Value>("return_overrides") {
        let code = match o.get::<Value>("response_code") {
            Ok(Value::Integer(c)) => i32::try_from(c).unwrap_or(-1),
            Ok(Value::Number(c)) if c.fract() == 0.0 => c as i32,
            _ => -1,
        };
        let error = field_text(&o, "response_error").unwrap_or_default();
        let body = field_text(&o, "response_body").unwrap_or_default();
        r.return_overrides = ReturnOverrides {
            response_code: code,
            response_body: if error.is_empty() {
                body
            } else {
                error.clone()
            },
            response_error: error,
            headers: string_map(&o, "headers")?.into_iter().collect(),
            override_error: matches!(o.get::<Value>("override_error"), Ok(Value::Boolean(true))),
        };
    }
    Ok(())
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))
}

/// The returned session merged over the one sent: fields the hook left out keep their value.
fn session_from(lua: &Lua, base: Option<&Session>, t: Table) -> Result<Session, String> {
    let returned: serde_json::Value = lua
        .from_value(Value::Table(t))
        .map_err(|e| format!("session: {e}"))?;
    let serde_json::Value::Object(mut returned) = returned else {
        // An empty Lua table reads as an array: an empty session.
        return Ok(base.cloned().unwrap_or_default());
    };
    if let Some(meta) = returned.remove("metadata") {
        returned.insert("meta_data".into(), meta);
    }
    let mut merged = match base.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    merged.extend(returned);
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| format!("session: {e}"))
}

/// A gRPC message as the stream hook's first argument.
pub(crate) fn message(lua: &Lua, msg: &GrpcMessage) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("payload", lua.create_string(&msg.payload)?)?;
    t.set("direction", msg.direction.as_str())?;
    t.set("method", msg.method.as_ref())?;
    t.set("index", msg.index)?;
    t.set("headers", headers_table(lua, &msg.headers)?)?;
    Ok(t)
}

/// Calls a stream hook: `(message, session, spec)`.
pub(crate) fn call_message(
    lua: &Lua,
    limit: Duration,
    f: &Function,
    msg: &GrpcMessage,
    table: &Table,
) -> Result<MultiValue, Failure> {
    let session = session_value(lua, msg.session.as_deref()).map_err(Failure::Lua)?;
    let spec = spec_table(lua, &msg.spec).map_err(Failure::Lua)?;
    bounded(lua, limit, f, (table.clone(), session, spec))
}

/// The stream hook's verdict and, when it replaced the payload, the new one.
pub(crate) fn verdict(
    msg: &GrpcMessage,
    returned: MultiValue,
) -> Result<(MessageVerdict, Option<Bytes>), String> {
    let t = match returned.into_iter().next().unwrap_or(Value::Nil) {
        Value::Nil | Value::Boolean(false) => return Ok((MessageVerdict::Drop, None)),
        Value::Boolean(true) => return Ok((MessageVerdict::Pass, None)),
        Value::Table(t) => t,
        other => return Err(format!("a stream hook returned a {}", other.type_name())),
    };
    match t.get::<Value>("grpc_status") {
        Ok(Value::Integer(code)) => {
            let code = u8::try_from(code)
                .ok()
                .filter(|c| *c <= 16)
                .ok_or_else(|| format!("grpc_status {code} is not a gRPC status code"))?;
            let message = field_text(&t, "grpc_message").unwrap_or_default();
            return Ok((MessageVerdict::End { code, message }, None));
        }
        Ok(Value::Nil) => {}
        _ => return Err("grpc_status must be an integer".into()),
    }
    let payload = match t.get::<Value>("payload") {
        Ok(Value::String(s)) if s.as_bytes().as_ref() != msg.payload.as_ref() => {
            Some(Bytes::from(s.as_bytes().to_vec()))
        }
        Ok(Value::String(_)) | Ok(Value::Nil) => None,
        _ => return Err("message.payload must be a string of bytes".into()),
    };
    Ok((MessageVerdict::Pass, payload))
}
