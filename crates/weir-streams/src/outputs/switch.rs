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
