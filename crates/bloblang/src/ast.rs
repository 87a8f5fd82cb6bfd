//! The syntax tree the parser produces and the interpreter runs.

use crate::value::Value;

/// A parsed mapping: its statements and the named maps it defines or imports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// Top-level statements in order.
    pub statements: Vec<Stmt>,
    /// `map name { … }` definitions, in definition order.
    pub maps: Vec<MapDef>,
    /// `import "path"` statements, resolved by the compiler.
    pub imports: Vec<String>,
}

/// A named map, applied with `.apply("name")`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapDef {
    /// The map's name.
    pub name: String,
    /// Its body; `meta` assignments are rejected at parse time.
    pub body: Vec<Stmt>,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `root.a.b = expr`, `a.b = expr` (the leading `root` is stripped), or a bare
    /// query as the whole mapping (an empty path).
    Assign {
        /// Path segments below `root`.
        path: Vec<String>,
        /// The value.
        value: Expr,
        /// 1-based line, for `failed assignment (line N)`.
        line: usize,
    },
    /// `let name = expr`.
    Let {
        /// Variable name.
        name: String,
        /// The value.
        value: Expr,
        /// 1-based line.
        line: usize,
    },
    /// `meta key = expr` or, with no key, `meta = expr`.
    Meta {
        /// The key, or `None` for the whole metadata map.
        key: Option<String>,
        /// The value.
        value: Expr,
        /// 1-based line.
        line: usize,
    },
    /// Statement-level `if` / `else if` / `else`.
    If {
        /// Conditions and their blocks, in order.
        branches: Vec<(Expr, Vec<Stmt>)>,
        /// The `else` block, if any.
        otherwise: Option<Vec<Stmt>>,
        /// 1-based line of the `if`.
        line: usize,
    },
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `|`: coalesce.
    Coalesce,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// Binding strength: higher binds tighter. Bento reduces in four passes, so
    /// `|` binds like `*`, and `&&`/`||` share the loosest level.
    pub fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Mul | Div | Mod | Coalesce => 4,
            Add | Sub => 3,
            Eq | Ne | Lt | Le | Gt | Ge => 2,
            And | Or => 1,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Mul => "*",
            Div => "/",
            Mod => "%",
            Coalesce => "|",
            Add => "+",
            Sub => "-",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }
}

/// Arguments to a function or method: all positional or all named, never mixed.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    /// `f(a, b)`
    Positional(Vec<Expr>),
    /// `f(x: a, y: b)`
    Named(Vec<(String, Expr)>),
}

/// An object literal key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A quoted string.
    Static(String),
    /// Any other query, evaluated at run time; must give a string.
    Dynamic(Expr),
}

/// A `match` case pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// `_`
    Wildcard,
    /// Any query: a literal is compared for equality, anything else must be `true`.
    Query(Expr),
}

/// An expression with the byte offset where it starts (for runtime error positions).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Byte offset in the mapping source.
    pub pos: usize,
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal, including literal arrays and objects with only static parts.
    Literal(Value),
    /// An array literal with dynamic parts.
    Array(Vec<Expr>),
    /// An object literal with dynamic parts.
    Object(Vec<(Key, Expr)>),
    /// `this`
    This,
    /// `root`
    Root,
    /// A named context bound by a lambda (`x -> …`).
    Context(String),
    /// `@key`, or `@` for all metadata.
    Meta(Option<String>),
    /// `$name`
    Var(String),
    /// `target.field` or `target."quoted field"`.
    Field(Box<Expr>, String),
    /// `target[index]` (Bento's bracket syntax).
    Index(Box<Expr>, Box<Expr>),
    /// `target[low:high:step]` (Bento's bracket slice); each bound is optional.
    Slice(
        Box<Expr>,
        Option<Box<Expr>>,
        Option<Box<Expr>>,
        Option<Box<Expr>>,
    ),
    /// `target.(expr)`: `expr` with `this` set to target.
    MapExpr(Box<Expr>, Box<Expr>),
    /// `target.method(args)`
    Method(Box<Expr>, String, Args),
    /// `function(args)`
    Function(String, Args),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `!expr`
    Not(Box<Expr>),
    /// `if c { a } else if d { b } else { c }`
    If(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    /// `match subject { pattern => expr, … }`
    Match(Option<Box<Expr>>, Vec<(Pattern, Expr)>),
    /// `name -> body`, or `_ -> body` with no name.
    Lambda(Option<String>, Box<Expr>),
}

impl Expr {
    /// Builds an expression.
    pub fn new(kind: ExprKind, pos: usize) -> Self {
        Expr { kind, pos }
    }
}
