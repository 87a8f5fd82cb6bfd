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
