//! More P1 methods: `squash`, `with`, `uuid_v5`, YAML and URL parsing. This
//! module routes them; the larger ones live in their own files.

use super::eval::{Scope, eval, stringify};
use super::exec::Env;
use super::functions::opt;
use super::methods::expected;
use crate::ast::Args;
use crate::value::{Object, Value};

/// The methods [`call`] handles.
pub const NAMES: [&str; 5] = ["squash", "with", "uuid_v5", "parse_yaml", "format_yaml"];

/// Dispatches [`NAMES`] and the URL methods.
pub fn handles(name: &str) -> bool {
    NAMES.contains(&name) || super::methods_url::NAMES.contains(&name)
}

/// Runs one of the methods [`handles`] accepts.
pub fn call(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    match name {
        "squash" => squash(t),
        "with" => {
            let paths = positional(args, env, sc)?;
            with(t, &paths.iter().map(stringify).collect::<Vec<_>>())
        }
        "uuid_v5" => super::ids::uuid_v5(&t, opt(args, 0, "ns", env, sc)?.as_ref()),
        "parse_yaml" => super::methods_yaml::parse_yaml(&t),
        "format_yaml" => super::methods_yaml::format_yaml(&t),
        _ => super::methods_url::call(t, name),
    }
}

fn positional(args: &Args, env: &Env, sc: &Scope) -> Result<Vec<Value>, String> {
    match args {
        Args::Positional(v) => v.iter().map(|e| eval(e, env, sc)).collect(),
        Args::Named(_) => Err("with takes positional arguments".into()),
    }
}

/// `squash`: an array of objects merged left to right into one object; keys
/// that collide merge as `.merge()` merges them.
fn squash(t: Value) -> Result<Value, String> {
    let items = t.into_array().map_err(|v| expected("array", &v))?;
    let mut out = Value::Object(Object::new());
    for item in items {
        if !matches!(item, Value::Object(_)) {
            return Err(expected("object", &item));
        }
        out = super::methods_coll::merge(out, item);
    }
    Ok(out)
}

/// `with(paths…)`: only the listed dotted paths of an object, nested as they
/// were; paths that do not exist are skipped.
fn with(t: Value, paths: &[String]) -> Result<Value, String> {
    let Value::Object(_) = &t else {
        return Err(expected("object", &t));
    };
    let mut out = Value::Object(Object::new());
    for p in paths {
        let segs: Vec<String> = p.split('.').map(String::from).collect();
        let found = segs.iter().try_fold(&t, |v, s| match v {
            Value::Object(m) => m.get(s),
            _ => None,
        });
        if let Some(v) = found {
            super::assign::set_path(&mut out, &segs, v.clone())?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn obj(s: &str) -> Value {
        json::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn squash_merges_in_order() {
        let v = squash(obj(r#"[{"a":[1]},{"b":2},{"a":[3]}]"#)).unwrap();
        assert_eq!(v, obj(r#"{"a":[1,3],"b":2}"#));
        assert_eq!(squash(obj("[]")).unwrap(), obj("{}"));
        assert!(squash(obj("[1]")).is_err());
        assert!(squash(obj("{}")).is_err());
    }

    #[test]
    fn with_keeps_nested_paths() {
        let v = obj(r#"{"x":{"y":1,"z":2},"w":3,"v":4}"#);
        let keep = ["x.z".to_string(), "v".into(), "missing.path".into()];
        assert_eq!(with(v, &keep).unwrap(), obj(r#"{"v":4,"x":{"z":2}}"#));
        assert!(with(Value::Int(1), &keep).is_err());
    }
}
