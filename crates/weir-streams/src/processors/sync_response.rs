//! `sync_response` (processor): snapshots the message as the reply to its HTTP request.

use serde::Deserialize;
use serde_json::Value;

use super::{Origin, Processor};
use crate::error::StreamError;
use crate::message::{Message, SyncSlot};

/// Bento's processor form has no fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SyncResponseConfig {}

/// Stores a copy of the message; later processing does not change the reply.
pub struct SyncResponseProcessor;

impl SyncResponseProcessor {
    /// Checks the (empty) config.
    pub fn new(body: &Value, origin: Origin) -> Result<Self, StreamError> {
        let _: SyncResponseConfig = crate::config::typed(body, &origin.path)?;
        Ok(SyncResponseProcessor)
    }
}

impl Processor for SyncResponseProcessor {
    fn process(&self, msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        if let Some(slot) = sync {
            slot.set(msg.clone());
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, json_of, msg, try_chain};
    use crate::message::SyncSlot;
    use serde_json::json;

    #[test]
    fn sync_response_snapshots_the_message_into_the_slot() {
        let c = chain(json!([
            {"mutation": "root.step = 1"},
            {"sync_response": {}},
            {"mutation": "root.step = 2"},
        ]));
        let slot = SyncSlot::default();
        let out = c.run(msg(r#"{"a":1}"#), Some(&slot)).unwrap();
        assert_eq!(json_of(&out), json!({"a": 1, "step": 2}));
        let reply = slot.take().expect("a reply was stored");
        assert_eq!(json_of(&reply), json!({"a": 1, "step": 1}));
        assert!(slot.take().is_none(), "taking empties the slot");
    }

    #[test]
    fn the_last_sync_response_wins() {
        let c = chain(json!([
            {"sync_response": {}},
            {"mapping": "root = \"second\""},
            {"sync_response": null},
        ]));
        let slot = SyncSlot::default();
        c.run(msg("first"), Some(&slot)).unwrap();
        assert_eq!(slot.take().unwrap().content, b"second");
    }

    #[test]
    fn sync_response_without_a_slot_passes_the_message_on() {
        let m = msg("x");
        assert_eq!(
            chain(json!([{"sync_response": {}}])).run(m.clone(), None),
            Some(m)
        );
    }

    #[test]
    fn sync_response_has_no_fields() {
        let e = try_chain(json!([{"sync_response": {"status": 201}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].sync_response.status");
    }
}
