//! Calling an API's plugin hooks (the lifecycle decides when), and applying what they decide the same way
//! for every driver (tyk.md §1.6): errors answer 500 "Middleware error" (403 for custom auth),
//! return overrides short-circuit, custom auth must leave a session and `metadata["token"]`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use weir_core::plugin::{
    HookContext, HookDecl, HookKind, HookRequest, HookResponse, PluginChain, ReturnOverrides,
};

use crate::body::ProxyBody;
use crate::respond::error_response;

/// Tyk's answer when a hook fails.
const MIDDLEWARE_ERROR: &str = "Middleware error";
/// Tyk's default message for a >= 400 override without a body.
const NOT_AUTHORISED: &str = "Key not authorised";

/// A fresh context for an API's hooks.
pub fn new_context(chain: &PluginChain, request: HookRequest) -> HookContext {
    HookContext {
        kind: HookKind::Pre,
        name: String::new(),
        request,
        response: None,
        session: None,
        metadata: BTreeMap::new(),
        spec: chain.spec.clone(),
        driver_state: Default::default(),
    }
}

/// Runs one phase's request hooks in order. `Some(response)` ends the request there.
pub async fn run_hooks(
    chain: &PluginChain,
    ctx: &mut HookContext,
    hooks: &[HookDecl],
) -> Option<Response<ProxyBody>> {
    for hook in hooks {
        if let Some(r) = call(chain, ctx, hook).await {
            return Some(r);
        }
    }
    None
}

/// Runs the custom authentication hook; it must leave a session and `metadata["token"]`.
pub async fn run_auth(
    chain: &PluginChain,
    ctx: &mut HookContext,
    auth: &HookDecl,
) -> Option<Response<ProxyBody>> {
    if let Some(r) = call(chain, ctx, auth).await {
        return Some(r);
    }
    let token_ok = ctx.metadata.get("token").is_some_and(|t| !t.is_empty());
    if ctx.session.is_none() || !token_ok {
        tracing::info!(api_id = %chain.spec.api_id, hook = %auth.name, "custom auth hook gave no session or token");
        return Some(error_response(StatusCode::FORBIDDEN, "Forbidden"));
    }
    // As Tyk does: the hook's metadata (its `token` included) joins the session's, and the
    // session belongs to the API's organisation; later hooks see both.
    if let Some(session) = ctx.session.as_mut() {
        for (k, v) in &ctx.metadata {
            session
                .metadata
                .insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        session.org_id.clone_from(&chain.spec.org_id);
    }
    None
}

/// Runs response hooks on a response read whole. Errors answer 500.
pub async fn run_response_hooks(
    chain: &PluginChain,
    ctx: &mut HookContext,
    response: HookResponse,
) -> Response<ProxyBody> {
    ctx.response = Some(response);
    for hook in &chain.response {
        ctx.kind = hook.kind;
        ctx.name.clone_from(&hook.name);
        if let Err(e) = call_plugin(chain, ctx).await {
            tracing::warn!(api_id = %chain.spec.api_id, hook = %hook.name, error = %e, "response hook failed");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, MIDDLEWARE_ERROR);
        }
    }
    let Some(resp) = ctx.response.take() else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, MIDDLEWARE_ERROR);
    };
    let mut out = Response::new(ProxyBody::full(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = resp.headers;
    // The body was replaced: its length is what the new body says.
    out.headers_mut().remove(header::CONTENT_LENGTH);
    out.headers_mut().remove(header::TRANSFER_ENCODING);
    out
}

async fn call_plugin(
    chain: &PluginChain,
    ctx: &mut HookContext,
) -> Result<(), weir_core::plugin::PluginError> {
    match tokio::time::timeout(chain.timeout, chain.plugin.call(ctx)).await {
        Ok(result) => result,
        Err(_) => Err(weir_core::plugin::PluginError::Timeout {
            hook: ctx.name.clone(),
            limit: chain.timeout,
        }),
    }
}

/// Calls one request hook and turns its outcome into an early answer, if any.
async fn call(
    chain: &PluginChain,
    ctx: &mut HookContext,
    hook: &HookDecl,
) -> Option<Response<ProxyBody>> {
    ctx.kind = hook.kind;
    ctx.name.clone_from(&hook.name);
    if let Err(e) = call_plugin(chain, ctx).await {
        tracing::warn!(api_id = %chain.spec.api_id, hook = %hook.name, error = %e, "plugin hook failed");
        return Some(if hook.kind == HookKind::CustomAuth {
            error_response(StatusCode::FORBIDDEN, NOT_AUTHORISED)
        } else {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, MIDDLEWARE_ERROR)
        });
    }
    overrides(&mut ctx.request.return_overrides)
}

/// Tyk's return-override rules: >= 400 without override_error → error template; any other
/// positive code → the hook's own answer, verbatim.
fn overrides(ro: &mut ReturnOverrides) -> Option<Response<ProxyBody>> {
    if !ro.response_error.is_empty() {
        ro.response_body.clone_from(&ro.response_error);
    }
    let code = ro.response_code;
    if code <= 0 {
        return None;
    }
    let status = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = if code >= 400 && !ro.override_error {
        let message = if ro.response_body.is_empty() {
            NOT_AUTHORISED
        } else {
            ro.response_body.as_str()
        };
        error_response(status, message)
    } else {
        let mut r = Response::new(ProxyBody::full(Bytes::from(std::mem::take(
            &mut ro.response_body,
        ))));
        *r.status_mut() = status;
        r
    };
    set_headers(resp.headers_mut(), &ro.headers);
    Some(resp)
}

fn set_headers(map: &mut HeaderMap, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_override_continues() {
        assert!(overrides(&mut ReturnOverrides::none()).is_none());
    }

    #[test]
    fn error_override_uses_the_template() {
        let mut ro = ReturnOverrides {
            response_code: 401,
            response_error: "go away".into(),
            ..ReturnOverrides::none()
        };
        let r = overrides(&mut ro).unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[test]
    fn override_error_answers_raw() {
        let mut ro = ReturnOverrides {
            response_code: 418,
            response_body: "teapot".into(),
            override_error: true,
            headers: vec![("x-a".into(), "b".into())],
            ..ReturnOverrides::none()
        };
        let r = overrides(&mut ro).unwrap();
        assert_eq!(r.status(), 418);
        assert_eq!(r.headers()["x-a"], "b");
        assert!(r.headers().get("content-type").is_none());
    }
}
