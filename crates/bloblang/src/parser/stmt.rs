//! Statements: assignments, `let`, `meta`, `if`, `map`, `import`, and the
//! bare-query shorthand.

use super::Parser;
use crate::ast::{Expr, MapDef, Program, Stmt};
use crate::error::CompileError;
use crate::lexer::PResult;

/// Where a statement may appear, which decides what it may contain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Top,
    Map,
    Block,
}

impl Parser<'_> {
    /// `mapping = statements | single bare query`.
    pub(super) fn mapping(&mut self) -> PResult<Program> {
        self.c.ws_nl();
        let start = self.c.pos;
        if self.c.eof() {
            return Err(self.c.err("expected import, map, or assignment"));
        }
        let stmt_err = match self.statements(Scope::Top) {
            Ok(prog) => return Ok(prog),
            Err(e) => e,
        };
        // Bento tries both forms and reports the one that got further.
        self.c.pos = start;
        self.depth = 0;
        self.contexts.clear();
        let query = match self.query() {
            Ok(q) => q,
            Err(qe) => return Err(further(stmt_err, qe)),
        };
        let line = line_of(self.c.src, start);
        self.c.ws_nl();
        if self.c.eof() {
            let assign = Stmt::Assign {
                path: Vec::new(),
                value: query,
                line,
            };
            return Ok(Program {
                statements: vec![assign],
                ..Program::default()
            });
        }
        let shown: String = self.c.src[start..self.c.pos]
            .trim_end()
            .chars()
            .take(24)
            .collect();
        let shorthand = self.c.err(format!(
            "expected the mapping to end here as the beginning is shorthand for `root = {shown}...`, but this shorthand form cannot be followed with more assignments"
        ));
        Err(further(stmt_err, shorthand))
    }

    /// Statements separated by line breaks, up to end of input (top level)
    /// or a closing `}` (blocks).
    fn statements(&mut self, scope: Scope) -> PResult<Program> {
        let mut prog = Program::default();
        loop {
            self.c.ws_nl();
            if self.c.eof() || (scope != Scope::Top && self.c.peek() == Some(b'}')) {
                return Ok(prog);
            }
            self.statement(scope, &mut prog)?;
            self.c.sp();
            self.c.comment();
            let closes = scope != Scope::Top && self.c.peek() == Some(b'}');
            if !(self.c.eof() || closes || self.c.newline()) {
                return Err(self.c.err("expected line break"));
            }
        }
    }

    fn statement(&mut self, scope: Scope, prog: &mut Program) -> PResult<()> {
        let start = self.c.pos;
        let line = line_of(self.c.src, start);
        if self.c.eat_keyword("import") {
            if scope != Scope::Top {
                return Err(self
                    .c
                    .err_at(start, "imports are not allowed within this block"));
            }
            self.c.req_sp()?;
            let path = self.quoted("required: expected import path")?;
            prog.imports.push(path);
            return Ok(());
        }
        if self.c.eat_keyword("map") {
            if scope != Scope::Top {
                return Err(self
                    .c
                    .err_at(start, "maps cannot be defined within this block"));
            }
            let def = self.map_def()?;
            if prog.maps.iter().any(|m| m.name == def.name) {
                return Err(self
                    .c
                    .err_at(start, format!("map name collision: {}", def.name)));
            }
            prog.maps.push(def);
            return Ok(());
        }
        let stmt = self.simple_statement(scope, start, line)?;
        prog.statements.push(stmt);
        Ok(())
    }

    fn simple_statement(&mut self, scope: Scope, start: usize, line: usize) -> PResult<Stmt> {
        if self.c.eat_keyword("let") {
            self.c.req_sp()?;
            let name = match self.name_or_string()? {
                Some(n) => n,
                None => return Err(self.c.err("required: expected variable name")),
            };
            let value = self.assignment_value()?;
            return Ok(Stmt::Let { name, value, line });
        }
        if self.c.eat_keyword("meta") {
            if scope == Scope::Map {
                return Err(self.c.err_at(
                    start,
                    "setting meta fields is not allowed within this block",
                ));
            }
            let before_key = self.c.pos;
            let key = if self.c.sp() > 0 {
                self.name_or_string()?
            } else {
                None
            };
            if key.is_none() {
                self.c.pos = before_key;
            }
            let save = self.c.pos;
            self.c.sp();
            if self.c.peek() != Some(b'=') {
                return Err(self.c.err("expected ="));
            }
            self.c.pos = save;
            let value = self.assignment_value()?;
            return Ok(Stmt::Meta { key, value, line });
        }
        if self.c.eat_keyword("if") {
            return self.if_statement(scope, line);
        }
        let path = self.target_path()?;
        let value = self.assignment_value()?;
        Ok(Stmt::Assign { path, value, line })
    }

    /// ` = query`, with the whitespace on both sides Bento requires.
    fn assignment_value(&mut self) -> PResult<Expr> {
        self.c.req_sp()?;
        if !self.c.eat("=") {
            return Err(self.c.err("expected ="));
        }
        self.c.req_sp()?;
        self.query()
    }

    /// `ident { . (ident | "quoted") }`, with a leading `root` stripped.
    fn target_path(&mut self) -> PResult<Vec<String>> {
        let mut path = Vec::new();
        loop {
            // The first segment must be a bare name: `"a.b" = 1` is not a target.
            let seg = if path.is_empty() {
                self.c.ident().map(str::to_string)
            } else {
                self.name_or_string()?
            };
            let seg = match seg {
                Some(s) => s,
                None if path.is_empty() => {
                    return Err(self.c.err("expected import, map, or assignment"));
                }
                None => return Err(self.c.err("required: expected method or field path")),
            };
            path.push(seg);
            if !self.c.eat(".") {
                break;
            }
        }
        if path.first().is_some_and(|s| s == "root") {
            path.remove(0);
        }
        Ok(path)
    }

    fn quoted(&mut self, missing: &str) -> PResult<String> {
        if self.c.peek() != Some(b'"') {
            return Err(self.c.err(missing));
        }
        self.string_literal()
    }

    fn map_def(&mut self) -> PResult<MapDef> {
        self.c.req_sp()?;
        let name = match self.name_or_string()? {
            Some(n) => n,
            None => return Err(self.c.err("required: expected map name")),
        };
        let body = self.braced(|p| p.statements(Scope::Map))?;
        Ok(MapDef {
            name,
            body: body.statements,
        })
    }

    fn if_statement(&mut self, scope: Scope, line: usize) -> PResult<Stmt> {
        let inner = if scope == Scope::Map {
            Scope::Map
        } else {
            Scope::Block
        };
        let mut branches = Vec::new();
        loop {
            self.c.req_sp()?;
            let cond = self.query()?;
            let body = self.braced(|p| p.statements(inner))?;
            branches.push((cond, body.statements));
            let save = self.c.pos;
            self.c.sp();
            if !self.c.eat_keyword("else") {
                self.c.pos = save;
                return Ok(Stmt::If {
                    branches,
                    otherwise: None,
                    line,
                });
            }
            self.c.sp();
            if !self.c.eat_keyword("if") {
                let otherwise = self.braced(|p| p.statements(inner))?;
                return Ok(Stmt::If {
                    branches,
                    otherwise: Some(otherwise.statements),
                    line,
                });
            }
        }
    }
}

/// The 1-based line of byte offset `pos`.
fn line_of(src: &str, pos: usize) -> usize {
    src.as_bytes()[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Of two failed attempts, the one whose error is further into the source.
fn further(a: Box<CompileError>, b: Box<CompileError>) -> Box<CompileError> {
    if (b.line, b.column) > (a.line, a.column) {
        b
    } else {
        a
    }
}
