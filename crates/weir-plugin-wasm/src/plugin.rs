//! [`WasmPlugin`]: one API's Wasm hooks, each with a pool of warm instances.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::InstancePre;
use weir_core::plugin::{
    BoxFuture, DriverState, GrpcMessage, HookContext, HookKind, HookResponse, LoadedPlugin,
    MessageVerdict, PluginError, PluginSpec,
};

use crate::Core;
use crate::grpc_ext;
use crate::instance::{Clients, InstanceConfig, WasmInstance};
use crate::state::HostState;
use crate::timer;

/// Instances of one module for one API load. An instance goes back to the pool only after a
/// clean call; one that trapped, timed out or misbehaved is dropped, and the next call builds a
/// fresh one.
pub(crate) struct Pool {
    pub pre: InstancePre<HostState>,
    pub cfg: InstanceConfig,
    idle: Mutex<Vec<WasmInstance>>,
    max_idle: usize,
}

impl Pool {
    pub fn take_idle(&self) -> Option<WasmInstance> {
        crate::mem::lock(&self.idle).pop()
    }

    fn take(&self) -> Result<WasmInstance, String> {
        if let Some(i) = crate::mem::lock(&self.idle).pop() {
            return Ok(i);
        }
        WasmInstance::new(&self.pre, &self.cfg)
    }

    pub fn give_back(&self, inst: WasmInstance) {
        let mut idle = crate::mem::lock(&self.idle);
        if idle.len() < self.max_idle {
            idle.push(inst);
        }
    }
}

/// One declared hook and the pool of the module it runs.
struct Hook {
    kind: HookKind,
    name: String,
    pool: Arc<Pool>,
    /// The filter (this module under this name) has no later hook in the request: its
    /// context closes after this call.
    last: bool,
    /// The filter is declared as a `response` hook too: a local answer it gives in a request
    /// phase goes through its response callbacks, as Envoy runs a filter's encoder on its own
    /// local reply.
    answers_through_response: bool,
}

/// An API's loaded Wasm hooks.
pub(crate) struct WasmPlugin {
    core: Arc<Core>,
    hooks: Vec<Hook>,
    /// Root contexts with a timer, ticking until the plugin is dropped.
    _timers: Vec<timer::Timer>,
}

/// A hook's file: as written, or, when relative and absent there, next to the definition.
fn resolve(path: &PathBuf, spec: &PluginSpec) -> PathBuf {
    if path.is_relative()
        && !path.exists()
        && let Some(dir) = spec.file.parent()
        && dir.join(path).exists()
    {
        return dir.join(path);
    }
    path.clone()
}

impl WasmPlugin {
    /// Compiles (or reuses) each distinct module and checks that an instance starts and
    /// accepts the API's configuration, so a broken module or config fails the load.
    pub(crate) fn load(core: Arc<Core>, spec: &PluginSpec) -> Result<Self, String> {
        // The plugin configuration is the API's `config_data`: JSON text, or, when it is a
        // string, that string's own bytes (what Envoy hands a filter configured with a
        // `google.protobuf.StringValue`).
        let plugin_config = match &spec.config_data {
            serde_json::Value::String(raw) => Bytes::from(raw.clone()),
            serde_json::Value::Null => Bytes::new(),
            v => Bytes::from(v.to_string()),
        };
        let mut pools: Vec<(PathBuf, Arc<Pool>)> = Vec::new();
        let mut hooks = Vec::new();
        for decl in &spec.hooks {
            let Some(path) = decl.path.as_ref().filter(|p| !p.as_os_str().is_empty()) else {
                return Err(format!(
                    "{}: wasm hook `{}` ({}) has no `path` to a .wasm file",
                    spec.file.display(),
                    decl.name,
                    decl.kind.as_str()
                ));
            };
            let path = resolve(path, spec);
            let pool = match pools.iter().find(|(p, _)| *p == path) {
                Some((_, pool)) => pool.clone(),
                None => {
                    let pre = core
                        .module(&path)
                        .map_err(|e| format!("{}: {e}", spec.file.display()))?;
                    let cfg = InstanceConfig {
                        shared: core.shared.clone(),
                        upstreams: crate::mem::lock(&core.upstreams).clone(),
                        api: spec.api.clone(),
                        plugin_config: plugin_config.clone(),
                        root_name: decl.name.clone(),
                        memory_limit: core.options.memory_limit,
                        deadline: core.options.call_deadline,
                        deadline_ticks: core.deadline_ticks(),
                    };
                    let first = WasmInstance::new(&pre, &cfg).map_err(|e| {
                        format!(
                            "{}: wasm module {}: {e}",
                            spec.file.display(),
                            path.display()
                        )
                    })?;
                    let pool = Arc::new(Pool {
                        pre,
                        cfg,
                        idle: Mutex::new(vec![first]),
                        max_idle: core.options.pool_size.max(1),
                    });
                    pools.push((path.clone(), pool.clone()));
                    pool
                }
            };
            if decl.kind == HookKind::GrpcMessage {
                grpc_ext::check_export(pool.pre.module()).map_err(|e| {
                    format!(
                        "{}: wasm module {}: stream hook `{}` (grpc_message): {e}",
                        spec.file.display(),
                        path.display(),
                        decl.name
                    )
                })?;
            }
            hooks.push(Hook {
                kind: decl.kind,
                name: decl.name.clone(),
                pool,
                last: true,
                answers_through_response: false,
            });
        }
        link_filters(&mut hooks);
        let mut timers = Vec::new();
        for (path, pool) in &pools {
            if let Some(t) = timer::Timer::start(pool).map_err(|e| {
                format!(
                    "{}: wasm module {}: {e}",
                    spec.file.display(),
                    path.display()
                )
            })? {
                timers.push(t);
            }
        }
        Ok(WasmPlugin {
            core,
            hooks,
            _timers: timers,
        })
    }
}

impl WasmPlugin {
    fn hook(&self, kind: HookKind, name: &str) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.kind == kind && h.name == name)
    }

    /// One hook call on the request's context of the hook's filter (opened by this call when
    /// it is the filter's first).
    async fn run(
        &self,
        hook: &Hook,
        open: &mut OpenFilters,
        ctx: &mut HookContext,
    ) -> Result<(), PluginError> {
        let mut filter = match open.remove(&hook.pool, &hook.name) {
            Some(f) => f,
            None => {
                let mut inst = hook.pool.take().map_err(|r| starting(&ctx.name, r))?;
                inst.open(ctx)?;
                OpenFilter::new(hook.pool.clone(), hook.name.clone(), inst)
            }
        };
        let clients = &self.core.clients;
        let response = hook.kind == HookKind::Response;
        let inst = filter.instance();
        let mut answered = match inst.run_phase(ctx, clients, response).await {
            Ok(a) => a,
            Err(e) => {
                filter.discard();
                return Err(e);
            }
        };
        if answered && !response && hook.answers_through_response {
            let outcome = local_reply_through_response(inst, ctx, clients).await;
            if let Err(e) = outcome {
                filter.discard();
                return Err(e);
            }
            answered = true;
        }
        if hook.last || answered {
            filter.close(Some(ctx))
        } else {
            open.push(filter);
            Ok(())
        }
    }
}

/// Runs the response callbacks of the filter that answered a request locally on that answer
/// (Tyk's return overrides), in the same context, and writes back what they changed.
async fn local_reply_through_response(
    inst: &mut WasmInstance,
    ctx: &mut HookContext,
    clients: &Clients,
) -> Result<(), PluginError> {
    let o = &ctx.request.return_overrides;
    let mut headers = http::HeaderMap::new();
    for (k, v) in &o.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    ctx.response = Some(HookResponse {
        status: u16::try_from(o.response_code).unwrap_or(500),
        headers,
        body: Bytes::from(o.response_body.clone()),
    });
    let result = inst.run_phase(ctx, clients, true).await;
    if let Some(r) = ctx.response.take() {
        let o = &mut ctx.request.return_overrides;
        o.response_code = i32::from(r.status);
        o.headers = r
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        o.response_body = String::from_utf8_lossy(&r.body).into_owned();
        o.override_error = true;
    }
    result.map(|_| ())
}

/// Marks, for each hook, whether its filter (same module, same name) has a later hook in the
/// request, and whether it also runs as a response hook.
fn link_filters(hooks: &mut [Hook]) {
    let order = |k: HookKind| match k {
        HookKind::Pre => 0,
        HookKind::CustomAuth => 1,
        HookKind::PostKeyAuth => 2,
        HookKind::Post => 3,
        HookKind::Response => 4,
        HookKind::GrpcMessage => 5,
    };
    let same = |a: &Hook, b: &Hook| Arc::ptr_eq(&a.pool, &b.pool) && a.name == b.name;
    for i in 0..hooks.len() {
        let (mut last, mut responds) = (true, false);
        for j in 0..hooks.len() {
            if i == j || !same(&hooks[i], &hooks[j]) || hooks[j].kind == HookKind::GrpcMessage {
                continue;
            }
            if order(hooks[j].kind) > order(hooks[i].kind) {
                last = false;
            }
            if hooks[j].kind == HookKind::Response {
                responds = true;
            }
        }
        hooks[i].last = last;
        hooks[i].answers_through_response = responds;
    }
}

/// One filter's open HTTP context in one request: the instance it holds and its context id.
/// Dropped without [`OpenFilter::close`] (the request ended early), it still ends the
/// context, so `proxy_on_done`, `proxy_on_log` and `proxy_on_delete` run once per request.
struct OpenFilter {
    pool: Arc<Pool>,
    name: String,
    inst: Option<WasmInstance>,
}

impl OpenFilter {
    fn new(pool: Arc<Pool>, name: String, inst: WasmInstance) -> Self {
        OpenFilter {
            pool,
            name,
            inst: Some(inst),
        }
    }

    fn instance(&mut self) -> &mut WasmInstance {
        self.inst
            .as_mut()
            .expect("an open filter holds its instance")
    }

    /// The instance failed: it is dropped, never reused.
    fn discard(mut self) {
        self.inst = None;
    }

    fn close(mut self, ctx: Option<&mut HookContext>) -> Result<(), PluginError> {
        let Some(mut inst) = self.inst.take() else {
            return Ok(());
        };
        inst.close(ctx)?;
        self.pool.give_back(inst);
        Ok(())
    }
}

impl Drop for OpenFilter {
    fn drop(&mut self) {
        if let Some(mut inst) = self.inst.take() {
            match inst.close(None) {
                Ok(()) => self.pool.give_back(inst),
                Err(e) => {
                    tracing::warn!(target: "weir::wasm", hook = %self.name, error = %e, "ending a filter's context failed")
                }
            }
        }
    }
}

/// The filters a request has open, kept in its [`HookContext::driver_state`] between hooks.
#[derive(Default)]
struct OpenFilters(Vec<OpenFilter>);

impl OpenFilters {
    fn take_from(ctx: &mut HookContext) -> Self {
        ctx.driver_state
            .0
            .take()
            .and_then(|b| b.downcast::<OpenFilters>().ok())
            .map(|b| *b)
            .unwrap_or_default()
    }

    fn put_into(self, ctx: &mut HookContext) {
        if !self.0.is_empty() {
            ctx.driver_state = DriverState(Some(Box::new(self)));
        }
    }

    fn remove(&mut self, pool: &Arc<Pool>, name: &str) -> Option<OpenFilter> {
        let i = self
            .0
            .iter()
            .position(|f| Arc::ptr_eq(&f.pool, pool) && f.name == name)?;
        Some(self.0.swap_remove(i))
    }

    fn push(&mut self, f: OpenFilter) {
        self.0.push(f);
    }
}

fn starting(hook: &str, reason: String) -> PluginError {
    PluginError::Crashed {
        hook: hook.to_owned(),
        reason: format!("starting a new instance: {reason}"),
    }
}

impl LoadedPlugin for WasmPlugin {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            if ctx.kind == HookKind::GrpcMessage {
                return Err(PluginError::BadReply {
                    hook: ctx.name.clone(),
                    reason: "a stream hook runs per message, through on_grpc_message".into(),
                });
            }
            let hook = self
                .hook(ctx.kind, &ctx.name)
                .ok_or_else(|| PluginError::Unavailable {
                    hook: ctx.name.clone(),
                    reason: format!("no wasm hook `{}` for {}", ctx.name, ctx.kind.as_str()),
                })?;
            let mut open = OpenFilters::take_from(ctx);
            let result = self.run(hook, &mut open, ctx).await;
            open.put_into(ctx);
            result
        })
    }

    fn on_grpc_message<'a>(
        &'a self,
        msg: &'a mut GrpcMessage,
    ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
        Box::pin(async move {
            let hook = self.hook(HookKind::GrpcMessage, &msg.hook).ok_or_else(|| {
                PluginError::Unavailable {
                    hook: msg.hook.to_string(),
                    reason: format!("no wasm stream hook `{}`", msg.hook),
                }
            })?;
            // Each concurrent call takes its own instance; the pool grows on demand.
            let mut inst = hook.pool.take().map_err(|r| starting(&msg.hook, r))?;
            let result = inst.run_message(msg);
            if result.is_ok() {
                hook.pool.give_back(inst);
            }
            result
        })
    }
}
