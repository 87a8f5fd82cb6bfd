//! String, encoding and coercion methods.

use super::eval::{Scope, stringify};
use super::exec::Env;
use super::functions::{opt, req};
use super::methods::{expected, string_of as text};
use super::ops;
use crate::ast::Args;
use crate::encoding::{B64_STD, B64_URL, b64_decode, b64_encode};
use crate::json::{self, JsonOptions};
use crate::value::Value;

fn raw(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Bytes(b) => Ok(b.clone()),
        other => Err(expected("string", other)),
    }
}

/// Dispatches the string methods; `None` if `name` is not one of them.
pub fn call(
    t: &Value,
    name: &str,
    args: &Args,
    env: &Env,
    sc: &Scope,
) -> Option<Result<Value, String>> {
    let s_arg = |pos: usize, n: &str| req(args, pos, n, env, sc).and_then(|v| text(&v));
    let s = || text(t);
    Some(match name {
        "bytes" => Ok(Value::Bytes(match t {
            Value::Bytes(b) => b.clone(),
            other => stringify(other).into_bytes(),
        })),
        "capitalize" => s().map(|s| {
            let mut out = String::with_capacity(s.len());
            let mut start = true;
            for c in s.chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            Value::String(out)
        }),
        "trim_prefix" => s().and_then(|x| {
            let p = s_arg(0, "prefix")?;
            Ok(Value::String(
                x.strip_prefix(p.as_str()).unwrap_or(&x).to_string(),
            ))
        }),
        "trim_suffix" => s().and_then(|x| {
            let p = s_arg(0, "suffix")?;
            Ok(Value::String(
                x.strip_suffix(p.as_str()).unwrap_or(&x).to_string(),
            ))
        }),
        "format" => s().and_then(|x| format(&x, args, env, sc)),
        "index_of" => s().and_then(|x| {
            let needle = s_arg(0, "value")?;
            Ok(Value::Int(x.find(&needle).map_or(-1, |i| i as i64)))
        }),
        "replace_all" | "replace" => s().and_then(|x| {
            let (old, new) = (s_arg(0, "old")?, s_arg(1, "new")?);
            Ok(Value::String(x.replace(&old, &new)))
        }),
        "parse_json" => raw(t).and_then(|b| {
            let mut v =
                json::parse(&b).map_err(|e| format!("failed to parse value as JSON: {e}"))?;
            // With use_number, numbers stay exact (as Go's json.Number does).
            match opt(args, 0, "use_number", env, sc)? {
                Some(Value::Bool(true)) => {}
                None | Some(Value::Bool(false)) => numbers_to_float(&mut v),
                Some(other) => return Err(expected("bool", &other)),
            }
            Ok(v)
        }),
        "format_json" => format_json(t, args, env, sc),
        "hash" => hash(t, args, env, sc),
        "encode" => s_arg(0, "scheme").and_then(|scheme| encode(&raw(t)?, &scheme)),
        "decode" => s_arg(0, "scheme").and_then(|scheme| decode(&text(t)?, &scheme)),
        "bool" => to_bool(t, opt(args, 0, "default", env, sc)),
        "int64" => to_int64(t),
        "float64" => match t {
            Value::String(x) => x
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|e| e.to_string()),
            v => ops::number(v).map(|n| Value::Float(n.as_f64())),
        },
        _ => return None,
    })
}

/// Go's `json.Unmarshal` without `UseNumber` gives every number as float64.
/// Iterative: parsed documents may nest 10,000 deep.
fn numbers_to_float(v: &mut Value) {
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(m) => stack.extend(m.values_mut()),
            other => {
                if let Some(n) = other.as_num() {
                    *other = Value::Float(n.as_f64());
                }
            }
        }
    }
}

/// `format(args…)`: Go `fmt.Sprintf` over the evaluated arguments.
fn format(template: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let list = match args {
        Args::Positional(v) => v,
        Args::Named(_) => return Err("format takes positional arguments".into()),
    };
    let vals = list
        .iter()
        .map(|e| super::eval::eval(e, env, sc))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(super::methods_fmt::sprintf(template, &vals)))
}

/// `hash(algorithm, key?, polynomial?)` over the target's bytes.
fn hash(t: &Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let data = raw(t)?;
    let alg = text(&req(args, 0, "algorithm", env, sc)?)?;
    let key = opt(args, 1, "key", env, sc)?
        .map(|k| raw(&k))
        .transpose()?
        .unwrap_or_default();
    let poly = opt(args, 2, "polynomial", env, sc)?
        .map(|p| text(&p))
        .transpose()?
        .unwrap_or_default();
    super::methods_hash::hash(&data, &alg, &key, &poly).map(Value::Bytes)
}

fn format_json(t: &Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let indent = match opt(args, 0, "indent", env, sc)? {
        Some(v) => text(&v)?,
        None => "    ".into(),
    };
    let no_indent = matches!(opt(args, 1, "no_indent", env, sc)?, Some(Value::Bool(true)));
    let escape_html = !matches!(
        opt(args, 2, "escape_html", env, sc)?,
        Some(Value::Bool(false))
    );
    let opts = JsonOptions {
        escape_html,
        indent: (!no_indent && !indent.is_empty()).then_some(indent),
    };
    json::to_json(t, &opts).map(Value::String).map_err(|e| e.0)
}

fn to_bool(t: &Value, default: Result<Option<Value>, String>) -> Result<Value, String> {
    let parsed = match t {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => None,
        },
        v => v.as_num().map(|n| n.as_f64() != 0.0),
    };
    match (parsed, default?) {
        (Some(b), _) => Ok(Value::Bool(b)),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(expected("bool", t)),
    }
}

fn to_int64(t: &Value) -> Result<Value, String> {
    match t {
        Value::String(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => s.parse::<i64>().ok(),
            };
            parsed
                .map(Value::Int)
                .ok_or_else(|| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
        }
        v => {
            let f = ops::number(v)?.as_f64();
            if f.fract() != 0.0 || !(i64::MIN as f64..=i64::MAX as f64).contains(&f) {
                return Err(format!("value {f} cannot be represented as int64"));
            }
            Ok(Value::Int(f as i64))
        }
    }
}

fn encode(data: &[u8], scheme: &str) -> Result<Value, String> {
    Ok(Value::String(match scheme {
        "base64" => b64_encode(data, B64_STD, true),
        "base64url" => b64_encode(data, B64_URL, true),
        "base64rawurl" => b64_encode(data, B64_URL, false),
        "hex" => data.iter().map(|b| format!("{b:02x}")).collect(),
        "ascii85" => crate::encoding::ascii85_encode(data),
        "z85" => crate::encoding::z85_encode(data)?,
        other => return Err(format!("unrecognized encoding type: {other}")),
    }))
}

fn decode(s: &str, scheme: &str) -> Result<Value, String> {
    Ok(Value::Bytes(match scheme {
        "base64" => b64_decode(s, B64_STD)?,
        "base64url" | "base64rawurl" => b64_decode(s, B64_URL)?,
        "ascii85" => crate::encoding::ascii85_decode(s)?,
        "z85" => crate::encoding::z85_decode(s)?,
        "hex" => {
            if !s.len().is_multiple_of(2) {
                return Err("encoding/hex: odd length hex string".into());
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "encoding/hex: invalid byte".to_string())?
        }
        other => return Err(format!("unrecognized encoding type: {other}")),
    }))
}
