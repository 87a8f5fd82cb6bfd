//! Binary operators with Go/Bento semantics: int64 stays int64, `/` is always
//! float64, `%` truncates to int64, comparisons dispatch on the left operand.

use crate::ast::BinOp;
use crate::json::to_go_string;
use crate::value::{Num, Value};

/// Applies an arithmetic or comparison operator to two evaluated operands.
/// `&&`, `||` and `|` short-circuit and are handled by the evaluator, not here.
pub fn binary(op: BinOp, l: &Value, r: &Value) -> Result<Value, String> {
    use BinOp::*;
    // Bento sanitises a timestamp to its RFC 3339 text before operating on it.
    if let (Value::Timestamp(_), _) | (_, Value::Timestamp(_)) = (l, r) {
        let text = |v: &Value| match v {
            Value::Timestamp(t) => Value::String(t.to_rfc3339_nano()),
            other => other.clone(),
        };
        return binary(op, &text(l), &text(r));
    }
    match op {
        Add => add(l, r),
        Sub | Mul => arith(op, l, r),
        Div => {
            let (a, b) = (number(l)?, number(r)?);
            if b.as_f64() == 0.0 {
                return Err("attempted to divide by zero".into());
            }
            Ok(Value::Float(a.as_f64() / b.as_f64()))
        }
        Mod => {
            let (a, b) = (number(l)?.as_i64(), number(r)?.as_i64());
            if b == 0 {
                return Err("attempted to divide by zero".into());
            }
            Ok(Value::Int(a.wrapping_rem(b)))
        }
        Eq => Ok(Value::Bool(equals(l, r))),
        Ne => Ok(Value::Bool(!equals(l, r))),
        Lt | Le | Gt | Ge => compare(op, l, r),
        And | Or | Coalesce => Err(format!("operator {} cannot be applied here", op.symbol())),
    }
}

/// The value as a number, or Bento's type-mismatch error.
pub fn number(v: &Value) -> Result<Num, String> {
    v.as_num()
        .ok_or_else(|| format!("expected number value, got {}", v.describe()))
}

fn add(l: &Value, r: &Value) -> Result<Value, String> {
    if let (Value::String(_) | Value::Bytes(_), Value::String(_) | Value::Bytes(_)) = (l, r) {
        super::budget::charge_bytes(go_len(l) + go_len(r))?;
    }
    match (l, r) {
        (Value::String(a), Value::String(b)) => Ok(Value::String(format!("{a}{b}"))),
        (Value::String(a), Value::Bytes(b)) => {
            Ok(Value::String(format!("{a}{}", String::from_utf8_lossy(b))))
        }
        (Value::Bytes(a), Value::String(_) | Value::Bytes(_)) => {
            let mut out = a.clone();
            out.extend_from_slice(to_go_string(r).as_bytes());
            Ok(Value::Bytes(out))
        }
        _ => match (l.as_num(), r.as_num()) {
            (Some(_), Some(_)) => arith(BinOp::Add, l, r),
            _ => Err(format!(
                "cannot add types {} (from {}) and {} (from {})",
                l.type_name(),
                short(l),
                r.type_name(),
                short(r)
            )),
        },
    }
}

/// The byte length of a string or bytes value.
fn go_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

fn short(v: &Value) -> String {
    to_go_string(v).chars().take(32).collect()
}

/// `+ - *` on numbers: int64 if both are ints, uint64 if both are uints,
/// float64 otherwise. Integer overflow wraps, as in Go.
fn arith(op: BinOp, l: &Value, r: &Value) -> Result<Value, String> {
    let (a, b) = (number(l)?, number(r)?);
    Ok(match (a, b) {
        (Num::Int(x), Num::Int(y)) => Value::Int(match op {
            BinOp::Add => x.wrapping_add(y),
            BinOp::Sub => x.wrapping_sub(y),
            _ => x.wrapping_mul(y),
        }),
        (Num::UInt(x), Num::UInt(y)) => Value::UInt(match op {
            BinOp::Add => x.wrapping_add(y),
            BinOp::Sub => x.wrapping_sub(y),
            _ => x.wrapping_mul(y),
        }),
        _ => {
            let (x, y) = (a.as_f64(), b.as_f64());
            Value::Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                _ => x * y,
            })
        }
    })
}

/// Bento's `IGetBool`-style truthiness used by `&&`, `||` and bool comparisons:
/// bools as they are, numbers true when non-zero.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => other.as_num().map(|n| n.as_f64() != 0.0),
    }
}

/// `==` as Bento does it: dispatch on the left operand's type.
pub fn equals(l: &Value, r: &Value) -> bool {
    if let (Some(a), Some(b)) = (text_bytes(l), text_bytes(r)) {
        return a == b;
    }
    match l {
        Value::String(_) => false,
        Value::Bool(a) => as_bool(r) == Some(*a),
        _ if l.as_num().is_some() => match (l.as_num(), r.as_num()) {
            (Some(a), Some(b)) => num_eq(a, b),
            _ => false,
        },
        _ => deep_equal(l, r),
    }
}

fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::UInt(x), Num::UInt(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

/// Structural equality where numbers compare by value whatever their width.
/// Iterative, since documents may nest 10,000 levels deep.
pub fn deep_equal(l: &Value, r: &Value) -> bool {
    let mut pending = vec![(l, r)];
    while let Some((l, r)) = pending.pop() {
        let same = match (l, r) {
            (Value::Array(a), Value::Array(b)) => {
                pending.extend(a.iter().zip(b));
                a.len() == b.len()
            }
            (Value::Object(a), Value::Object(b)) => {
                let keys_match = a.len() == b.len() && a.keys().eq(b.keys());
                pending.extend(a.values().zip(b.values()));
                keys_match
            }
            _ => scalar_equal(l, r),
        };
        if !same {
            return false;
        }
    }
    true
}

fn scalar_equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Bytes(a), Value::Bytes(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Timestamp(a), Value::Timestamp(b)) => a.to_rfc3339_nano() == b.to_rfc3339_nano(),
        _ => match (l.as_num(), r.as_num()) {
            (Some(a), Some(b)) => num_eq(a, b),
            (None, None) => std::mem::discriminant(l) == std::mem::discriminant(r),
            _ => false,
        },
    }
}

/// The bytes of a string or bytes value: the two compare as text.
fn text_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::String(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn compare(op: BinOp, l: &Value, r: &Value) -> Result<Value, String> {
    let ord = match (text_bytes(l), text_bytes(r)) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => {
            return Err(format!("expected string value, got {}", r.describe()));
        }
        (None, _) => match l.as_num() {
            Some(a) => {
                let b = number(r)?;
                match a.as_f64().partial_cmp(&b.as_f64()) {
                    Some(o) => o,
                    None => return Ok(Value::Bool(false)),
                }
            }
            None => {
                return Err(format!(
                    "cannot compare types {} (from {}) and {} (from {})",
                    l.type_name(),
                    short(l),
                    r.type_name(),
                    short(r)
                ));
            }
        },
    };
    use std::cmp::Ordering::*;
    Ok(Value::Bool(match op {
        BinOp::Lt => ord == Less,
        BinOp::Le => ord != Greater,
        BinOp::Gt => ord == Greater,
        _ => ord != Less,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(op: BinOp, l: Value, r: Value) -> Result<Value, String> {
        binary(op, &l, &r)
    }

    #[test]
    fn go_number_rules() {
        assert_eq!(b(BinOp::Mul, 5.into(), 2.into()), Ok(Value::Int(10)));
        assert_eq!(b(BinOp::Div, 5.into(), 2.into()), Ok(Value::Float(2.5)));
        assert_eq!(b(BinOp::Div, 4.into(), 2.into()), Ok(Value::Float(2.0)));
        assert_eq!(b(BinOp::Mod, 7.5.into(), 2.5.into()), Ok(Value::Int(1)));
        assert_eq!(b(BinOp::Add, 1.into(), 0.5.into()), Ok(Value::Float(1.5)));
        assert_eq!(
            b(BinOp::Add, i64::MAX.into(), 1.into()),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            b(BinOp::Add, Value::UInt(1), Value::UInt(2)),
            Ok(Value::UInt(3))
        );
        assert_eq!(
            b(BinOp::Add, Value::Number("1.0".into()), 1.into()),
            Ok(Value::Float(2.0))
        );
        assert!(b(BinOp::Div, 1.into(), 0.into()).is_err());
        assert!(b(BinOp::Mod, 1.into(), 0.into()).is_err());
        assert!(b(BinOp::Sub, "a".into(), 1.into()).is_err());
    }

    #[test]
    fn string_concatenation_needs_two_strings() {
        assert_eq!(b(BinOp::Add, "a".into(), "b".into()), Ok(Value::from("ab")));
        assert!(b(BinOp::Add, "a".into(), 5.into()).is_err());
        assert!(b(BinOp::Add, 5.into(), "a".into()).is_err());
    }

    #[test]
    fn deep_equality_is_structural_and_iterative() {
        let doc = "[".repeat(10_000) + &"]".repeat(10_000);
        let a = crate::json::parse(doc.as_bytes()).unwrap();
        assert!(deep_equal(&a, &a.clone()));
        let x = crate::json::parse(br#"{"a":[1,2.0],"b":null}"#).unwrap();
        let y = crate::json::parse(br#"{"a":[1.0,2],"b":null}"#).unwrap();
        let z = crate::json::parse(br#"{"a":[1,2],"c":null}"#).unwrap();
        assert!(deep_equal(&x, &y));
        assert!(!deep_equal(&x, &z));
    }

    #[test]
    fn comparisons_dispatch_on_the_left() {
        assert!(!equals(&"5".into(), &5.into()));
        assert!(equals(&true.into(), &1.into()));
        assert!(!equals(&1.into(), &true.into()));
        assert!(equals(&5.into(), &5.0.into()));
        assert!(equals(&Value::Null, &Value::Null));
        assert_eq!(b(BinOp::Lt, "a".into(), "b".into()), Ok(Value::Bool(true)));
        assert!(b(BinOp::Lt, "a".into(), 1.into()).is_err());
        assert!(b(BinOp::Lt, true.into(), false.into()).is_err());
        assert_eq!(b(BinOp::Ge, 2.into(), 1.5.into()), Ok(Value::Bool(true)));
    }
}
