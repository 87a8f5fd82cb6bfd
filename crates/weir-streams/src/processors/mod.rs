//! Processors: one file each, one config struct each. A processor takes a message and gives it
//! back (possibly changed or flagged with an error), or drops it (`None`), which acknowledges it.

mod catch;
mod log;
mod mapping;
pub(crate) mod switch;
mod sync_response;
mod try_;

use serde_json::Value;

use crate::config::component;
use crate::error::StreamError;
use crate::message::{Message, SyncSlot};

/// One processing step.
pub trait Processor: Send + Sync {
    /// Processes one message; `None` drops (and acknowledges) it.
    fn process(&self, msg: Message, sync: Option<&SyncSlot>) -> Option<Message>;
}

/// Who a processor is, for `error_source_*()` and logs.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Its `label`.
    pub label: String,
    /// Its type.
    pub name: String,
    /// Its config path.
    pub path: String,
}

impl Origin {
    /// Flags `msg` with an error raised here, as Bento does: the message goes on.
    pub fn flag(&self, mut msg: Message, error: String) -> Message {
        tracing::debug!(processor = %self.path, %error, "processor failed on a message");
        msg.error = Some(error);
        msg.error_source = Some(bloblang::ErrorSource {
            label: self.label.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
        });
        msg
    }
}

/// A list of processors run in order; a dropped message stops the list.
#[derive(Default)]
pub struct Chain(Vec<Box<dyn Processor>>);

impl Chain {
    /// Builds the processors of a `processors:` list at `path`.
    pub fn build(
        list: Option<&Value>,
        path: &str,
        resources: &Resources,
    ) -> Result<Chain, StreamError> {
        let Some(list) = list else {
            return Ok(Chain::default());
        };
        if list.is_null() {
            return Ok(Chain::default());
        }
        let items = list
            .as_array()
            .ok_or_else(|| StreamError::new(path, "expected a list of processors"))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(build(item, &format!("{path}[{i}]"), resources, 0)?);
        }
        Ok(Chain(out))
    }

    /// Appends the processors of `other`.
    pub fn extend(&mut self, other: Chain) {
        self.0.extend(other.0);
    }

    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every processor in order.
    pub fn run(&self, mut msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        for p in &self.0 {
            msg = p.process(msg, sync)?;
        }
        Some(msg)
    }

    /// Runs processors in order until one flags the message with an error (`try`).
    pub fn run_until_error(&self, mut msg: Message, sync: Option<&SyncSlot>) -> Option<Message> {
        for p in &self.0 {
            msg = p.process(msg, sync)?;
            if msg.error.is_some() {
                break;
            }
        }
        Some(msg)
    }
}

/// `processor_resources`: processors declared once by label and used as `resource: <label>`.
#[derive(Default)]
pub struct Resources {
    /// label → (config, path of its declaration).
    pub processors: Vec<(String, Value, String)>,
}

/// Nesting limit for processors inside processors (and resources referring to resources).
const MAX_DEPTH: usize = 32;

/// Builds one processor from its component config.
pub(crate) fn build(
    v: &Value,
    path: &str,
    resources: &Resources,
    depth: usize,
) -> Result<Box<dyn Processor>, StreamError> {
    if depth > MAX_DEPTH {
        return Err(StreamError::new(
            path,
            "processors nest too deeply (or a resource refers to itself)",
        ));
    }
    let c = component(v, path, false)?;
    let origin = Origin {
        label: c.label.clone(),
        name: c.kind.to_string(),
        path: c.path.clone(),
    };
    let nested = |list: &Value, at: &str| -> Result<Chain, StreamError> {
        let items = list
            .as_array()
            .ok_or_else(|| StreamError::new(at, "expected a list of processors"))?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.push(build(item, &format!("{at}[{i}]"), resources, depth + 1)?);
        }
        Ok(Chain(out))
    };
    Ok(match c.kind {
        "mapping" | "bloblang" => Box::new(mapping::MappingProcessor::new(c.body, origin, false)?),
        "mutation" => Box::new(mapping::MappingProcessor::new(c.body, origin, true)?),
        "log" => Box::new(log::LogProcessor::new(c.body, origin)?),
        "sync_response" => Box::new(sync_response::SyncResponseProcessor::new(c.body, origin)?),
        "catch" => Box::new(catch::CatchProcessor(nested(c.body, &c.path)?)),
        "try" => Box::new(try_::TryProcessor(nested(c.body, &c.path)?)),
        "switch" => Box::new(switch::SwitchProcessor::new(c.body, &c.path, &|l, p| {
            nested(l, p)
        })?),
        "noop" => Box::new(Noop),
        "resource" => {
            let name = c.body.as_str().ok_or_else(|| {
                StreamError::new(&c.path, "expected the label of a processor resource")
            })?;
            let (_, cfg, at) = resources
                .processors
                .iter()
                .find(|(l, _, _)| l == name)
                .ok_or_else(|| {
                    StreamError::new(&c.path, format!("no processor resource labelled `{name}`"))
                })?;
            build(cfg, at, resources, depth + 1)?
        }
        other => return Err(not_built(&c.path, "processor", other)),
    })
}

/// The refusal for a component type Weir does not have.
pub(crate) fn not_built(path: &str, what: &str, kind: &str) -> StreamError {
    StreamError::new(
        path,
        format!(
            "the {what} `{kind}` is not built in Weir yet; the stream is refused rather than run without it"
        ),
    )
}

struct Noop;

impl Processor for Noop {
    fn process(&self, msg: Message, _: Option<&SyncSlot>) -> Option<Message> {
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds a `processors:` list at path `p` without resources.
    pub(super) fn chain(list: Value) -> Chain {
        try_chain(list).unwrap_or_else(|e| panic!("chain did not build: {e}"))
    }

    pub(super) fn try_chain(list: Value) -> Result<Chain, StreamError> {
        Chain::build(Some(&list), "p", &Resources::default())
    }

    pub(super) fn msg(content: &str) -> Message {
        Message {
            content: content.as_bytes().to_vec(),
            ..Message::default()
        }
    }

    pub(super) fn json_of(m: &Message) -> Value {
        serde_json::from_slice(&m.content).unwrap_or_else(|e| {
            panic!(
                "content is not JSON ({e}): {}",
                String::from_utf8_lossy(&m.content)
            )
        })
    }

    fn resources(list: Value) -> Resources {
        let processors = list
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    v["label"].as_str().unwrap().to_string(),
                    v.clone(),
                    format!("res[{i}]"),
                )
            })
            .collect();
        Resources { processors }
    }

    #[test]
    fn resource_runs_the_labelled_processor_each_time_it_is_named() {
        let res = resources(json!([
            {"label": "inc", "mutation": "root.n = this.n + 1"},
        ]));
        let c = Chain::build(
            Some(&json!([{"resource": "inc"}, {"resource": "inc"}])),
            "p",
            &res,
        )
        .unwrap();
        let out = c.run(msg(r#"{"n":1,"keep":true}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"n": 3, "keep": true}));
    }

    #[test]
    fn resource_errors_name_the_declaration() {
        let res = resources(json!([
            {"label": "flag", "mapping": "root = throw(\"boom\")"},
        ]));
        let c = Chain::build(Some(&json!([{"resource": "flag"}])), "p", &res).unwrap();
        let out = c.run(msg("{}"), None).unwrap();
        assert!(out.error.as_deref().unwrap().contains("boom"));
        let src = out.error_source.unwrap();
        assert_eq!(src.label, "flag");
        assert_eq!(src.name, "mapping");
        assert_eq!(src.path, "res[0].mapping");
    }

    #[test]
    fn unknown_resource_is_refused_at_its_use() {
        let e = try_chain(json!([{"noop": {}}, {"resource": "missing"}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[1].resource");
        assert!(e.reason.contains("`missing`"), "{}", e.reason);
    }

    #[test]
    fn a_resource_referring_to_itself_is_refused() {
        let res = resources(json!([{"label": "me", "resource": "me"}]));
        let e = Chain::build(Some(&json!([{"resource": "me"}])), "p", &res)
            .err()
            .unwrap();
        assert!(e.reason.contains("nest too deeply"), "{}", e.reason);
    }

    #[test]
    fn a_resource_must_be_a_label() {
        let e = try_chain(json!([{"resource": {"mapping": "root = 1"}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].resource");
    }

    #[test]
    fn unknown_processor_is_refused_by_name() {
        let e = try_chain(json!([{"awk": {"program": "{}"}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].awk");
        assert!(e.reason.contains("`awk` is not built"), "{}", e.reason);
    }

    #[test]
    fn a_component_with_two_types_is_refused() {
        let e = try_chain(json!([{"noop": {}, "log": {}}])).err().unwrap();
        assert_eq!(e.path, "p[0]");
        assert!(e.reason.contains("found 2"), "{}", e.reason);
    }

    #[test]
    fn absent_or_null_lists_are_empty() {
        assert!(
            Chain::build(None, "p", &Resources::default())
                .unwrap()
                .is_empty()
        );
        assert!(chain(Value::Null).is_empty());
        assert!(try_chain(json!({"noop": {}})).is_err());
    }

    #[test]
    fn a_dropped_message_stops_the_chain() {
        let slot = SyncSlot::default();
        let c = chain(json!([{"mapping": "root = deleted()"}, {"sync_response": {}}]));
        assert!(c.run(msg("{}"), Some(&slot)).is_none());
        assert!(slot.take().is_none(), "a processor ran after the drop");
    }

    #[test]
    fn errors_do_not_stop_a_plain_chain() {
        let c = chain(json!([
            {"mapping": "root = throw(\"first\")"},
            {"mutation": "root.after = true"},
        ]));
        let out = c.run(msg(r#"{"a":1}"#), None).unwrap();
        assert_eq!(json_of(&out), json!({"a": 1, "after": true}));
        assert!(out.error.as_deref().unwrap().contains("first"));
    }

    #[test]
    fn noop_passes_the_message_on() {
        let m = msg("raw bytes");
        assert_eq!(chain(json!([{"noop": null}])).run(m.clone(), None), Some(m));
    }
}
