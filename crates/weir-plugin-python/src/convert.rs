//! The coprocess object as plain Python data for `runtime.call` (which wraps it in Tyk's
//! classes), and the plain data it returns applied back to the [`HookContext`].

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use pyo3::conversion::FromPyObjectOwned;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use weir_core::plugin::{
    ApiSpecInfo, GrpcMessage, HookContext, HookKind, MessageVerdict, ReturnOverrides, Session,
};

/// Tyk's (Go's) canonical header spelling: `user-agent` → `User-Agent`.
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
fn first_values(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .keys()
        .filter_map(|k| {
            let v = headers.get(k)?;
            Some((
                canonical(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

/// Every value of each header, in order, as `(canonical name, values)`.
fn all_values(headers: &HeaderMap) -> Vec<(String, Vec<String>)> {
    headers
        .keys()
        .map(|k| {
            let values = headers
                .get_all(k)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (canonical(k.as_str()), values)
        })
        .collect()
}

fn spec_dict<'py>(py: Python<'py>, spec: &ApiSpecInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("OrgID", &spec.org_id)?;
    d.set_item("APIID", &spec.api_id)?;
    if let Some(h) = &spec.bundle_hash {
        d.set_item("bundle_hash", h)?;
    }
    if let Some(c) = &spec.config_data {
        d.set_item("config_data", c)?;
    }
    Ok(d)
}

fn session_json(session: Option<&Session>) -> PyResult<Option<String>> {
    session
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// The data `runtime.call` gets for a request or response hook.
pub(crate) fn hook_data<'py>(py: Python<'py>, ctx: &HookContext) -> PyResult<Bound<'py, PyDict>> {
    let r = &ctx.request;
    let req = PyDict::new(py);
    req.set_item("headers", first_values(&r.headers))?;
    req.set_item("raw_body", PyBytes::new(py, &r.body))?;
    req.set_item("url", &r.url)?;
    let query = r.url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    req.set_item("params", params)?;
    let o = &r.return_overrides;
    let overrides = PyDict::new(py);
    overrides.set_item("response_code", o.response_code)?;
    overrides.set_item("response_error", &o.response_error)?;
    let oh: HashMap<&str, &str> = o
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    overrides.set_item("headers", oh)?;
    overrides.set_item("override_error", o.override_error)?;
    overrides.set_item("response_body", &o.response_body)?;
    req.set_item("return_overrides", overrides)?;
    req.set_item("method", &r.method)?;
    req.set_item("request_uri", &r.request_uri)?;
    req.set_item("scheme", &r.scheme)?;

    let data = PyDict::new(py);
    data.set_item("request", req)?;
    data.set_item("session", session_json(ctx.session.as_ref())?)?;
    data.set_item("auth", ctx.kind == HookKind::CustomAuth)?;
    data.set_item("metadata", &ctx.metadata)?;
    data.set_item("spec", spec_dict(py, &ctx.spec)?)?;
    if let Some(resp) = &ctx.response {
        let d = PyDict::new(py);
        d.set_item("status_code", resp.status)?;
        d.set_item("raw_body", PyBytes::new(py, &resp.body))?;
        d.set_item("headers", first_values(&resp.headers))?;
        d.set_item("multivalue_headers", all_values(&resp.headers))?;
        data.set_item("response", d)?;
    }
    Ok(data)
}

fn item<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> Result<T, String> {
    let v = d
        .get_item(key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("`{key}` missing from the hook's result"))?;
    v.extract::<T>().map_err(|e| {
        let e: PyErr = e.into();
        format!("`{key}`: {e}")
    })
}

/// Applies what `runtime.call` returned to the context.
pub(crate) fn apply(ctx: &mut HookContext, result: &Bound<'_, PyAny>) -> Result<(), String> {
    let result = result
        .cast::<PyDict>()
        .map_err(|_| "the runtime returned no dict".to_owned())?;
    if ctx.kind == HookKind::Response {
        let resp: Bound<'_, PyDict> = item(result, "response")?;
        return apply_response(ctx, &resp);
    }
    let req: Bound<'_, PyDict> = item(result, "request")?;
    apply_request(ctx, &req)?;
    let session: Option<String> = item(result, "session")?;
    if let Some(text) = session {
        ctx.session = Some(session_from(ctx.session.as_ref(), &text)?);
    }
    let metadata: BTreeMap<String, String> = item(result, "metadata")?;
    ctx.metadata.extend(metadata);
    // In Tyk's Python the auth hook's `metadata` is the session's: a token set there counts.
    if ctx.kind == HookKind::CustomAuth && !ctx.metadata.contains_key("token") {
        let token = ctx
            .session
            .as_ref()
            .and_then(|s| s.metadata.get("token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        if let Some(token) = token {
            ctx.metadata.insert("token".into(), token);
        }
    }
    Ok(())
}

fn fix_content_length(headers: &mut HeaderMap, len: usize) {
    if headers.contains_key(CONTENT_LENGTH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|_| format!("invalid value for header `{name}`"))
}

fn apply_request(ctx: &mut HookContext, req: &Bound<'_, PyDict>) -> Result<(), String> {
    let r = &mut ctx.request;
    let body: Option<Vec<u8>> = item(req, "body")?;
    if let Some(body) = body {
        r.body = Bytes::from(body);
        fix_content_length(&mut r.headers, r.body.len());
    }
    let delete: Vec<String> = item(req, "delete_headers")?;
    for name in delete {
        r.headers.remove(header_name(&name)?);
    }
    let set: BTreeMap<String, String> = item(req, "set_headers")?;
    for (name, value) in &set {
        r.headers
            .insert(header_name(name)?, header_value(name, value)?);
    }
    let url: String = item(req, "url")?;
    let mut url = if url.is_empty() || url == r.url {
        r.url.clone()
    } else if url.starts_with('/') || url.contains("://") {
        url
    } else {
        return Err(format!(
            "unparsable url `{url}`: expected /path?query or scheme://host/path"
        ));
    };
    let delete: Vec<String> = item(req, "delete_params")?;
    let add: BTreeMap<String, String> = item(req, "add_params")?;
    if !delete.is_empty() || !add.is_empty() {
        url = weir_core::plugin::rewrite_query(
            &url,
            &delete,
            add.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    r.url = url;
    let method: String = item(req, "method")?;
    if !method.is_empty() {
        Method::from_bytes(method.as_bytes()).map_err(|_| format!("invalid method `{method}`"))?;
        r.method = method;
    }
    let o: Bound<'_, PyDict> = item(req, "return_overrides")?;
    let error: String = item(&o, "response_error")?;
    let body: String = item(&o, "response_body")?;
    let headers: BTreeMap<String, String> = item(&o, "headers")?;
    r.return_overrides = ReturnOverrides {
        response_code: item(&o, "response_code")?,
        response_body: if error.is_empty() {
            body
        } else {
            error.clone()
        },
        response_error: error,
        headers: headers.into_iter().collect(),
        override_error: item(&o, "override_error")?,
    };
    Ok(())
}

/// The returned session merged over the one sent: fields the hook left out keep their value.
fn session_from(base: Option<&Session>, text: &str) -> Result<Session, String> {
    let returned: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("session: {e}"))?;
    let mut merged = match base.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    merged.extend(returned);
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| format!("session: {e}"))
}

fn apply_response(ctx: &mut HookContext, resp: &Bound<'_, PyDict>) -> Result<(), String> {
    let code: i64 = item(resp, "status_code")?;
    let status = u16::try_from(code)
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| format!("invalid response status_code {code}"))?;
    let multi: Vec<(String, Vec<String>)> = item(resp, "headers")?;
    let mut headers = HeaderMap::new();
    for (name, values) in &multi {
        let key = header_name(name)?;
        for v in values {
            headers.append(key.clone(), header_value(name, v)?);
        }
    }
    let body: Option<Vec<u8>> = item(resp, "body")?;
    let out = ctx
        .response
        .as_mut()
        .ok_or("response hook called without a response")?;
    if let Some(body) = body {
        out.body = Bytes::from(body);
    }
    fix_content_length(&mut headers, out.body.len());
    out.status = status;
    out.headers = headers;
    Ok(())
}

/// The data `runtime.message` gets for a stream hook.
pub(crate) fn message_data<'py>(
    py: Python<'py>,
    msg: &GrpcMessage,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("payload", PyBytes::new(py, &msg.payload))?;
    d.set_item("direction", msg.direction.as_str())?;
    d.set_item("method", msg.method.as_ref())?;
    d.set_item("index", msg.index)?;
    d.set_item("headers", first_values(&msg.headers))?;
    d.set_item("session", session_json(msg.session.as_deref())?)?;
    d.set_item("spec", spec_dict(py, &msg.spec)?)?;
    Ok(d)
}

/// The stream hook's verdict and, when it replaced the payload, the new one.
pub(crate) fn verdict(out: &Bound<'_, PyAny>) -> Result<(MessageVerdict, Option<Bytes>), String> {
    let t = out
        .cast::<PyTuple>()
        .map_err(|_| "the runtime returned no tuple".to_owned())?;
    let what: String = t
        .get_item(0)
        .and_then(|v| v.extract())
        .map_err(|e| e.to_string())?;
    match what.as_str() {
        "drop" => Ok((MessageVerdict::Drop, None)),
        "pass" => {
            let payload: Option<Vec<u8>> = t
                .get_item(1)
                .and_then(|v| v.extract())
                .map_err(|e| e.to_string())?;
            Ok((MessageVerdict::Pass, payload.map(Bytes::from)))
        }
        "end" => {
            let code: i64 = t
                .get_item(1)
                .and_then(|v| v.extract())
                .map_err(|e| e.to_string())?;
            let code = u8::try_from(code)
                .ok()
                .filter(|c| *c <= 16)
                .ok_or_else(|| format!("grpc_status {code} is not a gRPC status code"))?;
            let message: String = t
                .get_item(2)
                .and_then(|v| v.extract())
                .map_err(|e| e.to_string())?;
            Ok((MessageVerdict::End { code, message }, None))
        }
        other => Err(format!("unknown verdict `{other}`")),
    }
}
