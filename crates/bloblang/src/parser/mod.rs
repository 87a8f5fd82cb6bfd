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

/// Stack for the parsing thread. Recursive descent to [`MAX_NESTING`] needs far
/// less in release builds, but unoptimised frames are large and callers' threads
/// may be small (2 MiB for test threads); compiling is rare, so a thread is cheap.
const PARSE_STACK: usize = 64 << 20;

/// Parses a whole mapping. Runs on its own thread with a large stack so nesting
/// up to [`MAX_NESTING`] is safe whatever thread calls it.
pub fn parse(src: &str) -> Result<Program, CompileError> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("bloblang-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(s, || parse_here(src));
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(CompileError::at(
                    src,
                    0,
                    "internal error: the parser panicked",
                ))
            }),
            // No thread available: parse here, still bounded by MAX_NESTING.
            Err(_) => parse_here(src),
        }
    })
}

fn parse_here(src: &str) -> Result<Program, CompileError> {
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
