//! Regular-expression methods. Go's `regexp` is RE2; the `regex` crate is of the
//! same family (no backreferences, linear time), and expands `$1`/`${name}` in
//! replacements the way Go's `Expand` does.

use super::eval::Scope;
use super::exec::Env;
use super::functions::req;
use super::methods::string_of;
use crate::ast::Args;
use crate::value::Value;
use regex::Regex;

/// The methods [`call`] handles.
pub const NAMES: [&str; 5] = [
    "re_match",
    "re_replace_all",
    "re_replace",
    "re_find_all",
    "re_find_all_submatch",
];

fn compile(pattern: &Value) -> Result<Regex, String> {
    let p = string_of(pattern)?;
    Regex::new(&p).map_err(|e| format!("failed to compile regexp: {e}"))
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
        assert!(
            Mapping::compile(r#"root = "a".re_match("(")"#)
                .unwrap()
                .run(&Value::Null)
                .is_err()
        );
    }
}
