//! Write Weir native plugins in Rust.
//!
//! Implement [`Plugin`] for a type, call [`export_plugin!`] once, and build the crate as a
//! `cdylib`. Only the C ABI of `weir_plugin.h` crosses the boundary, so the plugin may be
//! built with any Rust version, independently of the gateway.
//!
//! Stream hooks (`on_grpc_message`) see each gRPC message of a call and answer with a
//! [`Verdict`]: pass, replace, drop, or end the call with a gRPC status.
//!
//! Panics never cross the boundary: each hook runs under `catch_unwind` and a panic fails only
//! that request (do not build plugins with `panic = "abort"`, which would abort the gateway).
//!
//! ```
//! use weir_plugin_sdk::{export_plugin, Plugin, Request};
//!
//! struct AddHeader { value: String }
//!
//! impl Plugin for AddHeader {
//!     const NAME: &'static str = "add-header";
//!     fn init(config: &serde_json::Value) -> Result<Self, String> {
//!         let value = config["value"].as_str().ok_or("config_data.value must be a string")?;
//!         Ok(AddHeader { value: value.to_owned() })
//!     }
//!     fn pre(&self, name: &str, req: &mut Request) -> Result<(), String> {
//!         match name {
//!             "AddHeader" => Ok(req.set_header("x-added", &self.value)?),
//!             _ => Err(format!("no pre hook named {name}")),
//!         }
//!     }
//! }
//!
//! export_plugin!(AddHeader);
//! ```

mod message;
mod request;

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use message::{Direction, GrpcMessage, Verdict};
pub use request::{HostError, Level, Request};
pub use serde_json;
/// The raw ABI, for what the safe API does not cover.
pub use weir_plugin_abi as abi;

use weir_plugin_abi::*;

/// A native plugin. One value is built per API load with [`Plugin::init`]; hooks take `&self`
/// and may run on several threads at once, so state they change needs a lock or atomics.
///
/// Each hook gets the `name` the API definition gives it, so one plugin can hold many hooks.
/// A hook the plugin does not have fails the request with a clear error (the default).
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's name, for the gateway's logs.
    const NAME: &'static str;

    /// Builds the plugin from the API's `config_data` (`Null` when unset).
    fn init(config: &serde_json::Value) -> Result<Self, String>;

    /// A pre hook: before authentication, no session.
    fn pre(&self, name: &str, req: &mut Request) -> Result<(), String> {
        let _ = req;
        Err(missing("pre", name))
    }

    /// The custom authentication hook: accept by setting a session and `metadata["token"]`.
    fn auth_check(&self, name: &str, req: &mut Request) -> Result<(), String> {
        let _ = req;
        Err(missing("auth_check", name))
    }

    /// A post-key-auth hook.
    fn post_key_auth(&self, name: &str, req: &mut Request) -> Result<(), String> {
        let _ = req;
        Err(missing("post_key_auth", name))
    }

    /// A post hook: just before the upstream call.
    fn post(&self, name: &str, req: &mut Request) -> Result<(), String> {
        let _ = req;
        Err(missing("post", name))
    }

    /// A response hook: the upstream's response is in `req.response_*`.
    fn response(&self, name: &str, req: &mut Request) -> Result<(), String> {
        let _ = req;
        Err(missing("response", name))
    }

    /// A stream hook, on each gRPC message of a call (declared as `native_streams` /
    /// `grpcMessagePlugins`). The default passes every message, so a plugin without stream
    /// hooks can still be declared as one harmlessly. An `Err` ends the call with INTERNAL.
    fn on_grpc_message(&self, name: &str, msg: &mut GrpcMessage) -> Result<Verdict, String> {
        let _ = (name, msg);
        Ok(Verdict::Pass)
    }
}

fn missing(kind: &str, name: &str) -> String {
    format!("this plugin has no {kind} hook named `{name}`")
}

/// Exports a [`Plugin`] type as the library's Weir plugin: defines the
/// `weir_plugin_abi_version` and `weir_plugin_v1` symbols. Use once per `cdylib`.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        /// The ABI version this plugin was built for.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static weir_plugin_abi_version: u32 = $crate::abi::WEIR_PLUGIN_ABI_VERSION;

        /// The plugin's descriptor.
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_plugin_v1() -> *const $crate::abi::WeirPluginV1 {
            static DESCRIPTOR: $crate::abi::WeirPluginV1 = $crate::descriptor::<$ty>();
            &DESCRIPTOR
        }
    };
}

/// Builds the descriptor for `P` (used by [`export_plugin!`]).
#[doc(hidden)]
pub const fn descriptor<P: Plugin>() -> WeirPluginV1 {
    WeirPluginV1 {
        abi_version: WEIR_PLUGIN_ABI_VERSION,
        struct_size: std::mem::size_of::<WeirPluginV1>() as u32,
        name: WeirStr::from_text(P::NAME),
        init: init_shim::<P>,
        call: call_shim::<P>,
        drop: drop_shim::<P>,
        on_grpc_message: Some(grpc_message_shim::<P>),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

unsafe extern "C" fn init_shim<P: Plugin>(
    _host: *const WeirHostApi,
    config_json: WeirStr,
    err: *mut WeirErrorBuf,
) -> *mut c_void {
    let result = catch_unwind(|| {
        // SAFETY: the host passes config text valid for this call.
        let text = unsafe { config_json.as_bytes() };
        let config: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(text).map_err(|e| format!("config_data is not JSON: {e}"))?
        };
        P::init(&config)
    });
    let msg = match result {
        Ok(Ok(plugin)) => return Box::into_raw(Box::new(plugin)).cast(),
        Ok(Err(msg)) => msg,
        Err(payload) => format!("init {}", panic_message(&*payload)),
    };
    // SAFETY: the host passes a writable buffer of `cap` bytes, or null.
    if let Some(err) = unsafe { err.as_mut() } {
        let n = msg.len().min(err.cap);
        if n > 0 && !err.ptr.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), err.ptr, n) };
        }
        err.len = n;
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn call_shim<P: Plugin>(
    instance: *mut c_void,
    host: *const WeirHostApi,
    ctx: *mut WeirCtx,
    hook_kind: u32,
    hook_name: WeirStr,
) -> WeirStatus {
    // SAFETY: the host passes its table, valid for the call.
    let Some(host) = (unsafe { host.as_ref() }) else {
        return WEIR_ERR_INVALID;
    };
    // Request hooks call only the first version-1 functions, which every version-1 host has.
    if (host.struct_size as usize) < HOST_API_BASE_SIZE {
        return WEIR_ERR_ABI;
    }
    if instance.is_null() || ctx.is_null() {
        return WEIR_ERR_INVALID;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `instance` came from `init_shim::<P>` and is alive until `drop`.
        let plugin = unsafe { &*instance.cast::<P>() };
        // SAFETY: the host passes a live ctx and a name valid for the call.
        let mut req = unsafe { Request::new(host, ctx) };
        let name = std::str::from_utf8(unsafe { hook_name.as_bytes() })
            .map_err(|_| "hook name is not UTF-8".to_owned())?;
        match hook_kind {
            WEIR_HOOK_PRE => plugin.pre(name, &mut req),
            WEIR_HOOK_AUTH_CHECK => plugin.auth_check(name, &mut req),
            WEIR_HOOK_POST_KEY_AUTH => plugin.post_key_auth(name, &mut req),
            WEIR_HOOK_POST => plugin.post(name, &mut req),
            WEIR_HOOK_RESPONSE => plugin.response(name, &mut req),
            other => Err(format!("unknown hook kind {other}")),
        }
    }));
    match outcome {
        Ok(Ok(())) => WEIR_OK,
        Ok(Err(msg)) => fail(host, ctx, WEIR_ERR_HOOK, &msg),
        Err(payload) => fail(host, ctx, WEIR_ERR_PANIC, &panic_message(&*payload)),
    }
}

/// Tells the host why the hook failed and returns `status`.
fn fail(host: &WeirHostApi, ctx: *mut WeirCtx, status: WeirStatus, msg: &str) -> WeirStatus {
    // SAFETY: ctx is live; the host copies the message.
    unsafe { (host.set_error)(ctx, WeirStr::from_text(msg)) };
    status
}

unsafe extern "C" fn grpc_message_shim<P: Plugin>(
    instance: *mut c_void,
    host: *const WeirHostApi,
    ctx: *mut WeirCtx,
    hook_name: WeirStr,
    direction: u32,
    method_path: WeirStr,
    message: WeirStr,
) -> WeirStatus {
    // SAFETY: the host passes its table, valid for the call.
    let Some(host) = (unsafe { host.as_ref() }) else {
        return WEIR_ERR_INVALID;
    };
    // A host that calls this has the stream functions; one that lacks them is broken. Later
    // functions (`count`) are checked where they are called.
    if (host.struct_size as usize) < HOST_API_STREAM_SIZE {
        return WEIR_ERR_ABI;
    }
    if instance.is_null() || ctx.is_null() {
        return WEIR_ERR_INVALID;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `instance` came from `init_shim::<P>` and is alive until `drop`.
        let plugin = unsafe { &*instance.cast::<P>() };
        // SAFETY: the host passes a name, method and message valid for the whole call.
        let (name, method, payload) = unsafe {
            (
                hook_name.as_bytes(),
                method_path.as_bytes(),
                message.as_bytes(),
            )
        };
        let name = std::str::from_utf8(name).map_err(|_| "hook name is not UTF-8".to_owned())?;
        let method =
            std::str::from_utf8(method).map_err(|_| "method path is not UTF-8".to_owned())?;
        let direction = Direction::from_abi(direction)
            .ok_or_else(|| format!("unknown message direction {direction}"))?;
        let mut index = 0u64;
        // SAFETY: ctx is live; `index` is writable.
        let status = unsafe { (host.get_grpc_message_index)(ctx, &mut index) };
        if status != WEIR_OK {
            return Err(format!("get_grpc_message_index failed ({status})"));
        }
        // SAFETY: the host passes a live ctx.
        let req = unsafe { Request::new(host, ctx) };
        let mut msg = GrpcMessage::new(req, direction, method, payload, index);
        plugin.on_grpc_message(name, &mut msg)
    }));
    let verdict = match outcome {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(msg)) => return fail(host, ctx, WEIR_ERR_HOOK, &msg),
        Err(payload) => return fail(host, ctx, WEIR_ERR_PANIC, &panic_message(&*payload)),
    };
    match verdict {
        Verdict::Pass => WEIR_OK,
        Verdict::Drop => WEIR_GRPC_DROP,
        Verdict::Replace(bytes) => {
            // SAFETY: ctx is live; the host copies the bytes.
            match unsafe { (host.set_grpc_message)(ctx, WeirStr::from_bytes(&bytes)) } {
                WEIR_OK => WEIR_OK,
                status => fail(
                    host,
                    ctx,
                    WEIR_ERR_HOOK,
                    &format!("the host refused the replacement message ({status})"),
                ),
            }
        }
        Verdict::End { code, message } => {
            // SAFETY: ctx is live; the host copies the message.
            let text = WeirStr::from_text(&message);
            match unsafe { (host.set_grpc_status)(ctx, code, text) } {
                WEIR_OK => WEIR_GRPC_END,
                status => fail(
                    host,
                    ctx,
                    WEIR_ERR_HOOK,
                    &format!("the host refused gRPC status {code} ({status})"),
                ),
            }
        }
    }
}

unsafe extern "C" fn drop_shim<P: Plugin>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: `instance` came from `init_shim::<P>`; the host drops it once. A panicking Drop
    // must not unwind into the host, and there is no one left to tell.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        drop(Box::from_raw(instance.cast::<P>()))
    }));
}

/// Compiles the README's example, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
