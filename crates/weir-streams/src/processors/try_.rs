//! `try`: processors run in order until one flags the message with an error.

use super::{Chain, Processor};
use crate::message::{Message, SyncSlot};

/// The config is a list of processors.
pub struct TryProcessor(pub Chain);

impl Processor for TryProcessor {
    fn process(&self, msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        if msg.error.is_some() {
            return Some(msg);
        }
        self.0.run_until_error(msg, sync)
    }
}
