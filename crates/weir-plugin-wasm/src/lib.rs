//! Weir's Wasm plugin driver (`custom_middleware.driver = "wasm"`): the host side of the
//! proxy-wasm ABI v0.2.1 on wasmtime, so filters written for Envoy with the proxy-wasm SDKs run
//! as Weir hooks.
//!
//! Each hook `{name, path: file.wasm}` names a module. Modules are compiled once per distinct
//! file content (the driver caches them, so reloading an unchanged file does not recompile),
//! and every API load gets its own small pool of instances per module. Each instance starts
//! its root context with `proxy_on_vm_start` and configures it with `proxy_on_configure`,
//! where the *plugin configuration* is the API's `config_data` (JSON text, or a string's own
//! bytes). A root that sets a tick period gets an instance of its own that ticks.
//!
//! A filter (a module under a hook name) gets one HTTP context per request, as in Envoy:
//! request hooks run `proxy_on_request_headers` / `_body`, a `response` hook of the same
//! filter runs `proxy_on_response_headers` / `_body` on the same context id, and after the
//! filter's last hook `proxy_on_done`, `proxy_on_log` and `proxy_on_delete` run once. Filters
//! call out with `proxy_http_call` and `proxy_grpc_call` / `proxy_grpc_stream` to upstreams
//! named in the gateway config. See the crate README for how the ABI maps onto
//! [`HookContext`](weir_core::plugin::HookContext).
//!
//! Stream hooks (`HookKind::GrpcMessage`) use Weir's extension: the module exports
//! `proxy_on_grpc_message` and reads, replaces or ends each gRPC message through `weir_*` host
//! functions (`docs/stream-hooks-wasm.md`).
//!
//! Wasm runs synchronously inside the hook's future: filters are short, reusing a warm
//! instance costs a few microseconds, and the epoch deadline bounds the worst case a
//! misbehaving filter can hold a runtime worker. Only calls wait, and that wait is an
//! ordinary `.await` outside wasm.

mod abi;
mod callout;
mod delivery;
mod fields;
mod grpc_call;
mod grpc_ext;
mod host;
mod host_shared;
mod instance;
mod mem;
mod plugin;
mod props;
mod state;
mod timer;
mod wasi;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{Config, Engine, InstancePre, Linker, Module};
use weir_core::plugin::{Driver, LoadedPlugin, PluginSpec};

use crate::state::{HostState, Shared, Upstream};

/// How often the engine's epoch advances; deadlines are rounded up to this.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and settings of a [`WasmDriver`].
#[derive(Debug, Clone)]
pub struct WasmOptions {
    /// Longest a filter may run in one hook call (epoch interruption; time spent awaiting its
    /// HTTP calls is not counted). Default 1 s.
    pub call_deadline: Duration,
    /// Most linear memory one instance may grow to. Default 64 MiB.
    pub memory_limit: usize,
    /// Idle instances kept per module and API. Default 8.
    pub pool_size: usize,
    /// Upstreams `proxy_http_call` and `proxy_grpc_call` may reach, by name (Envoy's cluster
    /// names): name → `http://host:port`. Default none, so every call is refused with
    /// `BAD_ARGUMENT`. The gateway config's `wasm_upstreams`.
    pub upstreams: HashMap<String, String>,
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            call_deadline: Duration::from_secs(1),
            memory_limit: 64 << 20,
            pool_size: 8,
            upstreams: HashMap::new(),
        }
    }
}

/// Stops the epoch thread when the last user of the engine goes.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled module and its pre-linked instantiation, keyed by file content.
struct Cached {
    hash: u64,
    pre: InstancePre<HostState>,
}

/// What the driver and every plugin it loaded share.
pub(crate) struct Core {
    pub engine: Engine,
    linker: Linker<HostState>,
    modules: Mutex<HashMap<PathBuf, Cached>>,
    compiled: AtomicU64,
    pub shared: Arc<Shared>,
    /// Read when an API's plugins load: a changed map applies to APIs loaded after it.
    pub upstreams: Mutex<Arc<HashMap<String, Upstream>>>,
    pub options: WasmOptions,
    pub clients: instance::Clients,
    /// Started with the first module: a gateway without Wasm APIs runs no epoch thread.
    ticker: OnceLock<Result<Ticker, String>>,
}

/// The Wasm driver.
pub struct WasmDriver {
    core: Arc<Core>,
}

impl WasmDriver {
    /// A driver with the given limits. Its first module starts one thread that advances the
    /// engine's epoch every 10 ms (it ends when the driver and every plugin it loaded are
    /// dropped).
    pub fn new(options: WasmOptions) -> Result<Self, String> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| format!("wasm engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        host::link(&mut linker).map_err(|e| format!("linking host functions: {e}"))?;
        wasi::link(&mut linker).map_err(|e| format!("linking WASI functions: {e}"))?;
        grpc_ext::link(&mut linker).map_err(|e| format!("linking weir_ functions: {e}"))?;
        let upstreams = upstream_map(&options.upstreams)?;
        Ok(WasmDriver {
            core: Arc::new(Core {
                engine,
                linker,
                modules: Mutex::new(HashMap::new()),
                compiled: AtomicU64::new(0),
                shared: Arc::new(Shared::default()),
                upstreams: Mutex::new(Arc::new(upstreams)),
                options,
                clients: instance::Clients {
                    http: callout::client(),
                    grpc: grpc_call::client(),
                },
                ticker: OnceLock::new(),
            }),
        })
    }

    /// Replaces the upstreams filters may call (a reload of the gateway config); APIs loaded
    /// from now on see the new map, requests in flight keep the one they started with.
    pub fn set_upstreams(&self, upstreams: &HashMap<String, String>) -> Result<(), String> {
        let map = upstream_map(upstreams)?;
        *crate::mem::lock(&self.core.upstreams) = Arc::new(map);
        Ok(())
    }

    /// How many modules this driver has compiled so far (a reload of unchanged files adds
    /// none).
    pub fn modules_compiled(&self) -> u64 {
        self.core.compiled.load(Ordering::Relaxed)
    }
}

/// Checks and keeps the configured upstreams.
fn upstream_map(upstreams: &HashMap<String, String>) -> Result<HashMap<String, Upstream>, String> {
    let mut out = HashMap::new();
    for (name, base) in upstreams {
        let base = base.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(format!(
                "wasm upstream `{name}`: `{base}` must be http://host:port"
            ));
        }
        out.insert(
            name.clone(),
            Upstream {
                base: base.to_owned(),
            },
        );
    }
    Ok(out)
}

impl Core {
    fn start_ticker(&self) -> Result<(), String> {
        let started = self.ticker.get_or_init(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let (ticking, stop2) = (self.engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("weir-wasm-epoch".into())
                .spawn(move || {
                    while !stop2.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        ticking.increment_epoch();
                    }
                })
                .map(|_| Ticker { stop })
                .map_err(|e| format!("starting the wasm epoch thread: {e}"))
        });
        started.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The pre-linked module for a file, compiling only when its content changed.
    pub(crate) fn module(&self, path: &Path) -> Result<InstancePre<HostState>, String> {
        self.start_ticker()?;
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        let hash = h.finish();
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let mut modules = crate::mem::lock(&self.modules);
        if let Some(c) = modules.get(&key).filter(|c| c.hash == hash) {
            return Ok(c.pre.clone());
        }
        let module = Module::new(&self.engine, &bytes)
            .map_err(|e| format!("compiling {}: {e}", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| format!("linking {}: {e}", path.display()))?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        modules.insert(
            key,
            Cached {
                hash,
                pre: pre.clone(),
            },
        );
        Ok(pre)
    }

    /// Epoch ticks for the call deadline, rounded up.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (self.options.call_deadline.as_nanos().div_ceil(tick)).max(1) as u64
    }
}

impl Driver for WasmDriver {
    fn names(&self) -> &'static [&'static str] {
        &["wasm"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        Ok(Arc::new(plugin::WasmPlugin::load(self.core.clone(), spec)?))
    }
}
