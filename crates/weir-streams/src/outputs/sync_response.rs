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
