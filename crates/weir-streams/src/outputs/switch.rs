//! `switch` (output): each message goes to the outputs whose case matches.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::build::Built;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};
use crate::processors::switch::{compile_check, passes};

/// One case as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CaseConfig {
    /// A Bloblang query giving a boolean; empty always passes.
    pub check: String,
    /// Where matching messages go.
    pub output: Value,
    /// Also try the next case.
    #[serde(rename = "continue")]
    pub continue_: bool,
}

/// Bento's `switch` output fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SwitchConfig {
    /// Retry a failed output until it succeeds instead of nacking.
    pub retry_until_success: bool,
    /// Nack messages no case matches (instead of dropping them).
    pub strict_mode: bool,
    /// The cases.
    pub cases: Vec<CaseConfig>,
}

struct Case {
    check: Option<bloblang::Mapping>,
    output: Arc<dyn Output>,
    continue_: bool,
}

/// Routes by case.
pub struct SwitchOutput {
    cases: Vec<Case>,
    retry: bool,
    strict: bool,
}

impl SwitchOutput {
    /// Reads the config and builds the case outputs.
    pub fn new(
        body: &Value,
        path: &str,
        built: &mut Built<'_>,
        depth: usize,
    ) -> Result<Self, StreamError> {
        let cfg: SwitchConfig = crate::config::typed(body, path)?;
        let mut cases = Vec::with_capacity(cfg.cases.len());
        for (i, c) in cfg.cases.into_iter().enumerate() {
            let at = format!("{path}.cases[{i}]");
            cases.push(Case {
                check: compile_check(&c.check, &format!("{at}.check"))?,
                output: super::build(&c.output, &format!("{at}.output"), built, depth + 1)?,
                continue_: c.continue_,
            });
        }
        Ok(SwitchOutput {
            cases,
            retry: cfg.retry_until_success,
            strict: cfg.strict_mode,
        })
    }
}

impl Output for SwitchOutput {
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let mut writes = Vec::new();
        for case in &self.cases {
            let hit = match &case.check {
                None => true,
                Some(check) => match passes(check, &msg) {
                    Ok(b) => b,
                    Err(e) => {
                        return Box::pin(
                            async move { Err(format!("switch output check failed: {e}")) },
                        );
                    }
                },
            };
            if hit {
                writes.push((
                    case.output.clone(),
                    case.output.write(msg.clone(), sync.clone()),
                ));
                if !case.continue_ {
                    break;
                }
            }
        }
        if writes.is_empty() {
            let strict = self.strict;
            return Box::pin(async move {
                if strict {
                    Err("no switch case matched the message (strict_mode)".into())
                } else {
                    Ok(())
                }
            });
        }
        let retry = self.retry;
        Box::pin(async move {
            for (out, first) in writes {
                let mut attempt = first;
                loop {
                    match attempt.await {
                        Ok(()) => break,
                        Err(e) if retry => {
                            tracing::warn!(error = %e, "switch output failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            attempt = out.write(msg.clone(), sync.clone());
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        })
    }

    fn max_in_flight(&self) -> usize {
        self.cases
            .iter()
            .map(|c| c.output.max_in_flight())
            .min()
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Log, Recorder, entries, msg, recorder, recorder_with, with_built};
    use super::*;
    use serde_json::json;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// A switch built from `cfg` (every case output `drop`), its case outputs replaced by `outs`.
    fn switch(cfg: Value, outs: &[Arc<Recorder>]) -> SwitchOutput {
        let mut s = with_built(|b| SwitchOutput::new(&cfg, "o.switch", b, 0)).unwrap();
        assert_eq!(s.cases.len(), outs.len());
        for (case, r) in s.cases.iter_mut().zip(outs) {
            case.output = r.clone();
        }
        s
    }

    fn cases(list: Value) -> Value {
        let mut list = list;
        for c in list.as_array_mut().unwrap() {
            c["output"] = json!({"drop": {}});
        }
        list
    }

    fn e(name: &str, content: &str) -> (String, String) {
        (name.to_string(), content.to_string())
    }

    #[tokio::test]
    async fn the_first_matching_case_takes_the_message() {
        let log = Log::default();
        let s = switch(
            json!({"cases": cases(json!([
                {"check": "this.n > 10"},
                {"check": "this.n > 5"},
                {},
            ]))}),
            &[
                recorder("big", &log),
                recorder("medium", &log),
                recorder("rest", &log),
            ],
        );
        for n in [20, 7, 1] {
            let m = json!({"n": n}).to_string();
            assert_eq!(s.write(msg(&m), None).await, Ok(()));
        }
        assert_eq!(
            entries(&log),
            [
                e("big", r#"{"n":20}"#),
                e("medium", r#"{"n":7}"#),
                e("rest", r#"{"n":1}"#)
            ]
        );
    }

    #[tokio::test]
    async fn continue_tries_the_next_cases_too() {
        let log = Log::default();
        let s = switch(
            json!({"cases": cases(json!([
                {"check": "this.audit", "continue": true},
                {"check": "this.audit == false"},
                {"check": "true"},
                {"check": "true"},
            ]))}),
            &[
                recorder("audit", &log),
                recorder("not-audit", &log),
                recorder("main", &log),
                recorder("never", &log),
            ],
        );
        s.write(msg(r#"{"audit":true}"#), None).await.unwrap();
        let got: Vec<String> = entries(&log).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, ["audit", "main"]);
    }

    #[tokio::test]
    async fn an_unmatched_message_is_dropped_or_nacked_in_strict_mode() {
        let log = Log::default();
        let only = json!({"cases": cases(json!([{"check": "this.n == 1"}]))});
        let s = switch(only.clone(), &[recorder("one", &log)]);
        assert_eq!(s.write(msg(r#"{"n":2}"#), None).await, Ok(()));
        let mut strict = only;
        strict["strict_mode"] = json!(true);
        let s = switch(strict, &[recorder("one", &log)]);
        let err = s.write(msg(r#"{"n":2}"#), None).await.unwrap_err();
        assert!(err.contains("strict_mode"), "{err}");
        assert!(entries(&log).is_empty());
    }

    #[tokio::test]
    async fn a_failing_check_nacks() {
        let log = Log::default();
        let s = switch(
            json!({"cases": cases(json!([{"check": "this.n"}, {}]))}),
            &[recorder("a", &log), recorder("b", &log)],
        );
        let err = s.write(msg(r#"{"n":"x"}"#), None).await.unwrap_err();
        assert!(err.contains("expected a boolean"), "{err}");
        assert!(entries(&log).is_empty());
    }

    #[tokio::test]
    async fn a_failed_output_nacks_unless_retry_until_success() {
        let log = Log::default();
        let flaky = recorder_with("flaky", &log, 1, Duration::ZERO);
        let s = switch(
            json!({"cases": cases(json!([{}]))}),
            std::slice::from_ref(&flaky),
        );
        assert_eq!(
            s.write(msg("m"), None).await,
            Err("flaky failed".to_string())
        );

        let flaky = recorder_with("flaky", &log, 1, Duration::ZERO);
        let s = switch(
            json!({"retry_until_success": true, "cases": cases(json!([{}]))}),
            std::slice::from_ref(&flaky),
        );
        assert_eq!(s.write(msg("m"), None).await, Ok(()));
        assert_eq!(flaky.attempts.load(Ordering::SeqCst), 2);
        assert_eq!(entries(&log), [e("flaky", "m")]);
    }

    #[tokio::test]
    async fn a_switch_built_from_config_routes_to_real_outputs() {
        let o = with_built(|b| {
            super::super::build(
                &json!({"switch": {"cases": [
                    {"check": "this.kind == \"a\"", "output": {"sync_response": {},
                        "processors": [{"mapping": "root = \"case a\""}]}},
                    {"output": {"sync_response": {},
                        "processors": [{"mapping": "root = \"default\""}]}},
                ]}}),
                "o",
                b,
                0,
            )
        })
        .unwrap();
        let slot = Arc::new(SyncSlot::default());
        o.write(msg(r#"{"kind":"a"}"#), Some(slot.clone()))
            .await
            .unwrap();
        assert_eq!(slot.take().unwrap().content, b"case a");
        o.write(msg(r#"{"kind":"b"}"#), Some(slot.clone()))
            .await
            .unwrap();
        assert_eq!(slot.take().unwrap().content, b"default");
    }

    #[test]
    fn switch_config_errors_name_the_case() {
        let err = |v: Value| {
            with_built(|b| SwitchOutput::new(&v, "o.switch", b, 0))
                .err()
                .unwrap()
        };
        let x = err(json!({"cases": [
            {"check": "true", "output": {"drop": {}}},
            {"check": "this.(", "output": {"drop": {}}},
        ]}));
        assert_eq!(x.path, "o.switch.cases[1].check");
        let x = err(json!({"cases": [{"output": {"nope": {}}}]}));
        assert_eq!(x.path, "o.switch.cases[0].output.nope");
        let x = err(json!({"cases": [{"outputs": []}]}));
        assert_eq!(x.path, "o.switch.cases[0].outputs");
        let x = err(json!({"cases": [{}]}));
        assert_eq!(x.path, "o.switch.cases[0].output");
    }
}
