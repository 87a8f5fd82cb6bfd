//! [`WasmPlugin`]: one API's Wasm hooks, each with a pool of warm instances.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::InstancePre;
use weir_core::plugin::{
    BoxFuture, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageVerdict, PluginError,
    PluginSpec,
};

use crate::Core;
use crate::grpc_ext;
use crate::instance::{InstanceConfig, WasmInstance};
use crate::state::HostState;

/// Instances of one module for one API load. An instance goes back to the pool only after a
/// clean call; one that trapped, timed out or misbehaved is dropped, and the next call builds a
/// fresh one.
struct Pool {
    pre: InstancePre<HostState>,
    cfg: InstanceConfig,
    idle: Mutex<Vec<WasmInstance>>,
    max_idle: usize,
}

impl Pool {
    fn take(&self) -> Result<WasmInstance, String> {
        if let Some(i) = crate::mem::lock(&self.idle).pop() {
            return Ok(i);
        }
        WasmInstance::new(&self.pre, &self.cfg)
    }

    fn give_back(&self, inst: WasmInstance) {
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
}

/// An API's loaded Wasm hooks.
pub(crate) struct WasmPlugin {
    core: Arc<Core>,
    hooks: Vec<Hook>,
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
        let plugin_config = spec
            .api
            .config_data
            .clone()
            .map(Bytes::from)
            .unwrap_or_else(|| match &spec.config_data {
                serde_json::Value::Null => Bytes::new(),
                v => Bytes::from(v.to_string()),
            });
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
                        upstreams: core.upstreams.clone(),
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
            });
        }
        Ok(WasmPlugin { core, hooks })
    }
}

impl WasmPlugin {
    fn hook(&self, kind: HookKind, name: &str) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.kind == kind && h.name == name)
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
            let mut inst = hook.pool.take().map_err(|r| starting(&ctx.name, r))?;
            let result = inst.run(ctx, &self.core.client).await;
            if result.is_ok() {
                hook.pool.give_back(inst);
            }
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
