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

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> (Ack, Arc<Mutex<Vec<Outcome>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (Ack::new(move |o| s.lock().unwrap().push(o)), seen)
    }

    #[test]
    fn an_ack_resolves_once() {
        let (ack, seen) = recording();
        ack.resolve(Ok(()));
        assert_eq!(*seen.lock().unwrap(), [Ok(())]);
        let (ack, seen) = recording();
        ack.resolve(Err("refused".into()));
        assert_eq!(*seen.lock().unwrap(), [Err("refused".to_string())]);
    }

    #[test]
    fn a_dropped_ack_is_a_nack() {
        let (ack, seen) = recording();
        drop(ack);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].as_ref().unwrap_err().contains("stopped"));
        Ack::none().resolve(Ok(()));
        drop(Ack::none());
    }

    #[test]
    fn the_last_sync_reply_wins() {
        let slot = SyncSlot::default();
        assert!(slot.take().is_none());
        for c in ["a", "b"] {
            slot.set(Message {
                content: c.into(),
                ..Message::default()
            });
        }
        assert_eq!(slot.take().unwrap().content, b"b");
        assert!(slot.take().is_none());
    }

    #[test]
    fn metadata_as_strings() {
        let mut m = Message::default();
        m.metadata
            .insert("s", bloblang::Value::String("raw".into()));
        m.metadata.insert("n", bloblang::Value::from(3i64));
        assert_eq!(meta_string(&m, "s").as_deref(), Some("raw"));
        assert_eq!(meta_string(&m, "n").as_deref(), Some("3"));
        assert_eq!(meta_string(&m, "missing"), None);
    }
}
