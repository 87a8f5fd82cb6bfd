//! Writing into `root` at a path, with gabs `Set` semantics as Bento uses them.

use crate::value::{Object, Value};

/// Sets `path` inside `root` to `v`. An empty path replaces `root`. `Delete`
/// removes the target (a no-op when missing). A Nothing or null root becomes `{}`
/// before a path write; null intermediates become objects; a numeric segment
/// indexes an existing array; `-` appends to one.
pub fn set_path(root: &mut Value, path: &[String], v: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        *root = v;
        return Ok(());
    };
    if matches!(root, Value::Nothing | Value::Null) {
        *root = Value::Object(Object::new());
    }
    let mut cur = root;
    for (i, seg) in parents.iter().enumerate() {
        cur = match child(cur, seg, !matches!(v, Value::Delete)) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(kind) => {
                return Err(format!(
                    "unable to set target path {} as the value of {} was a non-object type ({kind})",
                    path.join("."),
                    parents[..=i].join(".")
                ));
            }
        };
    }
    set_leaf(cur, last, v, path)
}

/// Steps into `seg`, creating an object when `create` is set. `Ok(None)` means the
/// path is missing and nothing should happen (deleting a missing path).
fn child<'a>(
    cur: &'a mut Value,
    seg: &str,
    create: bool,
) -> Result<Option<&'a mut Value>, &'static str> {
    match cur {
        Value::Object(m) => {
            if !m.contains_key(seg) {
                if !create {
                    return Ok(None);
                }
                // The key is allocated only when the segment is new.
                m.insert(seg.to_string(), Value::Null);
            }
            let Some(slot) = m.get_mut(seg) else {
                return Ok(None);
            };
            if matches!(slot, Value::Null) {
                if !create {
                    return Ok(None);
                }
                *slot = Value::Object(Object::new());
            }
            Ok(Some(slot))
        }
        Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
            Some(slot) => Ok(Some(slot)),
            None if !create => Ok(None),
            None => Err("array"),
        },
        other => Err(other.type_name()),
    }
}

fn set_leaf(cur: &mut Value, last: &str, v: Value, path: &[String]) -> Result<(), String> {
    match cur {
        Value::Object(m) => {
            if matches!(v, Value::Delete) {
                m.remove(last);
            } else {
                m.insert(last.to_string(), v);
            }
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" && !matches!(v, Value::Delete) {
                items.push(v);
                return Ok(());
            }
            let idx = last.parse::<usize>().ok().filter(|&i| i < items.len());
            match (idx, v) {
                (Some(i), Value::Delete) => {
                    items.remove(i);
                    Ok(())
                }
                (Some(i), v) => {
                    items[i] = v;
                    Ok(())
                }
                (None, Value::Delete) => Ok(()),
                (None, _) => Err(format!(
                    "unable to set target path {}: index {last} out of range",
                    path.join(".")
                )),
            }
        }
        other => {
            let parent = &path[..path.len().saturating_sub(1)];
            let parent = if parent.is_empty() {
                "root".to_string()
            } else {
                parent.join(".")
            };
            Err(format!(
                "unable to set target path {} as the value of {parent} was a non-object type ({})",
                path.join("."),
                other.type_name()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, to_message_json};

    fn set(root: &str, path: &str, v: Value) -> Result<String, String> {
        let mut r = if root.is_empty() {
            Value::Nothing
        } else {
            parse(root.as_bytes()).unwrap()
        };
        let p: Vec<String> = if path.is_empty() {
            vec![]
        } else {
            path.split('.').map(String::from).collect()
        };
        set_path(&mut r, &p, v)?;
        Ok(to_message_json(&r).unwrap())
    }

    #[test]
    fn creates_objects_and_indexes_arrays() {
        assert_eq!(set("", "a.b", 1.into()).unwrap(), r#"{"a":{"b":1}}"#);
        assert_eq!(
            set(r#"{"a":null}"#, "a.b", 1.into()).unwrap(),
            r#"{"a":{"b":1}}"#
        );
        assert_eq!(
            set("", "items.0", 1.into()).unwrap(),
            r#"{"items":{"0":1}}"#
        );
        assert_eq!(
            set(r#"{"l":[1,2]}"#, "l.1", 5.into()).unwrap(),
            r#"{"l":[1,5]}"#
        );
        assert_eq!(
            set(r#"{"l":[1,2]}"#, "l.-", 5.into()).unwrap(),
            r#"{"l":[1,2,5]}"#
        );
        assert!(set(r#"{"l":[1,2]}"#, "l.5", 5.into()).is_err());
    }

    #[test]
    fn scalar_intermediate_is_an_error() {
        assert_eq!(
            set(r#"{"a":"x"}"#, "a.b", 1.into()).unwrap_err(),
            "unable to set target path a.b as the value of a was a non-object type (string)"
        );
    }

    #[test]
    fn delete_removes_and_ignores_missing() {
        assert_eq!(
            set(r#"{"a":1,"b":2}"#, "a", Value::Delete).unwrap(),
            r#"{"b":2}"#
        );
        assert_eq!(
            set(r#"{"b":2}"#, "x.y", Value::Delete).unwrap(),
            r#"{"b":2}"#
        );
        assert_eq!(
            set(r#"{"l":[1,2]}"#, "l.0", Value::Delete).unwrap(),
            r#"{"l":[2]}"#
        );
    }
}
