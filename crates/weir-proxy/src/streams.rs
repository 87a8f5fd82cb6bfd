//! An API's `x-tyk-streaming` block: compiled with the API (through the stream engine) and
//! served under its listen path after the request phases, like any other endpoint.

use std::sync::Arc;

use http::Request;
use http::Response;
use weir_config::{ApiDefinition, ConfigError};
use weir_core::GatewayError;
use weir_streams::{ApiStreams, Engine, StreamError};

use crate::body::{ProxyBody, RequestBody};
use crate::gateway::ConnInfo;
use crate::respond::gateway_error;

/// What loading an API does with its streams.
#[derive(Clone, Copy)]
pub enum Streaming<'a> {
    /// `streaming.enabled` is off: an API that declares streams is refused.
    Off,
    /// `weir check`: streams are parsed and checked, nothing starts.
    Check,
    /// Streams are built and started by this engine.
    On(&'a Engine),
}

/// The block's name in a Tyk OAS definition.
const BLOCK: &str = "x-tyk-streaming";

/// Builds (or checks) the API's streams; `None` when it declares none.
pub fn compile(
    def: &ApiDefinition,
    mode: Streaming<'_>,
) -> Result<Option<Arc<ApiStreams>>, ConfigError> {
    let Some(block) = def.document.get(BLOCK) else {
        return Ok(None);
    };
    let declared = block
        .get("streams")
        .and_then(|s| s.as_object())
        .is_some_and(|s| !s.is_empty());
    if !declared {
        return Ok(None);
    }
    let err = |field: &str, reason: String| ConfigError {
        file: def.file.clone(),
        field: field.to_string(),
        reason,
    };
    if weir_streams::context::is_templated(block) && !context_variables_on(def) {
        return Err(err(
            BLOCK,
            "the streams use `$tyk_context.` but context variables are off; set \
             `x-tyk-api-gateway.middleware.global.contextVariables.enabled: true`"
                .to_string(),
        ));
    }
    let result = match mode {
        Streaming::Off => {
            return Err(err(
                BLOCK,
                "Tyk Streams are off in the gateway config; set `streaming.enabled: true` in \
                 tyk.conf to serve this API's streams"
                    .to_string(),
            ));
        }
        Streaming::Check => weir_streams::check(block, BLOCK).map(|()| None),
        Streaming::On(engine) => engine.load(&def.api_id, block, BLOCK).map(Some),
    };
    result.map_err(|errors| {
        let (field, reason) = summarise(&errors);
        err(&field, reason)
    })
}

/// One `ConfigError` for several stream errors: the first names the field, the rest follow.
fn summarise(errors: &[StreamError]) -> (String, String) {
    let Some(first) = errors.first() else {
        return (
            BLOCK.to_string(),
            "the streams could not be built".to_string(),
        );
    };
    let mut reason = first.reason.clone();
    for e in &errors[1..] {
        reason.push_str(&format!("; also {}: {}", e.path, e.reason));
    }
    (first.path.clone(), reason)
}

/// `contextVariables.enabled` in the OAS middleware block.
fn context_variables_on(def: &ApiDefinition) -> bool {
    def.document
        .pointer("/x-tyk-api-gateway/middleware/global/contextVariables/enabled")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// A request for one of the API's stream endpoints, with the caller's JWT claims when it has
/// them. Response phases do not run: a stream's body never ends, and its messages already
/// went through the stream's own processors.
pub async fn serve(
    streams: &ApiStreams,
    parts: http::request::Parts,
    body: RequestBody,
    rest: &str,
    conn: ConnInfo,
    claims: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Response<ProxyBody> {
    let remote = conn.remote.ip();
    let context = |parts: &http::request::Parts| {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut ctx = weir_streams::RequestContext::from_request(parts, remote, &request_id);
        // A JWT's claims, under Tyk's name (`jwt_claims_sub`) and the dotted form seed 001
        // writes (`jwt.claims.sub`).
        for (name, value) in claims.into_iter().flatten() {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ctx.set(format!("jwt.claims.{name}"), text.clone());
            ctx.set(format!("jwt_claims_{name}"), text);
        }
        ctx
    };
    let req = Request::from_parts(parts, body);
    match streams.serve(req, rest, remote, context).await {
        Some(resp) => resp.map(ProxyBody::Boxed),
        None => gateway_error(&GatewayError::NoRoute, false),
    }
}
