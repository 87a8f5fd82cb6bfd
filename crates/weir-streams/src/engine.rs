//! Streams per API: which endpoint belongs to which stream, one running instance per distinct
//! substituted config, idle instances stopped, and instances kept across reloads when their
//! stream did not change.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::build::Plan;
use crate::context::{self, RequestContext};
use crate::error::StreamError;
use crate::http::{self as binding, StreamResponseBody, plain};
use crate::inputs::Input;
use crate::instance::Instance;
use crate::metrics::{StreamMetrics, StreamStats};

/// How long an instance made for a consumer lives without one (Tyk collects after a minute).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// Which endpoint a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `http_server` input `path`.
    InputPath,
    /// `http_server` input `ws_path`.
    InputWs,
    /// `http_server` output `path` (GET long-poll).
    OutputPoll,
    /// `http_server` output `stream_path`.
    OutputStream,
    /// `http_server` output `ws_path`.
    OutputWs,
}

/// One stream of one API, and its running instances.
pub struct StreamSlot {
    /// The API.
    pub api_id: String,
    /// The stream's name.
    pub id: String,
    template: Value,
    templated: bool,
    path: String,
    instances: Mutex<HashMap<[u8; 32], Arc<Instance>>>,
    stats: Arc<StreamStats>,
}

impl StreamSlot {
    /// The instance for a request's substituted config, started if new.
    fn instance_for(&self, ctx: &RequestContext) -> Result<Arc<Instance>, StreamError> {
        // A stream without placeholders has one instance; only templates are substituted and
        // hashed per request.
        let (key, substituted) = if self.templated {
            let cfg = context::substitute(&self.template, ctx);
            let key: [u8; 32] = Sha256::digest(cfg.to_string().as_bytes()).into();
            (key, Some(cfg))
        } else {
            ([0; 32], None)
        };
        let mut all = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = all.get(&key) {
            return Ok(i.clone());
        }
        let cfg = substituted.unwrap_or_else(|| self.template.clone());
        let plan = Plan::build(&cfg, &self.path)?;
        let label = identity(&cfg);
        let inst = Instance::start(plan, self.stats.clone(), label);
        all.insert(key, inst.clone());
        Ok(inst)
    }

    /// Stops instances nobody has used for `idle` (a stream without placeholders keeps its one).
    fn collect(&self, idle: Duration) {
        let mut consumers = 0;
        let mut dropped = 0;
        let mut all = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, inst| {
            let keep = !self.templated || !inst.idle_for(idle);
            if !keep {
                tracing::info!(api_id = %self.api_id, stream = %self.id, instance = %inst.key, "stopping an idle stream instance");
                inst.stop();
            }
            for o in &inst.plan.http_outputs {
                consumers += o.consumers();
                dropped += o.dropped.load(std::sync::atomic::Ordering::Relaxed);
            }
            keep
        });
        self.stats.consumers.set(consumers as i64);
        self.stats.dropped.set(dropped as i64);
    }

    /// What the control API shows of this stream.
    pub fn describe(&self) -> Value {
        let all = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let instances: Vec<Value> = all
            .values()
            .map(|i| {
                serde_json::json!({
                    "identity": i.key,
                    "active": i.active(),
                    "consumers": i.plan.http_outputs.iter().map(|o| o.consumers()).sum::<usize>(),
                    "uptime_seconds": i.started.elapsed().as_secs(),
                    "connections": i.plan.links.iter().map(|l| l.describe()).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "api_id": self.api_id,
            "stream": self.id,
            "per_consumer": self.templated,
            "received": self.stats.received.get(),
            "sent": self.stats.sent.get(),
            "errors": self.stats.errors.get(),
            "instances": instances,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        for inst in self
            .instances
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            inst.stop();
        }
    }
}

/// A short description of an instance for operators: its consumer group, if any.
fn identity(cfg: &Value) -> String {
    let input = cfg
        .get("input")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| *k != "label" && *k != "processors"))
        .map(|(_, body)| body);
    ["consumer_group", "queue", "durable", "client_id"]
        .iter()
        .find_map(|field| {
            let v = input?.get(field)?.as_str().filter(|v| !v.is_empty())?;
            Some(format!("{field}={v}"))
        })
        .unwrap_or_else(|| "default".into())
}

/// The endpoints of one stream, from its config as written (defaults as Bento has them), each
/// with whether its path was written or defaulted.
fn endpoints(cfg: &Value, path: &str) -> Result<Vec<(String, Endpoint, bool)>, StreamError> {
    let plan = Plan::build(cfg, path)?;
    let mut wanted: Vec<(&String, Endpoint, &[String], &str)> = Vec::new();
    if let Input::HttpServer(i) = &plan.input {
        wanted.push((&i.cfg.path, Endpoint::InputPath, &i.written, "path"));
        wanted.push((&i.cfg.ws_path, Endpoint::InputWs, &i.written, "ws_path"));
    }
    for o in &plan.http_outputs {
        wanted.push((&o.cfg.path, Endpoint::OutputPoll, &o.written, "path"));
        wanted.push((
            &o.cfg.stream_path,
            Endpoint::OutputStream,
            &o.written,
            "stream_path",
        ));
        wanted.push((&o.cfg.ws_path, Endpoint::OutputWs, &o.written, "ws_path"));
    }
    let mut out: Vec<(String, Endpoint, bool)> = wanted
        .into_iter()
        .map(|(p, e, fields, name)| (p.clone(), e, fields.iter().any(|w| w == name)))
        .collect();
    out.retain(|(p, _, _)| !p.is_empty());
    Ok(out)
}

/// Every endpoint of an API's streams (`slot` indexes `list`). Two written paths that are the
/// same are an error naming both streams; a defaulted path that meets any other is not
/// mounted (Bento's defaults — `/post`, `/get`, `/get/stream`… — collide as soon as an API has
/// two `http_server` streams), which a warning says.
fn routes(list: &[(String, Value, String)], errors: &mut Vec<StreamError>) -> Vec<Route> {
    let mut all: Vec<(String, usize, Endpoint, bool)> = Vec::new();
    for (slot, (_, cfg, path)) in list.iter().enumerate() {
        match endpoints(cfg, path) {
            Ok(eps) => all.extend(eps.into_iter().map(|(p, e, w)| (p, slot, e, w))),
            Err(e) => errors.push(e),
        }
    }
    let mut routes = Vec::new();
    for (i, (p, slot, endpoint, written)) in all.iter().enumerate() {
        let others: Vec<&(String, usize, Endpoint, bool)> = all
            .iter()
            .enumerate()
            .filter(|(j, o)| *j != i && o.0 == *p)
            .map(|(_, o)| o)
            .collect();
        if others.is_empty() {
            routes.push(Route {
                path: p.clone(),
                slot: *slot,
                endpoint: *endpoint,
            });
        } else if !*written {
            tracing::warn!(stream = %list[*slot].2, endpoint = %p, "a defaulted endpoint path is also another endpoint's: not mounted; write the path to serve it");
        } else if let Some(clash) = others.iter().find(|o| o.3) {
            // Reported once, by the first of the pair.
            if all.iter().position(|o| o.0 == *p && o.3) == Some(i) {
                errors.push(StreamError::new(
                    &list[*slot].2,
                    format!(
                        "the endpoint `{p}` is also written for stream `{}`",
                        list[clash.1].0
                    ),
                ));
            }
        } else {
            routes.push(Route {
                path: p.clone(),
                slot: *slot,
                endpoint: *endpoint,
            });
        }
    }
    routes
}

struct Route {
    path: String,
    slot: usize,
    endpoint: Endpoint,
}

/// The streams of one API, as its request path uses them.
pub struct ApiStreams {
    slots: Vec<Arc<StreamSlot>>,
    routes: Vec<Route>,
}

/// The engine: shared by every API, kept across reloads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Mutex<HashMap<(String, String), Weak<StreamSlot>>>,
    metrics: StreamMetrics,
    idle: Duration,
    collector: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A stream config, parsed and checked without starting anything (`weir check`).
pub fn check(streams: &Value, base: &str) -> Result<(), Vec<StreamError>> {
    let mut errors = Vec::new();
    let list = stream_list(streams, base, &mut errors);
    routes(&list, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `streams.<id>` entries with environment references substituted.
fn stream_list(
    streams: &Value,
    base: &str,
    errors: &mut Vec<StreamError>,
) -> Vec<(String, Value, String)> {
    let Some(map) = streams.get("streams").and_then(Value::as_object) else {
        errors.push(StreamError::new(
            format!("{base}.streams"),
            "expected an object of streams by name",
        ));
        return Vec::new();
    };
    let env = |k: &str| std::env::var(k).ok();
    let mut out = Vec::new();
    for (id, cfg) in map {
        let path = format!("{base}.streams.{id}");
        let mut cfg = cfg.clone();
        match context::substitute_env(&mut cfg, &path, &env) {
            Ok(()) => out.push((id.clone(), cfg, path)),
            Err(e) => errors.push(e),
        }
    }
    out
}

impl Engine {
    /// Creates the engine; its counters are registered in `registry`.
    pub fn new(registry: &prometheus::Registry, idle: Duration) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                metrics: StreamMetrics::new(registry),
                idle,
                collector: Mutex::new(None),
            }),
        }
    }

    /// Builds an API's streams from its `x-tyk-streaming` block (`base` is that block's path,
    /// for errors). Streams whose config did not change since the last load keep their running
    /// instances; streams without `$tyk_context` placeholders start now.
    pub fn load(
        &self,
        api_id: &str,
        streams: &Value,
        base: &str,
    ) -> Result<Arc<ApiStreams>, Vec<StreamError>> {
        self.ensure_collector();
        let mut errors = Vec::new();
        let list = stream_list(streams, base, &mut errors);
        let routes = routes(&list, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let slots: Vec<Arc<StreamSlot>> = list
            .into_iter()
            .map(|(id, cfg, path)| self.slot(api_id, &id, cfg, path))
            .collect();

        for slot in &slots {
            if !slot.templated
                && let Err(e) = slot.instance_for(&RequestContext::default())
            {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(ApiStreams { slots, routes }))
    }

    fn slot(&self, api_id: &str, id: &str, cfg: Value, path: String) -> Arc<StreamSlot> {
        let mut all = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = (api_id.to_string(), id.to_string());
        if let Some(old) = all.get(&key).and_then(Weak::upgrade)
            && old.template == cfg
        {
            return old;
        }
        let slot = Arc::new(StreamSlot {
            api_id: api_id.to_string(),
            id: id.to_string(),
            templated: context::is_templated(&cfg),
            template: cfg,
            path,
            instances: Mutex::new(HashMap::new()),
            stats: Arc::new(self.inner.metrics.stream(api_id, id)),
        });
        all.insert(key, Arc::downgrade(&slot));
        slot
    }

    /// Every live stream, for the control API.
    pub fn describe(&self) -> Value {
        let all = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<Value> = all
            .values()
            .filter_map(Weak::upgrade)
            .map(|s| s.describe())
            .collect();
        list.sort_by_key(|v| (v["api_id"].to_string(), v["stream"].to_string()));
        Value::Array(list)
    }

    fn ensure_collector(&self) {
        let mut c = self
            .inner
            .collector
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if c.is_some() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let every =
            (self.inner.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        *c = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let live: Vec<Arc<StreamSlot>> = {
                    let mut all = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
                    all.retain(|_, w| w.strong_count() > 0);
                    all.values().filter_map(Weak::upgrade).collect()
                };
                for slot in live {
                    slot.collect(inner.idle);
                }
            }
        }));
    }
}

impl ApiStreams {
    /// True when `path` (after the listen path) is one of the API's stream endpoints.
    pub fn owns(&self, path: &str) -> bool {
        self.route(path).is_some()
    }

    fn route(&self, path: &str) -> Option<&Route> {
        let path = if path.is_empty() { "/" } else { path };
        self.routes.iter().find(|r| r.path == path).or_else(|| {
            self.routes
                .iter()
                .filter(|r| r.path.ends_with('/') && path.starts_with(r.path.as_str()))
                .max_by_key(|r| r.path.len())
        })
    }

    /// Serves a request whose path (after the listen path) is `rest`; `None` when no stream
    /// endpoint has that path. `context` makes the request's `$tyk_context` values, called
    /// only for a templated stream.
    pub async fn serve<B>(
        &self,
        mut req: Request<B>,
        rest: &str,
        remote: IpAddr,
        context: impl FnOnce(&http::request::Parts) -> RequestContext,
    ) -> Option<Response<StreamResponseBody>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let route = self.route(rest)?;
        let slot = &self.slots[route.slot];
        // The request's context is only read by templated streams.
        let ctx = if slot.templated {
            let (parts, body) = req.into_parts();
            let ctx = context(&parts);
            req = Request::from_parts(parts, body);
            ctx
        } else {
            RequestContext::default()
        };
        let inst = match slot.instance_for(&ctx) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(api_id = %slot.api_id, stream = %slot.id, error = %e, "stream instance could not start");
                return Some(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("stream `{}` could not start: {e}", slot.id),
                ));
            }
        };
        let guard = inst.activity();
        let upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
        let resp = match (route.endpoint, &inst.plan.input) {
            (Endpoint::InputPath, Input::HttpServer(input)) => {
                binding::input_request(input, guard, req, remote).await
            }
            (Endpoint::InputWs, Input::HttpServer(input)) => {
                let (parts, _) = req.into_parts();
                let meta = binding::request_metadata(&parts, remote);
                let input = input.clone();
                binding::websocket(&parts.headers, upgrade, move |ws| {
                    binding::input_ws(input, guard, meta, ws)
                })
            }
            (Endpoint::OutputPoll | Endpoint::OutputStream | Endpoint::OutputWs, _) => {
                let Some(out) = inst.plan.http_outputs.iter().find(|o| {
                    let p = match route.endpoint {
                        Endpoint::OutputPoll => &o.cfg.path,
                        Endpoint::OutputStream => &o.cfg.stream_path,
                        _ => &o.cfg.ws_path,
                    };
                    *p == route.path
                }) else {
                    return Some(plain(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#));
                };
                let out = out.clone();
                match route.endpoint {
                    Endpoint::OutputPoll => binding::output_poll(&out, guard, req.method()).await,
                    Endpoint::OutputStream => binding::output_stream(&out, guard, req.headers()),
                    _ => {
                        let consumer = req.uri().query().and_then(|q| {
                            url::form_urlencoded::parse(q.as_bytes())
                                .find(|(k, _)| k == "consumer")
                                .map(|(_, v)| v.into_owned())
                                .filter(|v| !v.is_empty())
                        });
                        binding::websocket(req.headers(), upgrade, move |ws| {
                            binding::output_ws(out, guard, consumer, ws)
                        })
                    }
                }
            }
            _ => plain(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
        };
        Some(resp)
    }

    /// The API's streams.
    pub fn slots(&self) -> &[Arc<StreamSlot>] {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "x-tyk-streaming";

    fn http_stream(input: Value, output: Value) -> Value {
        json!({"input": {"http_server": input}, "output": {"http_server": output}})
    }

    #[test]
    fn written_paths_that_collide_are_an_error_naming_both_streams() {
        let streams = json!({"streams": {
            "Alpha": http_stream(json!({"path": "/in"}), json!({"path": "/a-out"})),
            "Beta": http_stream(json!({"path": "/in"}), json!({"path": "/b-out"})),
        }});
        let errors = check(&streams, BASE).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert!(e.path.starts_with("x-tyk-streaming.streams."), "{}", e.path);
        let text = e.to_string();
        assert!(text.contains("Alpha") && text.contains("Beta"), "{text}");
        assert!(e.reason.contains("`/in`"), "{}", e.reason);
    }

    #[test]
    fn an_input_and_an_output_path_of_two_streams_collide_too() {
        let streams = json!({"streams": {
            "Alpha": http_stream(json!({"path": "/x"}), json!({"path": "/a"})),
            "Beta": http_stream(json!({"path": "/b"}), json!({"path": "/x"})),
        }});
        let errors = check(&streams, BASE).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("Alpha"));
        assert!(errors[0].to_string().contains("Beta"));
    }

    #[test]
    fn defaulted_paths_that_collide_are_not_an_error() {
        let streams = json!({"streams": {
            "Alpha": http_stream(json!({}), json!({})),
            "Beta": http_stream(json!({}), json!({})),
        }});
        assert_eq!(check(&streams, BASE), Ok(()));
    }

    #[test]
    fn a_written_path_meeting_a_defaulted_one_is_not_an_error() {
        let streams = json!({"streams": {
            "Alpha": http_stream(json!({"path": "/get"}), json!({"path": "/a"})),
            "Beta": http_stream(json!({"path": "/b"}), json!({})),
        }});
        assert_eq!(check(&streams, BASE), Ok(()));
    }

    #[test]
    fn check_collects_every_stream_error() {
        let streams = json!({"streams": {
            "Alpha": {"input": {"http_server": {}}, "output": {"drop": {}}, "metrics": {}},
            "Beta": {"input": {"aws_sqs": {}}, "output": {"drop": {}}},
            "Gamma": {"input": {"http_server": {"path": "${WEIR_TEST_UNSET_VAR_7F3A}"}},
                      "output": {"drop": {}}},
        }});
        let mut paths: Vec<String> = check(&streams, BASE)
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "x-tyk-streaming.streams.Alpha.metrics",
                "x-tyk-streaming.streams.Beta.input.aws_sqs",
                "x-tyk-streaming.streams.Gamma.input.http_server.path",
            ]
        );
    }

    #[test]
    fn check_needs_a_streams_object() {
        let errors = check(&json!({"stream": {}}), BASE).unwrap_err();
        assert_eq!(errors[0].path, "x-tyk-streaming.streams");
        assert_eq!(check(&json!({"streams": {}}), BASE), Ok(()));
    }

    #[tokio::test]
    async fn a_defaulted_path_that_collides_is_not_mounted() {
        let engine = Engine::new(&prometheus::Registry::new(), DEFAULT_IDLE);
        let streams = json!({"streams": {
            "Alpha": http_stream(json!({"path": "/alpha"}), json!({})),
            "Beta": http_stream(json!({"path": "/beta"}), json!({"path": "/beta/out"})),
        }});
        let api = engine.load("api1", &streams, BASE).unwrap();
        assert!(api.owns("/alpha"));
        assert!(api.owns("/beta"));
        assert!(api.owns("/beta/out"));
        // Both have a defaulted output stream path `/get/stream`: neither is mounted.
        assert!(!api.owns("/get/stream"));
        assert!(
            !api.owns("/post"),
            "a written input path replaces the default"
        );
        assert_eq!(api.slots().len(), 2);
    }
}
