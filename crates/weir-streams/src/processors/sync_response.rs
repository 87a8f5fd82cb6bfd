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
