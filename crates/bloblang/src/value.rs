//! The value model: what a Bloblang expression evaluates to.
//!
//! Bento works on Go `any` values holding `int64`, `uint64`, `float64`, `json.Number`,
//! `string`, `[]byte`, `[]any`, `map[string]any`, plus two sentinels. We mirror that
//! closely because output must be byte-identical: an int prints `10`, a float `10`
//! too, but `5 / 2` must become a float, and a JSON input number like `1.0` must print
//! back as `1.0` when passed through untouched (Go keeps it as `json.Number` text).

pub use crate::object::Object;
use std::cell::{Cell, RefCell};

/// A Bloblang value.
///
/// `Clone` is implemented by hand, without recursion, because input documents may
/// nest 10,000 levels deep (Go's JSON limit) and a derived clone would overflow.
#[derive(Debug, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer (Go `int64`), the type of integer literals.
    Int(i64),
    /// An unsigned 64-bit integer (Go `uint64`), produced by `uint64()` and friends.
    UInt(u64),
    /// A 64-bit float (Go `float64`).
    Float(f64),
    /// A number parsed from JSON input whose text is not a canonical `i64`
    /// (`1.0`, `1e3`, `18446744073709551616`). Kept as text, like Go's
    /// `json.Number`, so an untouched value prints exactly as it arrived.
    Number(Box<str>),
    /// A UTF-8 string.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// An object with keys kept sorted.
    Object(Object),
    /// A timestamp (Go `time.Time`): prints as RFC 3339 with nanoseconds and
    /// compares as that text, as Bento does. Boxed to keep `Value` small.
    Timestamp(Box<crate::time::Timestamp>),
    /// The `deleted()` sentinel: assigning it removes the target.
    Delete,
    /// The `nothing()` sentinel: assigning it is skipped.
    Nothing,
}

impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::UInt(u) => Value::UInt(*u),
            Value::Float(f) => Value::Float(*f),
            Value::Number(t) => Value::Number(t.clone()),
            Value::String(s) => {
                crate::interp::budget::note_bytes(s.len());
                Value::String(s.clone())
            }
            Value::Bytes(b) => {
                crate::interp::budget::note_bytes(b.len());
                Value::Bytes(b.clone())
            }
            Value::Timestamp(t) => Value::Timestamp(t.clone()),
            Value::Delete => Value::Delete,
            Value::Nothing => Value::Nothing,
            Value::Array(_) | Value::Object(_) => deep_clone(self),
        }
    }
}

/// How deep drops recurse before the rest waits in `DEFERRED_DROPS`: deep
/// enough that ordinary documents never queue, shallow enough for any stack.
const DROP_RECURSION: u32 = 128;

thread_local! {
    /// How many container drops are running on this thread, one inside the other.
    static DROP_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Containers found below `DROP_RECURSION`, dropped by the outermost drop.
    static DEFERRED_DROPS: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

/// Dropping is bounded too: a plain recursive drop of a 10,000-deep object
/// recurses once per level and overflows the stack. Drops recurse up to
/// `DROP_RECURSION` levels; deeper containers are queued and the outermost drop
/// empties the queue, so nothing is allocated for the documents messages carry.
impl Drop for Value {
    fn drop(&mut self) {
        let empty = match self {
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => true,
        };
        if empty {
            return;
        }
        let depth = DROP_DEPTH.get();
        if depth >= DROP_RECURSION {
            let deep = std::mem::replace(self, Value::Null);
            let mut slot = Some(deep);
            let queued = DEFERRED_DROPS.try_with(|q| {
                if let (Ok(mut q), Some(v)) = (q.try_borrow_mut(), slot.take()) {
                    q.push(v);
                }
            });
            // Only while the thread is being torn down: flatten it here instead.
            if queued.is_err() || slot.is_some() {
                drop_flattened(slot.take());
            }
            return;
        }
        DROP_DEPTH.set(depth + 1);
        match self {
            Value::Array(a) => drop(std::mem::take(a)),
            Value::Object(m) => drop(std::mem::take(m)),
            _ => {}
        }
        if depth == 0 {
            // Values dropped here start one level down, so none of them drains
            // the queue from inside this loop.
            while let Some(v) = DEFERRED_DROPS
                .try_with(|q| q.try_borrow_mut().ok().and_then(|mut q| q.pop()))
                .ok()
                .flatten()
            {
                drop(v);
            }
        }
        DROP_DEPTH.set(depth);
    }
}

/// Drops a value with an explicit stack of its containers (the fallback when the
/// thread's queue is gone).
fn drop_flattened(v: Option<Value>) {
    let mut stack: Vec<Value> = v.into_iter().collect();
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Array(a) => stack.append(a),
            Value::Object(m) => stack.extend(std::mem::take(m).into_values()),
            _ => {}
        }
    }
}

/// A container being rebuilt by [`deep_clone`]: the copy so far, the source
/// iterator, and (for objects) the key the finished child goes under.
enum CloneFrame<'a> {
    Array(Vec<Value>, std::slice::Iter<'a, Value>),
    Object(Object, crate::object::Iter<'a>, crate::object::Key),
}

/// Starts rebuilding `v` if it is a container.
fn open(v: &Value) -> Option<CloneFrame<'_>> {
    match v {
        Value::Array(a) => Some(CloneFrame::Array(Vec::with_capacity(a.len()), a.iter())),
        Value::Object(m) => Some(CloneFrame::Object(
            Object::with_capacity(m.len()),
            m.iter(),
            crate::object::Key::default(),
        )),
        _ => None,
    }
}

/// Clones a container with an explicit stack instead of recursion.
fn deep_clone(v: &Value) -> Value {
    let mut copied: u64 = 0;
    let done = deep_clone_counting(v, &mut copied);
    crate::interp::budget::note(copied);
    done
}

/// [`deep_clone`], counting the values it copies into `copied`.
fn deep_clone_counting(v: &Value, copied: &mut u64) -> Value {
    let mut stack: Vec<CloneFrame> = open(v).into_iter().collect();
    while let Some(top) = stack.last_mut() {
        let next = match top {
            CloneFrame::Array(_, it) => it.next(),
            CloneFrame::Object(_, it, key) => it.next().map(|(k, child)| {
                key.clone_from(k);
                child
            }),
        };
        *copied += 1;
        let done = match next {
            Some(child) => match open(child) {
                Some(frame) => {
                    stack.push(frame);
                    continue;
                }
                None => child.clone(),
            },
            None => match stack.pop() {
                Some(CloneFrame::Array(items, _)) => Value::Array(items),
                Some(CloneFrame::Object(map, _, _)) => Value::Object(map),
                None => break,
            },
        };
        match stack.last_mut() {
            Some(CloneFrame::Array(items, _)) => items.push(done),
            Some(CloneFrame::Object(map, _, key)) => {
                map.insert(std::mem::take(key), done);
            }
            None => return done,
        }
    }
    Value::Null
}

/// A number after Bento's clean-up: what arithmetic actually operates on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// `int64`.
    Int(i64),
    /// `uint64`.
    UInt(u64),
    /// `float64`.
    Float(f64),
}

impl Num {
    /// The number as `f64`, the conversion Go's `IGetNumber` performs.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::UInt(u) => u as f64,
            Num::Float(f) => f,
        }
    }

    /// The number as `i64`, truncating floats and wrapping large unsigned values,
    /// which is what Go's `IGetInt` conversion does.
    pub fn as_i64(self) -> i64 {
        match self {
            Num::Int(i) => i,
            Num::UInt(u) => u as i64,
            Num::Float(f) => f as i64,
        }
    }
}

impl From<Num> for Value {
    fn from(n: Num) -> Self {
        match n {
            Num::Int(i) => Value::Int(i),
            Num::UInt(u) => Value::UInt(u),
            Num::Float(f) => Value::Float(f),
        }
    }
}

/// Parses `json.Number` text the way Bento cleans it before arithmetic:
/// an `int64` if the text parses as one, a `float64` otherwise.
pub fn clean_number_text(text: &str) -> Option<Num> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Num::Int(i));
    }
    text.parse::<f64>().ok().map(Num::Float)
}

impl Value {
    /// The name `.type()` reports, and the one used in type-mismatch errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Timestamp(_) => "timestamp",
            Value::Delete => "delete",
            Value::Nothing => "nothing",
        }
    }

    /// The value as a number, if it is one (no coercion from strings).
    pub fn as_num(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::Int(*i)),
            Value::UInt(u) => Some(Num::UInt(*u)),
            Value::Float(f) => Some(Num::Float(*f)),
            Value::Number(t) => clean_number_text(t),
            _ => None,
        }
    }

    /// True for arrays and objects.
    pub fn is_container(&self) -> bool {
        matches!(self, Value::Array(_) | Value::Object(_))
    }

    /// The elements, if this is an array (moved out, not cloned).
    pub fn into_array(mut self) -> Result<Vec<Value>, Value> {
        match &mut self {
            Value::Array(a) => Ok(std::mem::take(a)),
            _ => Err(self),
        }
    }

    /// The entries, if this is an object (moved out, not cloned).
    pub fn into_object(mut self) -> Result<Object, Value> {
        match &mut self {
            Value::Object(m) => Ok(std::mem::take(m)),
            _ => Err(self),
        }
    }

    /// True for `Delete` and `Nothing`, which array and object literals skip.
    pub fn is_sentinel(&self) -> bool {
        matches!(self, Value::Delete | Value::Nothing)
    }

    /// True for values that `|` and `.or()` replace: null and the sentinels.
    pub fn is_null_like(&self) -> bool {
        matches!(self, Value::Null | Value::Delete | Value::Nothing)
    }

    /// A short description for error messages, Bento style: `string ("abc")`.
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => format!("{} ({:?})", self.type_name(), truncate(s, 64)),
            Value::Null | Value::Delete | Value::Nothing => self.type_name().to_string(),
            Value::Array(_) | Value::Object(_) | Value::Bytes(_) => self.type_name().to_string(),
            other => format!(
                "{} ({})",
                other.type_name(),
                crate::json::to_go_string(other)
            ),
        }
    }
}

/// Cuts a string at a char boundary so error messages stay readable.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_text_cleans_to_int_when_it_parses_as_one() {
        assert_eq!(clean_number_text("5"), Some(Num::Int(5)));
        assert_eq!(clean_number_text("5.0"), Some(Num::Float(5.0)));
        assert_eq!(clean_number_text("1e3"), Some(Num::Float(1000.0)));
        assert_eq!(
            clean_number_text("18446744073709551615"),
            Some(Num::Float(18446744073709551615.0))
        );
        assert_eq!(clean_number_text("x"), None);
    }

    #[test]
    fn type_names_match_bento() {
        assert_eq!(Value::Number("1.0".into()).type_name(), "number");
        assert_eq!(Value::UInt(1).type_name(), "number");
        assert_eq!(Value::Delete.type_name(), "delete");
        assert_eq!(Value::Nothing.type_name(), "nothing");
        assert_eq!(Value::Bytes(vec![]).type_name(), "bytes");
    }

    #[test]
    fn describe_quotes_strings_and_shows_numbers() {
        assert_eq!(Value::from("abc").describe(), "string (\"abc\")");
        assert_eq!(Value::Int(5).describe(), "number (5)");
        assert_eq!(Value::Null.describe(), "null");
    }

    #[test]
    fn num_conversions_follow_go() {
        assert_eq!(Num::Float(7.9).as_i64(), 7);
        assert_eq!(Num::Float(-7.9).as_i64(), -7);
        assert_eq!(Num::UInt(3).as_f64(), 3.0);
    }
}
