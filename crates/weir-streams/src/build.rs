//! One stream's config compiled into the parts an instance runs: input, processors, output.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::StreamError;
use crate::inputs::{self, Input};
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
                    // `buffer: {none: {}}` is Bento's default and changes nothing.
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
        let (input, mut processors) =
            inputs::build(input_cfg, &format!("{path}.input"), &resources)?;
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
        };
        let output = outputs::build(output_cfg, &format!("{path}.output"), &mut built, 0)?;
        Ok(Plan {
            input,
            processors: Arc::new(processors),
            output,
            http_outputs: built.http_outputs,
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
