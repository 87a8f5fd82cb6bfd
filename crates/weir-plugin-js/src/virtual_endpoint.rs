//! JSVM virtual endpoints (Tyk's `extended_paths.virtual`, `gateway/mw_virtual_endpoint.go`):
//! a global function `fn(request, session, config)` answers the client itself, usually with
//! `return TykJsResponse({Body, Headers, Code}, session.meta_data)`. The gateway wires the
//! path matching; this module loads the source and runs the function.
//!
//! As in Tyk: `request` is `{Headers, Body, URL, Params, Scheme}` with `Params` the form
//! values of a urlencoded body followed by the query's (Go's `r.Form`); the answer is the JSON
//! text `{Response: {Body, Headers, Code}, SessionMeta}` (a returned object is accepted too).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use rquickjs::{Function, Value};
use serde_json::{Map, json};
use weir_core::plugin::{ApiSpecInfo, PluginError};
use weir_core::virtual_endpoint::{VirtualAnswer, VirtualCode, VirtualRequest};

use crate::engine::{self, Engine, Failure};
use crate::worker::{Pool, Setup};
use crate::{JsDriver, LoadError, convert};

/// One call, as the worker runs it.
pub(crate) struct VirtualCall {
    pub(crate) function: String,
    request: String,
    session: String,
    config: String,
}

/// A virtual endpoint call's outcome.
pub(crate) type VirtualReply = Result<VirtualAnswer, PluginError>;

/// A loaded virtual endpoint: its source in a pool of worker runtimes.
pub struct VirtualEndpoint {
    pool: Pool,
    function: String,
    api: Arc<ApiSpecInfo>,
}

impl JsDriver {
    /// Loads a virtual endpoint's source and checks `function_name` is a global function in
    /// it. `timeout` overrides `jsvm_timeout`. Refused when `enable_jsvm` is off.
    pub fn load_virtual(
        &self,
        api: Arc<ApiSpecInfo>,
        source: &VirtualCode,
        function_name: &str,
        timeout: Option<Duration>,
    ) -> Result<VirtualEndpoint, LoadError> {
        let options = self.options();
        if !options.enabled {
            return Err(LoadError::Unsupported(format!(
                "virtual endpoint `{function_name}`: JavaScript needs `enable_jsvm: true` in the \
                 gateway config"
            )));
        }
        let (name, text) = match source {
            VirtualCode::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                (path.clone(), text)
            }
            VirtualCode::Blob(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| LoadError::Compile {
                        file: "<blob>".into(),
                        reason: format!("function_source_uri is not base64: {e}"),
                    })?;
                let text = String::from_utf8(bytes).map_err(|_| LoadError::Compile {
                    file: "<blob>".into(),
                    reason: "the blob is not UTF-8 text".into(),
                })?;
                (PathBuf::from(format!("<blob {function_name}>")), text)
            }
        };
        let setup = Arc::new(Setup {
            sources: vec![(name, text)],
            hooks: Vec::new(),
            functions: vec![function_name.to_owned()],
            deadline: timeout.unwrap_or(options.default_timeout),
            memory_limit: options.memory_limit,
            keys: self.key_access(),
            api: api.clone(),
        });
        Ok(VirtualEndpoint {
            pool: Pool::start(setup, options.threads)?,
            function: function_name.to_owned(),
            api,
        })
    }
}

impl VirtualEndpoint {
    /// Runs the function for one request. A thrown exception, a timeout or an answer that is
    /// not Tyk's shape fail only this request.
    pub async fn call(&self, req: VirtualRequest) -> Result<VirtualAnswer, PluginError> {
        let call = VirtualCall {
            function: self.function.clone(),
            request: request_json(&req).to_string(),
            session: convert::session_json(req.session.as_ref()).to_string(),
            config: convert::spec_json(&self.api).to_string(),
        };
        self.pool.run_virtual(Box::new(call)).await
    }
}

/// Tyk's `RequestObject`.
fn request_json(req: &VirtualRequest) -> serde_json::Value {
    let mut params: Map<String, serde_json::Value> = Map::new();
    let mut add = |query: &[u8]| {
        for (k, v) in form_urlencoded::parse(query) {
            let entry = params.entry(k.into_owned()).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!(v.into_owned()));
            }
        }
    };
    let form = req
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form {
        add(&req.body);
    }
    add(req.url.split_once('?').map_or("", |(_, q)| q).as_bytes());
    json!({
        "Headers": convert::headers_json(&req.headers),
        "Body": String::from_utf8_lossy(&req.body),
        "URL": req.url,
        "Params": params,
        "Scheme": req.scheme,
    })
}

/// Runs the call on a worker's engine.
pub(crate) fn run(engine: &Engine, call: &VirtualCall) -> Result<VirtualAnswer, Failure> {
    let text = engine.bounded(|c| {
        let f = Function::from_value(engine::resolve(c, &call.function)?)?;
        let returned: Value = f.call((
            c.json_parse(call.request.as_bytes())?,
            c.json_parse(call.session.as_bytes())?,
            c.json_parse(call.config.as_bytes())?,
        ))?;
        if let Some(s) = returned.as_string() {
            return Ok(Some(s.to_string()?));
        }
        if returned.is_undefined() || returned.is_null() {
            return Ok(None);
        }
        c.json_stringify(returned)?
            .map(|s| s.to_string())
            .transpose()
    })?;
    let text = text.ok_or_else(|| {
        Failure::Script("the virtual endpoint returned nothing (use TykJsResponse)".into())
    })?;
    parse_answer(&text).map_err(Failure::Script)
}

/// `{Response: {Body, Headers, Code}, SessionMeta}`.
fn parse_answer(text: &str) -> Result<VirtualAnswer, String> {
    let bad =
        |why: String| format!("the virtual endpoint's answer is not TykJsResponse JSON: {why}");
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let resp = v
        .get("Response")
        .filter(|r| r.is_object())
        .ok_or_else(|| bad("no `Response` object".into()))?;
    let code = resp.get("Code").and_then(|c| c.as_f64()).unwrap_or(0.0);
    let status = if code == 0.0 {
        200
    } else {
        u16::try_from(code as i64)
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| bad(format!("Code {code} is not an HTTP status")))?
    };
    let mut headers = Vec::new();
    if let Some(map) = resp.get("Headers").and_then(|h| h.as_object()) {
        for (k, v) in map {
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("header `{k}` is not a string")))?;
            headers.push((k.clone(), v.to_owned()));
        }
    }
    headers.sort();
    let body = resp
        .get("Body")
        .and_then(|b| b.as_str())
        .unwrap_or_default()
        .to_owned();
    let session_meta = v
        .get("SessionMeta")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    Ok(VirtualAnswer {
        status,
        headers,
        body: Bytes::from(body),
        session_meta,
    })
}
