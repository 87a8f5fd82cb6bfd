//! Compile-time constant folding, as Bento does it: arithmetic and comparisons
//! whose operands are both literals are evaluated once, so `5 / 0` and `5 + "a"`
//! fail at compile time. `&&`, `||` and `|` are never folded.

use super::ops;
use crate::ast::{Args, BinOp, Expr, ExprKind, Key, Pattern, Stmt};
use crate::error::CompileError;

/// Folds every expression of a block.
pub fn fold_statements(stmts: &mut [Stmt], src: &str) -> Result<(), CompileError> {
    for s in stmts {
        match s {
            Stmt::Assign { value, .. } | Stmt::Let { value, .. } | Stmt::Meta { value, .. } => {
                fold(value, src)?
            }
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                for (cond, block) in branches {
                    fold(cond, src)?;
                    fold_statements(block, src)?;
                }
                if let Some(block) = otherwise {
                    fold_statements(block, src)?;
                }
            }
        }
    }
    Ok(())
}

/// Folds one expression bottom-up, and rejects names Bento does not know.
pub fn fold(e: &mut Expr, src: &str) -> Result<(), CompileError> {
    for child in children_mut(e) {
        fold(child, src)?;
    }
    match &e.kind {
        ExprKind::Function(name, _) if !super::names::FUNCTIONS.contains(&name.as_str()) => {
            return Err(CompileError::at(
                src,
                e.pos,
                format!("unrecognised function '{name}'"),
            ));
        }
        ExprKind::Method(_, name, _) if !super::names::METHODS.contains(&name.as_str()) => {
            return Err(CompileError::at(
                src,
                e.pos,
                format!("unrecognised method '{name}'"),
            ));
        }
        ExprKind::Function(name, args) => super::sigs::check(name, args, false, src, e.pos)?,
        ExprKind::Method(_, name, args) => super::sigs::check(name, args, true, src, e.pos)?,
        _ => {}
    }
    if let ExprKind::Binary(op, l, r) = &e.kind {
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Coalesce) {
            return Ok(());
        }
        if let (ExprKind::Literal(a), ExprKind::Literal(b)) = (&l.kind, &r.kind) {
            match ops::binary(*op, a, b) {
                Ok(v) => e.kind = ExprKind::Literal(v),
                // A failing comparison may sit behind a short-circuit
                // (`false && "a" > 0`), so only arithmetic fails compilation.
                Err(_) if op.precedence() == 2 => {}
                Err(m) => return Err(CompileError::at(src, e.pos, m)),
            }
        }
    }
    Ok(())
}

/// The direct sub-expressions of an expression.
pub fn children_mut(e: &mut Expr) -> Vec<&mut Expr> {
    match &mut e.kind {
        ExprKind::Literal(_)
        | ExprKind::This
        | ExprKind::Root
        | ExprKind::Context(_)
        | ExprKind::Meta(_)
        | ExprKind::Var(_) => Vec::new(),
        ExprKind::Array(items) => items.iter_mut().collect(),
        ExprKind::Object(entries) => entries
            .iter_mut()
            .flat_map(|(k, v)| {
                let key = match k {
                    Key::Dynamic(e) => Some(e),
                    Key::Static(_) => None,
                };
                key.into_iter().chain(std::iter::once(v))
            })
            .collect(),
        ExprKind::Field(t, _) | ExprKind::Not(t) | ExprKind::Lambda(_, t) => vec![t.as_mut()],
        ExprKind::Index(a, b) | ExprKind::MapExpr(a, b) | ExprKind::Binary(_, a, b) => {
            vec![a.as_mut(), b.as_mut()]
        }
        ExprKind::Slice(t, a, b, c) => std::iter::once(t)
            .chain(a.iter_mut())
            .chain(b.iter_mut())
            .chain(c.iter_mut())
            .map(|b| b.as_mut())
            .collect(),
        ExprKind::Method(t, _, args) => {
            let mut v = vec![t.as_mut()];
            v.extend(args_mut(args));
            v
        }
        ExprKind::Function(_, args) => args_mut(args),
        ExprKind::If(branches, otherwise) => branches
            .iter_mut()
            .flat_map(|(c, b)| [c, b])
            .chain(otherwise.iter_mut().map(|b| b.as_mut()))
            .collect(),
        ExprKind::Match(subject, cases) => subject
            .iter_mut()
            .map(|b| b.as_mut())
            .chain(cases.iter_mut().flat_map(|(p, b)| {
                let pat = match p {
                    Pattern::Query(q) => Some(q),
                    Pattern::Wildcard => None,
                };
                pat.into_iter().chain(std::iter::once(b))
            }))
            .collect(),
    }
}

fn args_mut(args: &mut Args) -> Vec<&mut Expr> {
    match args {
        Args::Positional(v) => v.iter_mut().collect(),
        Args::Named(v) => v.iter_mut().map(|(_, e)| e).collect(),
    }
}
