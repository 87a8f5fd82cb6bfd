//! [`Request`]: the safe view of one hook call, over the host's function table.

use std::fmt;
use std::marker::PhantomData;

use weir_plugin_abi::*;

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The host function.
    pub op: &'static str,
    /// Its status (`WEIR_ERR_*`).
    pub status: WeirStatus,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.status {
            WEIR_ERR_INVALID => "invalid argument",
            WEIR_ERR_UNAVAILABLE => "not available in this hook",
            WEIR_ERR_ABI => "the host's ABI is too old",
            WEIR_ERR_INTERNAL => "internal host error",
            _ => "unexpected status",
        };
        write!(f, "host call `{}` failed: {why} ({})", self.op, self.status)
    }
}

impl std::error::Error for HostError {}

/// Lets hooks use `?` on host calls: hooks return `Result<(), String>`.
impl From<HostError> for String {
    fn from(e: HostError) -> String {
        e.to_string()
    }
}

/// Log levels for [`Request::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

impl Level {
    pub(crate) fn abi(self) -> u32 {
        match self {
            Level::Trace => WEIR_LOG_TRACE,
            Level::Debug => WEIR_LOG_DEBUG,
            Level::Info => WEIR_LOG_INFO,
            Level::Warn => WEIR_LOG_WARN,
            Level::Error => WEIR_LOG_ERROR,
        }
    }
}

/// One hook call's request, response, session and metadata, read and changed through the host.
///
/// Getters borrow `self` mutably because what the host hands out is valid only until the next
/// host call: the borrow checker then stops a value from outliving it (copy with
/// `.to_owned()` to keep one across calls). Nothing here copies unless it must.
pub struct Request<'a> {
    host: &'a WeirHostApi,
    ctx: *mut WeirCtx,
    // Not Send: a ctx belongs to the calling thread.
    _not_send: PhantomData<*mut ()>,
}

fn check(op: &'static str, status: WeirStatus) -> Result<bool, HostError> {
    match status {
        WEIR_OK => Ok(true),
        WEIR_NOT_FOUND => Ok(false),
        status => Err(HostError { op, status }),
    }
}

fn text<'b>(op: &'static str, bytes: &'b [u8]) -> Result<&'b str, HostError> {
    std::str::from_utf8(bytes).map_err(|_| HostError {
        op,
        status: WEIR_ERR_INVALID,
    })
}

impl<'a> Request<'a> {
    /// Wraps a host table and context.
    ///
    /// # Safety
    /// `ctx` must be the live context of the current hook call, handed out by `host`.
    pub(crate) unsafe fn new(host: &'a WeirHostApi, ctx: *mut WeirCtx) -> Self {
        Request {
            host,
            ctx,
            _not_send: PhantomData,
        }
    }

    fn get(&mut self, op: &'static str, f: GetFn) -> Result<Option<&[u8]>, HostError> {
        let mut out = WeirStr::EMPTY;
        // SAFETY: ctx is live (see `new`); the result is valid until the next call, which
        // the &mut borrow on self prevents while it is held.
        let found = check(op, unsafe { f(self.ctx, &mut out) })?;
        Ok(found.then(|| unsafe { out.as_bytes() }))
    }

    fn get_named(
        &mut self,
        op: &'static str,
        f: GetNamedFn,
        name: &str,
    ) -> Result<Option<&[u8]>, HostError> {
        let mut out = WeirStr::EMPTY;
        // SAFETY: as in `get`.
        let found = check(op, unsafe {
            f(self.ctx, WeirStr::from_text(name), &mut out)
        })?;
        Ok(found.then(|| unsafe { out.as_bytes() }))
    }

    fn set(&mut self, op: &'static str, f: SetFn, value: &[u8]) -> Result<(), HostError> {
        // SAFETY: ctx is live; the host copies `value` before returning.
        check(op, unsafe { f(self.ctx, WeirStr::from_bytes(value)) }).map(|_| ())
    }

    fn set_named(
        &mut self,
        op: &'static str,
        f: SetNamedFn,
        name: &str,
        value: &[u8],
    ) -> Result<(), HostError> {
        let (n, v) = (WeirStr::from_text(name), WeirStr::from_bytes(value));
        // SAFETY: as in `set`.
        check(op, unsafe { f(self.ctx, n, v) }).map(|_| ())
    }

    fn delete(&mut self, op: &'static str, f: DeleteNamedFn, name: &str) -> Result<(), HostError> {
        // SAFETY: as in `set`.
        check(op, unsafe { f(self.ctx, WeirStr::from_text(name)) }).map(|_| ())
    }

    fn get_text(&mut self, op: &'static str, f: GetFn) -> Result<Option<&str>, HostError> {
        match self.get(op, f)? {
            Some(b) => text(op, b).map(Some),
            None => Ok(None),
        }
    }

    /// The method.
    pub fn method(&mut self) -> Result<&str, HostError> {
        Ok(self
            .get_text("get_method", self.host.get_method)?
            .unwrap_or(""))
    }

    /// Sets the method.
    pub fn set_method(&mut self, method: &str) -> Result<(), HostError> {
        self.set("set_method", self.host.set_method, method.as_bytes())
    }

    /// Path and query, listen path included (Tyk's `request.url`).
    pub fn url(&mut self) -> Result<&str, HostError> {
        Ok(self.get_text("get_url", self.host.get_url)?.unwrap_or(""))
    }

    /// Replaces path and query.
    pub fn set_url(&mut self, url: &str) -> Result<(), HostError> {
        self.set("set_url", self.host.set_url, url.as_bytes())
    }

    /// The path and query as the client sent them.
    pub fn request_uri(&mut self) -> Result<&str, HostError> {
        let f = self.host.get_request_uri;
        Ok(self.get_text("get_request_uri", f)?.unwrap_or(""))
    }

    /// `http` or `https`.
    pub fn scheme(&mut self) -> Result<&str, HostError> {
        Ok(self
            .get_text("get_scheme", self.host.get_scheme)?
            .unwrap_or(""))
    }

    /// First value of a request header, as bytes.
    pub fn header_bytes(&mut self, name: &str) -> Result<Option<&[u8]>, HostError> {
        let f = self.host.get_request_header;
        self.get_named("get_request_header", f, name)
    }

    /// First value of a request header; a value that is not UTF-8 is an error (use
    /// [`Request::header_bytes`] for those).
    pub fn header(&mut self, name: &str) -> Result<Option<&str>, HostError> {
        match self.header_bytes(name)? {
            Some(b) => text("get_request_header", b).map(Some),
            None => Ok(None),
        }
    }

    /// Sets a request header, replacing every value it had.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        let f = self.host.set_request_header;
        self.set_named("set_request_header", f, name, value.as_bytes())
    }

    /// Deletes a request header.
    pub fn delete_header(&mut self, name: &str) -> Result<(), HostError> {
        let f = self.host.delete_request_header;
        self.delete("delete_request_header", f, name)
    }

    /// The request body.
    pub fn body(&mut self) -> Result<&[u8], HostError> {
        let f = self.host.get_request_body;
        Ok(self.get("get_request_body", f)?.unwrap_or(&[]))
    }

    /// Replaces the request body.
    pub fn set_body(&mut self, body: &[u8]) -> Result<(), HostError> {
        self.set("set_request_body", self.host.set_request_body, body)
    }

    /// First value of a query parameter, percent-decoded.
    pub fn param(&mut self, name: &str) -> Result<Option<&str>, HostError> {
        let f = self.host.get_query_param;
        match self.get_named("get_query_param", f, name)? {
            Some(b) => text("get_query_param", b).map(Some),
            None => Ok(None),
        }
    }

    /// Sets a query parameter, replacing every value it had.
    pub fn set_param(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        let f = self.host.set_query_param;
        self.set_named("set_query_param", f, name, value.as_bytes())
    }

    /// Deletes a query parameter.
    pub fn delete_param(&mut self, name: &str) -> Result<(), HostError> {
        let f = self.host.delete_query_param;
        self.delete("delete_query_param", f, name)
    }

    /// The upstream's status (response hooks).
    pub fn response_status(&mut self) -> Result<u16, HostError> {
        let mut out = 0i32;
        // SAFETY: ctx is live.
        check("get_response_status", unsafe {
            (self.host.get_response_status)(self.ctx, &mut out)
        })?;
        Ok(out as u16)
    }

    /// Sets the status sent to the client (response hooks).
    pub fn set_response_status(&mut self, status: u16) -> Result<(), HostError> {
        // SAFETY: ctx is live.
        check("set_response_status", unsafe {
            (self.host.set_response_status)(self.ctx, i32::from(status))
        })
        .map(|_| ())
    }

    /// First value of a response header (response hooks).
    pub fn response_header(&mut self, name: &str) -> Result<Option<&str>, HostError> {
        let f = self.host.get_response_header;
        match self.get_named("get_response_header", f, name)? {
            Some(b) => text("get_response_header", b).map(Some),
            None => Ok(None),
        }
    }

    /// Sets a response header, replacing every value (response hooks).
    pub fn set_response_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        let f = self.host.set_response_header;
        self.set_named("set_response_header", f, name, value.as_bytes())
    }

    /// Deletes a response header (response hooks).
    pub fn delete_response_header(&mut self, name: &str) -> Result<(), HostError> {
        let f = self.host.delete_response_header;
        self.delete("delete_response_header", f, name)
    }

    /// The response body (response hooks).
    pub fn response_body(&mut self) -> Result<&[u8], HostError> {
        let f = self.host.get_response_body;
        Ok(self.get("get_response_body", f)?.unwrap_or(&[]))
    }

    /// Replaces the response body (response hooks).
    pub fn set_response_body(&mut self, body: &[u8]) -> Result<(), HostError> {
        self.set("set_response_body", self.host.set_response_body, body)
    }

    /// Answers the client instead of the upstream. `code >= 400` without `override_error`
    /// renders Tyk's error template with `body` as the message; otherwise `body` is sent as is.
    pub fn set_return_override(
        &mut self,
        code: u16,
        body: &str,
        override_error: bool,
    ) -> Result<(), HostError> {
        let b = WeirStr::from_text(body);
        // SAFETY: ctx is live; the host copies the body.
        check("set_return_override", unsafe {
            (self.host.set_return_override)(self.ctx, i32::from(code), b, u32::from(override_error))
        })
        .map(|_| ())
    }

    /// Removes the override set earlier: the request goes on to the upstream.
    pub fn clear_return_override(&mut self) -> Result<(), HostError> {
        // SAFETY: ctx is live.
        check("set_return_override", unsafe {
            (self.host.set_return_override)(self.ctx, -1, WeirStr::EMPTY, 0)
        })
        .map(|_| ())
    }

    /// Adds a header to the override answer.
    pub fn add_override_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        let f = self.host.add_override_header;
        self.set_named("add_override_header", f, name, value.as_bytes())
    }

    /// A metadata entry.
    pub fn metadata(&mut self, key: &str) -> Result<Option<&str>, HostError> {
        let f = self.host.get_metadata;
        match self.get_named("get_metadata", f, key)? {
            Some(b) => text("get_metadata", b).map(Some),
            None => Ok(None),
        }
    }

    /// Sets a metadata entry (for `auth_check`, `token` names the key).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<(), HostError> {
        let f = self.host.set_metadata;
        self.set_named("set_metadata", f, key, value.as_bytes())
    }

    /// The session as Tyk REST JSON text, when there is one.
    pub fn session_json(&mut self) -> Result<Option<&str>, HostError> {
        self.get_text("get_session_json", self.host.get_session_json)
    }

    /// The session as a JSON value, when there is one.
    pub fn session(&mut self) -> Result<Option<serde_json::Value>, HostError> {
        let Some(json) = self.session_json()? else {
            return Ok(None);
        };
        serde_json::from_str(json).map(Some).map_err(|_| HostError {
            op: "get_session_json",
            status: WEIR_ERR_INTERNAL,
        })
    }

    /// Replaces the session (Tyk REST JSON: `rate`, `per`, `meta_data`, ...); `null` removes it.
    pub fn set_session(&mut self, session: &serde_json::Value) -> Result<(), HostError> {
        let json = session.to_string();
        self.set(
            "set_session_json",
            self.host.set_session_json,
            json.as_bytes(),
        )
    }

    /// The API's `config_data` as JSON text, when set.
    pub fn config_data(&mut self) -> Result<Option<&str>, HostError> {
        self.get_text("get_config_data", self.host.get_config_data)
    }

    /// Logs through the gateway's logger.
    pub fn log(&mut self, level: Level, msg: &str) {
        // SAFETY: ctx is live. A failed log has nowhere better to go, so it is dropped.
        unsafe { (self.host.log)(self.ctx, level.abi(), WeirStr::from_text(msg)) };
    }

    /// Adds `delta` to the plugin counter `name` of this API: the gateway's `/metrics` shows
    /// it as `weir_plugin_events_total{api_id="…",name="…"}`. `delta` 0 makes the series
    /// appear at 0. `name` is 1 to 64 characters of `[A-Za-z0-9_.:-]`. A gateway from before
    /// counters answers `WEIR_ERR_ABI`: a hook should not fail over a lost count.
    pub fn count(&mut self, name: &str, delta: u64) -> Result<(), HostError> {
        let has = host_api_has(
            self.host.struct_size,
            std::mem::offset_of!(WeirHostApi, count),
            std::mem::size_of::<usize>(),
        );
        if !has {
            return Err(HostError {
                op: "count",
                status: WEIR_ERR_ABI,
            });
        }
        // SAFETY: ctx is live and the table has the function; the host copies the name.
        check("count", unsafe {
            (self.host.count)(self.ctx, WeirStr::from_text(name), delta)
        })
        .map(|_| ())
    }
}
