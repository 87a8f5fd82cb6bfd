//! `mapping`, `bloblang` and `mutation`: a Bloblang mapping per message.

use serde_json::Value;

use super::{Origin, Processor};
use crate::error::StreamError;
use crate::message::{Message, SyncSlot};

/// The config is the mapping's source text.
pub struct MappingProcessor {
    mapping: bloblang::Mapping,
    mutate: bool,
    origin: Origin,
}

impl MappingProcessor {
    /// Compiles the mapping; `mutate` selects `mutation` semantics (root starts as the message).
    pub fn new(body: &Value, origin: Origin, mutate: bool) -> Result<Self, StreamError> {
        let src = body.as_str().ok_or_else(|| {
            StreamError::new(
                &origin.path,
                "expected the mapping's Bloblang source as a string",
            )
        })?;
        let mapping = crate::config::mapping(src, &origin.path)?;
        Ok(MappingProcessor {
            mapping,
            mutate,
            origin,
        })
    }
}

impl Processor for MappingProcessor {
    fn process(&self, mut msg: Message, _: Option<&SyncSlot>) -> Option<Message> {
        let result = if self.mutate {
            self.mapping.run_mutation(&msg)
        } else {
            self.mapping.run_message(&msg)
        };
        let out = match result {
            Ok(out) => out,
            Err(e) => return Some(self.origin.flag(msg, e.to_string())),
        };
        match out.content(&msg.content) {
            Ok(None) => None,
            Ok(Some(content)) => {
                msg.content = content;
                msg.metadata = out.metadata;
                Some(msg)
            }
            Err(e) => Some(self.origin.flag(msg, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, json_of, msg, try_chain};
    use serde_json::json;

    #[test]
    fn mapping_replaces_the_root() {
        let c = chain(json!([{"mapping": "root.sum = this.a + this.b"}]));
        let out = c.run(msg(r#"{"a":1,"b":2,"c":"x"}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"sum": 3}));
        assert!(out.error.is_none());
    }

    #[test]
    fn mapping_to_a_string_writes_it_raw() {
        let c = chain(json!([{"mapping": "root = this.name.uppercase()"}]));
        let out = c.run(msg(r#"{"name":"weir"}"#), None).unwrap();
        assert_eq!(out.content, b"WEIR");
    }

    #[test]
    fn mapping_without_a_root_assignment_keeps_the_content() {
        let c = chain(json!([{"mapping": "meta topic = \"t\""}]));
        let mut m = msg("not json");
        m.metadata
            .insert("kept", bloblang::Value::String("yes".into()));
        let out = c.run(m, None).unwrap();
        assert_eq!(out.content, b"not json");
        assert_eq!(
            crate::message::meta_string(&out, "topic").as_deref(),
            Some("t")
        );
        assert_eq!(
            crate::message::meta_string(&out, "kept").as_deref(),
            Some("yes")
        );
    }

    #[test]
    fn deleted_root_drops_the_message() {
        let c = chain(json!([{"mapping": "root = deleted()"}]));
        assert!(c.run(msg(r#"{"a":1}"#), None).is_none());
    }

    #[test]
    fn conditional_delete_drops_only_matching_messages() {
        let c = chain(json!([
            {"mapping": "root = if this.keep { this } else { deleted() }"}
        ]));
        let kept = c.run(msg(r#"{"keep":true,"v":1}"#), None).unwrap();
        assert_eq!(json_of(&kept), json!({"keep": true, "v": 1}));
        assert!(c.run(msg(r#"{"keep":false,"v":2}"#), None).is_none());
    }

    #[test]
    fn a_failing_mapping_flags_the_message_and_keeps_it() {
        let c = chain(json!([
            {"label": "m1", "mapping": "root.x = this.missing.number()"}
        ]));
        let out = c.run(msg(r#"{"a":1}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"a": 1}), "content must be unchanged");
        assert!(out.error.is_some());
        let src = out.error_source.unwrap();
        assert_eq!(
            (src.label.as_str(), src.name.as_str(), src.path.as_str()),
            ("m1", "mapping", "p[0].mapping")
        );
    }

    #[test]
    fn mutation_keeps_fields_not_assigned() {
        let c = chain(json!([{"mutation": "root.sum = this.a + this.b"}]));
        let out = c.run(msg(r#"{"a":1,"b":2,"c":"x"}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"a": 1, "b": 2, "c": "x", "sum": 3}));
    }

    #[test]
    fn mutation_can_delete_one_field() {
        let c = chain(json!([{"mutation": "root.secret = deleted()"}]));
        let out = c.run(msg(r#"{"secret":"s","id":7}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"id": 7}));
    }

    #[test]
    fn mutation_deleting_the_root_drops_the_message() {
        let c = chain(json!([{"mutation": "root = deleted()"}]));
        assert!(c.run(msg(r#"{"a":1}"#), None).is_none());
    }

    #[test]
    fn bloblang_is_an_alias_of_mapping() {
        let input = r#"{"a":1,"b":2}"#;
        let src = "root.b = this.b * 10";
        let via_bloblang = chain(json!([{"bloblang": src}]))
            .run(msg(input), None)
            .unwrap();
        let via_mapping = chain(json!([{"mapping": src}]))
            .run(msg(input), None)
            .unwrap();
        assert_eq!(json_of(&via_bloblang), json!({"b": 20}));
        assert_eq!(via_bloblang.content, via_mapping.content);
        assert!(
            chain(json!([{"bloblang": "root = deleted()"}]))
                .run(msg(input), None)
                .is_none()
        );
    }

    #[test]
    fn mapping_source_must_compile_and_be_a_string() {
        let e = try_chain(json!([{"mapping": "root = this.("}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].mapping");
        let e = try_chain(json!([{"noop": {}}, {"mutation": {"root": 1}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[1].mutation");
        assert!(e.reason.contains("as a string"), "{}", e.reason);
    }
}
