//! One stream's config compiled into the parts an instance runs: input, processors, output.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::StreamError;
use crate::inputs::{self, Input};
use crate::link::Link;
use crate::outputs::http_server::HttpServerOutput;
use crate::outputs::{self, Output, OutputResources};
use crate::processors::{Chain, Resources};

/// What building outputs collects on the way.
pub struct Built<'a> {
    /// `processor_resources`.
    pub resources: &'a Resources,
    /// `output_resources`.
    pub output_resources: &'a OutputResources,
    /// Every `http_server` output met, for the HTTP binding.
    pub http_outputs: Vec<Arc<HttpServerOutput>>,
    /// Every connection an output holds, for its state on /metrics and the control API.
    pub links: Vec<Arc<Link>>,
}

/// A compiled stream.
pub struct Plan {
    /// The input.
    pub input: Input,
    /// Input processors, then the pipeline's.
    pub processors: Arc<Chain>,
    /// The output (with its processors).
    pub output: Arc<dyn Output>,
    /// The `http_server` outputs inside it.
    pub http_outputs: Vec<Arc<HttpServerOutput>>,
    /// The connections its input and outputs hold.
    pub links: Vec<Arc<Link>>,
    /// Processing workers.
    pub threads: usize,
    /// How long a stopping instance may take to deliver what it holds.
    pub shutdown_timeout: Duration,
}

/// Top-level keys that are Bento's but not built in Weir, with why.
const NOT_BUILT: &[(&str, &str)] = &[
    (
        "metrics",
        "per-stream metrics exporters are not built; stream counters are on the gateway's /metrics",
    ),
    ("tracer", "tracing exporters are not built"),
    (
        "http",
        "Bento's own HTTP server is not served; endpoints are mounted under the API's listen path",
    ),
    (
        "buffer",
        "buffers are not built (messages are acknowledged end to end)",
    ),
    ("cache_resources", "caches are not built"),
    ("rate_limit_resources", "rate limit resources are not built"),
    ("input_resources", "input resources are not built"),
    ("tests", "config unit tests are not run by the gateway"),
    ("shutdown_delay", "a shutdown delay is not built"),
];

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct PipelineConfig {
    threads: i64,
    processors: Value,
}

fn resources_of(
    map: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<(String, Value, String)>, StreamError> {
    let Some(list) = map.get(key) else {
        return Ok(Vec::new());
    };
    let items = list
        .as_array()
        .ok_or_else(|| StreamError::new(format!("{path}.{key}"), "expected a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}.{key}[{i}]");
        let label = item
            .get("label")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| StreamError::new(&at, "a resource needs a `label`"))?;
        out.push((label.to_string(), item.clone(), at));
    }
    Ok(out)
}

impl Plan {
    /// Compiles a stream config (after environment and context substitution). `path` is the
    /// stream's place in the document, such as `x-tyk-streaming.streams.Worker`.
    pub fn build(cfg: &Value, path: &str) -> Result<Plan, StreamError> {
        let map = cfg.as_object().ok_or_else(|| {
            StreamError::new(path, "a stream is an object with `input` and `output`")
        })?;
        for (key, value) in map {
            match key.as_str() {
                "input"
                | "output"
                | "pipeline"
                | "processor_resources"
                | "output_resources"
                | "shutdown_timeout"
                | "logger" => {}
                other => {
                    let reason = NOT_BUILT
                        .iter()
                        .find(|(k, _)| *k == other)
                        .map(|(_, why)| *why);
                    // A block whose body is commented out (`metrics:` alone, null) is as
                    // absent as one commented out whole; `buffer: {none: {}}` is Bento's
                    // default and changes nothing.
                    if value.is_null() {
                        continue;
                    }
                    if other == "buffer"
                        && value.get("none").is_some()
                        && value.as_object().is_some_and(|m| m.len() == 1)
                    {
                        continue;
                    }
                    return Err(StreamError::new(
                        format!("{path}.{other}"),
                        reason.map(str::to_string).unwrap_or_else(|| {
                            format!("`{other}` is not a stream setting Weir knows")
                        }),
                    ));
                }
            }
        }
        let resources = Resources {
            processors: resources_of(map, "processor_resources", path)?,
        };
        let output_resources = OutputResources {
            outputs: resources_of(map, "output_resources", path)?,
        };
        let input_cfg = map
            .get("input")
            .ok_or_else(|| StreamError::new(format!("{path}.input"), "a stream needs an input"))?;
        let output_cfg = map.get("output").ok_or_else(|| {
            StreamError::new(format!("{path}.output"), "a stream needs an output")
        })?;
        let mut links = Vec::new();
        let (input, mut processors) =
            inputs::build(input_cfg, &format!("{path}.input"), &resources, &mut links)?;
        let pipeline: PipelineConfig = match map.get("pipeline") {
            Some(p) => crate::config::typed(p, &format!("{path}.pipeline"))?,
            None => PipelineConfig::default(),
        };
        processors.extend(Chain::build(
            Some(&pipeline.processors),
            &format!("{path}.pipeline.processors"),
            &resources,
        )?);
        let threads = match pipeline.threads {
            n if n >= 1 => n as usize,
            // Bento: -1 (and 0) mean one worker per CPU.
            _ => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        let shutdown_timeout = match map.get("shutdown_timeout") {
            Some(Value::String(s)) => crate::duration::parse_go_duration(s)
                .map_err(|e| StreamError::new(format!("{path}.shutdown_timeout"), e))?,
            Some(_) => {
                return Err(StreamError::new(
                    format!("{path}.shutdown_timeout"),
                    "expected a duration such as `20s`",
                ));
            }
            None => Duration::from_secs(20),
        };
        if let Some(logger) = map.get("logger") {
            check_logger(logger, &format!("{path}.logger"))?;
        }
        let mut built = Built {
            resources: &resources,
            output_resources: &output_resources,
            http_outputs: Vec::new(),
            links,
        };
        let output = outputs::build(output_cfg, &format!("{path}.output"), &mut built, 0)?;
        Ok(Plan {
            input,
            processors: Arc::new(processors),
            output,
            http_outputs: built.http_outputs,
            links: built.links,
            threads,
            shutdown_timeout,
        })
    }
}

/// `logger` changes only what the gateway logs; its fields are checked so a typo is not lost.
fn check_logger(v: &Value, path: &str) -> Result<(), StreamError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    #[allow(dead_code)]
    struct Logger {
        level: String,
        format: String,
        add_timestamp: bool,
        static_fields: std::collections::BTreeMap<String, String>,
    }
    let _: Logger = crate::config::typed(v, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, SyncSlot};
    use serde_json::json;

    const AT: &str = "x-tyk-streaming.streams.S";

    fn minimal() -> Value {
        json!({"input": {"http_server": {}}, "output": {"drop": {}}})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut cfg = minimal();
        cfg[key] = value;
        cfg
    }

    fn refused(cfg: Value) -> StreamError {
        match Plan::build(&cfg, AT) {
            Ok(_) => panic!("accepted: {cfg}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bento_sections_weir_does_not_build_are_refused_with_a_reason() {
        for (key, value, why) in [
            (
                "metrics",
                json!({"prometheus": {}}),
                "metrics exporters are not built",
            ),
            (
                "tracer",
                json!({"jaeger": {}}),
                "tracing exporters are not built",
            ),
            (
                "http",
                json!({"address": "0.0.0.0:4195"}),
                "HTTP server is not served",
            ),
            (
                "buffer",
                json!({"memory": {"limit": 1000}}),
                "buffers are not built",
            ),
            ("cache_resources", json!([]), "caches are not built"),
            ("rate_limit_resources", json!([]), "rate limit resources"),
            (
                "input_resources",
                json!([]),
                "input resources are not built",
            ),
            ("tests", json!([]), "config unit tests"),
            ("shutdown_delay", json!("1s"), "shutdown delay"),
        ] {
            let e = refused(with(key, value));
            assert_eq!(e.path, format!("{AT}.{key}"));
            assert!(e.reason.contains(why), "{key}: {}", e.reason);
        }
    }

    #[test]
    fn only_the_none_buffer_is_accepted() {
        assert!(Plan::build(&with("buffer", json!({"none": {}})), AT).is_ok());
        let e = refused(with("buffer", json!({"none": {}, "memory": {}})));
        assert_eq!(e.path, format!("{AT}.buffer"));
    }

    #[test]
    fn an_unknown_top_level_key_is_refused() {
        let e = refused(with("pipline", json!({"processors": []})));
        assert_eq!(e.path, format!("{AT}.pipline"));
        assert!(e.reason.contains("not a stream setting"), "{}", e.reason);
    }

    #[test]
    fn an_unknown_input_or_output_is_refused_by_name() {
        let e = refused(json!({"input": {"aws_sqs": {"url": "x"}}, "output": {"drop": {}}}));
        assert_eq!(e.path, format!("{AT}.input.aws_sqs"));
        assert!(
            e.reason.contains("input `aws_sqs` is not built"),
            "{}",
            e.reason
        );
        let e = refused(json!({"input": {"http_server": {}}, "output": {"aws_s3": {}}}));
        assert_eq!(e.path, format!("{AT}.output.aws_s3"));
        assert!(
            e.reason.contains("output `aws_s3` is not built"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn an_unknown_field_in_a_known_component_is_refused_by_name() {
        let e = refused(json!({
            "input": {"http_server": {"path": "/in", "rate_limit": "r"}},
            "output": {"drop": {}},
        }));
        assert_eq!(e.path, format!("{AT}.input.http_server.rate_limit"));
        assert!(
            e.reason.contains("unknown field `rate_limit`"),
            "{}",
            e.reason
        );
        assert!(e.reason.contains("refuses settings"), "{}", e.reason);

        let e = refused(with("pipeline", json!({"threads": 1, "batching": {}})));
        assert_eq!(e.path, format!("{AT}.pipeline.batching"));

        let e = refused(with(
            "pipeline",
            json!({"processors": [{"log": {"message": "m", "colour": "red"}}]}),
        ));
        assert_eq!(e.path, format!("{AT}.pipeline.processors[0].log.colour"));

        let e = refused(with("logger", json!({"level": "INFO", "lvl": "x"})));
        assert_eq!(e.path, format!("{AT}.logger.lvl"));
    }

    #[test]
    fn input_and_output_are_required() {
        let e = refused(json!({"output": {"drop": {}}}));
        assert_eq!(e.path, format!("{AT}.input"));
        let e = refused(json!({"input": {"http_server": {}}}));
        assert_eq!(e.path, format!("{AT}.output"));
        let e = refused(json!([]));
        assert_eq!(e.path, AT);
    }

    #[test]
    fn pipeline_threads() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for (threads, want) in [(json!(-1), cpus), (json!(0), cpus), (json!(3), 3)] {
            let p = Plan::build(&with("pipeline", json!({"threads": threads})), AT).unwrap();
            assert_eq!(p.threads, want, "threads: {threads}");
        }
        assert_eq!(Plan::build(&minimal(), AT).unwrap().threads, cpus);
        let e = refused(with("pipeline", json!({"threads": "many"})));
        assert_eq!(e.path, format!("{AT}.pipeline.threads"));
    }

    #[test]
    fn commented_out_blocks_load_fine() {
        // Blocks commented out in YAML are absent, or null when only their key is left.
        for cfg in [
            minimal(),
            with("pipeline", Value::Null),
            with("pipeline", json!({})),
            with("pipeline", json!({"threads": -1, "processors": null})),
            with("pipeline", json!({"processors": []})),
            with("metrics", Value::Null),
            with("tracer", Value::Null),
            with("buffer", Value::Null),
            json!({"input": {"http_server": null, "processors": null},
                   "output": {"drop": null, "processors": null}}),
            with(
                "logger",
                json!({"level": "DEBUG", "format": "logfmt",
                                  "add_timestamp": true, "static_fields": {"@service": "w"}}),
            ),
        ] {
            let p = Plan::build(&cfg, AT).unwrap_or_else(|e| panic!("{cfg}: {e}"));
            assert!(p.processors.is_empty(), "{cfg}");
            assert!(p.http_outputs.is_empty());
        }
    }

    #[test]
    fn shutdown_timeout() {
        assert_eq!(
            Plan::build(&minimal(), AT).unwrap().shutdown_timeout,
            Duration::from_secs(20)
        );
        let p = Plan::build(&with("shutdown_timeout", json!("1m5s")), AT).unwrap();
        assert_eq!(p.shutdown_timeout, Duration::from_secs(65));
        for bad in [json!("5"), json!(5)] {
            let e = refused(with("shutdown_timeout", bad));
            assert_eq!(e.path, format!("{AT}.shutdown_timeout"));
        }
    }

    #[test]
    fn input_processors_run_before_the_pipeline() {
        let cfg = json!({
            "input": {"http_server": {}, "processors": [{"mutation": "root.seen = [\"input\"]"}]},
            "pipeline": {"processors": [
                {"mutation": "root.seen = this.seen.append(\"pipeline\")"},
                {"resource": "last"},
            ]},
            "processor_resources": [
                {"label": "last", "mutation": "root.seen = this.seen.append(\"resource\")"},
            ],
            "output": {"sync_response": {}},
        });
        let p = Plan::build(&cfg, AT).unwrap();
        let slot = SyncSlot::default();
        let msg = Message {
            content: b"{}".to_vec(),
            ..Message::default()
        };
        let out = p.processors.run(msg, Some(&slot)).unwrap();
        let v: Value = serde_json::from_slice(&out.content).unwrap();
        assert_eq!(v, json!({"seen": ["input", "pipeline", "resource"]}));
    }

    #[test]
    fn resources_need_labels_and_their_errors_name_their_place() {
        let e = refused(with("processor_resources", json!([{"noop": {}}])));
        assert_eq!(e.path, format!("{AT}.processor_resources[0]"));
        assert!(e.reason.contains("label"), "{}", e.reason);
        let e = refused(with("output_resources", json!({"label": "x"})));
        assert_eq!(e.path, format!("{AT}.output_resources"));
        let mut cfg = with(
            "processor_resources",
            json!([{"label": "bad", "mapping": "root = this.("}]),
        );
        cfg["pipeline"] = json!({"processors": [{"resource": "bad"}]});
        let e = refused(cfg);
        assert_eq!(e.path, format!("{AT}.processor_resources[0].mapping"));
    }

    #[test]
    fn http_server_outputs_are_listed_and_address_is_refused() {
        let p = Plan::build(
            &json!({"input": {"http_server": {"path": "/in"}},
                    "output": {"http_server": {"path": "/out"}}}),
            AT,
        )
        .unwrap();
        assert_eq!(p.http_outputs.len(), 1);
        assert_eq!(p.http_outputs[0].cfg.path, "/out");
        let e = refused(
            json!({"input": {"http_server": {"address": "0.0.0.0:4195"}},
                                "output": {"drop": {}}}),
        );
        assert_eq!(e.path, format!("{AT}.input.http_server.address"));
    }
}
