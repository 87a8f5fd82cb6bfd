//! `sync_response` (output): the message becomes the reply to the HTTP request it came from;
//! for inputs that cannot reply it is acknowledged and dropped, as in Bento.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};

/// `sync_response` has no fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SyncResponseConfig {}

/// Stores the reply.
pub struct SyncResponseOutput;

impl SyncResponseOutput {
    /// Checks the (empty) config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let _: SyncResponseConfig = crate::config::typed(body, path)?;
        Ok(SyncResponseOutput)
    }
}

impl Output for SyncResponseOutput {
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        if let Some(slot) = sync {
            slot.set(msg);
        }
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
    async fn sync_response_sets_the_reply_and_acknowledges() {
        let o = SyncResponseOutput::new(&json!({}), "o.sync_response").unwrap();
        let slot = Arc::new(SyncSlot::default());
        let mut m = msg("reply");
        m.metadata.insert("k", bloblang::Value::String("v".into()));
        assert_eq!(o.write(m.clone(), Some(slot.clone())).await, Ok(()));
        assert_eq!(slot.take(), Some(m));
    }

    #[tokio::test]
    async fn without_a_requester_the_message_is_acknowledged() {
        let o = SyncResponseOutput::new(&Value::Null, "o.sync_response").unwrap();
        assert_eq!(o.write(msg("m"), None).await, Ok(()));
    }

    #[test]
    fn sync_response_has_no_fields() {
        let e = SyncResponseOutput::new(&json!({"status": "200"}), "o.sync_response")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.sync_response.status");
    }
}
