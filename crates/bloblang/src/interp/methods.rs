//! Built-in methods (`target.name(args)`), a first subset of §1.7 P0.

use super::eval::{Scope, eval, eval_with, field, stringify};
use super::exec::{Env, Message, apply_map};
use super::functions::{arg, opt, req};
use super::ops;
use crate::ast::{Args, Expr, ExprKind};
use crate::value::{Object, Value};

/// Calls `target.name(args)`. `catch` and `or` see the target's error, so the
/// target is evaluated here rather than by the caller.
pub fn call(
    target: &Expr,
    name: &str,
    args: &Args,
    env: &Env,
    sc: &Scope,
) -> Result<Value, String> {
    match name {
        "catch" => match eval(target, env, sc) {
            Ok(v) => Ok(v),
            // The fallback runs with the error message as its context, so
            // `.catch(err -> err)` yields the message.
            Err(e) => match arg(args, 0, "fallback") {
                Some(f) => eval_with(f, &Value::String(e), env, sc),
                None => Err("missing parameter: fallback".into()),
            },
        },
        "from" => {
            let i = super::ops::number(&req(args, 0, "index", env, sc)?)?.as_i64();
            let len = env.batch.len() as i64;
            let at = if i < 0 { len + i } else { i };
            // Outside the batch the perspective is an empty message, as in Bento.
            let empty = Message::default();
            let msg = usize::try_from(at)
                .ok()
                .and_then(|a| env.batch.get(a))
                .unwrap_or(&empty);
            // Only message-reading functions change perspective; `this` stays.
            let other = Env {
                msg,
                index: usize::try_from(at).unwrap_or(0),
                ..*env
            };
            eval(target, &other, sc)
        }
        "from_all" => {
            let mut out = Vec::with_capacity(env.batch.len());
            for (index, msg) in env.batch.iter().enumerate() {
                out.push(eval(target, &Env { msg, index, ..*env }, sc)?);
            }
            Ok(Value::Array(out))
        }
        "or" => match eval(target, env, sc) {
            Ok(v) if !v.is_null_like() => Ok(v),
            _ => req(args, 0, "fallback", env, sc),
        },
        _ => {
            // Iterating methods only read their target: borrow it when it is a
            // plain path instead of cloning a whole array or object.
            if let Ok(t) = super::eval::reference(target, env, sc)
                && let Some(r) = iterate(t, name, args, env, sc)
            {
                return r.map_err(|e| with_origin(target, e));
            }
            let t = eval(target, env, sc)?;
            dispatch(t, name, args, env, sc).map_err(|e| with_origin(target, e))
        }
    }
}

/// Runs the method call `method` (a `target.name(args)` expression) on the
/// target's value `t`, already evaluated or moved in, worded as [`call`] words it.
pub fn call_on(t: Value, method: &Expr, env: &Env, sc: &Scope) -> Result<Value, String> {
    let ExprKind::Method(target, name, args) = &method.kind else {
        return Err("internal error: not a method call".into());
    };
    dispatch(t, name, args, env, sc).map_err(|e| with_origin(target, e))
}

/// Runs a method on an evaluated target.
fn dispatch(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let t = match iterate_owned(t, name, args, env, sc) {
        Ok(r) => return r,
        Err(t) => t,
    };
    if let Some(r) = iterate(&t, name, args, env, sc) {
        return r;
    }
    if let Some(r) = super::methods_str::call(&t, name, args, env, sc) {
        return r;
    }
    if super::methods_re::NAMES.contains(&name) {
        return super::methods_re::call(&t, name, args, env, sc);
    }
    if super::methods_coll::NAMES.contains(&name) {
        return super::methods_coll::call(t, name, args, env, sc);
    }
    // Before methods_parse: the time module owns `parse_duration`.
    if super::methods_time::NAMES.contains(&name) {
        return super::methods_time::call(t, name, args, env, sc);
    }
    if super::methods_parse::NAMES.contains(&name) {
        return super::methods_parse::call(t, name, args, env, sc);
    }
    if super::methods_ext::handles(name) {
        return super::methods_ext::call(t, name, args, env, sc);
    }
    if super::methods_p1::NAMES.contains(&name) {
        return super::methods_p1::call(t, name, args, env, sc);
    }
    simple(t, name, args, env, sc)
}

/// Prefixes a method's error with what its target was, as Bento does
/// (``field `this.a`: value is null``), unless an inner error already says.
fn with_origin(target: &Expr, err: String) -> String {
    match super::eval::origin(target) {
        Some(o) if !err.starts_with("field `") && !err.contains(" literal: ") => {
            format!("{o}: {err}")
        }
        _ => err,
    }
}

/// Methods whose argument is a query run once per element.
fn iterate(
    t: &Value,
    name: &str,
    args: &Args,
    env: &Env,
    sc: &Scope,
) -> Option<Result<Value, String>> {
    let q = || {
        arg(args, 0, "query")
            .or_else(|| arg(args, 0, "test"))
            .ok_or_else(|| "missing parameter: query".to_string())
    };
    Some(match (name, t) {
        ("map_each", Value::Array(items)) => q().and_then(|q| {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match eval_with(q, item, env, sc)? {
                    Value::Delete => {}
                    Value::Nothing => out.push(item.clone()),
                    v => out.push(v),
                }
            }
            Ok(Value::Array(out))
        }),
        ("map_each", Value::Object(m)) => q().and_then(|q| {
            let mut out = Object::new();
            for (k, v) in m {
                match eval_with(q, &key_value(k, v), env, sc)? {
                    Value::Delete => {}
                    Value::Nothing => {
                        out.insert(k.clone(), v.clone());
                    }
                    nv => {
                        out.insert(k.clone(), nv);
                    }
                }
            }
            Ok(Value::Object(out))
        }),
        ("filter", Value::Array(items)) => q().and_then(|q| {
            let mut out = Vec::new();
            for item in items {
                if keep(q, item, env, sc)? {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }),
        ("filter", Value::Object(m)) => q().and_then(|q| {
            let mut out = Object::new();
            for (k, v) in m {
                if keep(q, &key_value(k, v), env, sc)? {
                    out.insert(k.clone(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }),
        ("any" | "all", Value::Array(items)) => {
            let q = match arg(args, 0, "test") {
                Some(q) => q,
                None => return Some(Err("missing parameter: test".into())),
            };
            let want = name == "any";
            let mut found = !want && !items.is_empty();
            for item in items {
                match test(q, item, env, sc) {
                    Ok(b) if b == want => {
                        found = want;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            Ok(Value::Bool(found))
        }
        _ => return None,
    })
}

/// `map_each` and `filter` over an array the method owns: kept elements are
/// moved into the result, not copied. `Err` gives back any other target.
fn iterate_owned(
    t: Value,
    name: &str,
    args: &Args,
    env: &Env,
    sc: &Scope,
) -> Result<Result<Value, String>, Value> {
    let filter = match name {
        "filter" => true,
        "map_each" => false,
        _ => return Err(t),
    };
    let items = t.into_array()?;
    let Some(q) = arg(args, 0, "query").or_else(|| arg(args, 0, "test")) else {
        return Ok(Err("missing parameter: query".into()));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let r = eval_with(q, &item, env, sc);
        match r {
            Err(e) => return Ok(Err(e)),
            Ok(Value::Bool(true)) if filter => out.push(item),
            Ok(_) if filter => {}
            Ok(Value::Delete) => {}
            Ok(Value::Nothing) => out.push(item),
            Ok(v) => out.push(v),
        }
    }
    Ok(Ok(Value::Array(out)))
}

fn key_value(k: &str, v: &Value) -> Value {
    let mut m = Object::new();
    m.insert("key", Value::String(k.to_string()));
    m.insert("value", v.clone());
    Value::Object(m)
}

fn test(q: &Expr, item: &Value, env: &Env, sc: &Scope) -> Result<bool, String> {
    match eval_with(q, item, env, sc)? {
        Value::Bool(b) => Ok(b),
        v => Err(format!("expected bool value, got {}", v.describe())),
    }
}

/// `filter` keeps an element only on a `true` result; anything else drops it.
fn keep(q: &Expr, item: &Value, env: &Env, sc: &Scope) -> Result<bool, String> {
    Ok(matches!(eval_with(q, item, env, sc)?, Value::Bool(true)))
}

/// Bento's array `split`: groups of elements between those equal to `delim`
/// (empty groups are dropped).
fn split_array(t: Value, delim: &Value) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let mut groups = Vec::new();
    let mut current = Vec::new();
    for v in items {
        if ops::deep_equal(&v, delim) {
            if !current.is_empty() {
                groups.push(Value::Array(std::mem::take(&mut current)));
            }
        } else {
            current.push(v);
        }
    }
    if !current.is_empty() {
        groups.push(Value::Array(current));
    }
    Ok(Value::Array(groups))
}

/// Bento's type-mismatch wording: `expected string value, got number (5)`.
pub fn expected(want: &str, got: &Value) -> String {
    format!("expected {want} value, got {}", got.describe())
}

/// The value as text if it is a string or bytes.
pub fn string_of(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::Timestamp(t) => Ok(t.to_rfc3339_nano()),
        other => Err(expected("string", other)),
    }
}

/// [`string_of`] without the copy, for methods that only read the text.
pub fn str_of(v: &Value) -> Result<std::borrow::Cow<'_, str>, String> {
    match v {
        Value::String(s) => Ok(std::borrow::Cow::Borrowed(s)),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b)),
        other => Err(expected("string", other)),
    }
}

/// Methods that take an evaluated target.
fn simple(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let str_arg = |pos: usize, n: &str| req(args, pos, n, env, sc).and_then(|v| string_of(&v));
    match name {
        "string" => Ok(Value::String(stringify(&t))),
        "type" => Ok(Value::String(t.type_name().into())),
        "not_null" if matches!(t, Value::Null) => Err("value is null".into()),
        "not_null" => Ok(t),
        "not_empty" => not_empty(t),
        "not" => match t {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            v => Err(expected("bool", &v)),
        },
        "number" => number(t, opt(args, 0, "default", env, sc)?),
        "length" => match &t {
            Value::String(s) => Ok(Value::Int(s.len() as i64)),
            Value::Bytes(b) => Ok(Value::Int(b.len() as i64)),
            Value::Array(a) => Ok(Value::Int(a.len() as i64)),
            Value::Object(m) => Ok(Value::Int(m.len() as i64)),
            v => Err(expected("string, array or object", v)),
        },
        "uppercase" => Ok(Value::String(str_of(&t)?.to_uppercase())),
        "lowercase" => Ok(Value::String(str_of(&t)?.to_lowercase())),
        "trim" => {
            let s = string_of(&t)?;
            Ok(Value::String(match opt(args, 0, "cutset", env, sc)? {
                Some(c) => {
                    let cut = string_of(&c)?;
                    s.trim_matches(|ch| cut.contains(ch)).to_string()
                }
                None => s.trim().to_string(),
            }))
        }
        "has_prefix" => Ok(Value::Bool(
            string_of(&t)?.starts_with(&str_arg(0, "value")?),
        )),
        "has_suffix" => Ok(Value::Bool(string_of(&t)?.ends_with(&str_arg(0, "value")?))),
        "contains" => contains(&t, &req(args, 0, "value", env, sc)?),
        "split" if matches!(t, Value::Array(_)) => {
            split_array(t, &req(args, 0, "delimiter", env, sc)?)
        }
        "split" => {
            let delim = str_arg(0, "delimiter")?;
            let s = string_of(&t)?;
            let parts: Vec<Value> = if delim.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(delim.as_str()).map(Value::from).collect()
            };
            let empty_as_null = matches!(
                opt(args, 1, "empty_as_null", env, sc)?,
                Some(Value::Bool(true))
            );
            if empty_as_null {
                let nulled = parts.into_iter().map(|p| match &p {
                    Value::String(x) if x.is_empty() => Value::Null,
                    _ => p,
                });
                return Ok(Value::Array(nulled.collect()));
            }
            Ok(Value::Array(parts))
        }
        "join" => join(t, opt(args, 0, "delimiter", env, sc)?),
        "sum" => sum(t),
        "index" => index(&t, ops::number(&req(args, 0, "index", env, sc)?)?.as_i64()),
        "abs" | "floor" | "ceil" | "round" => rounding(name, &t),
        _ => structural(t, name, args, env, sc),
    }
}

/// Object and array access methods, and `apply`.
fn structural(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let str_arg = |pos: usize, n: &str| req(args, pos, n, env, sc).and_then(|v| string_of(&v));
    match name {
        "keys" => match &t {
            Value::Object(m) => Ok(Value::Array(
                m.keys().map(|k| Value::from(k.as_str())).collect(),
            )),
            v => Err(expected("object", v)),
        },
        "values" => match t.into_object() {
            Ok(m) => Ok(Value::Array(m.into_values().collect())),
            Err(v) => Err(expected("object", &v)),
        },
        "append" => match t.into_array() {
            Ok(mut a) => {
                for i in 0..args_len(args) {
                    a.push(req(args, i, "", env, sc)?);
                }
                Ok(Value::Array(a))
            }
            Err(v) => Err(expected("array", &v)),
        },
        "get" => Ok(get_path(&t, &str_arg(0, "path")?)),
        "exists" => Ok(Value::Bool(exists(&t, &str_arg(0, "path")?))),
        "apply" => {
            let n = str_arg(0, "mapping")?;
            match env.maps.get(&n) {
                Some(def) => apply_map(def, &t, env),
                None => Err(format!("map {n} was not found")),
            }
        }
        _ => Err(format!("method '{name}' is not implemented yet")),
    }
}

fn args_len(args: &Args) -> usize {
    match args {
        Args::Positional(v) => v.len(),
        Args::Named(v) => v.len(),
    }
}

fn not_empty(t: Value) -> Result<Value, String> {
    let empty = match &t {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        v => return Err(expected("string, array or object", v)),
    };
    if empty {
        return Err(format!("{} value is empty", t.type_name()));
    }
    Ok(t)
}

/// `.number()`: numbers and numeric strings become float64.
fn number(t: Value, default: Option<Value>) -> Result<Value, String> {
    let parsed = match &t {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Bytes(b) => String::from_utf8_lossy(b).trim().parse::<f64>().ok(),
        v => v.as_num().map(|n| n.as_f64()),
    };
    match (parsed, default) {
        (Some(f), _) => Ok(Value::Float(f)),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(expected("number", &t)),
    }
}

fn contains(t: &Value, needle: &Value) -> Result<Value, String> {
    Ok(Value::Bool(match t {
        Value::String(s) => s.contains(&stringify(needle)),
        Value::Bytes(b) => String::from_utf8_lossy(b).contains(&stringify(needle)),
        Value::Array(a) => a.iter().any(|v| ops::deep_equal(v, needle)),
        Value::Object(m) => m.values().any(|v| ops::deep_equal(v, needle)),
        v => return Err(expected("string, array or object", v)),
    }))
}

fn join(t: Value, delim: Option<Value>) -> Result<Value, String> {
    let items = t.into_array().map_err(|t| expected("array", &t))?;
    let delim = delim
        .map(|d| string_of(&d))
        .transpose()?
        .unwrap_or_default();
    let parts = items.iter().map(string_of).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&delim)))
}

fn sum(t: Value) -> Result<Value, String> {
    let Value::Array(items) = &t else {
        return Err(expected("array", &t));
    };
    let mut total = 0.0;
    for v in items {
        total += ops::number(v)?.as_f64();
    }
    Ok(Value::Float(total))
}

/// `.index(i)`: negative counts from the end; out of range is an error.
pub fn index(t: &Value, i: i64) -> Result<Value, String> {
    if let Value::Bytes(b) = t {
        let n = b.len() as i64;
        let at = if i < 0 { n + i } else { i };
        return usize::try_from(at)
            .ok()
            .and_then(|a| b.get(a))
            .map(|&byte| Value::Int(i64::from(byte)))
            .ok_or_else(|| format!("index {i} was out of bounds for bytes of length {n}"));
    }
    let Value::Array(items) = t else {
        return Err(expected("array", t));
    };
    let n = items.len() as i64;
    let at = if i < 0 { n + i } else { i };
    usize::try_from(at)
        .ok()
        .and_then(|a| items.get(a).cloned())
        .ok_or_else(|| format!("index {i} was out of bounds for array of length {n}"))
}

/// Reads a dotted path with the never-failing path semantics.
pub fn get_path(t: &Value, path: &str) -> Value {
    if path.is_empty() {
        return t.clone();
    }
    path.split('.').fold(t.clone(), |v, seg| field(&v, seg))
}

fn exists(t: &Value, path: &str) -> bool {
    let mut cur = t;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Object(m) => match m.get(seg) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    true
}

/// `abs`, `floor`, `ceil`, `round`: int64 when the result fits, as Bento does.
fn rounding(name: &str, t: &Value) -> Result<Value, String> {
    let n = match t {
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => crate::value::Num::Float(f),
            Err(_) => return Err(expected("number", t)),
        },
        v => ops::number(v)?,
    };
    if let crate::value::Num::Int(i) = n {
        return Ok(Value::Int(if name == "abs" { i.wrapping_abs() } else { i }));
    }
    let f = n.as_f64();
    let r = match name {
        "abs" => return Ok(Value::Float(f.abs())),
        "floor" => f.floor(),
        "ceil" => f.ceil(),
        _ => f.round(),
    };
    if r.is_finite() && r >= i64::MIN as f64 && r < i64::MAX as f64 {
        Ok(Value::Int(r as i64))
    } else {
        Ok(Value::Float(r))
    }
}
