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
