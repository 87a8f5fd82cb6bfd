//! Guest side of Weir's gRPC message extension to proxy-wasm (stream hooks): the extra host
//! imports, declared once and wrapped safely, and [`export_grpc_message_hook!`], which exports
//! `proxy_on_grpc_message` from a plain Rust function.
//!
//! Use it beside the `proxy-wasm` SDK: the SDK still owns the root context (configuration in
//! `on_configure`) and creates the HTTP context each message call runs on; this crate only adds
//! the per-message callback. The ABI is described in Weir's `docs/stream-hooks-wasm.md`.
//!
//! ```ignore
//! use weir_grpc_ext::{Message, Verdict};
//!
//! fn on_message(msg: &Message) -> Verdict {
//!     match msg.payload() {
//!         Ok(bytes) if bytes.is_empty() => Verdict::Drop,
//!         _ => Verdict::Pass,
//!     }
//! }
//! weir_grpc_ext::export_grpc_message_hook!(on_message);
//! ```

use std::ptr::null_mut;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MapType};

/// The raw host functions (module `env`). Prefer the safe wrappers.
pub mod raw {
    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        /// Copies the current message (as replaced, if it was) into memory the host allocates
        /// with `proxy_on_memory_allocate`; an empty message gives a null pointer and size 0.
        pub fn weir_get_grpc_message(return_data: *mut *mut u8, return_size: *mut usize) -> u32;
        /// Replaces the message; it is sent only if the callback returns pass.
        pub fn weir_set_grpc_message(data: *const u8, size: usize) -> u32;
        /// Ends the call with a gRPC status (0..=16) and message; wins over the action.
        pub fn weir_end_grpc_stream(code: u32, message: *const u8, message_size: usize) -> u32;
    }
}

/// `proxy_on_grpc_message` result: send the message on (replaced, if it was).
pub const ACTION_PASS: u32 = 0;
/// `proxy_on_grpc_message` result: do not send the message; the call goes on.
pub const ACTION_DROP: u32 = 1;

/// A status other than OK from a host function (proxy-wasm numbering: 1 = not found,
/// 2 = bad argument, 6 = invalid memory access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus(pub u32);

fn check(status: u32) -> Result<(), HostStatus> {
    if status == 0 {
        Ok(())
    } else {
        Err(HostStatus(status))
    }
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to upstream: a request message (`direction` 0).
    ToUpstream,
    /// Upstream to client: a response message (`direction` 1).
    FromUpstream,
}

/// What becomes of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it unchanged.
    Pass,
    /// Send these bytes instead.
    Replace(Vec<u8>),
    /// Do not send it; the call goes on.
    Drop,
    /// End the call with this gRPC status code (0..=16) and message.
    End {
        /// gRPC status code, e.g. 7 = PERMISSION_DENIED.
        code: u32,
        /// Status message.
        message: String,
    },
}

/// The message a `proxy_on_grpc_message` call is about.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    context_id: u32,
    direction: Direction,
    size: usize,
}

impl Message {
    /// The HTTP context the call runs on.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }

    /// Which way the message travels.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The message's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The protobuf bytes (without the gRPC frame).
    pub fn payload(&self) -> Result<Vec<u8>, HostStatus> {
        get_message()
    }

    /// The call's method, `/package.Service/Method` (property `grpc.method`).
    pub fn method(&self) -> Option<String> {
        property("method")
    }

    /// The message's position in its direction, from 0 (property `grpc.index`).
    pub fn index(&self) -> Option<u64> {
        property("index").and_then(|v| v.parse().ok())
    }

    /// A request header of the call (several values joined with `,`).
    pub fn request_header(&self, name: &str) -> Option<String> {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
            .ok()
            .flatten()
    }
}

fn property(name: &str) -> Option<String> {
    let bytes = hostcalls::get_property(vec!["grpc", name]).ok()??;
    String::from_utf8(bytes).ok()
}

/// The current message.
pub fn get_message() -> Result<Vec<u8>, HostStatus> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer it allocated with proxy_on_memory_allocate (the SDK's
    // allocator hands out a boxed slice of exactly `size` bytes), which we take ownership of.
    unsafe {
        check(raw::weir_get_grpc_message(&mut data, &mut size))?;
        if data.is_null() {
            return Ok(Vec::new());
        }
        Ok(Vec::from_raw_parts(data, size, size))
    }
}

/// Replaces the current message (sent if the callback returns pass).
pub fn set_message(bytes: &[u8]) -> Result<(), HostStatus> {
    // SAFETY: the host only reads `bytes.len()` bytes at the pointer during the call.
    check(unsafe { raw::weir_set_grpc_message(bytes.as_ptr(), bytes.len()) })
}

/// Ends the call with a gRPC status; `BAD_ARGUMENT` for a code outside 0..=16.
pub fn end_stream(code: u32, message: &str) -> Result<(), HostStatus> {
    // SAFETY: as for `set_message`.
    check(unsafe { raw::weir_end_grpc_stream(code, message.as_ptr(), message.len()) })
}

/// Runs `handler` for one `proxy_on_grpc_message` call and turns its verdict into host calls
/// and the action to return. A host refusal is logged; a refused end falls back to UNKNOWN (2)
/// so the call still ends, a refused replacement sends the message unchanged.
pub fn dispatch(
    context_id: u32,
    direction: u32,
    message_size: u32,
    handler: impl FnOnce(&Message) -> Verdict,
) -> u32 {
    let direction = if direction == 0 {
        Direction::ToUpstream
    } else {
        Direction::FromUpstream
    };
    let msg = Message {
        context_id,
        direction,
        size: message_size as usize,
    };
    let log = |what: &str, e: HostStatus| {
        let line = format!("weir-grpc-ext: {what} refused with status {}", e.0);
        hostcalls::log(LogLevel::Warn, &line).ok();
    };
    match handler(&msg) {
        Verdict::Pass => ACTION_PASS,
        Verdict::Replace(bytes) => {
            if let Err(e) = set_message(&bytes) {
                log("weir_set_grpc_message", e);
            }
            ACTION_PASS
        }
        Verdict::Drop => ACTION_DROP,
        Verdict::End { code, message } => {
            if let Err(e) = end_stream(code, &message) {
                log("weir_end_grpc_stream", e);
                end_stream(2, &message).ok();
            }
            ACTION_PASS
        }
    }
}

/// Exports `proxy_on_grpc_message` calling `$handler: fn(&Message) -> Verdict` (or a closure).
#[macro_export]
macro_rules! export_grpc_message_hook {
    ($handler:expr) => {
        /// Weir's stream hook entry point (see the `weir-grpc-ext` crate).
        #[unsafe(no_mangle)]
        pub extern "C" fn proxy_on_grpc_message(
            context_id: u32,
            direction: u32,
            message_size: u32,
        ) -> u32 {
            $crate::dispatch(context_id, direction, message_size, $handler)
        }
    };
}
