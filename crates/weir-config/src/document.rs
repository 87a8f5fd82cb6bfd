//! Reading a JSON or YAML document into one `serde_json::Value`, and typed views of it.
//!
//! Both formats become the same JSON value first, so the loaders, the environment overrides
//! and the error paths work one way for both.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::errors::{ConfigError, from_path_error, strip_locations};

/// Which syntax a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    /// JSON.
    Json,
    /// YAML (a superset of JSON, but with worse error messages for JSON text).
    Yaml,
    /// Try JSON, then YAML.
    Auto,
}

impl DocFormat {
    /// The format a file's extension names: `.json`, `.yaml`/`.yml`, anything else is `Auto`.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Self::Json,
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Auto,
        }
    }
}

/// Parses `text` into a JSON value; a syntax error names line and column.
pub(crate) fn parse_document(
    text: &str,
    format: DocFormat,
    file: &Path,
) -> Result<Value, ConfigError> {
    match format {
        DocFormat::Json => parse_json(text, file),
        DocFormat::Yaml => parse_yaml(text, file),
        DocFormat::Auto => parse_json(text, file).or_else(|json_err| {
            // Text that looks like JSON gets the JSON error: it is the more precise one.
            if text.trim_start().starts_with(['{', '[']) {
                Err(json_err)
            } else {
                parse_yaml(text, file)
            }
        }),
    }
}

fn parse_json(text: &str, file: &Path) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        let what = strip_locations(&e.to_string());
        ConfigError::new(
            file,
            "",
            format!(
                "invalid JSON at line {}, column {}: {what}",
                e.line(),
                e.column()
            ),
        )
    })
}

fn parse_yaml(text: &str, file: &Path) -> Result<Value, ConfigError> {
    let invalid = |e: serde_yaml_ng::Error| {
        let what = strip_locations(&e.to_string());
        let reason = match e.location() {
            Some(l) => format!(
                "invalid YAML at line {}, column {}: {what}",
                l.line(),
                l.column()
            ),
            None => format!("invalid YAML: {what}"),
        };
        ConfigError::new(file, "", reason)
    };
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(invalid)?;
    // `<<: *anchor` merge keys are common in hand-written YAML; resolve them like Tyk's parser.
    yaml.apply_merge().map_err(invalid)?;
    Ok(yaml_to_json(yaml))
}

/// Converts YAML to JSON; non-string keys (`200:` under `responses`) become their text.
fn yaml_to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                // NaN and infinities have no JSON form; from_f64 gives None and we keep null.
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(yaml_key(k), yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn yaml_key(key: serde_yaml_ng::Value) -> String {
    use serde_yaml_ng::Value as Y;
    match key {
        Y::String(s) => s,
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Null => "null".to_string(),
        other => serde_yaml_ng::to_string(&other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// A copy of `value` without object entries that are `null`.
///
/// Go writes empty lists and maps as `null` in exported Tyk definitions; treating `null`
/// like an absent key lets every field fall back to its default instead of failing.
pub(crate) fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Deserializes a typed view of `value`; a type error names the field path.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value, file: &Path) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| from_path_error(file, e))
}

/// A short human name for a JSON value's kind, for "found …" in messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_syntax_error_names_line_and_column() {
        let err = parse_document(
            "{\n  \"a\": 1\n  \"b\": 2\n}",
            DocFormat::Json,
            Path::new("x"),
        )
        .unwrap_err();
        assert_eq!(err.field, "");
        assert!(
            err.reason
                .starts_with("invalid JSON at line 3, column 3: expected `,` or `}`")
        );
    }

    #[test]
    fn yaml_numeric_keys_become_strings() {
        let v = parse_document("a:\n  200: ok\n", DocFormat::Yaml, Path::new("x")).unwrap();
        assert_eq!(v["a"]["200"], "ok");
    }

    #[test]
    fn auto_falls_back_to_yaml() {
        let v = parse_document("a: 1\n", DocFormat::Auto, Path::new("x")).unwrap();
        assert_eq!(v["a"], 1);
    }
}
