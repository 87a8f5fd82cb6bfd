//! Compile (syntax) errors with a position a person can act on.

use std::fmt;

/// A mapping failed to parse. `Display` gives Bento's one-line form
/// (`line 1 char 8: expected whitespace`); [`CompileError::render`] adds the
/// offending line with a caret under the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters as Bento does.
    pub column: usize,
    /// What was expected or what went wrong.
    pub message: String,
    /// The text of the offending line, for [`CompileError::render`].
    pub source_line: String,
}

impl CompileError {
    /// Builds an error at byte offset `pos` of `src`.
    pub fn at(src: &str, pos: usize, message: impl Into<String>) -> Self {
        let mut pos = pos.min(src.len());
        while !src.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &src[..pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
        CompileError {
            line: before.matches('\n').count() + 1,
            column: src[line_start..pos].chars().count() + 1,
            message: message.into(),
            source_line: src[line_start..line_end].trim_end_matches('\r').to_string(),
        }
    }

    /// The error with the offending line and a caret under the column:
    ///
    /// ```text
    /// line 1 char 8: expected whitespace
    ///   |
    /// 1 | let foo+bar = baz
    ///   |        ^---
    /// ```
    pub fn render(&self) -> String {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Tabs are kept so the caret lines up under the same indentation.
        let lead: String = self
            .source_line
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{self}\n{pad} |\n{num} | {}\n{pad} | {lead}^---",
            self.source_line
        )
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} char {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for CompileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_is_line_and_char_column() {
        let e = CompileError::at("root = 1\nlet foo+bar = baz", 16, "expected whitespace");
        assert_eq!(e.to_string(), "line 2 char 8: expected whitespace");
        assert_eq!(
            e.render(),
            "line 2 char 8: expected whitespace\n  |\n2 | let foo+bar = baz\n  |        ^---"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = CompileError::at("é = x", 2, "expected whitespace");
        assert_eq!(e.column, 2);
        let e = CompileError::at("é", 1, "x");
        assert_eq!(e.column, 1);
    }
}
