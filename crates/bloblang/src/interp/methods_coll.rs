//! Collection methods: folding, sorting, merging, reshaping arrays and objects.

use super::eval::{Scope, eval_with, stringify};
use super::exec::Env;
use super::functions::{arg, opt, req};
use super::methods::expected;
use super::ops;
use crate::ast::{Args, Expr, ExprKind};
use crate::object::Key;
use crate::value::{Object, Value};
use std::cmp::Ordering;

/// The methods [`call`] handles.
pub const NAMES: [&str; 16] = [
    "fold",
    "sort",
    "sort_by",
    "map_each_key",
    "merge",
    "assign",
    "without",
    "unique",
    "flatten",
    "min",
    "max",
    "enumerated",
    "key_values",
    "array",
    "slice",
    "map",
];

/// Dispatches the collection methods listed in [`NAMES`].
pub fn call(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    match name {
        "fold" => fold(t, args, env, sc),
        "sort" => sort(t, args, env, sc),
        "sort_by" => sort_by(t, args, env, sc),
        "map_each_key" => map_each_key(t, args, env, sc),
        "merge" => match arg(args, 0, "with") {
            // A literal is merged from where it stands: only what is inserted is copied.
            Some(Expr {
                kind: ExprKind::Literal(Value::Object(with)),
                ..
            }) => Ok(match t.into_object() {
                Ok(mut a) => {
                    for (k, v) in with {
                        merge_entry(&mut a, k.clone(), v.clone());
                    }
                    Value::Object(a)
                }
                Err(t) => merge(t, Value::Object(with.clone())),
            }),
            _ => req(args, 0, "with", env, sc).map(|w| merge(t, w)),
        },
        "assign" => req(args, 0, "with", env, sc).map(|w| assign(t, w)),
        "without" => without(t, args, env, sc),
        "unique" => unique(t, args, env, sc),
        "flatten" => flatten(t),
        "min" | "max" => min_max(name, &t),
        "enumerated" => enumerated(t),
        "key_values" => key_values(t),
        "array" => Ok(match t.into_array() {
            Ok(a) => Value::Array(a),
            Err(v) => Value::Array(vec![v]),
        }),
        "slice" => slice(t, args, env, sc),
        "map" => match arg(args, 0, "query") {
            Some(q) => eval_with(q, &t, env, sc),
            None => Err("missing parameter: query".into()),
        },
        _ => Err(format!("method '{name}' is not implemented yet")),
    }
}

fn pair(k1: &str, v1: Value, k2: &str, v2: Value) -> Value {
    let mut m = Object::new();
    m.insert(k1, v1);
    m.insert(k2, v2);
    Value::Object(m)
}

/// `fold(initial, query)`: the query sees `{tally, value}`.
fn fold(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let mut tally = req(args, 0, "initial", env, sc)?;
    let q = arg(args, 1, "query").ok_or("missing parameter: query")?;
    for v in items {
        tally = eval_with(q, &pair("tally", tally, "value", v), env, sc)?;
    }
    Ok(tally)
}

/// Orders two sortable values: both numbers or both strings.
fn natural(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Ok(x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal)),
            _ => Err(format!(
                "expected number or string value, got {} and {}",
                a.type_name(),
                b.type_name()
            )),
        },
    }
}

/// The order a stable sort puts `n` items in, given a fallible "is item `a`
/// before item `b`" test; stops at the test's first error. A bottom-up merge sort
/// of indices, so a comparison that is no total order (a mapping's own `sort`
/// query, NaN) gives some order instead of a panic, as Go's `SliceStable` does.
fn stable_order(
    n: usize,
    mut less: impl FnMut(usize, usize) -> Result<bool, String>,
) -> Result<Vec<usize>, String> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut merged = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        merged.clear();
        for start in (0..n).step_by(2 * width) {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut l, mut r) = (start, mid);
            while l < mid && r < end {
                // Equal items keep their order: the right one goes first only if strictly before.
                if less(order[r], order[l])? {
                    merged.push(order[r]);
                    r += 1;
                } else {
                    merged.push(order[l]);
                    l += 1;
                }
            }
            merged.extend_from_slice(&order[l..mid]);
            merged.extend_from_slice(&order[r..end]);
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    Ok(order)
}

/// `items` rearranged into `order` (a permutation of their indices).
fn reordered(items: Vec<Value>, order: &[usize]) -> Vec<Value> {
    let mut slots: Vec<Option<Value>> = items.into_iter().map(Some).collect();
    order.iter().filter_map(|&i| slots[i].take()).collect()
}

fn sort(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let order = match arg(args, 0, "compare") {
        None => stable_order(items.len(), |a, b| {
            Ok(natural(&items[a], &items[b])? == Ordering::Less)
        })?,
        // The comparison answers "is left before right".
        Some(q) => stable_order(items.len(), |a, b| {
            let both = pair("left", items[a].clone(), "right", items[b].clone());
            match eval_with(q, &both, env, sc)? {
                Value::Bool(b) => Ok(b),
                v => Err(expected("bool", &v)),
            }
        })?,
    };
    Ok(Value::Array(reordered(items, &order)))
}

fn sort_by(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let q = arg(args, 0, "query").ok_or("missing parameter: query")?;
    let keys = items
        .iter()
        .map(|v| eval_with(q, v, env, sc))
        .collect::<Result<Vec<_>, String>>()?;
    let order = stable_order(items.len(), |a, b| {
        Ok(natural(&keys[a], &keys[b])? == Ordering::Less)
    })?;
    Ok(Value::Array(reordered(items, &order)))
}

fn map_each_key(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let m = t.into_object().map_err(|v| expected("object", &v))?;
    let q = arg(args, 0, "query").ok_or("missing parameter: query")?;
    let mut out = Object::new();
    for (k, v) in m {
        match &eval_with(q, &Value::String(k.to_string()), env, sc)? {
            Value::String(nk) => {
                out.insert(nk.clone(), v);
            }
            Value::Nothing => {
                out.insert(k, v);
            }
            other => {
                return Err(format!(
                    "unexpected result from key mapping: {}",
                    other.describe()
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

/// `merge`: objects merge deeply; colliding non-object values become arrays;
/// arrays concatenate.
pub fn merge(t: Value, with: Value) -> Value {
    match (t.into_object(), with.into_object()) {
        (Ok(mut a), Ok(b)) => {
            for (k, v) in b {
                merge_entry(&mut a, k, v);
            }
            Value::Object(a)
        }
        (Ok(a), Err(w)) => collide(Value::Object(a), w),
        (Err(t), Ok(b)) => collide(t, Value::Object(b)),
        (Err(t), Err(w)) => collide(t, w),
    }
}

/// Merges `v` into `a` under `k`: a value already there is merged with it.
fn merge_entry(a: &mut Object, k: Key, v: Value) {
    match a.get_mut(&k) {
        Some(slot) => {
            let old = std::mem::replace(slot, Value::Null);
            *slot = merge(old, v);
        }
        None => {
            a.insert(k, v);
        }
    }
}

fn collide(t: Value, with: Value) -> Value {
    let mut out = t.into_array().unwrap_or_else(|v| vec![v]);
    match with.into_array() {
        Ok(more) => out.extend(more),
        Err(v) => out.push(v),
    }
    Value::Array(out)
}

/// `assign`: like merge, but colliding values are overwritten.
fn assign(t: Value, with: Value) -> Value {
    match (t.into_object(), with.into_object()) {
        (Ok(mut a), Ok(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot @ Value::Object(_)) => {
                        let old = std::mem::replace(slot, Value::Null);
                        *slot = assign(old, v);
                    }
                    Some(slot) => *slot = v,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Value::Object(a)
        }
        (Err(t), Err(w)) => match (t.into_array(), w.into_array()) {
            (Ok(mut a), Ok(b)) => {
                a.extend(b);
                Value::Array(a)
            }
            (_, Ok(b)) => Value::Array(b),
            (_, Err(w)) => w,
        },
        (_, Ok(b)) => Value::Object(b),
        (_, Err(w)) => w,
    }
}

fn without(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let mut root = t;
    let count = match args {
        Args::Positional(v) => v.len(),
        Args::Named(v) => v.len(),
    };
    for i in 0..count {
        let path = stringify(&req(args, i, "", env, sc)?);
        let segs: Vec<String> = path.split('.').map(String::from).collect();
        if let Value::Object(_) = root {
            // A path through a non-object has nothing to remove.
            let _ = super::assign::set_path(&mut root, &segs, Value::Delete);
        }
    }
    Ok(root)
}

/// `unique(emit?)`: keeps the first element per key; keys (the element itself,
/// or what `emit` gives for it) must be strings or numbers.
fn unique(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let emit = arg(args, 0, "emit");
    let mut seen: Vec<Value> = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    for (i, v) in items.into_iter().enumerate() {
        let key = match emit {
            Some(q) => eval_with(q, &v, env, sc)?,
            None => v.clone(),
        };
        if !matches!(key, Value::String(_)) && key.as_num().is_none() {
            return Err(format!("index {i}: {}", expected("string or number", &key)));
        }
        if !seen.iter().any(|o| ops::deep_equal(o, &key)) {
            seen.push(key);
            out.push(v);
        }
    }
    Ok(Value::Array(out))
}

fn flatten(t: Value) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let mut out = Vec::new();
    for v in items {
        match v.into_array() {
            Ok(inner) => out.extend(inner),
            Err(v) => out.push(v),
        }
    }
    Ok(Value::Array(out))
}

fn min_max(name: &str, t: &Value) -> Result<Value, String> {
    let Value::Array(items) = t else {
        return Err(expected("array", t));
    };
    let mut best: Option<f64> = None;
    for v in items {
        let f = ops::number(v)?.as_f64();
        best = Some(match best {
            Some(b) if (name == "max" && b >= f) || (name == "min" && b <= f) => b,
            _ => f,
        });
    }
    best.map(Value::Float)
        .ok_or_else(|| "expected a non-empty array".to_string())
}

fn enumerated(t: Value) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    Ok(Value::Array(
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| pair("index", Value::Int(i as i64), "value", v))
            .collect(),
    ))
}

fn key_values(t: Value) -> Result<Value, String> {
    let m = t.into_object().map_err(|v| expected("object", &v))?;
    Ok(Value::Array(
        m.into_iter()
            .map(|(k, v)| pair("key", Value::String(k.into_string()), "value", v))
            .collect(),
    ))
}

/// Resolves a possibly negative bound against `len`, clamped to `[0, len]`.
fn bound(i: i64, len: usize) -> usize {
    let len_i = len as i64;
    let at = if i < 0 { len_i + i } else { i };
    at.clamp(0, len_i) as usize
}

/// `slice(low, high?)` on strings (by bytes), bytes and arrays.
pub fn slice(t: Value, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let low = ops::number(&req(args, 0, "low", env, sc)?)?.as_i64();
    let high = opt(args, 1, "high", env, sc)?
        .map(|h| ops::number(&h).map(|n| n.as_i64()))
        .transpose()?;
    slice_value(t, low, high)
}

/// Slices with Bento's bound rules; shared with the bracket syntax.
pub fn slice_value(t: Value, low: i64, high: Option<i64>) -> Result<Value, String> {
    let len = match &t {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) => a.len(),
        v => return Err(expected("array or string", v)),
    };
    let (lo, hi) = (bound(low, len), high.map_or(len, |h| bound(h, len)));
    // A string range that is empty while its upper bound is positive fails
    // (`"hello".slice(3, 3)`), but one clamped to nothing gives "" (`slice(0, -100)`).
    let text = matches!(t, Value::String(_) | Value::Bytes(_));
    let raw_high = high.map_or(len as i64, |h| if h < 0 { len as i64 + h } else { h });
    if lo > hi || (text && lo == hi && raw_high > 0) {
        return Err(format!(
            "lower slice bound {lo} must be lower than or equal to upper bound ({hi})"
        ));
    }
    Ok(match &t {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned())
        }
        Value::Bytes(b) => Value::Bytes(b[lo..hi].to_vec()),
        _ => match t.into_array() {
            Ok(a) => Value::Array(a.into_iter().skip(lo).take(hi - lo).collect()),
            Err(v) => v,
        },
    })
}
