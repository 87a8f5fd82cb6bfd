//! Weir's JavaScript plugin driver (`"driver": "otto"` or `"javascript"`): runs Tyk JSVM
//! middleware, unchanged, in QuickJS (through `rquickjs`), with each loaded plugin's hooks on
//! its own OS threads. QuickJS is compiled from the C sources shipped inside the
//! `rquickjs-sys` crate, with the bindings it ships for the target: the build downloads
//! nothing (its only download, a WASI SDK, happens for WASI targets alone).
//!
//! # Tyk's JSVM API, as this driver reproduces it
//! Facts from Tyk's `gateway/mw_js_plugin.go` (`coreJS`, `DynamicMiddleware`),
//! `gateway/mw_js_plugin_response.go`, `gateway/jsvm_api.go` and `gateway/api_loader.go`:
//! - Every `.js` file a hook's `path` names runs at load in the same context, after a prelude
//!   with `TykJS.TykMiddleware.NewMiddleware`; a hook's `name` is the global that holds the
//!   middleware (`var mw = new TykJS.TykMiddleware.NewMiddleware({})`), and Tyk runs
//!   `name.DoProcessRequest(request, session, config)`.
//! - `request` is Tyk's `MiniRequestObject`: `Headers` (canonical names, arrays of values,
//!   `Host` included), `SetHeaders`, `DeleteHeaders`, `Body` (text), `URL`, `Params`,
//!   `AddParams`, `ExtendedParams`, `DeleteParams`, `ReturnOverrides` {`ResponseCode` (0 = no
//!   override), `ResponseError`, `ResponseBody`, `ResponseHeaders`, `OverrideError`},
//!   `IgnoreBody`, `Method`, `RequestURI`, `Scheme`. `config` is `{OrgID, APIID, config_data}`.
//! - `mw.ReturnData(request, meta)` answers `{Request, SessionMeta}`; `mw.ReturnAuthData(request,
//!   session)` answers `{Request, Session}`. Applied as Tyk does: the body (unless
//!   `IgnoreBody`), `URL`, `DeleteHeaders` then `SetHeaders`, `DeleteParams` then `AddParams` then
//!   `ExtendedParams`, then `ReturnOverrides` (which short-circuit the request).
//! - `SessionMeta` replaces the session's `meta_data` only for post-auth hooks declared with
//!   `require_session` (Tyk's `!Pre && UseSession`); otherwise it is ignored.
//! - Custom auth: the returned `Session` becomes the request's session, keyed by the returned
//!   object's top-level `AuthValue` (Tyk's `VMReturnObject.AuthValue`, which `ReturnAuthData`
//!   leaves empty).
//! - Response hooks: `name.DoProcessResponse(response, request, session, config)` with
//!   `response` = `{StatusCode, Body, Headers, SetHeaders, DeleteHeaders}`;
//!   `mw.ReturnResponseData(response, meta)`. Deletes, then sets headers; the body is always the
//!   returned `Body`; `StatusCode` applies when not 0.
//! - Globals: `log`, `rawlog`, `b64enc`, `b64dec`, `rawb64enc`, `rawb64dec`,
//!   `TykMakeHttpRequest(json)` (answers a JSON string `{Code, Body, Headers, code, body,
//!   headers}`, or `undefined` when the call fails), `TykGetKeyData`, `TykSetKeyData`,
//!   `TykBatchRequest`, `TykJsResponse`.
//!
//! # Where Weir decides
//! - Tyk copies its VM per request (otto) or builds a fresh one (goja); Weir keeps one context
//!   per worker thread, so globals a hook sets persist between calls on that thread.
//! - The session a post-auth or response hook sees is the request's own whether or not the
//!   hook declares `require_session` (Tyk passes an empty one then); writing `SessionMeta` back
//!   still needs `require_session`.
//! - A changed `Method` is applied (Tyk ignores it).
//! - An auth hook that sets no `AuthValue` keys its session by the hook's name (Tyk's key is
//!   then empty: every caller of the API shares one rate limit and quota, as here).
//! - `TykGetKeyData` / `TykSetKeyData` work through a [`KeyAccess`] the gateway installs; with
//!   none, they throw. `TykBatchRequest` throws: batch requests are not supported.
//! - A hook whose global is missing refuses the load (Tyk would fail each request).
//! - Stream hooks (Weir's, not Tyk's; `driver_specific_middleware.otto_streams` or
//!   `javascript_streams`): a global function `fn(message, session, config)` with
//!   `message.payload` a `Uint8Array`, `direction`, `method`, `index`, `headers`. Returning the
//!   message passes it (with its payload replaced if the hook assigned a new one); `null`,
//!   `undefined` or `false` drops it; an object with a numeric `grpc_status` ends the call with
//!   it and `grpc_message`. `WeirProto.decode(bytes, schema)` / `WeirProto.encode(obj, schema)`
//!   read and write protobuf.
//!
//! - Virtual endpoints: [`JsDriver::load_virtual`] loads a `response_function_name` from a
//!   file or base64 blob; [`VirtualEndpoint::call`] runs it. The proxy matches the paths
//!   (`weir-proxy`'s virtual endpoints phase).
//!
//! # Faults stay local
//! A thrown exception fails only its request ([`PluginError::Crashed`]). Each call runs under
//! a deadline (the definition's `custom_middleware.timeout`, else `jsvm_timeout`) that QuickJS's
//! interrupt handler enforces with an exception scripts cannot catch, so an endless loop ends
//! with [`PluginError::Timeout`] and the worker serves the next call. Each runtime has a memory
//! limit; a script that reaches it fails with [`PluginError::Crashed`] and its worker rebuilds
//! its runtime from the plugin's sources before the next call. Top-level code runs at load
//! under the same limits; a syntax error there refuses the load naming the file and line.

mod convert;
mod engine;
mod globals;
mod stream;
mod virtual_endpoint;
mod worker;

pub use virtual_endpoint::VirtualEndpoint;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_globals;
#[cfg(test)]
mod tests_proto;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use weir_core::plugin::{
    BoxFuture, Driver, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageVerdict,
    PluginError, PluginSpec,
};
use weir_core::worker_hooks::{call_on_worker, message_on_worker};

use worker::Pool;

/// Settings of the JavaScript driver (Tyk's `enable_jsvm` and `jsvm_timeout`, plus limits).
#[derive(Debug, Clone)]
pub struct JsDriverOptions {
    /// `enable_jsvm`: when false, every API that asks for a JS driver is refused at load.
    pub enabled: bool,
    /// `jsvm_timeout`: a hook's deadline when its API sets no `custom_middleware.timeout`.
    /// Default 5 s, as Tyk's.
    pub default_timeout: Duration,
    /// Most memory one JS runtime may allocate. Default 64 MiB.
    pub memory_limit: usize,
    /// Worker threads (each with its own runtime) per loaded plugin. Default 2.
    pub threads: usize,
}

impl Default for JsDriverOptions {
    fn default() -> Self {
        JsDriverOptions {
            enabled: false,
            default_timeout: Duration::from_secs(5),
            memory_limit: 64 << 20,
            threads: 2,
        }
    }
}

/// Reads and writes keys for `TykGetKeyData` / `TykSetKeyData`; the gateway installs one with
/// [`JsDriver::set_key_access`]. Called on the plugin's worker threads, which may block.
pub trait KeyAccess: Send + Sync {
    /// The session of `key` as Tyk's REST JSON, when the key exists (`api_id` may be empty).
    fn get(&self, key: &str, api_id: &str) -> Option<serde_json::Value>;
    /// Creates or replaces `key` with `session` (Tyk's REST JSON).
    fn set(&self, key: &str, session: serde_json::Value) -> Result<(), String>;
}

/// Why a JS plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A source file could not be read.
    #[error("js plugin `{file}`: cannot read it: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        reason: String,
    },
    /// A source file does not compile or fails while its top-level code runs.
    #[error("js plugin `{file}`: {reason}")]
    Compile {
        /// The file.
        file: String,
        /// The engine's message, with the line.
        reason: String,
    },
    /// The definition asks for something this driver cannot run.
    #[error("{0}")]
    Unsupported(String),
}

/// The JavaScript plugin driver.
#[derive(Default)]
pub struct JsDriver {
    options: RwLock<JsDriverOptions>,
    keys: RwLock<Option<Arc<dyn KeyAccess>>>,
}

impl JsDriver {
    /// A driver with these settings.
    pub fn new(options: JsDriverOptions) -> Self {
        JsDriver {
            options: RwLock::new(options),
            keys: RwLock::new(None),
        }
    }

    /// Replaces the settings (at a reload): plugins loaded from now on use them; loaded ones
    /// keep theirs.
    pub fn configure(&self, options: JsDriverOptions) {
        *self.options.write().unwrap_or_else(PoisonError::into_inner) = options;
    }

    /// The settings plugins are loaded with now.
    pub fn options(&self) -> JsDriverOptions {
        self.options
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs (or removes) what `TykGetKeyData` / `TykSetKeyData` use, for plugins loaded
    /// from now on.
    pub fn set_key_access(&self, keys: Option<Arc<dyn KeyAccess>>) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// The installed key access, if any.
    fn key_access(&self) -> Option<Arc<dyn KeyAccess>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads `spec` into a [`JsPlugin`] (what [`Driver::load`] does, with a typed error).
    pub fn load_plugin(&self, spec: &PluginSpec) -> Result<JsPlugin, LoadError> {
        let options = self.options();
        let shown = spec.file.display();
        if !options.enabled {
            return Err(LoadError::Unsupported(format!(
                "{shown}: JavaScript plugins need `enable_jsvm: true` in the gateway config \
                 (driver `{}`)",
                spec.driver
            )));
        }
        if spec.hooks.is_empty() {
            return Err(LoadError::Unsupported(format!(
                "{shown}: custom_middleware declares no hooks for the {} driver",
                spec.driver
            )));
        }
        let mut files: Vec<PathBuf> = Vec::new();
        for hook in &spec.hooks {
            let path = match &hook.path {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => {
                    return Err(LoadError::Unsupported(format!(
                        "{shown}: {} hook `{}` has no `path`: the {} driver loads the .js file \
                         (or bundle directory) it names",
                        hook.kind.as_str(),
                        hook.name,
                        spec.driver
                    )));
                }
            };
            for file in js_files(path)? {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Read {
                file: file.display().to_string(),
                reason: e.to_string(),
            })?;
            sources.push((file, text));
        }
        let hooks: Vec<HookEntry> = spec
            .hooks
            .iter()
            .map(|h| HookEntry {
                kind: h.kind,
                name: h.name.clone(),
                require_session: h.require_session,
            })
            .collect();
        let setup = Arc::new(worker::Setup {
            sources,
            hooks: hooks.clone(),
            functions: Vec::new(),
            deadline: spec.timeout.unwrap_or(options.default_timeout),
            memory_limit: options.memory_limit,
            keys: self.key_access(),
            api: spec.api.clone(),
        });
        let pool = Pool::start(setup, options.threads)?;
        Ok(JsPlugin {
            pool,
            hooks: Arc::new(hooks),
        })
    }
}

/// One declared hook, as the workers need it.
#[derive(Debug, Clone)]
pub(crate) struct HookEntry {
    pub(crate) kind: HookKind,
    pub(crate) name: String,
    pub(crate) require_session: bool,
}

/// The `.js` files a hook's `path` names: the file itself, or every `.js` file of a bundle
/// directory, by name.
fn js_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read_err = |e: std::io::Error| LoadError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    };
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let file = entry.map_err(read_err)?.path();
        if file.extension().is_some_and(|e| e == "js") {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

impl Driver for JsDriver {
    fn names(&self) -> &'static [&'static str] {
        &["otto", "javascript"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        match self.load_plugin(spec) {
            Ok(plugin) => Ok(Arc::new(plugin)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `jsvm_timeout`: the proxy's deadline for a JS hook too, so it never cuts a hook the
    /// engine would still let run (nor lets one run past it).
    fn default_timeout(&self) -> Option<Duration> {
        Some(self.options().default_timeout)
    }

    fn load_virtual(
        &self,
        spec: &weir_core::virtual_endpoint::VirtualSpec,
    ) -> Result<Arc<dyn weir_core::virtual_endpoint::VirtualHandler>, String> {
        let endpoint = self
            .load_virtual(
                spec.api.clone(),
                &spec.code,
                &spec.function,
                Some(spec.timeout),
            )
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(endpoint))
    }
}

impl weir_core::virtual_endpoint::VirtualHandler for VirtualEndpoint {
    fn call(
        &self,
        request: weir_core::virtual_endpoint::VirtualRequest,
    ) -> BoxFuture<'_, Result<weir_core::virtual_endpoint::VirtualAnswer, PluginError>> {
        Box::pin(VirtualEndpoint::call(self, request))
    }
}

/// An API's JS hooks, loaded: a pool of worker threads, each with the plugin's files loaded
/// into its own QuickJS runtime.
pub struct JsPlugin {
    pool: Pool,
    hooks: Arc<Vec<HookEntry>>,
}

impl JsPlugin {
    fn check_declared(&self, kind: HookKind, name: &str) -> Result<(), PluginError> {
        let declared = self.hooks.iter().map(|h| (h.kind, h.name.as_str()));
        weir_core::plugin::check_declared(declared, kind, name, "js")
    }
}

impl LoadedPlugin for JsPlugin {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            self.check_declared(ctx.kind, &ctx.name)?;
            call_on_worker(ctx, |owned, hook| async move {
                self.pool.run_hook(owned, &hook).await
            })
            .await
        })
    }

    fn on_grpc_message<'a>(
        &'a self,
        msg: &'a mut GrpcMessage,
    ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
        Box::pin(async move {
            self.check_declared(HookKind::GrpcMessage, &msg.hook)?;
            message_on_worker(msg, |m| self.pool.run_message(m)).await
        })
    }
}
