//! Parameter lists of the builtins, checked when a mapping compiles, as Bento
//! checks them while parsing: too many arguments, an unknown or missing named
//! parameter, a literal of the wrong type, an invalid literal regex. Arguments
//! that are not literals are checked when they run.
//!
//! A signature is written `name:kind` per parameter, `?` marking an optional
//! one and `*` a variadic tail. Kinds: `s` string, `i` integer, `n` number,
//! `b` bool, `a` array, `q` a query (anything), `v` any value. Builtins not
//! listed here (the time methods among them) are not checked.

use crate::ast::{Args, Expr, ExprKind};
use crate::error::CompileError;
use crate::value::Value;

/// Function signatures.
const FUNCTIONS: &[(&str, &str)] = &[
    ("batch_index", ""),
    ("batch_size", ""),
    ("content", ""),
    ("count", "name:s"),
    ("counter", "min?:q max?:q set?:q"),
    ("deleted", ""),
    ("env", "name:s no_cache?:b"),
    ("error", ""),
    ("errored", ""),
    ("error_source_label", ""),
    ("error_source_name", ""),
    ("error_source_path", ""),
    ("file", "path:s no_cache?:b"),
    ("file_rel", "path:s no_cache?:b"),
    ("hostname", ""),
    ("json", "path?:s"),
    ("ksuid", ""),
    ("meta", "key?:s"),
    ("metadata", "key?:s"),
    ("nanoid", "length?:i alphabet?:s"),
    ("nothing", ""),
    ("pi", ""),
    ("random_int", "seed?:q min?:i max?:i"),
    ("range", "start:i stop:i step?:i"),
    ("throw", "why:s"),
    ("uuid_v4", ""),
    ("uuid_v7", "time?:v"),
    ("var", "name:s"),
];

/// Method signatures.
const METHODS: &[(&str, &str)] = &[
    ("all", "test:q"),
    ("any", "test:q"),
    ("append", "values*:v"),
    ("apply", "mapping:s"),
    ("bool", "default?:b"),
    ("catch", "fallback:q"),
    ("collapse", "include_empty?:b"),
    ("contains", "value:v"),
    ("decode", "scheme:s"),
    ("encode", "scheme:s"),
    ("exists", "path:s"),
    ("explode", "path:s"),
    ("filter", "test:q"),
    ("find", "value:v"),
    ("find_all", "value:v"),
    ("find_all_by", "query:q"),
    ("find_by", "query:q"),
    ("fold", "initial:v query:q"),
    ("format_json", "indent?:s no_indent?:b escape_html?:b"),
    ("from", "index:i"),
    ("get", "path:s"),
    ("has_prefix", "value:s"),
    ("has_suffix", "value:s"),
    ("hash", "algorithm:s key?:s polynomial?:s"),
    ("index", "index:i"),
    ("index_of", "value:s"),
    ("join", "delimiter?:s"),
    ("map", "query:q"),
    ("map_each", "query:q"),
    ("map_each_key", "query:q"),
    ("merge", "with:v"),
    ("assign", "with:v"),
    ("nanoid", "length?:i alphabet?:s"),
    ("number", "default?:n"),
    ("or", "fallback:q"),
    (
        "parse_csv",
        "parse_header_row?:b delimiter?:s lazy_quotes?:b",
    ),
    ("parse_json", "use_number?:b"),
    ("pow", "exponent:n"),
    ("re_find_all", "pattern:s"),
    ("re_find_all_object", "pattern:s"),
    ("re_find_all_submatch", "pattern:s"),
    ("re_find_object", "pattern:s"),
    ("re_match", "pattern:s"),
    ("re_replace", "pattern:s value:s"),
    ("re_replace_all", "pattern:s value:s"),
    ("repeat", "count:i"),
    ("replace", "old:s new:s"),
    ("replace_all", "old:s new:s"),
    ("replace_all_many", "values:a"),
    ("replace_many", "values:a"),
    ("slice", "low:i high?:i"),
    ("sort", "compare?:q"),
    ("sort_by", "query:q"),
    ("trim", "cutset?:s"),
    ("trim_prefix", "prefix:s"),
    ("trim_suffix", "suffix:s"),
    ("unique", "emit?:q"),
    ("uuid_v5", "ns?:s"),
    ("with", "paths*:s"),
    ("without", "paths*:s"),
];

/// Methods that take no arguments at all, space-separated.
const NULLARY_METHODS: &str = "abs array bytes capitalize ceil enumerated escape_html escape_url_path \
     escape_url_query filepath_join filepath_split flatten float32 float64 floor \
     format_yaml from_all int16 int32 int64 int8 key_values keys length log log10 \
     lowercase max min not not_empty not_null parse_form_url_encoded parse_url parse_yaml \
     quote reverse round squash string sum type uint16 uint32 uint64 uint8 unescape_html \
     unescape_url_path unescape_url_query unquote uppercase values";

/// One declared parameter.
struct Param<'a> {
    name: &'a str,
    kind: u8,
    optional: bool,
    variadic: bool,
}

fn params(sig: &str) -> Vec<Param<'_>> {
    sig.split_whitespace()
        .map(|p| {
            let (head, kind) = p.split_once(':').unwrap_or((p, "v"));
            let name = head.trim_end_matches(['?', '*']);
            Param {
                name,
                kind: kind.bytes().next().unwrap_or(b'v'),
                optional: head.ends_with('?') || head.ends_with('*'),
                variadic: head.ends_with('*'),
            }
        })
        .collect()
}

fn signature(name: &str, method: bool) -> Option<&'static str> {
    let table = if method { METHODS } else { FUNCTIONS };
    if let Some((_, sig)) = table.iter().find(|(n, _)| *n == name) {
        return Some(sig);
    }
    (method && NULLARY_METHODS.split_whitespace().any(|n| n == name)).then_some("")
}

/// Checks a call's arguments against its signature, if it has one.
pub fn check(
    name: &str,
    args: &Args,
    method: bool,
    src: &str,
    pos: usize,
) -> Result<(), CompileError> {
    let Some(sig) = signature(name, method) else {
        return Ok(());
    };
    let ps = params(sig);
    let fail = |at: usize, msg: String| Err(CompileError::at(src, at, msg));
    let variadic = ps.last().is_some_and(|p| p.variadic);
    let given: Vec<(&Param, &Expr)> = match args {
        Args::Positional(v) => {
            if v.len() > ps.len() && !variadic {
                let want = ps.len();
                return fail(
                    pos,
                    format!(
                        "wrong number of arguments, expected {want}, got {}",
                        v.len()
                    ),
                );
            }
            v.iter()
                .enumerate()
                .filter_map(|(i, e)| ps.get(i).or(ps.last()).map(|p| (p, e)))
                .collect()
        }
        Args::Named(v) => {
            let mut out = Vec::new();
            for (n, e) in v {
                match ps.iter().find(|p| p.name == n) {
                    Some(p) => out.push((p, e)),
                    None => return fail(e.pos, format!("unknown parameter '{n}'")),
                }
            }
            out
        }
    };
    for p in ps.iter().filter(|p| !p.optional) {
        if !given.iter().any(|(g, _)| g.name == p.name) {
            return fail(pos, format!("missing parameter: {}", p.name));
        }
    }
    for (p, e) in &given {
        literal_fits(p, e, name).or_else(|msg| fail(e.pos, msg))?;
    }
    Ok(())
}

/// A literal argument must be of its parameter's kind; a literal regex must
/// compile. Anything else is left to run time.
fn literal_fits(p: &Param, e: &Expr, name: &str) -> Result<(), String> {
    let ExprKind::Literal(v) = &e.kind else {
        return Ok(());
    };
    let fits = match (p.kind, v) {
        (b'q' | b'v', _) => true,
        // An explicit null for an optional parameter means "not given".
        (_, Value::Null) => p.optional,
        (b's', Value::String(_)) => true,
        (b'i' | b'n', v) => v.as_num().is_some(),
        (b'b', Value::Bool(_)) => true,
        (b'a', Value::Array(_)) => true,
        _ => false,
    };
    if !fits {
        let want = match p.kind {
            b's' => "string",
            b'i' | b'n' => "number",
            b'b' => "bool",
            _ => "array",
        };
        return Err(format!(
            "field {}: wrong argument type, expected {want}, got {}",
            p.name,
            v.type_name()
        ));
    }
    if name.starts_with("re_")
        && p.name == "pattern"
        && let Value::String(pattern) = v
    {
        super::methods_re::compile_pattern(pattern)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::interp::Mapping;

    fn compile_err(m: &str) -> String {
        Mapping::compile(m)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn literal_arguments_are_checked_at_compile_time() {
        assert_eq!(
            compile_err("root = meta(12)"),
            "line 1 char 13: field key: wrong argument type, expected string, got number"
        );
        assert!(
            compile_err("root = uuid_v4(1)")
                .contains("wrong number of arguments, expected 0, got 1")
        );
        assert!(
            compile_err("root = this.trim_prefix(suffix: \"x\")")
                .contains("unknown parameter 'suffix'")
        );
        assert!(compile_err("root = this.replace_all(\"a\")").contains("missing parameter: new"));
        assert!(compile_err("root = this.re_match(\"[a-\")").contains("failed to compile regexp"));
        assert!(
            compile_err("root = this.parse_csv(lazy_quotes: \"yes\")").contains("expected bool")
        );
    }

    #[test]
    fn dynamic_and_valid_arguments_compile() {
        for ok in [
            "root = meta(this.k)",
            "root = this.without(\"a\", \"b.c\")",
            "root = this.slice(1, null)",
            "root = this.fold(0, item -> item.tally + item.value)",
            "root = this.re_match(this.pattern)",
            "root = this.ts_parse(1, 2, 3, 4)",
            "root = random_int(min: 1, max: 3)",
        ] {
            assert!(Mapping::compile(ok).is_ok(), "{ok}");
        }
    }
}
