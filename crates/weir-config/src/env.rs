//! Tyk-style environment overrides for the gateway config (`TYK_GW_LISTENPORT=9000`).
//!
//! Tyk derives each variable from the key path: `TYK_GW_` + each key upper-cased with its
//! underscores removed, levels joined by `_` (`http_server_options.use_ssl` →
//! `TYK_GW_HTTPSERVEROPTIONS_USESSL`). We derive the names the same way by walking the
//! default document, so every scalar key Weir knows is overridable without a hand-kept list,
//! and the default's type says how to parse the variable's text.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::errors::ConfigError;

/// The prefix Tyk puts before every gateway variable.
const PREFIX: &str = "TYK_GW_";

/// The variable name for a key path, Tyk's way.
pub(crate) fn env_name(path: &[&str]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|k| k.replace('_', "").to_ascii_uppercase())
        .collect();
    format!("{PREFIX}{}", parts.join("_"))
}

/// Applies overrides to `doc` for every scalar key of `defaults`.
///
/// Returns the dotted paths that were overridden with their variable names, so later errors
/// about those fields can name the variable instead of the file's key.
pub(crate) fn apply_overrides(
    doc: &mut Value,
    defaults: &Value,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, String> {
    let mut leaves = Vec::new();
    collect_leaves(defaults, &mut Vec::new(), &mut leaves);
    let mut overridden = BTreeMap::new();
    for (path, default) in leaves {
        let name = env_name(&path);
        let Some(text) = env(&name) else { continue };
        match parse_env_value(&text, default) {
            Ok(Some(value)) => {
                set_path(doc, &path, value);
                overridden.insert(path.join("."), name);
            }
            // An empty variable for a number or a flag is a placeholder, not a value.
            Ok(None) => {}
            Err(reason) => errors.push(ConfigError::new(file, name, reason)),
        }
    }
    overridden
}

fn collect_leaves<'a>(
    value: &'a Value,
    path: &mut Vec<&'a str>,
    out: &mut Vec<(Vec<&'a str>, &'a Value)>,
) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k);
                collect_leaves(v, path, out);
                path.pop();
            }
        }
        // Lists (certificates) have no single-variable form in Tyk either.
        Value::Array(_) | Value::Null => {}
        scalar => out.push((path.clone(), scalar)),
    }
}

/// Parses the variable's text as the same kind of value as the default.
fn parse_env_value(text: &str, default: &Value) -> Result<Option<Value>, String> {
    let trimmed = text.trim();
    match default {
        Value::String(_) => Ok(Some(Value::String(text.to_string()))),
        _ if trimmed.is_empty() => Ok(None),
        Value::Bool(_) => parse_bool(trimmed)
            .map(|b| Some(Value::Bool(b)))
            .ok_or_else(|| format!("expected true or false, found `{text}`")),
        Value::Number(_) => {
            if let Ok(i) = trimmed.parse::<i64>() {
                Ok(Some(Value::from(i)))
            } else if let Some(n) = trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Ok(Some(Value::Number(n)))
            } else {
                Err(format!("expected a number, found `{text}`"))
            }
        }
        _ => Ok(None),
    }
}

/// Go's `strconv.ParseBool`, which is what Tyk's env loader accepts.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Sets `doc[path]`, creating (or replacing non-object) intermediate levels.
fn set_path(doc: &mut Value, path: &[&str], value: Value) {
    let mut cur = doc;
    for key in &path[..path.len() - 1] {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        cur = cur
            .as_object_mut()
            .expect("made an object above")
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    cur.as_object_mut()
        .expect("made an object above")
        .insert(path[path.len() - 1].to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_tyk() {
        assert_eq!(env_name(&["listen_port"]), "TYK_GW_LISTENPORT");
        assert_eq!(
            env_name(&["http_server_options", "enable_http2"]),
            "TYK_GW_HTTPSERVEROPTIONS_ENABLEHTTP2"
        );
    }

    #[test]
    fn values_take_the_default_kind() {
        assert_eq!(
            parse_env_value("9", &Value::from(1)).unwrap(),
            Some(Value::from(9))
        );
        assert_eq!(
            parse_env_value("1.5", &Value::from(1)).unwrap(),
            Some(Value::from(1.5))
        );
        assert_eq!(
            parse_env_value("T", &Value::Bool(false)).unwrap(),
            Some(Value::Bool(true))
        );
        assert!(parse_env_value("yes", &Value::Bool(false)).is_err());
        assert_eq!(parse_env_value("", &Value::from(1)).unwrap(), None);
        assert_eq!(
            parse_env_value("", &Value::from("x")).unwrap(),
            Some(Value::from(""))
        );
    }
}
