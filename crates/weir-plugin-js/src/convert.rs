//! Tyk's JSVM objects (`MiniRequestObject`, `MiniResponseObject`, the spec's `config`) as
//! JSON, and the hook's answer applied back to the [`HookContext`].

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use weir_core::plugin::{ApiSpecInfo, HookContext, HookKind, ReturnOverrides, Session};

/// Tyk's (Go's) canonical header spelling: `user-agent` → `User-Agent`.
pub(crate) fn canonical(name: &str) -> String {
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

/// Every header, by canonical name, with all its values (Go's `http.Header`).
pub(crate) fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        out.insert(canonical(name.as_str()), Value::Array(values));
    }
    Value::Object(out)
}

/// The query of `url` as Go's `url.Values`: each key with all its values.
fn params_json(url: &str) -> Value {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut out = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let entry = out
            .entry(k.into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(v.into_owned()));
        }
    }
    Value::Object(out)
}

/// Tyk's `config` argument: `{OrgID, APIID, config_data}` (`config_data` as an object).
pub(crate) fn spec_json(spec: &ApiSpecInfo) -> Value {
    let mut out = json!({"OrgID": spec.org_id, "APIID": spec.api_id});
    if let Some(text) = &spec.config_data {
        let data = serde_json::from_str(text).unwrap_or(Value::String(text.clone()));
        out["config_data"] = data;
    }
    out
}

/// The session as Tyk's REST JSON; an empty one when the request has none (Tyk passes a
/// zero `SessionState` then).
pub(crate) fn session_json(session: Option<&Session>) -> Value {
    let empty = Session::default();
    serde_json::to_value(session.unwrap_or(&empty)).unwrap_or_else(|_| json!({}))
}

/// The body as the text scripts see (Tyk hands Go's bytes to JS as a string).
fn body_text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// Tyk's `MiniRequestObject` for the context's request.
pub(crate) fn request_json(ctx: &HookContext, with_body: bool) -> Value {
    let r = &ctx.request;
    let o = &r.return_overrides;
    let overrides: Map<String, Value> = o
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "Headers": headers_json(&r.headers),
        "SetHeaders": {},
        "DeleteHeaders": [],
        "Body": if with_body { body_text(&r.body) } else { String::new() },
        "URL": r.url,
        "Params": params_json(&r.url),
        "AddParams": {},
        "ExtendedParams": {},
        "DeleteParams": [],
        "ReturnOverrides": {
            // Tyk's zero value: no override.
            "ResponseCode": o.response_code.max(0),
            "ResponseError": o.response_error,
            "ResponseBody": o.response_body,
            "ResponseHeaders": overrides,
            "OverrideError": o.override_error,
        },
        "IgnoreBody": false,
        "Method": r.method,
        "RequestURI": r.request_uri,
        "Scheme": r.scheme,
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field's string pairs, sorted by key (JS objects may hold numbers; Tyk would refuse
/// them, Weir takes their text).
fn string_map(obj: &Value, field: &str) -> Result<Vec<(String, String)>, String> {
    let Some(map) = obj.get(field) else {
        return Ok(Vec::new());
    };
    let Value::Object(map) = map else {
        return if map.is_null() {
            Ok(Vec::new())
        } else {
            Err(format!("`{field}` must be an object of strings"))
        };
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let v = text(Some(v)).ok_or_else(|| format!("`{field}.{k}` must be a string"))?;
        out.push((k.clone(), v));
    }
    out.sort();
    Ok(out)
}

fn string_list(obj: &Value, field: &str) -> Result<Vec<String>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| text(Some(v)).ok_or_else(|| format!("`{field}` must be a list of strings")))
            .collect(),
        Some(_) => Err(format!("`{field}` must be a list of strings")),
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))
}

/// `DeleteHeaders` then `SetHeaders`, as Tyk applies them.
fn apply_headers(headers: &mut HeaderMap, obj: &Value) -> Result<(), String> {
    for name in string_list(obj, "DeleteHeaders")? {
        headers.remove(header_name(&name)?);
    }
    for (name, value) in string_map(obj, "SetHeaders")? {
        let v = HeaderValue::from_str(&value)
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        headers.insert(header_name(&name)?, v);
    }
    Ok(())
}

/// Applies a request hook's answer (`{Request, SessionMeta}` or, for auth, `{Request,
/// Session, AuthValue}`) to the context.
pub(crate) fn apply_request(
    ctx: &mut HookContext,
    answer: &Value,
    require_session: bool,
) -> Result<(), String> {
    let Some(req) = answer.get("Request").filter(|r| r.is_object()) else {
        return Err("the middleware returned no `Request` object (use mw.ReturnData)".into());
    };
    let sent_body = body_text(&ctx.request.body);
    let r = &mut ctx.request;
    let ignore_body = matches!(req.get("IgnoreBody"), Some(Value::Bool(true)));
    if !ignore_body && let Some(body) = text(req.get("Body")) {
        // An untouched body keeps its bytes (the text form is lossy for binary bodies).
        if body != sent_body {
            r.body = Bytes::from(body);
            if r.headers.contains_key(CONTENT_LENGTH) {
                r.headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(r.body.len()));
            }
        }
    }
    let mut url = match text(req.get("URL")) {
        Some(u) if !u.is_empty() && u != r.url => {
            if !(u.starts_with('/') || u.contains("://")) {
                return Err(format!(
                    "unparsable URL `{u}`: expected /path?query or scheme://host/path"
                ));
            }
            u
        }
        _ => r.url.clone(),
    };
    apply_headers(&mut r.headers, req)?;
    let delete = string_list(req, "DeleteParams")?;
    let add = string_map(req, "AddParams")?;
    if !delete.is_empty() || !add.is_empty() {
        url = weir_core::plugin::rewrite_query(
            &url,
            &delete,
            add.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    url = append_extended(url, req)?;
    r.url = url;
    if let Some(m) = text(req.get("Method")).filter(|m| !m.is_empty() && *m != r.method) {
        http::Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?;
        r.method = m;
    }
    if let Some(o) = req.get("ReturnOverrides").filter(|o| o.is_object()) {
        r.return_overrides = overrides(o)?;
    }
    match ctx.kind {
        HookKind::CustomAuth => apply_auth(ctx, answer),
        HookKind::PostKeyAuth | HookKind::Post if require_session => {
            apply_session_meta(ctx, answer);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `ExtendedParams`: every value appended (Go's `url.Values.Add`), keys sorted.
fn append_extended(url: String, req: &Value) -> Result<String, String> {
    let Some(Value::Object(map)) = req.get("ExtendedParams") else {
        return Ok(url);
    };
    let mut ser = form_urlencoded::Serializer::new(String::new());
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let Some(Value::Array(values)) = map.get(k.as_str()) else {
            return Err(format!("`ExtendedParams.{k}` must be a list of strings"));
        };
        for v in values {
            let v = text(Some(v))
                .ok_or_else(|| format!("`ExtendedParams.{k}` must be a list of strings"))?;
            ser.append_pair(k, &v);
        }
    }
    let extra = ser.finish();
    if extra.is_empty() {
        return Ok(url);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}{extra}"))
}

/// Tyk's `ReturnOverrides`: code 0 is no override; an error message becomes the body.
fn overrides(o: &Value) -> Result<ReturnOverrides, String> {
    let code = match o.get("ResponseCode") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0) as i32,
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let error = text(o.get("ResponseError")).unwrap_or_default();
    let body = text(o.get("ResponseBody")).unwrap_or_default();
    Ok(ReturnOverrides {
        response_code: if code > 0 { code } else { -1 },
        response_body: if error.is_empty() {
            body
        } else {
            error.clone()
        },
        response_error: error,
        headers: string_map(o, "ResponseHeaders")?,
        override_error: matches!(o.get("OverrideError"), Some(Value::Bool(true))),
    })
}

/// `SessionMeta` replaces the session's metadata (Tyk's `!Pre && UseSession` branch).
fn apply_session_meta(ctx: &mut HookContext, answer: &Value) {
    let Some(session) = ctx.session.as_mut() else {
        return;
    };
    session.metadata = match answer.get("SessionMeta") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Default::default(),
    };
}

/// Custom auth: the returned `Session` and the key it is stored under (`AuthValue`).
fn apply_auth(ctx: &mut HookContext, answer: &Value) -> Result<(), String> {
    let Some(Value::Object(fields)) = answer.get("Session") else {
        return Ok(());
    };
    // Go's JSON writes nil maps and slices as null; Weir's session wants them absent.
    let fields: Map<String, Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if fields.is_empty() {
        return Ok(());
    }
    let session: Session = serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("the auth hook's Session is not a Tyk session object: {e}"))?;
    let token = text(answer.get("AuthValue"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("jsvm-auth-{}", ctx.name));
    ctx.metadata.insert("token".into(), token);
    ctx.session = Some(session);
    Ok(())
}

/// Tyk's `MiniResponseObject`.
pub(crate) fn response_json(ctx: &HookContext) -> Result<Value, String> {
    let resp = ctx
        .response
        .as_ref()
        .ok_or("a response hook was called without a response")?;
    Ok(json!({
        "StatusCode": resp.status,
        "Body": body_text(&resp.body),
        "Headers": headers_json(&resp.headers),
        "SetHeaders": {},
        "DeleteHeaders": [],
    }))
}

/// Applies a response hook's answer (`{Response, SessionMeta}`) as Tyk does.
pub(crate) fn apply_response(ctx: &mut HookContext, answer: &Value) -> Result<(), String> {
    let Some(new) = answer.get("Response").filter(|r| r.is_object()) else {
        return Err(
            "the middleware returned no `Response` object (use mw.ReturnResponseData)".into(),
        );
    };
    let resp = ctx
        .response
        .as_mut()
        .ok_or("a response hook was called without a response")?;
    apply_headers(&mut resp.headers, new)?;
    // Tyk always takes the returned body; an untouched one keeps its bytes.
    let body = text(new.get("Body")).unwrap_or_default();
    if body != body_text(&resp.body) {
        resp.body = Bytes::from(body);
    }
    resp.headers
        .insert(CONTENT_LENGTH, HeaderValue::from(resp.body.len()));
    if let Some(code) = new.get("StatusCode").and_then(Value::as_f64)
        && code != 0.0
    {
        resp.status = u16::try_from(code as i64)
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| format!("StatusCode {code} is not an HTTP status"))?;
    }
    Ok(())
}
