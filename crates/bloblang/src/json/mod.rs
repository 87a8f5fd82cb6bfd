//! JSON in and out with Go `encoding/json` semantics, plus Go's string conversion.

mod parse;
mod write;

pub use parse::{MAX_JSON_DEPTH, parse};
pub use write::{
    JsonOptions, base64_std, go_format_float, json_float, to_json, to_message_json,
    write_message_json, write_string,
};

use crate::value::Value;
use std::fmt;

/// A JSON parse or print failure, worded like Go's `encoding/json` errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

/// Bento's `IToString`: how `.string()` and interpolation turn a value into text.
/// Strings and bytes are taken as they are, floats use Go's `'g'` format,
/// containers print as compact JSON (a NaN inside prints as `null` rather than failing,
/// because this conversion cannot fail in Bento either).
pub fn to_go_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Float(f) => go_format_float(*f),
        Value::Null => "null".into(),
        Value::Timestamp(t) => t.to_rfc3339_nano(),
        other => to_message_json(other).unwrap_or_else(|_| "null".into()),
    }
}

/// A byte class for scanning strings: control bytes and `extra` are `true`.
const fn control_bytes_and(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

#[cfg(test)]
mod tests;
