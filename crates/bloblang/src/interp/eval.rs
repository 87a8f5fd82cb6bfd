//! Expression evaluation: contexts (`this`, lambdas), paths, operators, `if`, `match`.

use super::exec::{Env, Message};
use super::ops;
use crate::ast::{BinOp, Expr, ExprKind, Key, Pattern};
use crate::json::to_go_string;
use crate::value::{Object, Value};
use std::borrow::Cow;

/// A lambda's bound name, linked to the enclosing bindings.
pub struct Binding<'a> {
    name: &'a str,
    value: &'a Value,
    next: Option<&'a Binding<'a>>,
}

/// The context stack as a linked list on the Rust stack: `this` is the top, and
/// a lambda pops it (binding it to a name) so its body sees the outer context.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The current context.
    pub this: &'a Value,
    /// The context below it.
    pub parent: Option<&'a Scope<'a>>,
    /// Named contexts in scope.
    pub names: Option<&'a Binding<'a>>,
}

impl<'a> Scope<'a> {
    /// A scope whose `this` is `this`.
    pub fn root(this: &'a Value) -> Self {
        Scope {
            this,
            parent: None,
            names: None,
        }
    }

    /// A scope with `this` pushed on top of `self`.
    pub fn push(&'a self, this: &'a Value) -> Scope<'a> {
        Scope {
            this,
            parent: Some(self),
            names: self.names,
        }
    }

    fn lookup(&self, name: &str) -> Option<&'a Value> {
        let mut b = self.names;
        while let Some(x) = b {
            if x.name == name {
                return Some(x.value);
            }
            b = x.next;
        }
        None
    }
}

/// Evaluates an expression.
pub fn eval(e: &Expr, env: &Env, sc: &Scope) -> Result<Value, String> {
    match &e.kind {
        ExprKind::Literal(v) => Ok(v.clone()),
        ExprKind::This | ExprKind::Root | ExprKind::Context(_) | ExprKind::Var(_) => {
            reference(e, env, sc).cloned()
        }
        ExprKind::Meta(None) => Ok(Value::Object(env.meta.clone())),
        ExprKind::Meta(Some(k)) => Ok(env.meta.get(k).cloned().unwrap_or(Value::Null)),
        // A path over a reference clones only the value it ends at, not the
        // whole document it starts from.
        ExprKind::Field(target, name) => match reference(target, env, sc) {
            Ok(base) => Ok(field_ref(base, name).clone()),
            Err(_) => Ok(field(&eval(target, env, sc)?, name)),
        },
        ExprKind::Array(items) => array(items, env, sc),
        ExprKind::Object(entries) => object(entries, env, sc),
        ExprKind::MapExpr(target, body) => {
            let t = eval(target, env, sc)?;
            eval(body, env, &sc.push(&t))
        }
        ExprKind::Lambda(name, body) => lambda(name.as_deref(), body, env, sc),
        ExprKind::Not(inner) => match eval(inner, env, sc)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            v => Err(format!("expected bool value, got {}", v.describe())),
        },
        ExprKind::Binary(op, l, r) => binary(*op, l, r, env, sc),
        ExprKind::If(branches, otherwise) => {
            for (cond, body) in branches {
                match eval(cond, env, sc)? {
                    Value::Bool(true) => return eval(body, env, sc),
                    Value::Bool(false) | Value::Null => {}
                    v => return Err(format!("expected bool value, got {}", v.describe())),
                }
            }
            match otherwise {
                Some(o) => eval(o, env, sc),
                None => Ok(Value::Nothing),
            }
        }
        ExprKind::Match(subject, cases) => match_expr(subject.as_deref(), cases, env, sc),
        ExprKind::Function(name, args) => super::functions::call(name, args, e.pos, env, sc),
        ExprKind::Method(target, name, args) => super::methods::call(target, name, args, env, sc),
        ExprKind::Index(target, idx) => {
            let t = eval(target, env, sc)?;
            let i = ops::number(&eval(idx, env, sc)?)?.as_i64();
            super::methods::index(&t, i)
        }
        ExprKind::Slice(target, low, high, step) => {
            let t = eval(target, env, sc)?;
            let bound = |b: &Option<Box<Expr>>| -> Result<Option<i64>, String> {
                b.as_ref()
                    .map(|e| ops::number(&eval(e, env, sc)?).map(|n| n.as_i64()))
                    .transpose()
            };
            if step.is_some() {
                return Err("slice steps are not supported yet".into());
            }
            let low = bound(low)?.unwrap_or(0);
            super::methods_coll::slice_value(t, low, bound(high)?)
        }
    }
}

/// How Bento names an expression in error messages: ``field `this.a.b` ``,
/// `string literal`, ``variable `x` ``.
pub fn origin(e: &Expr) -> Option<String> {
    fn path(e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::This => Some("this".into()),
            ExprKind::Root => Some("root".into()),
            ExprKind::Context(n) => Some(n.clone()),
            ExprKind::Field(t, name) => path(t).map(|p| format!("{p}.{name}")),
            _ => None,
        }
    }
    match &e.kind {
        ExprKind::Literal(v) => Some(format!("{} literal", v.type_name())),
        ExprKind::Var(n) => Some(format!("variable `{n}`")),
        ExprKind::Meta(Some(k)) => Some(format!("metadata value `{k}`")),
        _ => path(e).map(|p| format!("field `{p}`")),
    }
}

/// A value every missing path resolves to.
static NULL: Value = Value::Null;

/// Resolves `this`, `root`, contexts, variables and field paths over them by
/// reference. `Err` for anything else (to be evaluated) or a failing read.
pub fn reference<'v>(e: &Expr, env: &Env<'v>, sc: &Scope<'v>) -> Result<&'v Value, String> {
    match &e.kind {
        ExprKind::This => match env.this_err {
            Some(err) if sc.parent.is_none() => Err(err.to_string()),
            _ => Ok(sc.this),
        },
        ExprKind::Root => Ok(env.root),
        ExprKind::Context(n) => sc
            .lookup(n)
            .ok_or_else(|| format!("context `{n}` is not in scope")),
        ExprKind::Var(n) => env
            .vars
            .get(n)
            .ok_or_else(|| format!("variable '{n}' undefined")),
        ExprKind::Field(target, name) => Ok(field_ref(reference(target, env, sc)?, name)),
        _ => Err(String::new()),
    }
}

/// [`field`] by reference.
fn field_ref<'v>(v: &'v Value, name: &str) -> &'v Value {
    match v {
        Value::Object(m) => m.get(name).unwrap_or(&NULL),
        Value::Array(items) if name != "*" => name
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .unwrap_or(&NULL),
        Value::Array(_) => v,
        _ => &NULL,
    }
}

/// Evaluates `e` with `this` set to `value`: how iterator methods run their query.
pub fn eval_with(e: &Expr, value: &Value, env: &Env, sc: &Scope) -> Result<Value, String> {
    super::budget::charge(1)?;
    eval(e, env, &sc.push(value))
}

/// Pops the context, binds it to `name`, and evaluates the body in the outer context.
fn lambda(name: Option<&str>, body: &Expr, env: &Env, sc: &Scope) -> Result<Value, String> {
    let popped = sc.this;
    let outer = sc.parent.copied().unwrap_or(*sc);
    let binding;
    let mut inner = outer;
    if let Some(n) = name {
        binding = Binding {
            name: n,
            value: popped,
            next: sc.names,
        };
        inner.names = Some(&binding);
    } else {
        inner.names = sc.names;
    }
    eval(body, env, &inner)
}

/// Path read with gabs `Search` semantics: never fails, missing gives null.
pub fn field(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
        Value::Array(items) if name == "*" => Value::Array(items.clone()),
        Value::Array(items) => name
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn array(items: &[Expr], env: &Env, sc: &Scope) -> Result<Value, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let v = eval(item, env, sc)?;
        if !v.is_sentinel() {
            out.push(v);
        }
    }
    Ok(Value::Array(out))
}

fn object(entries: &[(Key, Expr)], env: &Env, sc: &Scope) -> Result<Value, String> {
    let mut out = Object::new();
    for (key, value) in entries {
        let k = match key {
            Key::Static(s) => s.clone(),
            Key::Dynamic(e) => match &eval(e, env, sc)? {
                Value::String(s) => s.clone(),
                Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                v => {
                    return Err(format!(
                        "mapping returned invalid key type: {}",
                        v.type_name()
                    ));
                }
            },
        };
        let v = eval(value, env, sc)?;
        if !v.is_sentinel() {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

fn binary(op: BinOp, l: &Expr, r: &Expr, env: &Env, sc: &Scope) -> Result<Value, String> {
    match op {
        BinOp::Coalesce => match eval(l, env, sc) {
            Ok(v) if !v.is_null_like() => Ok(v),
            _ => eval(r, env, sc),
        },
        BinOp::And | BinOp::Or => {
            let lv = logic_operand(op, eval(l, env, sc)?)?;
            if (op == BinOp::And && !lv) || (op == BinOp::Or && lv) {
                return Ok(Value::Bool(lv));
            }
            Ok(Value::Bool(logic_operand(op, eval(r, env, sc)?)?))
        }
        _ => {
            let (lv, rv) = (operand(l, env, sc)?, operand(r, env, sc)?);
            ops::binary(op, &lv, &rv).map_err(|e| match (op, origin(r)) {
                // A zero divisor is reported against the divisor, as Bento does.
                (BinOp::Div | BinOp::Mod, Some(o)) if e.contains("divide by zero") => {
                    format!("{o}: {e}")
                }
                _ => e,
            })
        }
    }
}

/// An operator's operand, borrowed when it is a literal or a path (operators
/// only read their operands, so `this.user_id != "x"` copies no string).
fn operand<'a>(e: &'a Expr, env: &Env<'a>, sc: &Scope<'a>) -> Result<Cow<'a, Value>, String> {
    match &e.kind {
        ExprKind::Literal(v) => Ok(Cow::Borrowed(v)),
        ExprKind::This | ExprKind::Root | ExprKind::Context(_) | ExprKind::Var(_) => {
            reference(e, env, sc).map(Cow::Borrowed)
        }
        ExprKind::Field(..) => match reference(e, env, sc) {
            Ok(v) => Ok(Cow::Borrowed(v)),
            Err(_) => eval(e, env, sc).map(Cow::Owned),
        },
        _ => eval(e, env, sc).map(Cow::Owned),
    }
}

fn logic_operand(op: BinOp, v: Value) -> Result<bool, String> {
    ops::as_bool(&v).ok_or_else(|| {
        format!(
            "cannot apply {} to {}: expected bool value",
            op.symbol(),
            v.describe()
        )
    })
}

fn match_expr(
    subject: Option<&Expr>,
    cases: &[(Pattern, Expr)],
    env: &Env,
    sc: &Scope,
) -> Result<Value, String> {
    let subj = match subject {
        Some(s) => eval(s, env, sc)?,
        None => sc.this.clone(),
    };
    let inner = sc.push(&subj);
    for (pattern, body) in cases {
        let hit = match pattern {
            Pattern::Wildcard => true,
            Pattern::Query(Expr {
                kind: ExprKind::Literal(lit),
                ..
            }) => ops::equals(&subj, lit),
            Pattern::Query(q) => matches!(eval(q, env, &inner)?, Value::Bool(true)),
        };
        if hit {
            return eval(body, env, &inner);
        }
    }
    Ok(Value::Nothing)
}

/// The message's raw bytes as a value (`content()`).
pub fn content(msg: &Message) -> Value {
    Value::Bytes(msg.content.clone())
}

/// Bento's `IToString` applied to an argument value.
pub fn stringify(v: &Value) -> String {
    to_go_string(v)
}
