//! `drop`: acknowledges and discards every message.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};

/// `drop` has no fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {}

/// Discards.
pub struct DropOutput;

impl DropOutput {
    /// Checks the (empty) config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let _: DropConfig = crate::config::typed(body, path)?;
        Ok(DropOutput)
    }
}

impl Output for DropOutput {
    fn write(&self, _: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        Box::pin(async { Ok(()) })
    }

    fn max_in_flight(&self) -> usize {
        usize::MAX >> 4
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::msg;
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn drop_acknowledges_every_message() {
        for body in [json!({}), Value::Null] {
            let d = DropOutput::new(&body, "o.drop").unwrap();
            let slot = Arc::new(SyncSlot::default());
            assert_eq!(d.write(msg("m"), Some(slot.clone())).await, Ok(()));
            assert!(slot.take().is_none(), "drop does not reply");
            let mut flagged = msg("m");
            flagged.error = Some("failed earlier".into());
            assert_eq!(d.write(flagged, None).await, Ok(()));
            assert!(d.max_in_flight() > 1);
        }
    }

    #[test]
    fn drop_has_no_fields() {
        let e = DropOutput::new(&json!({"max_in_flight": 4}), "o.drop")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.drop.max_in_flight");
    }
}
