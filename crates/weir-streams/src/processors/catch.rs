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

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, json_of, msg};
    use serde_json::json;

    fn with_catch() -> super::super::Chain {
        chain(json!([
            {"label": "parse", "mutation": "root.v = this.raw.number()"},
            {"catch": [
                {"mutation": "root.caught = error()\nroot.source = error_source_label()"},
            ]},
        ]))
    }

    #[test]
    fn catch_runs_on_a_flagged_message_and_clears_the_flag() {
        let out = with_catch().run(msg(r#"{"raw":"x"}"#), None).unwrap();
        assert!(out.error.is_none(), "the flag must be cleared");
        assert!(out.error_source.is_none());
        let v = json_of(&out);
        assert!(v["caught"].as_str().unwrap().len() > 1, "{v}");
        assert_eq!(v["source"], "parse");
    }

    #[test]
    fn catch_skips_a_message_without_an_error() {
        let out = with_catch().run(msg(r#"{"raw":"5"}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"raw": "5", "v": 5}));
    }

    #[test]
    fn catch_may_drop_the_flagged_message() {
        let c = chain(json!([
            {"mapping": "root = throw(\"bad\")"},
            {"catch": [{"mapping": "root = deleted()"}]},
        ]));
        assert!(c.run(msg("{}"), None).is_none());
        assert!(c.run(msg("{}"), None).is_none());
    }

    #[test]
    fn catch_clears_the_flag_even_when_its_processors_fail() {
        let c = chain(json!([
            {"mapping": "root = throw(\"first\")"},
            {"catch": [{"mapping": "root = throw(\"second\")"}]},
        ]));
        let out = c.run(msg("{}"), None).unwrap();
        assert!(out.error.is_none());
    }

    #[test]
    fn catch_needs_a_list() {
        let e = super::super::tests::try_chain(json!([{"catch": {"noop": {}}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].catch");
    }
}
