//! Character-level scanning shared by the parser.
//!
//! Bloblang is whitespace-sensitive (newlines end statements, `=` needs spaces
//! around it, no newline before `.`), so the parser reads characters through this
//! cursor rather than a token stream that would have to carry layout anyway.

use crate::error::CompileError;

/// A position in the source plus the scanning primitives.
pub struct Cursor<'a> {
    /// The whole mapping source.
    pub src: &'a str,
    /// Byte offset of the next character.
    pub pos: usize,
}

/// The result of a parse step.
pub type PResult<T> = Result<T, Box<CompileError>>;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `src`.
    pub fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    /// The rest of the input.
    pub fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// The next byte, if any.
    pub fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// The byte after the next one.
    pub fn peek2(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos + 1).copied()
    }

    /// True at end of input.
    pub fn eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// An error at the current position.
    pub fn err(&self, message: impl Into<String>) -> Box<CompileError> {
        self.err_at(self.pos, message)
    }

    /// An error at byte offset `pos`.
    pub fn err_at(&self, pos: usize, message: impl Into<String>) -> Box<CompileError> {
        Box::new(CompileError::at(self.src, pos, message))
    }

    /// Consumes `s` if the input continues with it.
    pub fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes `word` only when it is not followed by an identifier character,
    /// so `if` does not match the start of `iffy`.
    pub fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(word) && !rest[word.len()..].starts_with(is_ident_char) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Spaces and tabs, the only in-line whitespace. Returns how many were skipped.
    pub fn sp(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Requires at least one space or tab.
    pub fn req_sp(&mut self) -> PResult<()> {
        if self.sp() == 0 {
            return Err(self.err("expected whitespace"));
        }
        Ok(())
    }

    /// A `#` comment up to (not including) the line end.
    pub fn comment(&mut self) {
        if self.peek() == Some(b'#') {
            self.pos += self.rest().find('\n').unwrap_or(self.rest().len());
        }
    }

    /// Skips a line break (`\n` or `\r\n`); true if there was one.
    pub fn newline(&mut self) -> bool {
        self.eat("\n") || self.eat("\r\n")
    }

    /// Whitespace, comments and newlines in any amount.
    pub fn ws_nl(&mut self) {
        loop {
            self.sp();
            self.comment();
            if !self.newline() {
                return;
            }
        }
    }

    /// `[A-Za-z0-9_]+`: path segments, variables, contexts and metadata keys.
    pub fn ident(&mut self) -> Option<&'a str> {
        self.take_while(is_ident_char)
    }

    /// `[a-z0-9_]+`: function, method and named-argument names.
    pub fn snake(&mut self) -> Option<&'a str> {
        self.take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> Option<&'a str> {
        let rest = self.rest();
        let n = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        self.pos += n;
        Some(&rest[..n])
    }

    /// The length of the snake-case word at the cursor, without consuming it.
    pub fn snake_len(&self) -> usize {
        self.rest()
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(self.rest().len())
    }
}

/// The identifier alphabet `[A-Za-z0-9_]`.
pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_need_a_word_boundary() {
        let mut c = Cursor::new("iffy");
        assert!(!c.eat_keyword("if"));
        let mut c = Cursor::new("if x");
        assert!(c.eat_keyword("if"));
        assert_eq!(c.pos, 2);
    }

    #[test]
    fn ws_nl_skips_comments_and_crlf() {
        let mut c = Cursor::new("  # hi\r\n\t\n x");
        c.ws_nl();
        assert_eq!(c.rest(), "x");
    }

    #[test]
    fn identifiers_and_snake_names() {
        let mut c = Cursor::new("Foo_1.bar");
        assert_eq!(c.ident(), Some("Foo_1"));
        let mut c = Cursor::new("Foo");
        assert_eq!(c.snake(), None);
        assert_eq!(c.snake_len(), 0);
    }
}
