//! JSON input parsing with Go `encoding/json` semantics.
//!
//! Iterative (an explicit stack, no recursion) so a 10,000-deep document cannot
//! overflow the native stack; Go's own limit of 10,000 levels is enforced.

use super::JsonError;
use crate::object::Key;
use crate::value::{Object, Value};

/// Go's `encoding/json` refuses documents nested deeper than this.
pub const MAX_JSON_DEPTH: usize = 10_000;

/// One open container while parsing; its children wait in the parser's
/// scratch vectors from `start` on until it closes.
enum Frame {
    Array { start: usize },
    Object { start: usize, key: Key },
}

/// The scratch vectors, kept per thread between documents so a parse allocates
/// only the containers it returns, each at its exact size.
#[derive(Default)]
struct Scratch {
    items: Vec<Value>,
    entries: Vec<(Key, Value)>,
}

/// Scratch larger than this (in elements) is not kept after a parse.
const SCRATCH_KEPT: usize = 4096;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Bytes that end a run of plain string content: `"`, `\\` and control bytes.
static STRING_STOP: [bool; 256] = super::control_bytes_and(b"\"\\");

/// Parses a complete JSON document. Numbers that print back unchanged as `i64`
/// become [`Value::Int`]; every other number keeps its text as [`Value::Number`].
/// Invalid UTF-8 inside strings is replaced with U+FFFD, as Go does.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let scratch = SCRATCH.take();
    let mut p = Parser {
        s: input,
        // Valid as a whole (nearly always): every string slices out of it as is.
        text: std::str::from_utf8(input).ok(),
        i: 0,
        items: scratch.items,
        entries: scratch.entries,
    };
    let result = p.document().and_then(|v| {
        p.ws();
        match p.peek() {
            None => Ok(v),
            Some(c) => Err(p.bad(c, "after top-level value")),
        }
    });
    let (mut items, mut entries) = (p.items, p.entries);
    // After an error the scratch still holds the open containers' children.
    items.clear();
    entries.clear();
    if items.capacity() <= SCRATCH_KEPT && entries.capacity() <= SCRATCH_KEPT {
        SCRATCH.set(Scratch { items, entries });
    }
    result
}

struct Parser<'a> {
    s: &'a [u8],
    text: Option<&'a str>,
    i: usize,
    items: Vec<Value>,
    entries: Vec<(Key, Value)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn bad(&self, c: u8, ctx: &str) -> JsonError {
        JsonError(format!("invalid character {} {ctx}", quote_char(c)))
    }

    fn eof() -> JsonError {
        JsonError("unexpected end of JSON input".into())
    }

    /// The main loop: values are produced and folded into the innermost open frame.
    fn document(&mut self) -> Result<Value, JsonError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut v = match self.value_start(&mut stack)? {
                Some(v) => v,
                None => continue,
            };
            // Close as many containers as this value completes.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(v);
                };
                self.ws();
                let c = self.peek().ok_or_else(Self::eof)?;
                match top {
                    Frame::Array { .. } => {
                        self.items.push(v);
                        match c {
                            b',' => self.i += 1,
                            b']' => self.i += 1,
                            _ => return Err(self.bad(c, "after array element")),
                        }
                        if c == b',' {
                            break;
                        }
                    }
                    Frame::Object { key, .. } => {
                        self.entries.push((std::mem::take(key), v));
                        match c {
                            b',' => {
                                self.i += 1;
                                *key = self.object_key()?;
                                break;
                            }
                            b'}' => self.i += 1,
                            _ => return Err(self.bad(c, "after object key:value pair")),
                        }
                    }
                }
                v = match stack.pop() {
                    Some(Frame::Array { start }) => {
                        Value::Array(self.items.drain(start..).collect())
                    }
                    Some(Frame::Object { start, .. }) => {
                        // Room for one more key: mappings most often add a field to
                        // their input (`root = this` then `root.x = …`, `merge`).
                        let mut entries = Vec::with_capacity(self.entries.len() - start + 1);
                        entries.extend(self.entries.drain(start..));
                        Value::Object(Object::from_entries(entries))
                    }
                    None => return Err(Self::eof()),
                };
            }
        }
    }

    /// Reads the start of a value. Scalars and empty containers are returned;
    /// a non-empty container is pushed as a frame and `None` returned.
    fn value_start(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, JsonError> {
        self.ws();
        let c = self.peek().ok_or_else(Self::eof)?;
        let opens = matches!(c, b'[' | b'{');
        if opens && stack.len() >= MAX_JSON_DEPTH {
            return Err(JsonError(format!("exceeded max depth of {MAX_JSON_DEPTH}")));
        }
        match c {
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Some(Value::Array(Vec::new())));
                }
                stack.push(Frame::Array {
                    start: self.items.len(),
                });
                Ok(None)
            }
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Some(Value::Object(Object::new())));
                }
                let key = self.object_key_after_ws()?;
                stack.push(Frame::Object {
                    start: self.entries.len(),
                    key,
                });
                Ok(None)
            }
            b'"' => Ok(Some(Value::String(self.string()?))),
            b't' => self.keyword("true", Value::Bool(true)).map(Some),
            b'f' => self.keyword("false", Value::Bool(false)).map(Some),
            b'n' => self.keyword("null", Value::Null).map(Some),
            b'-' | b'0'..=b'9' => self.number().map(Some),
            _ => Err(self.bad(c, "looking for beginning of value")),
        }
    }

    fn object_key(&mut self) -> Result<Key, JsonError> {
        self.ws();
        self.object_key_after_ws()
    }

    /// Reads `"key" :` leaving the cursor before the value.
    fn object_key_after_ws(&mut self) -> Result<Key, JsonError> {
        match self.peek() {
            Some(b'"') => {}
            Some(c) => return Err(self.bad(c, "looking for beginning of object key string")),
            None => return Err(Self::eof()),
        }
        let key = self.string_with(|s: &str| Key::from(s), Key::from)?;
        self.ws();
        match self.peek() {
            Some(b':') => {
                self.i += 1;
                Ok(key)
            }
            Some(c) => Err(self.bad(c, "after object key")),
            None => Err(Self::eof()),
        }
    }

    fn keyword(&mut self, word: &str, v: Value) -> Result<Value, JsonError> {
        for &want in word.as_bytes() {
            match self.peek() {
                Some(c) if c == want => self.i += 1,
                Some(c) => return Err(self.bad(c, "in literal (expecting ...)")),
                None => return Err(Self::eof()),
            }
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            Some(c) => return Err(self.bad(c, "in numeric literal")),
            None => return Err(Self::eof()),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.after_number_error());
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.after_number_error());
            }
        }
        // The slice is ASCII by construction.
        let text = String::from_utf8_lossy(&self.s[start..self.i]);
        Ok(match canonical_int(&text) {
            Some(i) => Value::Int(i),
            None => Value::Number(text.into()),
        })
    }

    fn after_number_error(&self) -> JsonError {
        match self.peek() {
            Some(c) => self.bad(c, "in numeric literal"),
            None => Self::eof(),
        }
    }

    /// Reads a string starting at the opening quote. Runs of plain bytes are copied
    /// in one go so long strings stay linear.
    fn string(&mut self) -> Result<String, JsonError> {
        self.string_with(str::to_owned, |s| s)
    }

    /// [`Parser::string`] into any string type: `plain` makes it from text that
    /// needed no decoding, `decoded` from the decoded text.
    fn string_with<S>(
        &mut self,
        plain: impl FnOnce(&str) -> S,
        decoded: impl FnOnce(String) -> S,
    ) -> Result<S, JsonError> {
        self.i += 1;
        // Most strings have no escapes: one exact-size copy, no growing buffer.
        let run = self.i;
        let end = self.s[run..]
            .iter()
            .position(|&c| STRING_STOP[usize::from(c)])
            .map(|n| run + n);
        if let Some(end) = end
            && self.s[end] == b'"'
        {
            let text = match self.text {
                // Quotes are ASCII, so both ends are character boundaries.
                Some(all) => all.get(run..end),
                None => std::str::from_utf8(&self.s[run..end]).ok(),
            };
            if let Some(text) = text {
                self.i = end + 1;
                return Ok(plain(text));
            }
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let run = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            out.extend_from_slice(&self.s[run..self.i]);
            match self.peek() {
                None => return Err(Self::eof()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(decoded(match String::from_utf8(out) {
                        Ok(s) => s,
                        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    }));
                }
                Some(b'\\') => {
                    self.i += 1;
                    self.escape(&mut out)?;
                }
                Some(c) => return Err(self.bad(c, "in string literal")),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let c = self.peek().ok_or_else(Self::eof)?;
        self.i += 1;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let ch = self.unicode_escape()?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(self.bad(c, "in string escape code")),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(Self::eof)?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.bad(c, "in \\u hexadecimal character escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// Decodes `\uXXXX`, joining surrogate pairs; a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }
}

/// The integer `text` spells if it is the canonical `i64` form (what printing the
/// integer gives back), so it can be stored as [`Value::Int`] without losing its
/// spelling. The grammar has already ruled out leading zeros and a leading `+`.
fn canonical_int(text: &str) -> Option<i64> {
    if text == "-0" || text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// Quotes a byte the way Go's JSON errors do: `'x'`, `'\''`, `'\n'`.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        b'\n' => "'\\n'".into(),
        b'\t' => "'\\t'".into(),
        b'\r' => "'\\r'".into(),
        c if !(0x20..0x7f).contains(&c) => format!("'\\x{c:02x}'"),
        c => format!("'{}'", c as char),
    }
}
