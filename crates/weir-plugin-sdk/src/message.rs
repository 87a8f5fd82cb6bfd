//! [`GrpcMessage`]: the safe view of one gRPC message in a stream hook, and the [`Verdict`]
//! the hook answers with.

use weir_plugin_abi::*;

use crate::request::{HostError, Level, Request};

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to upstream: a request message.
    ToUpstream,
    /// Upstream to client: a response message.
    FromUpstream,
}

impl Direction {
    pub(crate) fn from_abi(direction: u32) -> Option<Direction> {
        match direction {
            WEIR_GRPC_CLIENT_TO_SERVER => Some(Direction::ToUpstream),
            WEIR_GRPC_SERVER_TO_CLIENT => Some(Direction::FromUpstream),
            _ => None,
        }
    }
}

/// What happens to a message after a stream hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send the message on unchanged (the very same bytes).
    Pass,
    /// Send these protobuf bytes instead of the message.
    Replace(Vec<u8>),
    /// Do not send the message; the stream goes on.
    Drop,
    /// End the call with a gRPC status (`code` 0..=16, e.g. 7 = PERMISSION_DENIED); nothing
    /// more is read or sent.
    End {
        /// The gRPC status code.
        code: u32,
        /// The status message (UTF-8; the gateway percent-encodes it on the wire).
        message: String,
    },
}

impl Verdict {
    /// Ends the call with `code` and `message`.
    pub fn end(code: u32, message: impl Into<String>) -> Verdict {
        Verdict::End {
            code,
            message: message.into(),
        }
    }
}

/// One gRPC message as a stream hook sees it: its direction, the call's method, the protobuf
/// bytes (without the gRPC frame, decompressed) and its position; and, read-only, the call's
/// request headers, session and the API's config data.
///
/// The request cannot be changed from a stream hook: it has already gone upstream.
pub struct GrpcMessage<'a> {
    req: Request<'a>,
    direction: Direction,
    method: &'a str,
    payload: &'a [u8],
    index: u64,
}

impl<'a> GrpcMessage<'a> {
    pub(crate) fn new(
        req: Request<'a>,
        direction: Direction,
        method: &'a str,
        payload: &'a [u8],
        index: u64,
    ) -> Self {
        GrpcMessage {
            req,
            direction,
            method,
            payload,
            index,
        }
    }

    /// Which way the message travels.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The call's method, `/package.Service/Method`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The protobuf bytes, valid for the whole hook call.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Position of the message in its direction of the call, from 0, counting dropped ones.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// First value of a request header (as sent upstream), as bytes.
    pub fn header_bytes(&mut self, name: &str) -> Result<Option<&[u8]>, HostError> {
        self.req.header_bytes(name)
    }

    /// First value of a request header (as sent upstream); not UTF-8 is an error.
    pub fn header(&mut self, name: &str) -> Result<Option<&str>, HostError> {
        self.req.header(name)
    }

    /// The session as Tyk REST JSON text, when an auth hook made one.
    pub fn session_json(&mut self) -> Result<Option<&str>, HostError> {
        self.req.session_json()
    }

    /// The session as a JSON value, when an auth hook made one.
    pub fn session(&mut self) -> Result<Option<serde_json::Value>, HostError> {
        self.req.session()
    }

    /// The API's `config_data` as JSON text, when set (also handed to `Plugin::init`).
    pub fn config_data(&mut self) -> Result<Option<&str>, HostError> {
        self.req.config_data()
    }

    /// Logs through the gateway's logger.
    pub fn log(&mut self, level: Level, msg: &str) {
        self.req.log(level, msg)
    }

    /// Adds `delta` to the plugin counter `name` of this API (see [`Request::count`]).
    pub fn count(&mut self, name: &str, delta: u64) -> Result<(), HostError> {
        self.req.count(name, delta)
    }
}
