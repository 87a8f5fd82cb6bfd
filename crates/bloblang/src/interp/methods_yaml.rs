//! `parse_yaml` and `format_yaml`. Parsing goes through `serde_yaml_ng`; the
//! writer is our own, because Bento's output comes from Go's `yaml.v3`, whose
//! layout (4-space indents, its quoting choices) a general serializer does not
//! reproduce.

use super::methods::{expected, string_of};
use crate::json::go_format_float;
use crate::value::{Object, Value};

/// `parse_yaml`: a YAML document as a value. Mapping keys that are not strings
/// are printed as strings, as Bento does when it turns YAML into JSON-like data.
pub fn parse_yaml(t: &Value) -> Result<Value, String> {
    let text = string_of(t)?;
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("failed to parse YAML: {e}"))?;
    Ok(from_yaml(doc))
}

/// Converts a parsed YAML node. Nesting depth is bounded by the YAML parser's
/// own recursion limit, so plain recursion is safe here.
fn from_yaml(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(from_yaml).collect()),
        Y::Mapping(m) => {
            let mut out = Object::new();
            for (k, v) in m {
                let key = match &k {
                    Y::String(s) => s.clone(),
                    _ => crate::json::to_go_string(&from_yaml(k)),
                };
                out.insert(key, from_yaml(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => from_yaml(t.value),
    }
}

/// `format_yaml`: the value as a YAML document (bytes, as Bento returns them).
pub fn format_yaml(t: &Value) -> Result<Value, String> {
    let mut out = String::new();
    match t {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, &mut out)?,
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out)?,
        v => {
            out.push_str(&scalar(v)?);
            out.push('\n');
        }
    }
    Ok(Value::Bytes(out.into_bytes()))
}

const INDENT: usize = 4;

/// Block mapping at `indent`. Depth is bounded by the value model's own limits
/// on what can be built (JSON depth, query nesting).
fn write_map(m: &Object, indent: usize, out: &mut String) -> Result<(), String> {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a mapping inside a sequence item follows the "- ".
        if i > 0 || !out.ends_with("- ") {
            push_indent(indent, out);
        }
        out.push_str(&scalar(&Value::String(k.to_string()))?);
        out.push(':');
        write_child(v, indent, out)?;
    }
    Ok(())
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) -> Result<(), String> {
    for (i, v) in a.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            push_indent(indent, out);
        }
        out.push_str("- ");
        match v {
            // Items nest two columns in, under the item's content.
            Value::Object(m) if !m.is_empty() => write_map(m, indent + 2, out)?,
            Value::Array(s) if !s.is_empty() => write_seq(s, indent + 2, out)?,
            v => {
                out.push_str(&scalar(v)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A mapping value: nested blocks on the following lines, scalars inline.
fn write_child(v: &Value, indent: usize, out: &mut String) -> Result<(), String> {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + INDENT, out)
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, indent + INDENT, out)
        }
        v => {
            out.push(' ');
            out.push_str(&scalar(v)?);
            out.push('\n');
            Ok(())
        }
    }
}

fn push_indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// One scalar (or empty container) in flow form.
fn scalar(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => go_format_float(*f),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_scalar(s),
        Value::Bytes(b) => string_scalar(&String::from_utf8_lossy(b)),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
        v => return Err(expected("value", v)),
    })
}

/// A string plain when YAML would read it back as the same string, otherwise
/// double-quoted with JSON-style escapes (valid YAML).
fn string_scalar(s: &str) -> String {
    if plain_safe(s) {
        return s.to_string();
    }
    let mut out = String::new();
    crate::json::write_string(&mut out, s, false);
    out
}

fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let lower = s.to_ascii_lowercase();
    let reserved = matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    let numeric = s.parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.trim_start_matches(['-', '+']).starts_with(".inf")
        || lower == ".nan";
    !reserved
        && !numeric
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(v: &Value) -> String {
        let out = format_yaml(v).unwrap();
        assert!(matches!(out, Value::Bytes(_)));
        crate::json::to_go_string(&out)
    }

    #[test]
    fn parses_documents() {
        let v = parse_yaml(&Value::from("a: 1\nb: [x, 2.5, true]\nc:\n  d: null\n")).unwrap();
        let json = crate::json::to_message_json(&v).unwrap();
        assert_eq!(json, r#"{"a":1,"b":["x",2.5,true],"c":{"d":null}}"#);
        assert!(parse_yaml(&Value::from("a: [")).is_err());
        assert!(parse_yaml(&Value::Int(1)).is_err());
    }

    #[test]
    fn writes_yaml_v3_layout() {
        let v =
            crate::json::parse(br#"{"k":{"list":[1,{"x":"why","z":"true"}],"e":[]},"s":"a: b"}"#)
                .unwrap();
        assert_eq!(
            yaml(&v),
            "k:\n    e: []\n    list:\n        - 1\n        - x: why\n          z: \"true\"\ns: \"a: b\"\n"
        );
        assert_eq!(yaml(&Value::from("plain")), "plain\n");
        assert_eq!(yaml(&Value::from("")), "\"\"\n");
        let round = parse_yaml(&format_yaml(&v).unwrap()).unwrap();
        assert_eq!(round, v);
    }
}
