//! Reading Bento's config shape: single-key components with an optional `label`, typed
//! bodies whose unknown fields are refused by name, and durations.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::StreamError;

/// One component (`{label: x, <kind>: {...}, processors: [...]}`), split into its parts.
pub struct Component<'a> {
    /// The component's `label`, or empty.
    pub label: String,
    /// Its type, such as `kafka`.
    pub kind: &'a str,
    /// Its config.
    pub body: &'a Value,
    /// Its `processors` list (inputs and outputs may carry one).
    pub processors: Option<&'a Value>,
    /// Dotted path of the body (`…input.kafka`).
    pub path: String,
}

/// Splits a component; `with_processors` allows a `processors` key beside the type.
pub fn component<'a>(
    v: &'a Value,
    path: &str,
    with_processors: bool,
) -> Result<Component<'a>, StreamError> {
    let map = v.as_object().ok_or_else(|| {
        StreamError::new(
            path,
            "expected a component: an object with one type key, such as `kafka: {...}`",
        )
    })?;
    let mut label = String::new();
    let mut processors = None;
    let mut kinds = Vec::new();
    for (k, body) in map {
        match k.as_str() {
            "label" => {
                label = body
                    .as_str()
                    .ok_or_else(|| StreamError::new(format!("{path}.label"), "expected a string"))?
                    .to_string()
            }
            "processors" if with_processors => processors = Some(body),
            _ => kinds.push((k.as_str(), body)),
        }
    }
    match kinds.as_slice() {
        [(kind, body)] => Ok(Component {
            label,
            kind,
            body,
            processors,
            path: format!("{path}.{kind}"),
        }),
        [] => Err(StreamError::new(path, "no component type given")),
        many => Err(StreamError::new(
            path,
            format!(
                "one component type expected, found {}: {}",
                many.len(),
                many.iter()
                    .map(|(k, _)| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Reads a component body into its config struct. Structs deny unknown fields, so a field
/// Weir does not implement is refused by name instead of being ignored.
pub fn typed<T: DeserializeOwned>(body: &Value, path: &str) -> Result<T, StreamError> {
    // `kafka: {}` and `drop: null` both mean "all defaults".
    let empty = Value::Object(Default::default());
    let body = if body.is_null() { &empty } else { body };
    serde_path_to_error::deserialize(body).map_err(|e| {
        let inner = e.path().to_string();
        let at = if inner == "." || inner.is_empty() {
            path.to_string()
        } else if inner.starts_with('[') {
            // A list body (`switch: [...]`): `…switch[0].check`, not `…switch.[0].check`.
            format!("{path}{inner}")
        } else {
            format!("{path}.{inner}")
        };
        let mut reason = e.inner().to_string();
        if reason.starts_with("unknown field") {
            reason
                .push_str(" (Weir refuses settings it does not implement rather than ignore them)");
        }
        StreamError::new(at, reason)
    })
}

/// Splits a component body (an object, or null for all defaults) into the fields named in
/// `keys` and the rest, so a connector reads its shared connection fields and its own fields
/// with a struct each, and unknown fields are still refused by name.
pub fn split_fields(
    body: &Value,
    path: &str,
    keys: &[&str],
) -> Result<(Value, Value), StreamError> {
    let mut rest = match body {
        Value::Object(m) => m.clone(),
        Value::Null => Default::default(),
        _ => return Err(StreamError::new(path, "expected an object")),
    };
    let mut taken = serde_json::Map::new();
    for &key in keys {
        if let Some(v) = rest.remove(key) {
            taken.insert(key.into(), v);
        }
    }
    Ok((Value::Object(taken), Value::Object(rest)))
}

/// Serde helper: a Go duration string as `std::time::Duration`.
pub mod go_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    /// Deserialises `"5s"` and friends.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        crate::duration::parse_go_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helper: a value Bento accepts as a string or a number (`status: 200`).
pub mod string_or_number {
    use serde::{Deserialize, Deserializer};

    /// Deserialises a string or a number into a string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "expected a string or a number, found {other}"
            ))),
        }
    }
}

/// Compiles a `${! }` interpolated field, naming it on error.
pub fn interpolation(text: &str, path: &str) -> Result<bloblang::Interpolation, StreamError> {
    bloblang::Interpolation::compile(text)
        .map_err(|e| StreamError::new(path, format!("bad interpolation: {}", e.render())))
}

/// Compiles a Bloblang mapping, naming the field on error.
pub fn mapping(text: &str, path: &str) -> Result<bloblang::Mapping, StreamError> {
    bloblang::Mapping::compile(text).map_err(|e| StreamError::new(path, e.render()))
}

/// Test helper: asserts that `build` refuses each config of `cases`, naming the field path
/// given with it.
#[cfg(test)]
pub(crate) fn assert_refused<T>(
    build: impl Fn(Value) -> Result<T, StreamError>,
    cases: impl IntoIterator<Item = (Value, &'static str)>,
) {
    for (cfg, path) in cases {
        let e = build(cfg.clone())
            .err()
            .unwrap_or_else(|| panic!("{cfg} accepted"));
        assert_eq!(e.path, path, "{cfg}: {}", e.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Body {
        name: String,
        #[serde(with = "go_duration")]
        wait: std::time::Duration,
        #[serde(deserialize_with = "string_or_number::deserialize")]
        status: String,
        items: Vec<Item>,
    }

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        check: String,
    }

    #[test]
    fn component_splits_label_type_and_processors() {
        let v = json!({"label": "l", "kafka": {"a": 1}, "processors": [{"noop": {}}]});
        let c = component(&v, "s.input", true).unwrap();
        assert_eq!(
            (c.label.as_str(), c.kind, c.path.as_str()),
            ("l", "kafka", "s.input.kafka")
        );
        assert_eq!(c.body, &json!({"a": 1}));
        assert!(c.processors.is_some());
        // Where processors are not allowed, `processors` is a second type.
        let e = component(&v, "s.p[0]", false).err().unwrap();
        assert_eq!(e.path, "s.p[0]");
        let e = component(&json!({"label": "l"}), "s.output", true)
            .err()
            .unwrap();
        assert_eq!(e.reason, "no component type given");
        let e = component(&json!({"label": 3, "drop": {}}), "s.output", true)
            .err()
            .unwrap();
        assert_eq!(e.path, "s.output.label");
        assert!(component(&json!("drop"), "s.output", true).is_err());
    }

    #[test]
    fn typed_reads_defaults_and_bento_scalars() {
        let b: Body = typed(&Value::Null, "x").unwrap();
        assert_eq!(b.name, "");
        let b: Body = typed(&json!({"wait": "1m30s", "status": 201}), "x").unwrap();
        assert_eq!(b.wait, std::time::Duration::from_secs(90));
        assert_eq!(b.status, "201");
    }

    #[test]
    fn typed_errors_name_the_field() {
        let e = typed::<Body>(&json!({"nmae": "x"}), "s.input.kafka")
            .err()
            .unwrap();
        assert_eq!(e.path, "s.input.kafka.nmae");
        assert!(e.reason.contains("unknown field `nmae`"), "{}", e.reason);
        assert!(e.reason.contains("refuses settings"), "{}", e.reason);
        let e = typed::<Body>(&json!({"wait": "soon"}), "s.x")
            .err()
            .unwrap();
        assert_eq!(e.path, "s.x.wait");
        let e = typed::<Body>(&json!({"items": [{"check": "a"}, {"check": 1}]}), "s.x")
            .err()
            .unwrap();
        assert_eq!(e.path, "s.x.items[1].check");
        let e = typed::<Body>(&json!({"status": true}), "s.x")
            .err()
            .unwrap();
        assert_eq!(e.path, "s.x.status");
    }

    #[test]
    fn typed_errors_in_a_list_body_index_the_body() {
        let e = typed::<Vec<Item>>(&json!([{"check": "a"}, {"chek": "b"}]), "s.p[0].switch")
            .err()
            .unwrap();
        assert_eq!(e.path, "s.p[0].switch[1].chek");
    }
}
