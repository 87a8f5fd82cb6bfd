//! Parsing methods: Go durations, CSV, and the `collapse`/`explode` reshapers.

use super::eval::Scope;
use super::exec::Env;
use super::functions::opt;
use super::methods::{expected, string_of};
use crate::ast::Args;
use crate::value::{Object, Value};

/// The methods [`call`] handles.
pub const NAMES: [&str; 3] = ["parse_csv", "collapse", "explode"];

/// Dispatches the methods listed in [`NAMES`].
pub fn call(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let flag = |pos: usize, n: &str, default: bool| -> Result<bool, String> {
        Ok(match opt(args, pos, n, env, sc)? {
            Some(Value::Bool(b)) => b,
            Some(v) => return Err(expected("bool", &v)),
            None => default,
        })
    };
    match name {
        "parse_csv" => {
            let header = flag(0, "parse_header_row", true)?;
            let delim = match opt(args, 1, "delimiter", env, sc)? {
                Some(d) => string_of(&d)?,
                None => ",".into(),
            };
            let lazy = flag(2, "lazy_quotes", false)?;
            let mut chars = delim.chars();
            let (Some(d), None) = (chars.next(), chars.next()) else {
                return Err("delimiter value must be exactly one character".into());
            };
            let rows = csv(&string_of(&t)?, d, lazy)?;
            check_widths(&rows)?;
            Ok(csv_value(
                rows.into_iter().map(|(_, r)| r).collect(),
                header,
            ))
        }
        "collapse" => {
            let mut out = Object::new();
            collapse(
                &t,
                String::new(),
                flag(0, "include_empty", false)?,
                &mut out,
            );
            Ok(Value::Object(out))
        }
        _ => {
            let path = string_of(&super::functions::req(args, 0, "path", env, sc)?)?;
            explode(t, &path)
        }
    }
}

/// Go's reader wants every record as wide as the first one.
fn check_widths(rows: &[(usize, Vec<String>)]) -> Result<(), String> {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    match rows.iter().find(|(_, r)| r.len() != first.len()) {
        Some((line, _)) => Err(format!("record on line {line}: wrong number of fields")),
        None => Ok(()),
    }
}

/// A small RFC 4180 reader: quoted fields, doubled quotes, CRLF; with
/// `lazy`, a quote inside an unquoted field is kept as text, as Go allows.
/// Each record comes with the line it starts on, for error messages.
fn csv(text: &str, delim: char, lazy: bool) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut rows = Vec::new();
    let (mut line, mut start) = (1, 1);
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut in_quotes) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '\n' {
                line += 1;
            }
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => (quoted, in_quotes) = (true, true),
            '"' if lazy => field.push('"'),
            '"' => {
                return Err(format!(
                    "parse error on line {}: bare \" in non-quoted field",
                    rows.len() + 1
                ));
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push((start, std::mem::take(&mut row)));
                quoted = false;
                line += 1;
                start = line;
            }
            c if c == delim => {
                row.push(std::mem::take(&mut field));
                quoted = false;
            }
            c => field.push(c),
        }
    }
    if in_quotes {
        return Err("parse error: extraneous or missing \" in quoted field".into());
    }
    if !field.is_empty() || !row.is_empty() || quoted {
        row.push(field);
        rows.push((start, row));
    }
    Ok(rows)
}

fn csv_value(rows: Vec<Vec<String>>, header: bool) -> Value {
    if !header {
        return Value::Array(
            rows.into_iter()
                .map(|r| Value::Array(r.into_iter().map(Value::String).collect()))
                .collect(),
        );
    }
    let mut rows = rows.into_iter();
    let names = rows.next().unwrap_or_default();
    Value::Array(
        rows.map(|r| {
            Value::Object(
                names
                    .iter()
                    .cloned()
                    .zip(r.into_iter().map(Value::String))
                    .collect(),
            )
        })
        .collect(),
    )
}

/// Flattens nested objects and arrays into one object of dotted paths. Empty
/// containers are dropped unless `include_empty`. Iterative: documents may
/// nest 10,000 deep.
fn collapse(v: &Value, prefix: String, include_empty: bool, out: &mut Object) {
    let join = |p: &str, k: &str| {
        if p.is_empty() {
            k.to_string()
        } else {
            format!("{p}.{k}")
        }
    };
    let mut pending = vec![(prefix, v)];
    while let Some((path, v)) = pending.pop() {
        match v {
            Value::Object(m) if !m.is_empty() => {
                pending.extend(m.iter().map(|(k, c)| (join(&path, k), c)));
            }
            Value::Array(a) if !a.is_empty() => {
                pending.extend(
                    a.iter()
                        .enumerate()
                        .map(|(i, c)| (join(&path, &i.to_string()), c)),
                );
            }
            Value::Object(_) | Value::Array(_) if !include_empty => {}
            other => {
                out.insert(path, other.clone());
            }
        }
    }
}

/// Splits a document on the array or object at `path`: one copy per element,
/// each with that element in place (an array for arrays, keyed for objects).
fn explode(t: Value, path: &str) -> Result<Value, String> {
    let segs: Vec<String> = path.split('.').map(String::from).collect();
    let target = segs.iter().try_fold(&t, |v, s| match v {
        Value::Object(m) => m.get(s),
        _ => None,
    });
    let with = |item: Value| -> Result<Value, String> {
        let mut copy = t.clone();
        super::assign::set_path(&mut copy, &segs, item)?;
        Ok(copy)
    };
    match target {
        Some(Value::Array(items)) => Ok(Value::Array(
            items
                .iter()
                .map(|i| with(i.clone()))
                .collect::<Result<_, _>>()?,
        )),
        Some(Value::Object(m)) => Ok(Value::Object(
            m.iter()
                .map(|(k, i)| Ok((k.clone(), with(i.clone())?)))
                .collect::<Result<_, String>>()?,
        )),
        Some(v) => Err(expected("array or object", v)),
        None => Err(format!("path {path} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows() {
        let rows: Vec<_> = csv("a,\"b,\"\"c\"\"\"\r\n1,2\n", ',', false)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "b,\"c\"".to_string()],
                vec!["1".into(), "2".into()]
            ]
        );
        assert!(csv("a\"b", ',', false).is_err());
        assert_eq!(
            csv("a\"b", ',', true).unwrap(),
            vec![(1, vec!["a\"b".to_string()])]
        );
        let ragged = csv("h1;h2\n\"x\ny\";1\n2", ';', false).unwrap();
        assert_eq!(
            check_widths(&ragged),
            Err("record on line 4: wrong number of fields".to_string())
        );
    }
}
