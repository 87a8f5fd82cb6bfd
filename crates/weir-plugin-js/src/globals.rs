//! The host functions Tyk's JSVM gives scripts: logging, base64, HTTP calls and key access.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rquickjs::convert::Coerced;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function};

use crate::KeyAccess;
use crate::convert::canonical;
use crate::engine::Deadline;
use crate::worker::Setup;

/// Longest a `TykMakeHttpRequest` may take when the hook's deadline is further away.
const HTTP_CAP: Duration = Duration::from_secs(30);
/// Largest response body `TykMakeHttpRequest` reads.
const HTTP_BODY_LIMIT: u64 = 16 << 20;

/// Tyk's answer for a key that does not exist (its REST API's error object).
const KEY_NOT_FOUND: &str = r#"{"status":"error","message":"Key not found"}"#;

/// Installs the globals on a fresh context.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    setup: &Setup,
    deadline: Rc<Deadline>,
) -> rquickjs::Result<()> {
    let g = ctx.globals();
    let api_id = setup.api.api_id.clone();
    let log_api = api_id.clone();
    g.set(
        "log",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, msg: Opt<Coerced<String>>| {
                let text = arg_text(&ctx, msg)?;
                tracing::info!(target: "weir::jsvm", api_id = %log_api, "{text}");
                rquickjs::Result::Ok(())
            },
        )?,
    )?;
    g.set(
        "rawlog",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, msg: Opt<Coerced<String>>| {
            let text = arg_text(&ctx, msg)?;
            tracing::info!(target: "weir::jsvm::raw", "{text}");
            rquickjs::Result::Ok(())
        })?,
    )?;
    install_base64(ctx)?;
    let http_api = api_id.clone();
    g.set(
        "TykMakeHttpRequest",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, req: Opt<Coerced<String>>| {
            let text = arg_text(&ctx, req)?;
            let budget = deadline.remaining().unwrap_or(HTTP_CAP).min(HTTP_CAP);
            match make_http_request(&text, budget) {
                Ok(answer) => rquickjs::Result::Ok(Some(answer)),
                Err(e) => {
                    // Tyk logs and answers undefined.
                    tracing::warn!(target: "weir::jsvm", api_id = %http_api, error = %e, "TykMakeHttpRequest failed");
                    Ok(None)
                }
            }
        })?,
    )?;
    g.set(
        "TykBatchRequest",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| -> rquickjs::Result<()> {
            Err(Exception::throw_message(
                &ctx,
                "TykBatchRequest is not supported by Weir's JavaScript driver",
            ))
        })?,
    )?;
    install_key_access(ctx, setup.keys.clone())
}

/// `b64enc`, `rawb64enc`, `b64dec` and `rawb64dec`, as Tyk's.
fn install_base64<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    let g = ctx.globals();
    g.set(
        "b64enc",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: Opt<Coerced<String>>| {
            rquickjs::Result::Ok(STANDARD.encode(arg_text(&ctx, s)?))
        })?,
    )?;
    g.set(
        "rawb64enc",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: Opt<Coerced<String>>| {
            rquickjs::Result::Ok(STANDARD_NO_PAD.encode(arg_text(&ctx, s)?))
        })?,
    )?;
    // As Tyk: padded first, then unpadded; undefined when neither reads.
    g.set(
        "b64dec",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: Opt<Coerced<String>>| {
            let text = arg_text(&ctx, s)?;
            let out = STANDARD
                .decode(&text)
                .or_else(|_| STANDARD_NO_PAD.decode(&text));
            rquickjs::Result::Ok(out.ok().map(|b| String::from_utf8_lossy(&b).into_owned()))
        })?,
    )?;
    g.set(
        "rawb64dec",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: Opt<Coerced<String>>| {
            let text = arg_text(&ctx, s)?;
            let out = STANDARD_NO_PAD.decode(&text);
            rquickjs::Result::Ok(out.ok().map(|b| String::from_utf8_lossy(&b).into_owned()))
        })?,
    )?;
    Ok(())
}

/// `TykGetKeyData(key, apiId)` and `TykSetKeyData(key, json, suppressReset)`.
fn install_key_access<'js>(
    ctx: &Ctx<'js>,
    keys: Option<Arc<dyn KeyAccess>>,
) -> rquickjs::Result<()> {
    let g = ctx.globals();
    let get_keys = keys.clone();
    g.set(
        "TykGetKeyData",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Opt<Coerced<String>>, api: Opt<Coerced<String>>| {
                let Some(keys) = &get_keys else {
                    return Err(not_configured(&ctx, "TykGetKeyData"));
                };
                let (key, api) = (arg_text(&ctx, key)?, arg_text(&ctx, api)?);
                let api = if api == "undefined" {
                    String::new()
                } else {
                    api
                };
                rquickjs::Result::Ok(match keys.get(&key, &api) {
                    Some(session) => session.to_string(),
                    None => KEY_NOT_FOUND.to_owned(),
                })
            },
        )?,
    )?;
    g.set(
        "TykSetKeyData",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: Opt<Coerced<String>>, session: Opt<Coerced<String>>| {
                let Some(keys) = &keys else {
                    return Err(not_configured(&ctx, "TykSetKeyData"));
                };
                let key = arg_text(&ctx, key)?;
                let text = arg_text(&ctx, session)?;
                let session: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    Exception::throw_message(
                        &ctx,
                        &format!("TykSetKeyData: the session is not JSON: {e}"),
                    )
                })?;
                keys.set(&key, session)
                    .map_err(|e| Exception::throw_message(&ctx, &format!("TykSetKeyData: {e}")))
            },
        )?,
    )?;
    Ok(())
}

fn not_configured<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Error {
    Exception::throw_message(
        ctx,
        &format!("{name}: key access is not configured for JavaScript plugins in this gateway"),
    )
}

/// An argument as Tyk's `call.Argument(n).String()` reads it: `undefined` when missing.
fn arg_text(_ctx: &Ctx<'_>, v: Opt<Coerced<String>>) -> rquickjs::Result<String> {
    Ok(v.0.map_or_else(|| "undefined".to_owned(), |s| s.0))
}

/// Tyk's `TykJSHttpRequest`.
struct HttpRequest {
    method: String,
    body: String,
    headers: Vec<(String, String)>,
    url: String,
    form: Vec<(String, String)>,
}

fn string_field(v: &serde_json::Value, name: &str) -> String {
    v.get(name)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn string_pairs(v: &serde_json::Value, name: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = v
        .get(name)
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

fn parse_request(text: &str) -> Result<HttpRequest, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the request is not JSON: {e}"))?;
    let method = string_field(&v, "Method");
    Ok(HttpRequest {
        method: if method.is_empty() {
            "GET".into()
        } else {
            method
        },
        body: string_field(&v, "Body"),
        headers: string_pairs(&v, "Headers"),
        url: format!(
            "{}{}",
            string_field(&v, "Domain"),
            string_field(&v, "Resource")
        ),
        form: string_pairs(&v, "FormData"),
    })
}

/// Makes the call and answers Tyk's `TykJSHttpResponse` JSON.
fn make_http_request(text: &str, budget: Duration) -> Result<String, String> {
    let req = parse_request(text)?;
    let body = if !req.body.is_empty() {
        req.body.into_bytes()
    } else if !req.form.is_empty() {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.form {
            ser.append_pair(k, v);
        }
        ser.finish().into_bytes()
    } else {
        Vec::new()
    };
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.url.as_str());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder
        .body(body)
        .map_err(|e| format!("bad request: {e}"))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(budget))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.run(request).map_err(|e| e.to_string())?;
    let code = resp.status().as_u16();
    let mut headers = serde_json::Map::new();
    for name in resp.headers().keys() {
        let values: Vec<serde_json::Value> = resp
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        headers.insert(canonical(name.as_str()), values.into());
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(HTTP_BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&body).into_owned();
    Ok(serde_json::json!({
        "Code": code, "Body": body, "Headers": headers,
        "code": code, "body": body, "headers": headers,
    })
    .to_string())
}
