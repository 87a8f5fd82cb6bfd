//! `catch`: processors run only on messages flagged with an error; the flag is then cleared.

use super::{Chain, Processor};
use crate::message::{Message, SyncSlot};

/// The config is a list of processors.
pub struct CatchProcessor(pub Chain);

impl Processor for CatchProcessor {
    fn process(&self, msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        if msg.error.is_none() {
            return Some(msg);
        }
        let mut msg = self.0.run(msg, sync)?;
        msg.error = None;
        msg.error_source = None;
        Some(msg)
    }
}
