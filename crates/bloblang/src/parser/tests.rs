use super::*;
use crate::ast::{BinOp, ExprKind, Stmt};
use crate::value::Value;

fn first_value(src: &str) -> ExprKind {
    let prog = parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.render()));
    match prog.statements.into_iter().next() {
        Some(Stmt::Assign { value, .. }) => value.kind,
        other => panic!("not an assignment: {other:?}"),
    }
}

fn err(src: &str) -> String {
    parse(src).expect_err(src).to_string()
}

#[test]
fn statements_of_every_kind_parse() {
    let src = "import \"./x.blobl\"\nmap foo {\n  root.a = this.b\n}\n# c\nroot = this\nroot.a.\"b.c\" = 5 # trailing\nthis.x = 1\nmeta foo = \"x\"\nmeta = {}\nlet v = 2\nif this.a { root.b = 1 } else if this.c {\n  root.b = 2\n} else { root.b = 3 }\n";
    let p = parse(src).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(p.imports, vec!["./x.blobl".to_string()]);
    assert_eq!(p.maps.len(), 1);
    assert_eq!(p.statements.len(), 7);
    match &p.statements[2] {
        Stmt::Assign { path, .. } => assert_eq!(path, &vec!["this".to_string(), "x".to_string()]),
        s => panic!("{s:?}"),
    }
}

#[test]
fn bare_query_is_root_shorthand() {
    assert!(matches!(
        first_value("this.foo.uppercase()"),
        ExprKind::Method(..)
    ));
    assert!(matches!(
        first_value("if true { 1 } else { 2 }"),
        ExprKind::If(..)
    ));
    let e = err("this.foo\nroot = 5");
    assert!(e.contains("shorthand"), "{e}");
}

#[test]
fn precedence_follows_bentos_four_passes() {
    // `|` binds like `*`; `&&` and `||` share a level, left to right.
    match first_value("root = true || false && false") {
        ExprKind::Binary(BinOp::And, l, _) => {
            assert!(matches!(l.kind, ExprKind::Binary(BinOp::Or, ..)))
        }
        k => panic!("{k:?}"),
    }
    match first_value("root = 1 + this.a | 2") {
        ExprKind::Binary(BinOp::Add, _, r) => {
            assert!(matches!(r.kind, ExprKind::Binary(BinOp::Coalesce, ..)))
        }
        k => panic!("{k:?}"),
    }
    assert!(matches!(
        first_value("root = 1+2*3"),
        ExprKind::Binary(BinOp::Add, ..)
    ));
}

#[test]
fn literals() {
    assert_eq!(first_value("root = -5"), ExprKind::Literal(Value::Int(-5)));
    assert_eq!(
        first_value("root = 1.5"),
        ExprKind::Literal(Value::Float(1.5))
    );
    assert_eq!(
        first_value(r#"root = "a\n\u00e9\x41\101""#),
        ExprKind::Literal(Value::from("a\né\x41A"))
    );
    assert_eq!(
        first_value("root = \"\"\"a\\n\n\"\"\""),
        ExprKind::Literal(Value::from("a\\n\n"))
    );
    assert_eq!(
        first_value("root = [1, nothing(), 3]"),
        ExprKind::Array(vec![]).clone_shape_of(&first_value("root = [1, nothing(), 3]"))
    );
    assert_eq!(
        first_value("root = {\"a\": [1, 2,], \"b\": null,}"),
        ExprKind::Literal(crate::json::parse(br#"{"a":[1,2],"b":null}"#).unwrap())
    );
    assert!(matches!(
        first_value("root = {(this.k): 1}"),
        ExprKind::Object(_)
    ));
    assert_eq!(
        err("root = {5: 1}"),
        "line 1 char 9: object keys must be strings"
    );
}

impl ExprKind {
    /// Test helper: keeps array-ness only, to assert a literal stayed dynamic.
    fn clone_shape_of(&self, other: &ExprKind) -> ExprKind {
        match other {
            ExprKind::Array(_) => other.clone(),
            _ => self.clone(),
        }
    }
}

#[test]
fn paths_methods_lambdas_match() {
    assert!(matches!(
        first_value("root = this.a.\"b c\".0.d"),
        ExprKind::Field(..)
    ));
    assert!(matches!(
        first_value("root = this.a.\n  map_each(x -> x.b)"),
        ExprKind::Method(..)
    ));
    assert!(matches!(
        first_value("root = this.a.(v -> v + 1)"),
        ExprKind::MapExpr(..)
    ));
    assert!(matches!(first_value("root = @"), ExprKind::Meta(None)));
    assert!(matches!(
        first_value("root = @foo"),
        ExprKind::Meta(Some(_))
    ));
    assert!(matches!(first_value("root = $foo"), ExprKind::Var(_)));
    assert!(matches!(
        first_value("root = this.a[0]"),
        ExprKind::Index(..)
    ));
    assert!(matches!(
        first_value("root = foo(a: 1, b: \"x\")"),
        ExprKind::Function(..)
    ));
    let m = "root = match this.x {\n  \"a\" => 1,\n  this > 5 => 2\n  _ => 3\n}";
    match first_value(m) {
        ExprKind::Match(Some(_), cases) => assert_eq!(cases.len(), 3),
        k => panic!("{k:?}"),
    }
    assert!(matches!(
        first_value("root = !this.a.not()"),
        ExprKind::Not(_)
    ));
}

#[test]
fn errors_match_bentos_wording_and_positions() {
    assert_eq!(
        err("let foo+bar = baz"),
        "line 1 char 8: expected whitespace"
    );
    assert_eq!(err("meta foo+bar = baz"), "line 1 char 9: expected =");
    assert_eq!(
        err(""),
        "line 1 char 1: expected import, map, or assignment"
    );
    assert_eq!(
        err("\n   "),
        "line 2 char 4: expected import, map, or assignment"
    );
    assert_eq!(err("root.a=1"), "line 1 char 7: expected whitespace");
    assert!(err("root = this.a\n.b").starts_with("line 2 char 1"));
    assert_eq!(
        err("root = \"abc"),
        "line 1 char 12: required: expected end quote"
    );
    assert!(err("root = this.foo(x -> root -> 1)").contains("not allowed"));
    assert!(err("map foo {\n meta a = 1\n}").contains("setting meta fields is not allowed"));
    assert!(err("map foo {\n}\nmap foo {\n}").contains("map name collision: foo"));
    assert!(err("root = x -> x.(x -> 1)").contains("would shadow a parent context"));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("root = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(err(&deep).contains("maximum depth"));
    let deep = format!("root = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(err(&deep).contains("maximum depth"));
    let chain = format!("root = 1{}", " + this.a".repeat(100_000));
    assert!(err(&chain).contains("maximum depth"));
    let tails = format!("root = this{}", ".a".repeat(100_000));
    assert!(err(&tails).contains("maximum depth"));
    let ok = format!(
        "root = {}1{}",
        "[".repeat(MAX_NESTING - 1),
        "]".repeat(MAX_NESTING - 1)
    );
    assert!(parse(&ok).is_ok());
}

#[test]
fn megabyte_string_literal_parses_quickly() {
    let big = "x".repeat(1 << 20);
    let start = std::time::Instant::now();
    assert_eq!(
        first_value(&format!("root = \"{big}\"")),
        ExprKind::Literal(Value::String(big.clone()))
    );
    assert_eq!(
        first_value(&format!("root = \"\"\"{big}\"\"\"")),
        ExprKind::Literal(Value::String(big))
    );
    assert!(start.elapsed().as_secs() < 2);
}

#[test]
fn render_shows_caret() {
    let e = parse("root = 1\nlet foo+bar = baz").unwrap_err();
    assert_eq!(
        e.render(),
        "line 2 char 8: expected whitespace\n  |\n2 | let foo+bar = baz\n  |        ^---"
    );
}
