//! JSON printing byte-for-byte as Go's `encoding/json` does, and Go's
//! `strconv.FormatFloat(f, 'g', -1, 64)` for string conversion.

use super::JsonError;
use crate::value::Value;

/// How to print JSON.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// Escape `<`, `>` and `&` as `\u003c` etc. Bento's message output turns this
    /// off (`SetEscapeHTML(false)`); `format_json()` leaves it on by default.
    pub escape_html: bool,
    /// `None` for compact output, `Some(indent)` for Go's `MarshalIndent` layout.
    pub indent: Option<String>,
}

/// The compact form Bento writes a message with: sorted keys, no HTML escaping.
pub fn to_message_json(v: &Value) -> Result<String, JsonError> {
    to_json(v, &JsonOptions::default())
}

/// Prints a value as JSON. Fails, as Go does, on NaN and infinities.
/// Sentinels nested in a value print as `null`; bytes print as base64.
pub fn to_json(v: &Value, opts: &JsonOptions) -> Result<String, JsonError> {
    let mut out = String::new();
    write_value(&mut out, v, opts)?;
    Ok(out)
}

/// [`to_message_json`] appended to `out`, so a caller that can guess the size
/// (a message's output is usually about its input's) reserves it once instead of
/// the buffer growing by doubling.
pub fn write_message_json(out: &mut String, v: &Value) -> Result<(), JsonError> {
    write_value(out, v, &JsonOptions::default())
}

fn newline(out: &mut String, opts: &JsonOptions, depth: usize) {
    if let Some(ind) = &opts.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

/// An open container while printing: its remaining children and whether one
/// has been printed yet (for commas).
enum Frame<'a> {
    Array(std::slice::Iter<'a, Value>, bool),
    Object(crate::object::Iter<'a>, bool),
}

/// Prints with an explicit stack: values may nest 10,000 deep.
fn write_value(out: &mut String, v: &Value, opts: &JsonOptions) -> Result<(), JsonError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut next = Some(v);
    loop {
        if let Some(v) = next.take()
            && let Some(frame) = write_scalar_or_open(out, v, opts)?
        {
            stack.push(frame);
        }
        let depth = stack.len();
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let (child, started, close) = match top {
            Frame::Array(it, started) => (it.next().map(|c| (None, c)), started, ']'),
            Frame::Object(it, started) => (it.next().map(|(k, c)| (Some(k), c)), started, '}'),
        };
        match child {
            Some((key, c)) => {
                if *started {
                    out.push(',');
                }
                *started = true;
                newline(out, opts, depth);
                if let Some(k) = key {
                    write_string(out, k, opts.escape_html);
                    out.push(':');
                    if opts.indent.is_some() {
                        out.push(' ');
                    }
                }
                next = Some(c);
            }
            None => {
                stack.pop();
                newline(out, opts, depth - 1);
                out.push(close);
            }
        }
    }
}

/// Prints a scalar or an empty container; opens a non-empty container instead.
fn write_scalar_or_open<'a>(
    out: &mut String,
    v: &'a Value,
    opts: &JsonOptions,
) -> Result<Option<Frame<'a>>, JsonError> {
    match v {
        Value::Null | Value::Delete | Value::Nothing => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::UInt(u) => out.push_str(itoa::Buffer::new().format(*u)),
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::Number(t) => out.push_str(t),
        Value::String(s) => write_string(out, s, opts.escape_html),
        Value::Timestamp(t) => write_string(out, &t.to_rfc3339_nano(), opts.escape_html),
        Value::Bytes(b) => {
            out.push('"');
            out.push_str(&base64_std(b));
            out.push('"');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            return Ok(Some(Frame::Array(items.iter(), false)));
        }
        Value::Object(map) => {
            out.push('{');
            return Ok(Some(Frame::Object(map.iter(), false)));
        }
    }
    Ok(None)
}

/// Bytes a string may need escaped for: `"`, `\\`, control bytes, and 0xE2, which
/// starts U+2028 and U+2029 (and other characters, which are then looked at whole).
static NEEDS_CARE: [bool; 256] = super::control_bytes_and(b"\"\\\xE2");
/// [`NEEDS_CARE`] plus `<`, `>` and `&`.
static NEEDS_CARE_HTML: [bool; 256] = super::control_bytes_and(b"\"\\\xE2<>&");

/// Escapes a string as Go's `encoding/json` does (Go 1.22+): short escapes for
/// `\b \f \n \r \t`, `\u00xx` for other control bytes, and U+2028/U+2029 always
/// escaped because they break JavaScript.
pub fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    // Nearly every string needs no escaping: find that out by bytes, without
    // decoding characters.
    let table = if escape_html {
        &NEEDS_CARE_HTML
    } else {
        &NEEDS_CARE
    };
    if !s.bytes().any(|b| table[usize::from(b)]) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<&str> = match ch {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '<' if escape_html => Some("\\u003c"),
            '>' if escape_html => Some("\\u003e"),
            '&' if escape_html => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", ch as u32)),
        }
        start = i + ch.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A float as `encoding/json` prints it: plain decimal in [1e-6, 1e21), otherwise
/// exponent form with the exponent's leading zero trimmed (`1e-7`, `1e+21`).
pub fn json_float(f: f64) -> Result<String, JsonError> {
    if !f.is_finite() {
        return Err(JsonError(format!(
            "json: unsupported value: {}",
            go_format_float(f)
        )));
    }
    let a = f.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        return Ok(format!("{f}"));
    }
    let (mant, exp) = split_exp(f);
    Ok(if exp < 0 {
        format!("{mant}e-{}", -exp)
    } else {
        format!("{mant}e+{exp}")
    })
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form when
/// the decimal exponent is < -4 or >= 6 (Go uses precision 6 for
/// that choice when printing shortest digits), exponent at least two digits (`1e+06`).
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return format!("{f}");
    }
    let (mant, exp) = split_exp(f);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// Shortest round-trip mantissa and decimal exponent, from Rust's `{:e}` form.
fn split_exp(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

/// Standard padded base64, how Go's JSON encodes a `[]byte`.
pub fn base64_std(data: &[u8]) -> String {
    crate::encoding::b64_encode(data, crate::encoding::B64_STD, true)
}
