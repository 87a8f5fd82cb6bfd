//! Weir's gRPC message extension to proxy-wasm: stream hooks on each message of a gRPC call.
//! The ABI is documented in `docs/stream-hooks-wasm.md`; in short:
//!
//! - the module exports `proxy_on_grpc_message(context_id, direction, message_size) -> action`
//!   (all `i32`), called on a fresh HTTP context of the instance's configured root;
//!   `direction` is 0 = to upstream (request), 1 = from upstream (response), as
//!   `proxy_stream_type_t` numbers them; `action` 0 = pass, 1 = drop;
//! - host functions in the `env` module, beside proxy-wasm's: `weir_get_grpc_message`,
//!   `weir_set_grpc_message`, `weir_end_grpc_stream` (an end wins over the action);
//! - properties `grpc.method`, `grpc.direction`, `grpc.index` (see [`crate::props`]).
//!
//! The SDKs' callbacks have no slot for a message, so this is an extra export and not a
//! reinterpretation of `proxy_on_request_body`: a filter written for Envoy keeps its meaning.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use wasmtime::{ExternType, Linker, Module, ValType};
use weir_core::plugin::{
    GrpcMessage, HookContext, HookKind, HookRequest, MessageDirection, MessageVerdict,
    ReturnOverrides,
};

use crate::abi::status;
use crate::mem::{Cx, give, memory, slice, tri};
use crate::state::{GrpcCall, HostState, Stream};

/// The export a module needs to serve stream hooks.
pub(crate) const EXPORT: &str = "proxy_on_grpc_message";

/// `proxy_on_grpc_message` result: send the message on (as replaced, if it was).
pub(crate) const ACTION_PASS: i32 = 0;
/// `proxy_on_grpc_message` result: do not send the message; the call goes on.
pub(crate) const ACTION_DROP: i32 = 1;

/// The `direction` argument; the numbers are proxy-wasm's `proxy_stream_type_t`.
pub(crate) fn direction_code(d: MessageDirection) -> i32 {
    match d {
        MessageDirection::ToUpstream => 0,
        MessageDirection::FromUpstream => 1,
    }
}

/// Checks at load that a module serving a stream hook exports `proxy_on_grpc_message` with
/// the ABI's signature.
pub(crate) fn check_export(module: &Module) -> Result<(), String> {
    let Some(ExternType::Func(f)) = module.get_export(EXPORT) else {
        return Err(format!("the module does not export `{EXPORT}`"));
    };
    let params: Vec<ValType> = f.params().collect();
    let results: Vec<ValType> = f.results().collect();
    let i32s = |v: &[ValType], n: usize| v.len() == n && v.iter().all(|t| t.is_i32());
    if !i32s(&params, 3) || !i32s(&results, 1) {
        return Err(format!(
            "export `{EXPORT}` must be (i32 context_id, i32 direction, i32 message_size) -> i32 \
             action, found {f}"
        ));
    }
    Ok(())
}

/// The stream state of one message call: the request headers are the call's (read-only),
/// `:path` is the gRPC method, `:method` is `POST`, `:scheme` is empty (not known here).
pub(crate) fn stream(id: u32, msg: &GrpcMessage) -> Stream {
    let ctx = HookContext {
        kind: HookKind::GrpcMessage,
        name: msg.hook.to_string(),
        request: HookRequest {
            method: "POST".into(),
            url: msg.method.to_string(),
            request_uri: msg.method.to_string(),
            scheme: String::new(),
            // Cheap: header names and values are reference-counted bytes.
            headers: (*msg.headers).clone(),
            body: Bytes::new(),
            return_overrides: ReturnOverrides::none(),
        },
        response: None,
        session: None,
        metadata: BTreeMap::new(),
        spec: msg.spec.clone(),
        driver_state: Default::default(),
    };
    Stream {
        id,
        ctx,
        local_response: false,
        resumed: false,
        scratch: HashMap::new(),
        pending: Vec::new(),
        call_response: None,
        grpc: Some(GrpcCall {
            direction: msg.direction,
            method: msg.method.clone(),
            index: msg.index,
            payload: msg.payload.clone(),
            replaced: false,
            end: None,
            session: msg.session.clone(),
        }),
    }
}

/// Turns the filter's answer into the message's fate; a replacement is written back into
/// `msg.payload` only when the message passes.
pub(crate) fn verdict(
    action: i32,
    call: GrpcCall,
    msg: &mut GrpcMessage,
) -> Result<MessageVerdict, String> {
    if let Some((code, message)) = call.end {
        return Ok(MessageVerdict::End { code, message });
    }
    match action {
        ACTION_PASS => {
            if call.replaced {
                msg.payload = call.payload;
            }
            Ok(MessageVerdict::Pass)
        }
        ACTION_DROP => Ok(MessageVerdict::Drop),
        other => Err(format!(
            "{EXPORT} returned unknown action {other} (0 = pass, 1 = drop)"
        )),
    }
}

fn call_mut(st: &mut HostState) -> Result<&mut GrpcCall, i32> {
    st.stream
        .as_mut()
        .and_then(|s| s.grpc.as_mut())
        .ok_or(status::NOT_FOUND)
}

type R = wasmtime::Result<i32>;

/// Links the extension's host functions (`env` module). Outside a message call they return
/// `NOT_FOUND`.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "weir_get_grpc_message",
        |mut c: Cx<'_>, ptr_out: i32, size_out: i32| -> R {
            let payload = tri!(call_mut(c.data_mut())).payload.clone();
            give(&mut c, &payload, ptr_out, size_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "weir_set_grpc_message",
        |mut c: Cx<'_>, ptr: i32, len: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let bytes = Bytes::copy_from_slice(tri!(slice(data, ptr, len)));
            let call = tri!(call_mut(st));
            call.payload = bytes;
            call.replaced = true;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "weir_end_grpc_stream",
        |mut c: Cx<'_>, code: i32, ptr: i32, len: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let message = String::from_utf8_lossy(tri!(slice(data, ptr, len))).into_owned();
            let call = tri!(call_mut(st));
            // gRPC status codes are 0 (OK) to 16 (UNAUTHENTICATED).
            let Some(code) = u8::try_from(code).ok().filter(|c| *c <= 16) else {
                return Ok(status::BAD_ARGUMENT);
            };
            call.end = Some((code, message));
            Ok(status::OK)
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> GrpcCall {
        GrpcCall {
            direction: MessageDirection::FromUpstream,
            method: "/a.B/C".into(),
            index: 0,
            payload: Bytes::from_static(b"new"),
            replaced: true,
            end: None,
            session: None,
        }
    }

    fn msg() -> GrpcMessage {
        GrpcMessage {
            hook: "h".into(),
            direction: MessageDirection::FromUpstream,
            method: "/a.B/C".into(),
            payload: Bytes::from_static(b"old"),
            index: 0,
            headers: Default::default(),
            session: None,
            spec: Default::default(),
        }
    }

    #[test]
    fn an_end_wins_over_the_action_and_a_replacement_only_applies_on_pass() {
        let mut m = msg();
        let mut ended = call();
        ended.end = Some((7, "no".into()));
        assert_eq!(
            verdict(ACTION_PASS, ended, &mut m),
            Ok(MessageVerdict::End {
                code: 7,
                message: "no".into()
            })
        );
        assert_eq!(
            verdict(ACTION_DROP, call(), &mut m),
            Ok(MessageVerdict::Drop)
        );
        assert_eq!(m.payload, "old");
        assert_eq!(
            verdict(ACTION_PASS, call(), &mut m),
            Ok(MessageVerdict::Pass)
        );
        assert_eq!(m.payload, "new");
        assert!(
            verdict(5, call(), &mut m)
                .unwrap_err()
                .contains("unknown action 5")
        );
    }

    #[test]
    fn directions_use_proxy_wasm_stream_type_numbers() {
        assert_eq!(direction_code(MessageDirection::ToUpstream), 0);
        assert_eq!(direction_code(MessageDirection::FromUpstream), 1);
    }
}
