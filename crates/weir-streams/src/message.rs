//! Messages, the transactions that carry them from an input to the output, and the
//! acknowledgement that travels back.

use std::sync::{Arc, Mutex};

/// A message as Bloblang sees it: bytes, metadata, and an error flag set by a failed processor.
pub type Message = bloblang::Message;

/// How an output dealt with a message: delivered, or refused with the reason (a nack).
pub type Outcome = Result<(), String>;

/// Called once with a message's outcome; the input then commits, acks or redelivers.
pub struct Ack(Option<Box<dyn FnOnce(Outcome) + Send>>);

impl Ack {
    /// An acknowledgement that runs `f`.
    pub fn new(f: impl FnOnce(Outcome) + Send + 'static) -> Self {
        Ack(Some(Box::new(f)))
    }

    /// An acknowledgement nobody waits for.
    pub fn none() -> Self {
        Ack(None)
    }

    /// Resolves the acknowledgement.
    pub fn resolve(mut self, outcome: Outcome) {
        if let Some(f) = self.0.take() {
            f(outcome);
        }
    }
}

impl Drop for Ack {
    // A transaction lost on the way (its task ended, the stream stopped) is a nack, never a
    // silent success: the input keeps the message for redelivery.
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(
                "the stream stopped before the message was delivered".into()
            ));
        }
    }
}

/// Where `sync_response` puts the reply to the request a message came from.
#[derive(Default)]
pub struct SyncSlot(Mutex<Option<Message>>);

impl SyncSlot {
    /// Stores the reply (the last one stored wins, as in Bento).
    pub fn set(&self, msg: Message) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
    }

    /// Takes the reply, if any was stored.
    pub fn take(&self) -> Option<Message> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// One message on its way through a stream.
pub struct Transaction {
    /// The message.
    pub msg: Message,
    /// Resolved when the output has taken the message (or refused it).
    pub ack: Ack,
    /// Present when the input can answer its sender (`http_server`).
    pub sync: Option<Arc<SyncSlot>>,
}

/// Metadata value as a string (strings raw, other values as JSON).
pub fn meta_string(msg: &Message, key: &str) -> Option<String> {
    msg.metadata.get(key).map(|v| match v {
        bloblang::Value::String(s) => s.to_string(),
        other => bloblang::json::to_message_json(other).unwrap_or_default(),
    })
}
