//! Built-in functions (`name(args)`), a first subset of §1.7 P0.

use super::eval::{Scope, content, eval, stringify};
use super::exec::Env;
use super::ops;
use crate::ast::{Args, Expr};
use crate::value::Value;

/// The argument at `pos`, or the one named `name`.
pub fn arg<'a>(args: &'a Args, pos: usize, name: &str) -> Option<&'a Expr> {
    match args {
        Args::Positional(v) => v.get(pos),
        Args::Named(v) => v.iter().find(|(n, _)| n == name).map(|(_, e)| e),
    }
}

/// Evaluates a required argument.
pub fn req(args: &Args, pos: usize, name: &str, env: &Env, sc: &Scope) -> Result<Value, String> {
    match arg(args, pos, name) {
        Some(e) => eval(e, env, sc),
        None => Err(format!("missing parameter: {name}")),
    }
}

/// Evaluates an optional argument.
pub fn opt(
    args: &Args,
    pos: usize,
    name: &str,
    env: &Env,
    sc: &Scope,
) -> Result<Option<Value>, String> {
    arg(args, pos, name).map(|e| eval(e, env, sc)).transpose()
}

/// Evaluates an optional integer argument, `default` when absent.
pub fn opt_int(
    args: &Args,
    pos: usize,
    name: &str,
    default: i64,
    env: &Env,
    sc: &Scope,
) -> Result<i64, String> {
    match opt(args, pos, name, env, sc)? {
        Some(v) => Ok(ops::number(&v)?.as_i64()),
        None => Ok(default),
    }
}

/// Calls the function `name`; `site` (its source offset) identifies the call
/// for functions that keep state per call site.
pub fn call(name: &str, args: &Args, site: usize, env: &Env, sc: &Scope) -> Result<Value, String> {
    match name {
        "counter" => counter(args, site, env, sc),
        "count" => {
            let n = stringify(&req(args, 0, "name", env, sc)?);
            let mut all = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
            let c = all.entry(n).or_insert(0);
            *c = c.saturating_add(1);
            Ok(Value::Int(*c))
        }
        "deleted" => Ok(Value::Delete),
        "nothing" => Ok(Value::Nothing),
        "throw" => Err(stringify(&req(args, 0, "why", env, sc)?)),
        "content" => Ok(content(env.msg)),
        "metadata" => Ok(match opt(args, 0, "key", env, sc)? {
            Some(k) => env
                .msg
                .metadata
                .get(&stringify(&k))
                .cloned()
                .unwrap_or(Value::Null),
            None => Value::Object(env.msg.metadata.clone()),
        }),
        "meta" => Ok(match opt(args, 0, "key", env, sc)? {
            Some(k) => match env.msg.metadata.get(&stringify(&k)).map(stringify) {
                Some(s) if !s.is_empty() => Value::String(s),
                _ => Value::Null,
            },
            None => Value::Object(
                env.msg
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(stringify(v))))
                    .collect(),
            ),
        }),
        "var" => {
            let n = stringify(&req(args, 0, "name", env, sc)?);
            Ok(env.vars.get(&n).cloned().unwrap_or(Value::Null))
        }
        "range" => range(args, env, sc),
        "json" => {
            let doc = crate::json::parse(&env.msg.content).map_err(|e| {
                format!("unable to reference message as structured: parse as json: {e}")
            })?;
            Ok(match opt(args, 0, "path", env, sc)? {
                Some(p) => super::methods::get_path(&doc, &stringify(&p)),
                None => doc,
            })
        }
        "env" => {
            let n = stringify(&req(args, 0, "name", env, sc)?);
            Ok(std::env::var(n).map_or(Value::Null, Value::String))
        }
        "uuid_v4" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        "now" => {
            let (s, n) = crate::time::now_unix();
            Ok(Value::String(crate::time::rfc3339_nano_utc(s, n)))
        }
        "timestamp_unix" => Ok(Value::Int(crate::time::now_unix().0)),
        "timestamp_unix_milli" | "timestamp_unix_micro" | "timestamp_unix_nano" => {
            let (s, n) = crate::time::now_unix();
            let (per_sec, div) = match name {
                "timestamp_unix_milli" => (1_000, 1_000_000),
                "timestamp_unix_micro" => (1_000_000, 1_000),
                _ => (1_000_000_000, 1),
            };
            Ok(Value::Int(
                s.saturating_mul(per_sec).saturating_add(i64::from(n / div)),
            ))
        }
        "random_int" => random_int(args, env, sc),
        "hostname" => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| Value::String(h.trim().to_string()))
            .or_else(|_| std::env::var("HOSTNAME").map(Value::String))
            .map_err(|_| "unable to determine hostname".to_string()),
        "pi" => Ok(Value::Float(std::f64::consts::PI)),
        "error" => Ok(env.msg.error.clone().map_or(Value::Null, Value::String)),
        "errored" => Ok(Value::Bool(env.msg.error.is_some())),
        "error_source_label" | "error_source_name" | "error_source_path" => {
            Ok(error_source(env.msg, name))
        }
        "uuid_v7" => {
            let at = opt(args, 0, "time", env, sc)?;
            let ms = at
                .map(|t| ops::number(&t).map(|n| (n.as_f64() * 1000.0) as i64))
                .transpose()?;
            super::ids::uuid_v7(ms)
        }
        "nanoid" => {
            let len = opt_int(args, 0, "length", 21, env, sc)?;
            let alphabet = opt(args, 1, "alphabet", env, sc)?
                .map(|a| super::methods::string_of(&a))
                .transpose()?;
            super::ids::nanoid(len, alphabet.as_deref())
        }
        "ksuid" => Ok(super::ids::ksuid()),
        "batch_index" => Ok(Value::Int(env.index as i64)),
        "batch_size" => Ok(Value::Int(env.batch.len() as i64)),
        _ => Err(format!("function '{name}' is not implemented yet")),
    }
}

/// The `error_source_*` fields: null when the message carries no error or the
/// engine did not say where it came from.
fn error_source(msg: &super::exec::Message, name: &str) -> Value {
    let Some(src) = msg.error.as_ref().and(msg.error_source.as_ref()) else {
        return Value::Null;
    };
    Value::String(match name {
        "error_source_label" => src.label.clone(),
        "error_source_name" => src.name.clone(),
        _ => src.path.clone(),
    })
}

/// `count(name)`'s counters: process-global, as in Bento (deprecated there).
static COUNTS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, i64>>> =
    std::sync::LazyLock::new(Default::default);

/// `counter(min = 1, max = MaxInt64, set?)`: counts up per call site across
/// messages, wrapping past `max`. `set` giving a number sets the counter to it,
/// null reads it without counting, Nothing (an `if` without a match) counts on.
fn counter(args: &Args, site: usize, env: &Env, sc: &Scope) -> Result<Value, String> {
    let int = |pos: usize, name: &str, default: i64| opt_int(args, pos, name, default, env, sc);
    let (min, max) = (int(0, "min", 1)?, int(1, "max", i64::MAX)?);
    if min > max {
        return Err(format!("min ({min}) must not exceed max ({max})"));
    }
    let set = opt(args, 2, "set", env, sc)?;
    let set_to = match &set {
        Some(Value::Null) => None,
        Some(v) if !v.is_sentinel() => Some(ops::number(v)?.as_i64()),
        _ => None,
    };
    let peek = matches!(set, Some(Value::Null));
    Ok(Value::Int(env.counters.update(site, |slot| {
        let next = match (set_to, peek, *slot) {
            (Some(v), _, _) => v,
            (None, true, cur) => return cur.unwrap_or(min),
            (None, false, None) => min,
            (None, false, Some(c)) if c >= max => min,
            (None, false, Some(c)) => c + 1,
        };
        *slot = Some(next);
        next
    })))
}

/// The most elements `range()` builds: a bound on memory a mapping can demand.
pub const MAX_RANGE: i128 = 1_000_000;

/// `random_int(seed?, min = 0, max = MaxInt64)`: uniform in `[min, max]`.
/// The seed is accepted for compatibility; values come from the OS generator.
fn random_int(args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let int = |pos: usize, name: &str, default: i64| opt_int(args, pos, name, default, env, sc);
    let (min, max) = (int(1, "min", 0)?, int(2, "max", i64::MAX)?);
    if min > max {
        return Err(format!(
            "min ({min}) must be less than or equal to max ({max})"
        ));
    }
    let span = (i128::from(max) - i128::from(min) + 1) as u128;
    let r = uuid::Uuid::new_v4().as_u128() % span;
    Ok(Value::Int((i128::from(min) + r as i128) as i64))
}

/// `range(start, stop, step = 1)`: stop is exclusive.
fn range(args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let start = ops::number(&req(args, 0, "start", env, sc)?)?.as_i64();
    let stop = ops::number(&req(args, 1, "stop", env, sc)?)?.as_i64();
    let step = match opt(args, 2, "step", env, sc)? {
        Some(v) => ops::number(&v)?.as_i64(),
        None => 1,
    };
    if step == 0 {
        return Err("step must be greater than or less than 0".into());
    }
    // Bento yields (stop - start) / step elements, truncating: range(0, 250, 100)
    // is [0, 100].
    let count = (i128::from(stop) - i128::from(start)) / i128::from(step);
    if step > 0 && start >= stop {
        return Err(format!(
            "with positive step arg start ({start}) must be < stop ({stop})"
        ));
    }
    if step < 0 && start <= stop {
        return Err(format!(
            "with negative step arg stop ({stop}) must be < start ({start})"
        ));
    }
    if count < 0 {
        return Err(format!(
            "with step {step} arg start ({start}) cannot reach stop ({stop})"
        ));
    }
    if count > MAX_RANGE {
        return Err("range is too large".into());
    }
    super::budget::charge(count as u64)?;
    let out: Vec<Value> = (0..count)
        .map(|i| Value::Int((i128::from(start) + i * i128::from(step)) as i64))
        .collect();
    Ok(Value::Array(out))
}
