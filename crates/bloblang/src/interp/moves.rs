//! Moving `this` into its last use instead of copying it.
//!
//! Most mappings start `root = this` or `root = this.merge(…)`, and a run owns
//! the document it parsed. When a top-level statement is the last one that can
//! read `this`, and it only walks down from `this` (fields, then methods that take
//! their target by value), the document is moved into it: no deep copy. The
//! statement is picked once, when the mapping compiles.

use super::eval::Scope;
use super::exec::Env;
use super::methods;
use crate::ast::{Args, Expr, ExprKind, Key, Pattern, Stmt};
use crate::value::Value;

/// Methods that evaluate their target themselves (to catch its error or to
/// change the message it reads): their target cannot be handed over evaluated.
const SELF_EVALUATING: &[&str] = &["catch", "from", "from_all", "or"];

/// Methods that run a lambda argument with each element pushed as the context,
/// so the lambda's own context is the element, not `this`.
const ELEMENT_LAMBDAS: &[&str] = &["map_each", "filter", "any", "all"];

/// The index of the top-level statement that may take `this` by value: the last
/// one that reads `this`, if it reads it only along a movable chain.
pub fn moving_statement(stmts: &[Stmt]) -> Option<usize> {
    let last = stmts.iter().rposition(stmt_reads_this)?;
    let value = match &stmts[last] {
        Stmt::Assign { value, .. } | Stmt::Let { value, .. } | Stmt::Meta { value, .. } => value,
        Stmt::If { .. } => return None,
    };
    movable(value).then_some(last)
}

/// True if the expression is `this` followed only by fields and by-value
/// methods whose arguments do not read `this`.
fn movable(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::This => true,
        ExprKind::Field(target, _) => movable(target),
        ExprKind::Method(target, name, args) => {
            !SELF_EVALUATING.contains(&name.as_str())
                && !args_read_this(name, args)
                && movable(target)
        }
        _ => false,
    }
}

fn stmt_reads_this(s: &Stmt) -> bool {
    match s {
        Stmt::Assign { value, .. } | Stmt::Let { value, .. } | Stmt::Meta { value, .. } => {
            reads_this(value)
        }
        Stmt::If {
            branches,
            otherwise,
            ..
        } => {
            branches
                .iter()
                .any(|(c, b)| reads_this(c) || b.iter().any(stmt_reads_this))
                || otherwise.iter().flatten().any(stmt_reads_this)
        }
    }
}

fn args_read_this(method: &str, args: &Args) -> bool {
    let read = |e: &Expr| match &e.kind {
        // The element is the lambda's context; only its body can reach `this`.
        ExprKind::Lambda(_, body) if ELEMENT_LAMBDAS.contains(&method) => reads_this(body),
        _ => reads_this(e),
    };
    match args {
        Args::Positional(v) => v.iter().any(read),
        Args::Named(v) => v.iter().any(|(_, e)| read(e)),
    }
}

/// Whether evaluating `e` in the top-level context could read `this`. Errs on
/// the side of yes: a lambda evaluated in place binds the current context, and
/// a subject-less `match` reads it implicitly.
fn reads_this(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::This | ExprKind::Lambda(..) | ExprKind::Match(None, _) => true,
        ExprKind::Literal(_)
        | ExprKind::Root
        | ExprKind::Context(_)
        | ExprKind::Meta(_)
        | ExprKind::Var(_) => false,
        ExprKind::Array(items) => items.iter().any(reads_this),
        ExprKind::Object(entries) => entries
            .iter()
            .any(|(k, v)| matches!(k, Key::Dynamic(d) if reads_this(d)) || reads_this(v)),
        ExprKind::Field(t, _) | ExprKind::Not(t) => reads_this(t),
        ExprKind::Index(t, i) | ExprKind::MapExpr(t, i) | ExprKind::Binary(_, t, i) => {
            reads_this(t) || reads_this(i)
        }
        ExprKind::Slice(t, a, b, c) => {
            reads_this(t) || [a, b, c].into_iter().flatten().any(|x| reads_this(x))
        }
        ExprKind::Method(t, name, args) => reads_this(t) || args_read_this(name, args),
        ExprKind::Function(_, args) => args_read_this("", args),
        ExprKind::If(branches, otherwise) => {
            branches.iter().any(|(c, b)| reads_this(c) || reads_this(b))
                || otherwise.as_deref().is_some_and(reads_this)
        }
        ExprKind::Match(Some(subject), cases) => {
            reads_this(subject)
                || cases
                    .iter()
                    .any(|(p, b)| matches!(p, Pattern::Query(q) if reads_this(q)) || reads_this(b))
        }
    }
}

/// Evaluates a [`movable`] expression with `this` given by value. `sc` is the
/// scope the method arguments run in (they do not read `this`).
pub fn eval_moved(e: &Expr, this: Value, env: &Env, sc: &Scope) -> Result<Value, String> {
    match &e.kind {
        ExprKind::This => Ok(this),
        ExprKind::Field(target, name) => Ok(take_field(eval_moved(target, this, env, sc)?, name)),
        ExprKind::Method(target, ..) => {
            let t = eval_moved(target, this, env, sc)?;
            methods::call_on(t, e, env, sc)
        }
        _ => Err("internal error: expression cannot take `this` by value".into()),
    }
}

/// [`super::eval::field`] on an owned value: the child is moved out.
fn take_field(v: Value, name: &str) -> Value {
    if name == "*" && matches!(v, Value::Array(_)) {
        return v;
    }
    match v.into_object() {
        Ok(mut m) => m.remove(name).unwrap_or(Value::Null),
        Err(v) => match v.into_array() {
            Ok(mut items) => name
                .parse::<usize>()
                .ok()
                .filter(|&i| i < items.len())
                .map_or(Value::Null, |i| items.swap_remove(i)),
            Err(_) => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::moving_statement;
    use crate::{Mapping, Message};

    fn pick(src: &str) -> Option<usize> {
        moving_statement(&crate::parser::parse(src).expect("parses").statements)
    }

    #[test]
    fn only_the_last_reader_of_this_moves_it() {
        assert_eq!(pick("root = this\nroot.a = 1"), Some(0));
        assert_eq!(
            pick("root.a = this.a\nroot.b = this.b.uppercase()"),
            Some(1)
        );
        assert_eq!(pick("root = this\nroot.a = this.a"), Some(1));
        // Arguments that read `this`, self-evaluating targets and lambdas in
        // place keep the copy.
        assert_eq!(pick("root = this.merge(this)"), None);
        assert_eq!(pick("root = this.a.or(\"x\")"), None);
        assert_eq!(pick("root = this.a.map_each(x -> this.b)"), None);
        assert_eq!(pick("root = this\nroot.m = match { _ => 1 }"), None);
        assert_eq!(pick("root = this.a.filter(x -> x > 1)"), Some(0));
    }

    #[test]
    fn moved_runs_match_copied_runs() {
        let msg = Message {
            content: br#"{"a":[1,5,2],"b":{"c":"x"}}"#.to_vec(),
            ..Message::default()
        };
        let run = |src: &str| {
            let out = Mapping::compile(src).expect("compiles").run_message(&msg);
            out.expect("runs").content(&msg.content).expect("prints")
        };
        let moved = run("root = this.a.filter(x -> x > 1)");
        assert_eq!(moved.as_deref(), Some(&b"[5,2]"[..]));
        assert_eq!(
            run("root = this.b.merge({\"d\": 1})").as_deref(),
            Some(&br#"{"c":"x","d":1}"#[..])
        );
        assert_eq!(run("root = this.nope").as_deref(), Some(&b"null"[..]));
    }
}
