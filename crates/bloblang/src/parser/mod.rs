//! Parser for the V1 grammar: mapping source to [`Program`].

mod expr;
mod literal;
mod stmt;
#[cfg(test)]
mod tests;

use crate::ast::{Expr, Program};
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
    on_parse_thread(src, || Parser::new(src).mapping().map_err(|e| *e))
}

/// Parses one query starting at byte `pos` of `src` and returns it with the
/// offset just after it: how `${! … }` interpolations find their end.
pub fn parse_query_at(src: &str, pos: usize) -> Result<(Expr, usize), CompileError> {
    on_parse_thread(src, || {
        let mut p = Parser::new(src);
        p.c.pos = pos.min(src.len());
        let q = p.query().map_err(|e| *e)?;
        Ok((q, p.c.pos))
    })
}

/// Runs `f` on a thread with [`PARSE_STACK`] of stack.
fn on_parse_thread<T: Send>(
    src: &str,
    f: impl FnOnce() -> Result<T, CompileError> + Send,
) -> Result<T, CompileError> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("bloblang-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(s, f);
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(CompileError::at(
                    src,
                    0,
                    "internal error: the parser panicked",
                ))
            }),
            // The closure went with the failed spawn; this only happens when the
            // process cannot start threads at all.
            Err(e) => Err(CompileError::at(
                src,
                0,
                format!("cannot start the parser: {e}"),
            )),
        }
    })
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            c: Cursor::new(src),
            depth: 0,
            contexts: Vec::new(),
        }
    }
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
