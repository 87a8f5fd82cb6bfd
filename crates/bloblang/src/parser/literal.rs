//! Literals: strings (quoted and triple-quoted), numbers, arrays, objects, arguments.

use super::Parser;
use crate::ast::{Args, Expr, ExprKind, Key};
use crate::lexer::PResult;
use crate::value::{Object, Value};

impl Parser<'_> {
    /// A `"…"` string (Go `strconv.Unquote` escapes) or a raw `"""…"""` string.
    /// The cursor is on the opening quote.
    pub(super) fn string_literal(&mut self) -> PResult<String> {
        if self.c.eat("\"\"\"") {
            let start = self.c.pos;
            return match self.c.rest().find("\"\"\"") {
                Some(n) => {
                    self.c.pos += n + 3;
                    Ok(self.c.src[start..start + n].to_string())
                }
                None => Err(self
                    .c
                    .err_at(self.c.src.len(), "required: expected end quote")),
            };
        }
        let open = self.c.pos;
        self.c.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            // Copy runs of plain bytes at once: long literals stay linear.
            let rest = self.c.rest();
            let n = rest.find(['"', '\\', '\n']).unwrap_or(rest.len());
            out.extend_from_slice(&rest.as_bytes()[..n]);
            self.c.pos += n;
            match self.c.peek() {
                Some(b'"') => {
                    self.c.pos += 1;
                    return Ok(String::from_utf8(out)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
                }
                Some(b'\\') => {
                    let esc = self.c.pos;
                    self.c.pos += 1;
                    if !self.escape(&mut out) {
                        return Err(self
                            .c
                            .err_at(open, format!("invalid escape sequence at {}", esc - open)));
                    }
                }
                _ => return Err(self.c.err("required: expected end quote")),
            }
        }
    }

    /// One escape after a backslash, Go `strconv.Unquote` rules. False if invalid.
    fn escape(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(c) = self.c.peek() else {
            return false;
        };
        self.c.pos += 1;
        let simple = match c {
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            b'\\' => b'\\',
            b'"' => b'"',
            b'x' => return self.hex_escape(2, out, true),
            b'u' => return self.hex_escape(4, out, false),
            b'U' => return self.hex_escape(8, out, false),
            b'0'..=b'7' => {
                let digits = &self.c.src.as_bytes()[self.c.pos - 1..];
                if digits.len() < 3 || !digits[..3].iter().all(|d| (b'0'..=b'7').contains(d)) {
                    return false;
                }
                let v = digits[..3]
                    .iter()
                    .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
                self.c.pos += 2;
                return match u8::try_from(v) {
                    Ok(b) => {
                        out.push(b);
                        true
                    }
                    Err(_) => false,
                };
            }
            _ => return false,
        };
        out.push(simple);
        true
    }

    fn hex_escape(&mut self, n: usize, out: &mut Vec<u8>, byte: bool) -> bool {
        let Some(hex) = self.c.rest().get(..n) else {
            return false;
        };
        let Ok(v) = u32::from_str_radix(hex, 16) else {
            return false;
        };
        if hex.starts_with(['+', '-']) {
            return false;
        }
        self.c.pos += n;
        if byte {
            out.push(v as u8);
            return true;
        }
        match char::from_u32(v) {
            Some(ch) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                true
            }
            None => false,
        }
    }

    /// `[0-9]+` (int64) or `[0-9]+.[0-9]+` (float64). The cursor is on a digit.
    pub(super) fn number_literal(&mut self) -> PResult<Value> {
        let start = self.c.pos;
        let int_len = self
            .c
            .rest()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.c.rest().len());
        self.c.pos += int_len;
        let frac =
            self.c.peek() == Some(b'.') && self.c.peek2().is_some_and(|d| d.is_ascii_digit());
        if frac {
            self.c.pos += 1;
            let rest = self.c.rest();
            self.c.pos += rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let text = &self.c.src[start..self.c.pos];
            return text
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| self.c.err_at(start, "invalid number"));
        }
        let text = &self.c.src[start..self.c.pos];
        text.parse::<i64>().map(Value::Int).map_err(|_| {
            self.c
                .err_at(start, format!("value {text} out of range for int64"))
        })
    }

    /// `[q, …]`, trailing comma allowed. The cursor is on `[`.
    pub(super) fn array_literal(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        self.c.pos += 1;
        let items = self.comma_list(b']', "required: expected closing bracket", |p| p.query())?;
        if let Some(values) = items.iter().map(literal_value).collect::<Option<Vec<_>>>() {
            let values = values.into_iter().filter(|v| !v.is_sentinel()).collect();
            return Ok(Expr::new(ExprKind::Literal(Value::Array(values)), start));
        }
        Ok(Expr::new(ExprKind::Array(items), start))
    }

    /// `{key: q, …}`, trailing comma allowed. The cursor is on `{`.
    pub(super) fn object_literal(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        self.c.pos += 1;
        let entries = self.comma_list(b'}', "required: expected closing bracket", |p| {
            let key = p.object_key()?;
            p.c.sp();
            if !p.c.eat(":") {
                return Err(p.c.err("required: expected :"));
            }
            p.c.ws_nl();
            Ok((key, p.query()?))
        })?;
        let mut map = Object::new();
        for (k, v) in &entries {
            match (k, literal_value(v)) {
                (Key::Static(k), Some(v)) if !v.is_sentinel() => {
                    map.insert(k.clone(), v);
                }
                (Key::Static(_), Some(_)) => {}
                _ => return Ok(Expr::new(ExprKind::Object(entries), start)),
            }
        }
        Ok(Expr::new(ExprKind::Literal(Value::Object(map)), start))
    }

    fn object_key(&mut self) -> PResult<Key> {
        if self.c.peek() == Some(b'"') {
            return Ok(Key::Static(self.string_literal()?));
        }
        let pos = self.c.pos;
        let q = self.query()?;
        match &q.kind {
            ExprKind::Literal(Value::String(s)) => Ok(Key::Static(s.clone())),
            ExprKind::Literal(_) => Err(self.c.err_at(pos, "object keys must be strings")),
            _ => Ok(Key::Dynamic(q)),
        }
    }

    /// `(a, b)` or `(x: a, y: b)`. The cursor is on `(`.
    pub(super) fn arguments(&mut self) -> PResult<Args> {
        self.c.pos += 1;
        let list = self.comma_list(b')', "required: expected function argument", |p| {
            let save = p.c.pos;
            if let Some(name) = p.c.snake() {
                p.c.sp();
                if p.c.eat(":") {
                    p.c.ws_nl();
                    return Ok((Some(name.to_string()), p.query()?));
                }
            }
            p.c.pos = save;
            Ok((None, p.query()?))
        })?;
        let named = list.iter().filter(|(n, _)| n.is_some()).count();
        if named == 0 {
            return Ok(Args::Positional(list.into_iter().map(|(_, e)| e).collect()));
        }
        if named != list.len() {
            return Err(self.c.err("cannot mix named and unnamed arguments"));
        }
        Ok(Args::Named(
            list.into_iter()
                .filter_map(|(n, e)| n.map(|n| (n, e)))
                .collect(),
        ))
    }

    /// Items separated by commas up to `close`, newlines allowed around them.
    fn comma_list<T>(
        &mut self,
        close: u8,
        missing: &str,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut out = Vec::new();
        loop {
            self.c.ws_nl();
            if self.c.peek() == Some(close) {
                self.c.pos += 1;
                return Ok(out);
            }
            out.push(item(self)?);
            self.c.ws_nl();
            if self.c.eat(",") {
                continue;
            }
            if self.c.peek() == Some(close) {
                self.c.pos += 1;
                return Ok(out);
            }
            return Err(self.c.err(missing));
        }
    }
}

/// The value of an expression that is a plain literal.
pub(super) fn literal_value(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Literal(v) => Some(v.clone()),
        _ => None,
    }
}
