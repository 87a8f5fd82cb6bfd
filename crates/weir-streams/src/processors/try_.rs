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

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, json_of, msg};
    use serde_json::json;

    #[test]
    fn try_stops_after_the_first_error() {
        let c = chain(json!([{"try": [
            {"mutation": "root.a = true"},
            {"mutation": "root.v = this.raw.number()"},
            {"mutation": "root.b = true"},
        ]}]));
        let out = c.run(msg(r#"{"raw":"x"}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"raw": "x", "a": true}));
        assert!(out.error.is_some(), "the flag is kept for a later catch");
        let out = c.run(msg(r#"{"raw":"2"}"#), None).unwrap();
        assert_eq!(
            json_of(&out),
            json!({"raw": "2", "a": true, "v": 2, "b": true})
        );
        assert!(out.error.is_none());
    }

    #[test]
    fn try_skips_a_message_already_flagged() {
        let c = chain(json!([{"try": [{"mutation": "root.ran = true"}]}]));
        let mut m = msg(r#"{"a":1}"#);
        m.error = Some("earlier".into());
        let out = c.run(m, None).unwrap();
        assert_eq!(json_of(&out), json!({"a": 1}));
        assert_eq!(out.error.as_deref(), Some("earlier"));
    }

    #[test]
    fn try_then_catch() {
        let c = chain(json!([
            {"try": [
                {"mapping": "root = throw(\"nope\")"},
                {"mutation": "root.skipped = false"},
            ]},
            {"catch": [{"mapping": "root.recovered = error().contains(\"nope\")"}]},
        ]));
        let out = c.run(msg("{}"), None).unwrap();
        assert_eq!(json_of(&out), json!({"recovered": true}));
        assert!(out.error.is_none());
    }

    #[test]
    fn a_drop_inside_try_drops_the_message() {
        let c = chain(json!([
            {"try": [{"mapping": "root = deleted()"}]},
            {"mutation": "root.after = true"},
        ]));
        assert!(c.run(msg("{}"), None).is_none());
    }
}
