//! Expressions: the operator chain, terms with their tails, and primaries.

use super::Parser;
use crate::ast::{BinOp, Expr, ExprKind, Pattern};
use crate::lexer::PResult;
use crate::value::Value;

/// Operators longest first, so `||` is not read as `|` and `<=` not as `<`.
const OPERATORS: [(&str, BinOp); 14] = [
    ("==", BinOp::Eq),
    ("!=", BinOp::Ne),
    ("<=", BinOp::Le),
    (">=", BinOp::Ge),
    ("&&", BinOp::And),
    ("||", BinOp::Or),
    ("<", BinOp::Lt),
    (">", BinOp::Gt),
    ("|", BinOp::Coalesce),
    ("+", BinOp::Add),
    ("-", BinOp::Sub),
    ("*", BinOp::Mul),
    ("/", BinOp::Div),
    ("%", BinOp::Mod),
];

impl Parser<'_> {
    /// A full query: terms joined by binary operators, precedence applied afterwards.
    pub(super) fn query(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.query_inner();
        self.depth -= 1;
        result
    }

    /// Each operator deepens the (left-leaning) tree, so it counts as nesting.
    fn query_inner(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut terms = vec![self.signed_term()?];
        let mut ops = Vec::new();
        loop {
            let save = self.c.pos;
            self.c.sp();
            let Some(op) = self.operator() else {
                self.c.pos = save;
                break;
            };
            self.c.ws_nl();
            self.enter()?;
            ops.push(op);
            terms.push(self.signed_term()?);
        }
        self.depth = base;
        Ok(reduce(terms, ops))
    }

    fn operator(&mut self) -> Option<BinOp> {
        let rest = self.c.rest();
        // `=>` and `->` belong to match cases and lambdas, not to the chain.
        if rest.starts_with("=>") || rest.starts_with("->") {
            return None;
        }
        let (sym, op) = OPERATORS.iter().find(|(s, _)| rest.starts_with(s))?;
        self.c.pos += sym.len();
        Some(*op)
    }

    /// `-term` is built as `0 - term`, folded for number literals.
    fn signed_term(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        if !self.c.eat("-") {
            return self.term();
        }
        // `- -5` is accepted: a minus may follow a minus after spaces.
        let save = self.c.pos;
        self.c.sp();
        let t = if self.c.peek() == Some(b'-') {
            self.enter()?;
            let inner = self.signed_term();
            self.depth -= 1;
            inner?
        } else {
            self.c.pos = save;
            self.term()?
        };
        Ok(match t.kind {
            ExprKind::Literal(Value::Int(i)) => {
                Expr::new(ExprKind::Literal(Value::Int(i.wrapping_neg())), start)
            }
            ExprKind::Literal(Value::Float(f)) => {
                Expr::new(ExprKind::Literal(Value::Float(-f)), start)
            }
            _ => {
                let zero = Expr::new(ExprKind::Literal(Value::Int(0)), start);
                Expr::new(
                    ExprKind::Binary(BinOp::Sub, Box::new(zero), Box::new(t)),
                    start,
                )
            }
        })
    }

    /// `[!] primary { tail }`; the `!` covers the whole chain.
    fn term(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        if self.c.peek() == Some(b'!') && self.c.peek2() != Some(b'=') {
            self.c.pos += 1;
            let inner = self.term_tails()?;
            return Ok(Expr::new(ExprKind::Not(Box::new(inner)), start));
        }
        self.term_tails()
    }

    /// Each tail wraps the expression so far, so it counts as nesting too.
    fn term_tails(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut e = self.primary()?;
        loop {
            if matches!(self.c.peek(), Some(b'.' | b'[')) {
                self.enter()?;
            }
            match self.c.peek() {
                Some(b'.') => {
                    self.c.pos += 1;
                    self.c.ws_nl();
                    e = self.tail(e)?;
                }
                Some(b'[') => e = self.bracket(e)?,
                _ => {
                    self.depth = base;
                    return Ok(e);
                }
            }
        }
    }

    /// Bento's `target[i]` or `target[low:high:step]` (each part optional).
    fn bracket(&mut self, target: Expr) -> PResult<Expr> {
        let pos = self.c.pos;
        self.c.pos += 1;
        let mut parts: Vec<Option<Box<Expr>>> = Vec::new();
        loop {
            self.c.ws_nl();
            let part = match self.c.peek() {
                Some(b':' | b']') => None,
                _ => Some(Box::new(self.query()?)),
            };
            parts.push(part);
            self.c.ws_nl();
            if parts.len() < 3 && self.c.eat(":") {
                continue;
            }
            self.close("]")?;
            break;
        }
        let target = Box::new(target);
        let kind = match (parts.len(), parts.first_mut().and_then(Option::take)) {
            (1, Some(idx)) => ExprKind::Index(target, idx),
            (1, None) => return Err(self.c.err_at(pos + 1, "expected query")),
            (_, low) => {
                let mut rest = parts.into_iter().skip(1);
                let high = rest.next().flatten();
                let step = rest.next().flatten();
                ExprKind::Slice(target, low, high, step)
            }
        };
        Ok(Expr::new(kind, pos))
    }

    /// What follows a `.`: `(query)`, `method(args)`, `field` or `"quoted field"`.
    fn tail(&mut self, target: Expr) -> PResult<Expr> {
        let pos = self.c.pos;
        let boxed = Box::new(target);
        match self.c.peek() {
            Some(b'(') => {
                self.c.pos += 1;
                self.c.ws_nl();
                let body = self.query()?;
                self.close(")")?;
                Ok(Expr::new(ExprKind::MapExpr(boxed, Box::new(body)), pos))
            }
            Some(b'"') => {
                let name = self.string_literal()?;
                Ok(Expr::new(ExprKind::Field(boxed, name), pos))
            }
            _ => {
                let n = self.c.snake_len();
                if n > 0 && self.c.src.as_bytes().get(pos + n) == Some(&b'(') {
                    let name = self.c.src[pos..pos + n].to_string();
                    self.c.pos += n;
                    let args = self.arguments()?;
                    return Ok(Expr::new(ExprKind::Method(boxed, name, args), pos));
                }
                match self.c.ident() {
                    Some(name) => Ok(Expr::new(ExprKind::Field(boxed, name.to_string()), pos)),
                    None => Err(self.c.err("required: expected method or field path")),
                }
            }
        }
    }

    /// Literals, brackets, `match`, `if`, lambdas, functions, `@`, `$` and names.
    fn primary(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        let lit = |v: Value| Ok(Expr::new(ExprKind::Literal(v), start));
        match self.c.peek() {
            Some(b'"') => return lit(Value::String(self.string_literal()?)),
            Some(b'0'..=b'9') if !self.at_lambda() => return lit(self.number_literal()?),
            Some(b'[') => return self.array_literal(),
            Some(b'{') => return self.object_literal(),
            Some(b'(') => return self.bracketed(),
            Some(b'@') => {
                self.c.pos += 1;
                let key = self.name_or_string()?;
                return Ok(Expr::new(ExprKind::Meta(key), start));
            }
            Some(b'$') => {
                self.c.pos += 1;
                return match self.c.ident() {
                    Some(n) => Ok(Expr::new(ExprKind::Var(n.to_string()), start)),
                    None => Err(self.c.err("required: expected variable name")),
                };
            }
            _ => {}
        }
        if self.at_lambda() {
            return self.lambda();
        }
        if self.c.eat_keyword("match") {
            return self.match_expr(start);
        }
        if self.c.eat_keyword("if") {
            return self.if_expr(start);
        }
        for (word, v) in [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
        ] {
            if self.c.eat_keyword(word) {
                return lit(v);
            }
        }
        let n = self.c.snake_len();
        if n > 0 && self.c.src.as_bytes().get(start + n) == Some(&b'(') {
            let name = self.c.src[start..start + n].to_string();
            self.c.pos += n;
            let args = self.arguments()?;
            return Ok(Expr::new(ExprKind::Function(name, args), start));
        }
        match self.c.ident() {
            Some(name) => Ok(self.name_expr(name, start)),
            None => Err(self.c.err("expected query")),
        }
    }

    /// `this`, `root`, a context in scope, or legacy `foo` meaning `this.foo`.
    fn name_expr(&self, name: &str, start: usize) -> Expr {
        let kind = match name {
            "this" => ExprKind::This,
            "root" => ExprKind::Root,
            n if self.contexts.iter().any(|c| c == n) => ExprKind::Context(n.to_string()),
            n => ExprKind::Field(Box::new(Expr::new(ExprKind::This, start)), n.to_string()),
        };
        Expr::new(kind, start)
    }

    /// An optional identifier or quoted string (after `@`, `meta`).
    pub(super) fn name_or_string(&mut self) -> PResult<Option<String>> {
        if self.c.peek() == Some(b'"') {
            return Ok(Some(self.string_literal()?));
        }
        Ok(self.c.ident().map(str::to_string))
    }

    fn bracketed(&mut self) -> PResult<Expr> {
        self.c.pos += 1;
        self.c.ws_nl();
        let q = self.query()?;
        self.close(")")?;
        Ok(q)
    }

    /// Skips layout, then requires the closing bracket `close`.
    fn close(&mut self, close: &str) -> PResult<()> {
        self.c.ws_nl();
        if !self.c.eat(close) {
            return Err(self.c.err("required: expected closing bracket"));
        }
        Ok(())
    }

    /// True when the input reads `name -> ` or `_ -> ` here.
    fn at_lambda(&self) -> bool {
        let rest = self.c.rest();
        let n = rest
            .find(|c: char| !crate::lexer::is_ident_char(c))
            .unwrap_or(rest.len());
        n > 0 && rest[n..].trim_start_matches([' ', '\t']).starts_with("->")
    }

    fn lambda(&mut self) -> PResult<Expr> {
        let start = self.c.pos;
        let name = self.c.ident().unwrap_or("_").to_string();
        if self.c.req_sp().is_err() || !self.c.eat("->") {
            return Err(self.c.err_at(start, "expected whitespace around ->"));
        }
        self.c.req_sp()?;
        if name == "this" || name == "root" {
            return Err(self
                .c
                .err_at(start, format!("context label `{name}` is not allowed")));
        }
        if self.contexts.contains(&name) {
            return Err(self.c.err_at(
                start,
                format!("context label `{name}` would shadow a parent context"),
            ));
        }
        let bound = (name != "_").then_some(name);
        if let Some(n) = &bound {
            self.contexts.push(n.clone());
        }
        let body = self.query();
        if bound.is_some() {
            self.contexts.pop();
        }
        let body = body?;
        if let ExprKind::Lambda(inner, _) = &body.kind {
            // `a -> b -> …` binds one context under two names.
            let outer_name = bound.as_deref().unwrap_or("_");
            let inner_name = inner.as_deref().unwrap_or("_");
            return Err(self.c.err_at(start, format!(
                "it would be in poor taste to capture the same context under both '{outer_name}' and '{inner_name}'"
            )));
        }
        Ok(Expr::new(ExprKind::Lambda(bound, Box::new(body)), start))
    }

    /// `if q { q } else if q { q } else { q }` as an expression.
    fn if_expr(&mut self, start: usize) -> PResult<Expr> {
        let mut branches = Vec::new();
        loop {
            self.c.req_sp()?;
            let cond = self.query()?;
            let body = self.braced(|p| p.query())?;
            branches.push((cond, body));
            let save = self.c.pos;
            self.c.sp();
            if !self.c.eat_keyword("else") {
                self.c.pos = save;
                return Ok(Expr::new(ExprKind::If(branches, None), start));
            }
            self.c.sp();
            if !self.c.eat_keyword("if") {
                let otherwise = self.braced(|p| p.query())?;
                return Ok(Expr::new(
                    ExprKind::If(branches, Some(Box::new(otherwise))),
                    start,
                ));
            }
        }
    }

    /// `{ inner }` with newlines allowed inside; leading spaces allowed before `{`.
    pub(super) fn braced<T>(&mut self, inner: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.c.sp();
        if !self.c.eat("{") {
            return Err(self.c.err("required: expected {"));
        }
        self.c.ws_nl();
        let v = inner(self)?;
        self.c.ws_nl();
        if !self.c.eat("}") {
            return Err(self.c.err("required: expected }"));
        }
        Ok(v)
    }

    fn match_expr(&mut self, start: usize) -> PResult<Expr> {
        self.c.sp();
        let subject = if self.c.peek() == Some(b'{') {
            None
        } else {
            Some(Box::new(self.query()?))
        };
        self.c.sp();
        if !self.c.eat("{") {
            return Err(self.c.err("required: expected {"));
        }
        let mut cases = Vec::new();
        loop {
            self.c.ws_nl();
            if self.c.eat("}") {
                return Ok(Expr::new(ExprKind::Match(subject, cases), start));
            }
            cases.push(self.match_case()?);
            self.c.sp();
            self.c.comment();
            if !(self.c.eat(",") || self.c.newline() || self.c.peek() == Some(b'}')) {
                return Err(self.c.err("required: expected }"));
            }
        }
    }

    fn match_case(&mut self) -> PResult<(Pattern, Expr)> {
        let save = self.c.pos;
        let pattern = if self.c.eat("_")
            && self
                .c
                .rest()
                .trim_start_matches([' ', '\t'])
                .starts_with("=>")
        {
            Pattern::Wildcard
        } else {
            self.c.pos = save;
            Pattern::Query(self.query()?)
        };
        self.c.sp();
        if !self.c.eat("=>") {
            return Err(self.c.err("required: expected =>"));
        }
        self.c.ws_nl();
        Ok((pattern, self.query()?))
    }
}

/// Applies Bento's four precedence passes to a flat chain, all left-associative.
fn reduce(terms: Vec<Expr>, ops: Vec<BinOp>) -> Expr {
    let mut terms = terms.into_iter();
    let Some(first) = terms.next() else {
        return Expr::new(ExprKind::Literal(Value::Null), 0);
    };
    let mut out: Vec<Expr> = vec![first];
    let mut stack: Vec<BinOp> = Vec::new();
    for (op, t) in ops.into_iter().zip(terms) {
        while stack
            .last()
            .is_some_and(|top| top.precedence() >= op.precedence())
        {
            fold_top(&mut out, &mut stack);
        }
        stack.push(op);
        out.push(t);
    }
    while !stack.is_empty() {
        fold_top(&mut out, &mut stack);
    }
    out.pop()
        .unwrap_or_else(|| Expr::new(ExprKind::Literal(Value::Null), 0))
}

fn fold_top(out: &mut Vec<Expr>, stack: &mut Vec<BinOp>) {
    if let (Some(op), Some(r), Some(l)) = (stack.pop(), out.pop(), out.pop()) {
        let pos = l.pos;
        out.push(Expr::new(
            ExprKind::Binary(op, Box::new(l), Box::new(r)),
            pos,
        ));
    }
}
