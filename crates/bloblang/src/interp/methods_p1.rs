//! P1 methods without a time dimension: search, escaping, quoting, sized
//! integers, logarithms and a few reshaping helpers.

use super::eval::{Scope, eval_with};
use super::exec::Env;
use super::functions::{arg, req};
use super::methods::{expected, string_of};
use super::methods_url::{path_escape, path_unescape, query_escape, query_unescape};
use super::ops;
use crate::ast::Args;
use crate::value::{Num, Value};

/// The methods [`call`] handles.
pub const NAMES: [&str; 29] = [
    "find",
    "find_all",
    "find_by",
    "find_all_by",
    "reverse",
    "repeat",
    "escape_html",
    "unescape_html",
    "escape_url_query",
    "unescape_url_query",
    "escape_url_path",
    "unescape_url_path",
    "quote",
    "unquote",
    "int8",
    "int16",
    "int32",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "log",
    "log10",
    "pow",
    "concat",
    "zip",
    "replace_all_many",
    "replace_many",
];

fn all_args(args: &Args, env: &Env, sc: &Scope) -> Result<Vec<Value>, String> {
    match args {
        Args::Positional(v) => v.iter().map(|e| super::eval::eval(e, env, sc)).collect(),
        Args::Named(v) => v
            .iter()
            .map(|(_, e)| super::eval::eval(e, env, sc))
            .collect(),
    }
}

/// Dispatches the methods listed in [`NAMES`].
pub fn call(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    match name {
        "find" | "find_all" => {
            let want = req(args, 0, "value", env, sc)?;
            let items = array_ref(&t)?;
            let hits = items
                .iter()
                .enumerate()
                .filter(|(_, v)| ops::equals(v, &want));
            found(name == "find", hits.map(|(i, _)| i).collect())
        }
        "find_by" | "find_all_by" => {
            let q = arg(args, 0, "query").ok_or("missing parameter: query")?;
            let mut hits = Vec::new();
            for (i, v) in array_ref(&t)?.iter().enumerate() {
                if matches!(eval_with(q, v, env, sc)?, Value::Bool(true)) {
                    hits.push(i);
                }
            }
            found(name == "find_by", hits)
        }
        // Strings only, as in Bento: reversing an array is an error there.
        "reverse" => match &t {
            Value::Bytes(b) => Ok(Value::Bytes(b.iter().rev().copied().collect())),
            _ => Ok(Value::String(string_of(&t)?.chars().rev().collect())),
        },
        "repeat" => {
            let n = ops::number(&req(args, 0, "count", env, sc)?)?.as_i64();
            let s = string_of(&t)?;
            let n = usize::try_from(n).map_err(|_| "negative repeat count".to_string())?;
            if s.len().saturating_mul(n) > 64 << 20 {
                return Err("repeat result would exceed 64 MiB".into());
            }
            super::budget::charge_bytes(s.len().saturating_mul(n))?;
            Ok(Value::String(s.repeat(n)))
        }
        "escape_html" => Ok(Value::String(escape_html(&string_of(&t)?))),
        "unescape_html" => Ok(Value::String(unescape_html(&string_of(&t)?))),
        "escape_url_query" => Ok(Value::String(query_escape(&string_of(&t)?))),
        "escape_url_path" => Ok(Value::String(path_escape(&string_of(&t)?))),
        "unescape_url_query" => query_unescape(&string_of(&t)?).map(Value::String),
        "unescape_url_path" => path_unescape(&string_of(&t)?).map(Value::String),
        "quote" => Ok(Value::String(go_quote(&string_of(&t)?))),
        "unquote" => go_unquote(&string_of(&t)?).map(Value::String),
        "int8" | "int16" | "int32" | "uint8" | "uint16" | "uint32" | "uint64" | "float32" => {
            sized(name, &t)
        }
        "log" | "log10" => {
            let f = ops::number(&t)?.as_f64();
            Ok(Value::Float(if name == "log" { f.ln() } else { f.log10() }))
        }
        "pow" => {
            let e = ops::number(&req(args, 0, "exponent", env, sc)?)?.as_f64();
            Ok(Value::Float(ops::number(&t)?.as_f64().powf(e)))
        }
        "concat" => {
            let mut out = t.into_array().map_err(|v| expected("array", &v))?;
            for a in all_args(args, env, sc)? {
                out.extend(a.into_array().map_err(|v| expected("array", &v))?);
            }
            Ok(Value::Array(out))
        }
        "zip" => zip(t, all_args(args, env, sc)?),
        "replace_all_many" | "replace_many" => {
            let pairs = req(args, 0, "values", env, sc)?
                .into_array()
                .map_err(|v| expected("array", &v))?;
            replace_many(&string_of(&t)?, &pairs)
        }
        _ => Err(format!("method '{name}' is not implemented yet")),
    }
}

fn array_ref(t: &Value) -> Result<&[Value], String> {
    match t {
        Value::Array(a) => Ok(a),
        v => Err(expected("array", v)),
    }
}

/// `find*` give the first index (or -1), `find_all*` every index.
fn found(first: bool, hits: Vec<usize>) -> Result<Value, String> {
    if first {
        return Ok(Value::Int(hits.first().map_or(-1, |&i| i as i64)));
    }
    Ok(Value::Array(
        hits.into_iter().map(|i| Value::Int(i as i64)).collect(),
    ))
}

/// Go's `html.EscapeString`: `<`, `>`, `&`, `'` and `"`.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// The common named entities and numeric references; unknown ones stay as text.
fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Go's `strconv.Quote` for printable text: `\"`, `\\` and control escapes.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Unquote` for double-quoted and backquoted strings, by reusing
/// the mapping parser's string literal rules.
fn go_unquote(s: &str) -> Result<String, String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(raw.to_string());
    }
    if !(s.len() >= 2 && s.starts_with('"') && s.ends_with('"')) {
        return Err("invalid syntax".into());
    }
    let prog =
        crate::parser::parse(&format!("root = {s}")).map_err(|_| "invalid syntax".to_string())?;
    match prog.statements.first() {
        Some(crate::ast::Stmt::Assign { value, .. }) => match &value.kind {
            crate::ast::ExprKind::Literal(Value::String(v)) => Ok(v.clone()),
            _ => Err("invalid syntax".into()),
        },
        _ => Err("invalid syntax".into()),
    }
}

/// Sized integer and float32 conversions with Go's range checks. Integers stay
/// exact (i128) so the full uint64 range converts without float rounding.
fn sized(name: &str, t: &Value) -> Result<Value, String> {
    let exact = match t {
        Value::String(s) => match parse_int_text(s.trim()) {
            Some(i) => Ok(i),
            None => Err(s.trim().parse::<f64>().map_err(|_| expected("number", t))?),
        },
        v => match ops::number(v)? {
            Num::Int(i) => Ok(i128::from(i)),
            Num::UInt(u) => Ok(i128::from(u)),
            Num::Float(f) => Err(f),
        },
    };
    if name == "float32" {
        let f = exact.map_or_else(|f| f, |i| i as f64);
        return Ok(Value::Float(float32(f)));
    }
    let (lo, hi): (i128, i128) = match name {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        _ => (0, u64::MAX.into()),
    };
    let int = match exact {
        Ok(i) => i,
        Err(f) if f.fract() == 0.0 && f.abs() < 1e30 => f as i128,
        Err(f) => {
            return Err(format!(
                "value {} cannot be represented as {name}",
                crate::json::go_format_float(f)
            ));
        }
    };
    if int < lo || int > hi {
        return Err(format!("value {int} is out of range for {name}"));
    }
    Ok(if name.starts_with('u') {
        Value::UInt(int as u64)
    } else {
        Value::Int(int as i64)
    })
}

/// An integer in decimal or `0x` hex, exactly; None if the text is not one.
fn parse_int_text(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) if !hex.starts_with(['+', '-']) => i128::from_str_radix(hex, 16).ok()?,
        Some(_) => return None,
        None if body.starts_with(['+', '-']) => return None,
        None => body.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Rounds to float32 and back, keeping the float32's shortest decimal form, so
/// `3.14.float32()` prints as `3.14` (as Go prints a float32), not as the
/// widened `3.140000104904175`.
fn float32(f: f64) -> f64 {
    let narrow = f as f32;
    narrow
        .to_string()
        .parse::<f64>()
        .unwrap_or(f64::from(narrow))
}

fn zip(t: Value, others: Vec<Value>) -> Result<Value, String> {
    let mut cols = vec![t.into_array().map_err(|v| expected("array", &v))?];
    for o in others {
        cols.push(o.into_array().map_err(|v| expected("array", &v))?);
    }
    let len = cols[0].len();
    if cols.iter().any(|c| c.len() != len) {
        return Err("can't zip different length array values".into());
    }
    let mut iters: Vec<_> = cols.into_iter().map(Vec::into_iter).collect();
    Ok(Value::Array(
        (0..len)
            .map(|_| Value::Array(iters.iter_mut().filter_map(Iterator::next).collect()))
            .collect(),
    ))
}

/// Replaces each `[old, new, old, new, …]` pair in turn, like Go's `strings.Replacer`
/// applied left to right at each position.
fn replace_many(s: &str, pairs: &[Value]) -> Result<Value, String> {
    if !pairs.len().is_multiple_of(2) {
        return Err("replacement arrays must have an even length".into());
    }
    let pairs: Vec<(String, String)> = pairs
        .chunks(2)
        .map(|p| Ok((string_of(&p[0])?, string_of(&p[1])?)))
        .collect::<Result<_, String>>()?;
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < s.len() {
        for (old, new) in &pairs {
            if !old.is_empty() && s[i..].starts_with(old.as_str()) {
                out.push_str(new);
                i += old.len();
                continue 'outer;
            }
        }
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_go() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(
            unescape_html("&lt;p&gt;Hi &amp; bye&#33;&#x41;&bogus;"),
            "<p>Hi & bye!A&bogus;"
        );
        assert_eq!(query_escape("hello world!&"), "hello+world%21%26");
        assert_eq!(path_escape("a b/c"), "a%20b%2Fc");
        assert_eq!(query_unescape("a+b%2Fc").unwrap(), "a b/c");
        assert_eq!(path_unescape("a+b").unwrap(), "a+b");
        assert!(path_unescape("%zz").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(go_quote("foo\nbar\t\"x\""), "\"foo\\nbar\\t\\\"x\\\"\"");
        assert_eq!(go_unquote("\"foo\\nbar\"").unwrap(), "foo\nbar");
        assert_eq!(go_unquote("`raw\\n`").unwrap(), "raw\\n");
        assert!(go_unquote("nope").is_err());
    }

    #[test]
    fn sized_numbers_check_range() {
        assert_eq!(sized("int32", &Value::Float(12.0)), Ok(Value::Int(12)));
        assert!(sized("int8", &Value::Int(300)).is_err());
        assert!(sized("uint32", &Value::Int(-1)).is_err());
        assert_eq!(sized("uint16", &Value::from("0xDE")), Ok(Value::UInt(222)));
        assert!(sized("int32", &Value::Float(1.5)).is_err());
        assert_eq!(
            sized("uint64", &Value::from("18446744073709551615")),
            Ok(Value::UInt(u64::MAX))
        );
        assert!(sized("uint64", &Value::from("18446744073709551616")).is_err());
        assert!(sized("int16", &Value::from("-0x8001")).is_err());
        assert_eq!(
            sized("int16", &Value::from("-0x8000")),
            Ok(Value::Int(-32768))
        );
        assert_eq!(sized("float32", &Value::Float(0.1)), Ok(Value::Float(0.1)));
        assert_eq!(
            sized("float32", &Value::from("2.5e3")),
            Ok(Value::Float(2500.0))
        );
    }
}
