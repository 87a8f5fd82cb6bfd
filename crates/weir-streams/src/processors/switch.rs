//! `switch` (processor): the first case whose `check` passes runs its processors.

use serde::Deserialize;
use serde_json::Value;

use super::{Chain, Processor};
use crate::error::StreamError;
use crate::message::{Message, SyncSlot};

/// One case as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CaseConfig {
    /// A Bloblang query giving a boolean; empty always passes.
    pub check: String,
    /// Processors run when the case is taken.
    pub processors: Value,
    /// Also run the next case.
    pub fallthrough: bool,
}

struct Case {
    check: Option<bloblang::Mapping>,
    processors: Chain,
    fallthrough: bool,
}

/// Cases tried in order.
pub struct SwitchProcessor(Vec<Case>);

/// Compiles a `check` query as a mapping of its value.
pub(crate) fn compile_check(
    src: &str,
    path: &str,
) -> Result<Option<bloblang::Mapping>, StreamError> {
    if src.trim().is_empty() {
        return Ok(None);
    }
    crate::config::mapping(&format!("root = (\n{src}\n)"), path).map(Some)
}

/// Runs a check: true, false, or an error when it fails or is not a boolean.
pub(crate) fn passes(check: &bloblang::Mapping, msg: &Message) -> Result<bool, String> {
    match check.run_message(msg) {
        Ok(out) => match out.root {
            bloblang::Value::Bool(b) => Ok(b),
            other => Err(format!(
                "check returned {}, expected a boolean",
                other.type_name()
            )),
        },
        Err(e) => Err(e.to_string()),
    }
}

impl SwitchProcessor {
    /// Reads the cases; `nested` builds a processor list.
    pub fn new(
        body: &Value,
        path: &str,
        nested: &dyn Fn(&Value, &str) -> Result<Chain, StreamError>,
    ) -> Result<Self, StreamError> {
        let cases: Vec<CaseConfig> = crate::config::typed(body, path)?;
        let mut out = Vec::with_capacity(cases.len());
        for (i, c) in cases.into_iter().enumerate() {
            let at = format!("{path}[{i}]");
            out.push(Case {
                check: compile_check(&c.check, &format!("{at}.check"))?,
                processors: if c.processors.is_null() {
                    Chain::default()
                } else {
                    nested(&c.processors, &format!("{at}.processors"))?
                },
                fallthrough: c.fallthrough,
            });
        }
        Ok(SwitchProcessor(out))
    }
}

impl Processor for SwitchProcessor {
    fn process(&self, mut msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        let mut falling = false;
        for case in &self.0 {
            if !falling {
                let taken = match &case.check {
                    None => true,
                    Some(check) => match passes(check, &msg) {
                        Ok(b) => b,
                        Err(e) => {
                            // A failed check flags the message and no further case is tried.
                            msg.error = Some(format!("switch check failed: {e}"));
                            return Some(msg);
                        }
                    },
                };
                if !taken {
                    continue;
                }
            }
            msg = case.processors.run(msg, sync)?;
            if !case.fallthrough {
                break;
            }
            falling = true;
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, json_of, msg, try_chain};
    use serde_json::json;

    fn tagger() -> super::super::Chain {
        chain(json!([{"switch": [
            {"check": "this.n > 10", "processors": [{"mutation": "root.tags = this.tags.append(\"big\")"}]},
            {"check": "this.n > 5", "processors": [{"mutation": "root.tags = this.tags.append(\"medium\")"}]},
            {"processors": [{"mutation": "root.tags = this.tags.append(\"small\")"}]},
        ]}]))
    }

    fn tags(n: i64) -> serde_json::Value {
        let m = msg(&json!({"n": n, "tags": []}).to_string());
        json_of(&tagger().run(m, None).unwrap())["tags"].clone()
    }

    #[test]
    fn only_the_first_matching_case_runs() {
        assert_eq!(tags(20), json!(["big"]));
        assert_eq!(tags(7), json!(["medium"]));
        assert_eq!(tags(1), json!(["small"]));
    }

    #[test]
    fn no_matching_case_leaves_the_message_alone() {
        let c = chain(json!([{"switch": [
            {"check": "this.n == 1", "processors": [{"mapping": "root = deleted()"}]},
        ]}]));
        let out = c.run(msg(r#"{"n":2}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"n": 2}));
    }

    #[test]
    fn fallthrough_runs_the_next_case_without_its_check() {
        let c = chain(json!([{"switch": [
            {"check": "this.n == 1", "fallthrough": true,
             "processors": [{"mutation": "root.a = true"}]},
            {"check": "false", "processors": [{"mutation": "root.b = true"}]},
            {"processors": [{"mutation": "root.c = true"}]},
        ]}]));
        let out = c.run(msg(r#"{"n":1}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"n": 1, "a": true, "b": true}));
        // Not taken: the fallthrough case is skipped and the checks go on as usual.
        let out = c.run(msg(r#"{"n":2}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"n": 2, "c": true}));
    }

    #[test]
    fn a_case_that_deletes_drops_the_message() {
        let c = chain(json!([{"switch": [
            {"check": "this.drop", "processors": [{"mapping": "root = deleted()"}]},
        ]}, {"mutation": "root.after = true"}]));
        assert!(c.run(msg(r#"{"drop":true}"#), None).is_none());
        let out = c.run(msg(r#"{"drop":false}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"drop": false, "after": true}));
    }

    #[test]
    fn a_check_that_is_not_a_boolean_flags_the_message() {
        let c = chain(json!([{"switch": [
            {"check": "this.n", "processors": [{"mutation": "root.a = true"}]},
            {"processors": [{"mutation": "root.b = true"}]},
        ]}]));
        let out = c.run(msg(r#"{"n":3}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"n": 3}));
        assert!(out.error.unwrap().contains("expected a boolean"));
    }

    #[test]
    fn config_errors_name_the_case() {
        let e = try_chain(json!([{"switch": [
            {"check": "true", "processors": []},
            {"check": "this.(", "processors": []},
        ]}]))
        .err()
        .unwrap();
        assert_eq!(e.path, "p[0].switch[1].check");
        let e = try_chain(json!([{"switch": [{"cases": []}]}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].switch[0].cases");
        assert!(e.reason.contains("unknown field"), "{}", e.reason);
        let e = try_chain(json!([{"switch": [
            {"processors": [{"nope": {}}]},
        ]}]))
        .err()
        .unwrap();
        assert_eq!(e.path, "p[0].switch[0].processors[0].nope");
    }
}
