//! Parser for the V1 grammar: mapping source to [`Program`].

mod expr;
mod literal;
mod stmt;
#[cfg(test)]
mod tests;

use crate::ast::Program;
use crate::error::CompileError;
use crate::lexer::{Cursor, PResult};

/// How deeply queries may nest (brackets, literals, lambdas, method arguments).
/// A bound well under what the native stack takes, so hostile input gets an error.
pub const MAX_NESTING: usize = 256;

/// Parser state: the cursor, the nesting depth and the lambda names in scope.
pub(crate) struct Parser<'a> {
    c: Cursor<'a>,
    depth: usize,
    contexts: Vec<String>,
}

/// Parses a whole mapping.
pub fn parse(src: &str) -> Result<Program, CompileError> {
    let mut p = Parser {
        c: Cursor::new(src),
        depth: 0,
        contexts: Vec::new(),
    };
    p.mapping().map_err(|e| *e)
}

impl Parser<'_> {
    /// Counts one level of nesting; errors past [`MAX_NESTING`].
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.c.err(format!(
                "expression nesting exceeds the maximum depth of {MAX_NESTING}"
            )));
        }
        Ok(())
    }
}
