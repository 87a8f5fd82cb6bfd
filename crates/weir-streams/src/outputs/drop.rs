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
