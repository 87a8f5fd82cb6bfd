//! Regular-expression methods. Go's `regexp` is RE2; the `regex` crate is of the
//! same family (no backreferences, linear time), and expands `$1`/`${name}` in
//! replacements the way Go's `Expand` does.

use super::eval::Scope;
use super::exec::Env;
use super::functions::req;
use super::methods::string_of;
use crate::ast::Args;
use crate::value::{Object, Value};
use regex::Regex;

/// The methods [`call`] handles.
pub const NAMES: [&str; 7] = [
    "re_find_object",
    "re_find_all_object",
    "re_match",
    "re_replace_all",
    "re_replace",
    "re_find_all",
    "re_find_all_submatch",
];

/// The largest compiled form a pattern may take. Compiling costs time in
/// proportion to it, and a pattern can come from a message (`re_match(this.p)`),
/// so a hostile one (`(a{1000}){1000}`) is refused rather than spending seconds;
/// ordinary patterns, Unicode classes included, stay far below it.
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// Compiles a pattern with the size limit; the error reads as Bento's.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| format!("failed to compile regexp: {e}"))
}

fn compile(pattern: &Value) -> Result<Regex, String> {
    compile_pattern(&string_of(pattern)?)
}

/// Dispatches the methods listed in [`NAMES`].
pub fn call(t: &Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    let re = compile(&req(args, 0, "pattern", env, sc)?)?;
    let s = string_of(t)?;
    match name {
        "re_match" => Ok(Value::Bool(re.is_match(&s))),
        "re_replace_all" | "re_replace" => {
            let with = string_of(&req(args, 1, "value", env, sc)?)?;
            Ok(Value::String(
                re.replace_all(&s, with.as_str()).into_owned(),
            ))
        }
        "re_find_object" => Ok(re
            .captures(&s)
            .map_or_else(|| Value::Object(Object::new()), |c| group_object(&re, &c))),
        "re_find_all_object" => Ok(Value::Array(
            re.captures_iter(&s)
                .map(|c| group_object(&re, &c))
                .collect(),
        )),
        "re_find_all" => Ok(Value::Array(
            re.find_iter(&s).map(|m| Value::from(m.as_str())).collect(),
        )),
        _ => Ok(Value::Array(
            re.captures_iter(&s)
                .map(|caps| {
                    Value::Array(
                        caps.iter()
                            .map(|g| Value::from(g.map_or("", |m| m.as_str())))
                            .collect(),
                    )
                })
                .collect(),
        )),
    }
}

/// One match as an object: named groups under their names, the others (the
/// whole match as `"0"`) under their index; groups that did not take part are "".
fn group_object(re: &Regex, caps: &regex::Captures) -> Value {
    let mut out = Object::new();
    for (i, name) in re.capture_names().enumerate() {
        let key = name.map_or_else(|| i.to_string(), str::to_string);
        let text = caps.get(i).map_or("", |m| m.as_str());
        out.insert(key, Value::from(text));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use crate::interp::Mapping;
    use crate::value::Value;

    fn run(m: &str) -> Value {
        Mapping::compile(m).unwrap().run(&Value::Null).unwrap().root
    }

    #[test]
    fn match_and_replace_with_group_expansion() {
        assert_eq!(
            run(r#"root = "there are 10".re_match("[0-9]")"#),
            Value::Bool(true)
        );
        assert_eq!(
            run(r#"root = "foo bar".re_replace_all("(\\w+) (\\w+)", "$2 $1")"#),
            Value::from("bar foo")
        );
        assert_eq!(
            run(r#"root = "k=v; q=".re_find_all_object("(?P<key>\\w)=(\\w)?")"#),
            crate::json::parse(br#"[{"0":"k=v","2":"v","key":"k"},{"0":"q=","2":"","key":"q"}]"#)
                .unwrap()
        );
        assert_eq!(
            run(r#"root = "none".re_find_object("(?P<d>\\d)")"#),
            Value::Object(crate::value::Object::new())
        );
        // A literal pattern is compiled with the mapping; a dynamic one when it runs.
        assert!(Mapping::compile(r#"root = "a".re_match("(")"#).is_err());
        assert!(
            Mapping::compile(r#"root = "a".re_match(this.p)"#)
                .unwrap()
                .run(&crate::json::parse(br#"{"p":"("}"#).unwrap())
                .is_err()
        );
    }

    #[test]
    fn a_pattern_too_large_to_compile_cheaply_is_refused() {
        let err = super::compile_pattern("((a{1000}){1000}){1000}").expect_err("refused");
        assert!(err.starts_with("failed to compile regexp:"), "{err}");
        assert!(super::compile_pattern(r"^\w+@\p{L}+\.(com|org)$").is_ok());
    }
}
