//! Stream hooks: a gRPC message as the hook's `message` argument, and its verdict.

use bytes::Bytes;
use rquickjs::{Ctx, Function, Object, TypedArray, Value};
use weir_core::plugin::{GrpcMessage, MessageVerdict};

use crate::convert;

/// A stream hook's outcome: the verdict and the replacement payload, if any.
pub(crate) type Verdict = (MessageVerdict, Option<Bytes>);

/// Calls `fn(message, session, config)` and reads its answer. `Err(Ok(reason))` is an
/// unusable answer; `Err(Err(e))` a JavaScript failure.
pub(crate) fn call<'js>(
    ctx: &Ctx<'js>,
    f: Function<'js>,
    msg: &GrpcMessage,
) -> rquickjs::Result<Result<Verdict, String>> {
    let payload = TypedArray::<u8>::new_copy(ctx.clone(), msg.payload.as_ref())?;
    let message = Object::new(ctx.clone())?;
    message.set("payload", payload)?;
    message.set("direction", msg.direction.as_str())?;
    message.set("method", msg.method.as_ref())?;
    message.set("index", msg.index as f64)?;
    message.set(
        "headers",
        ctx.json_parse(convert::headers_json(&msg.headers).to_string())?,
    )?;
    let session = ctx.json_parse(convert::session_json(msg.session.as_deref()).to_string())?;
    let config = ctx.json_parse(convert::spec_json(&msg.spec).to_string())?;
    let returned: Value<'js> = f.call((message, session, config))?;
    verdict(&msg.payload, returned)
}

/// Reads what the hook returned: drop, pass (maybe with a new payload) or end the call.
fn verdict<'js>(sent: &[u8], returned: Value<'js>) -> rquickjs::Result<Result<Verdict, String>> {
    if returned.is_null() || returned.is_undefined() || returned.as_bool() == Some(false) {
        return Ok(Ok((MessageVerdict::Drop, None)));
    }
    if returned.as_bool() == Some(true) {
        return Ok(Ok((MessageVerdict::Pass, None)));
    }
    let Some(obj) = returned.as_object() else {
        return Ok(Err(format!(
            "a stream hook returned a {}",
            returned.type_name()
        )));
    };
    let status: Value<'js> = obj.get("grpc_status")?;
    if !status.is_undefined() && !status.is_null() {
        let Some(code) = status.as_number().filter(|c| c.fract() == 0.0) else {
            return Ok(Err("grpc_status must be an integer".into()));
        };
        let Some(code) = u8::try_from(code as i64).ok().filter(|c| *c <= 16) else {
            return Ok(Err(format!("grpc_status {code} is not a gRPC status code")));
        };
        let message: Option<rquickjs::Coerced<String>> = obj.get("grpc_message")?;
        let message = message.map(|m| m.0).unwrap_or_default();
        return Ok(Ok((MessageVerdict::End { code, message }, None)));
    }
    let payload: Value<'js> = obj.get("payload")?;
    if payload.is_undefined() || payload.is_null() {
        return Ok(Ok((MessageVerdict::Pass, None)));
    }
    let Some(array) = payload
        .as_object()
        .and_then(|o| TypedArray::<u8>::from_object(o.clone()).ok())
    else {
        return Ok(Err("message.payload must be a Uint8Array".into()));
    };
    // SAFETY: the bytes are copied out at once; no JavaScript runs while the slice lives.
    let bytes = unsafe { array.as_bytes() }.map(<[u8]>::to_vec);
    // A payload changed in place counts as replaced too.
    match bytes {
        Some(bytes) if bytes == sent => Ok(Ok((MessageVerdict::Pass, None))),
        Some(bytes) => Ok(Ok((MessageVerdict::Pass, Some(Bytes::from(bytes))))),
        None => Ok(Err("message.payload is a detached Uint8Array".into())),
    }
}
