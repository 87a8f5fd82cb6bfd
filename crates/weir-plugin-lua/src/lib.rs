//! Weir's Lua plugin driver (`"driver": "lua"`): runs Tyk Lua middleware, unchanged, in a
//! vendored Lua 5.4 (through `mlua`), with each loaded plugin's hooks on its own OS threads.
//!
//! # Tyk's Lua API, as this driver reproduces it
//! Facts taken from Tyk's legacy Lua coprocess (`coprocess/lua/bundle.lua`,
//! `coprocess/lua/tyk/core.lua`, `coprocess/lua/tyk/request.lua`, `gateway/coprocess_lua.go`):
//! - Tyk loads every `.lua` file of the bundle's `file_list` (and of `middleware/lua/`) into
//!   one state with `luaL_dostring`, then looks the hook up as a global: `_G[hook_name]`.
//! - The coprocess `Object` reaches Lua as a table decoded from its JSON: `request` (`headers`,
//!   `set_headers`, `delete_headers`, `body`, `raw_body`, `url`, `params`, `add_params`,
//!   `extended_params`, `delete_params`, `return_overrides`, `method`, `request_uri`,
//!   `scheme`), `session`, `metadata`, `spec` (`OrgID`, `APIID`, `bundle_hash`,
//!   `config_data`). `return_overrides.response_code` is `-1` when there is no override.
//!   `headers` and `params` are read-only (first value of each, header names in Go's
//!   canonical spelling, `Host` included); changes go through `set_headers`,
//!   `delete_headers`, `add_params`, `delete_params`. The session uses the proto's names
//!   (`metadata`, not the REST `meta_data`); Weir merges a returned session over the sent one.
//! - A hook is `function MyPre(request, session, spec) ... return request, session end`; the
//!   returned `request` and `session` replace the object's. An auth hook is documented as
//!   `MyAuth(request, session, metadata, spec)` returning `request, session, metadata`.
//! - `tyk.req.set_header(name, value)` writes `object.request.set_headers[name] = value` on a
//!   global `object` (the table the hook's `request` argument is part of). Later Tyk samples
//!   also use `tyk.req.clear_header(name)` and `tyk.req.get_headers()`.
//! - Tyk's bundle requires `cjson`; this driver provides `cjson.encode` / `cjson.decode`.
//! - After the call, Tyk applies the object as for any coprocess plugin: `raw_body`, then
//!   `delete_headers` before `set_headers`, `delete_params` before `add_params`, `url`,
//!   `method`, and `return_overrides` (which short-circuit the request).
//!
//! # Where Weir decides (Tyk's Lua driver was never finished on these points)
//! - Tyk calls an auth hook with three arguments (a typo in its `dispatch` means the
//!   four-argument form never ran); Weir calls auth hooks as documented, with `metadata`
//!   before `spec`, and takes the third return value as the metadata.
//! - A hook that returns nothing keeps the request and session it was given (Tyk would have
//!   sent a null request back).
//! - `body` changed by the hook replaces the body (Tyk reads only `raw_body`); otherwise a
//!   changed `raw_body` does.
//! - Tyk made a new Lua state per request; Weir keeps one state per worker thread, so
//!   globals persist between calls on that thread. `os.exit` is removed and `print` logs.
//! - Response hooks are refused at load: Tyk's Lua driver never ran them.
//! - A hook name with no global function behind it refuses the load (Tyk silently passed the
//!   request on).
//! - Stream hooks (Weir's, not Tyk's): `fn(message, session, spec)` with `message.payload`
//!   (bytes), `direction`, `method`, `index`, `headers`. Returning the message passes it
//!   (with its payload replaced if the hook assigned a new one); returning `nil` or `false`
//!   drops it; a returned table with a numeric `grpc_status` ends the call with that status
//!   and `grpc_message`.
//!
//! # Faults stay local
//! A Lua error fails only its request ([`PluginError::Crashed`]). Each call runs in a fresh
//! coroutine with a deadline ([`LuaDriverOptions::call_deadline`]) checked every 1000
//! instructions by a global count hook; past it the hook yields, which `pcall` cannot catch
//! and which reaches coroutines the script made, so an endless loop ends with
//! [`PluginError::Timeout`] and the state serves the next call. Loop-free C work (one huge
//! `string.rep`, a pathological pattern) is not counted in instructions: the memory limit and
//! the gateway's own hook timeout bound it. Each state has a memory limit (mlua's
//! `set_memory_limit`: Lua's allocator refuses past it, a [`PluginError::Crashed`]). Top-level
//! code of the files runs at load under the same limits; a syntax error, a runtime error or
//! an endless loop there refuses the load, naming the file (and line).

mod convert;
mod worker;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use weir_core::plugin::{
    BoxFuture, Driver, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageVerdict,
    PluginError, PluginSpec,
};
use weir_core::worker_hooks::{call_on_worker, message_on_worker};

use worker::Pool;

/// Limits for the Lua driver.
#[derive(Debug, Clone)]
pub struct LuaDriverOptions {
    /// Longest one hook call may run before it is interrupted, when the API's definition sets
    /// no `custom_middleware.timeout`. Default 1 s.
    pub call_deadline: Duration,
    /// Most memory one Lua state may allocate. Default 64 MiB.
    pub memory_limit: usize,
    /// Worker threads (each with its own Lua state) per loaded plugin. Default 2.
    pub threads: usize,
}

impl Default for LuaDriverOptions {
    fn default() -> Self {
        LuaDriverOptions {
            call_deadline: Duration::from_secs(1),
            memory_limit: 64 << 20,
            threads: 2,
        }
    }
}

/// Why a Lua plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A source file could not be read.
    #[error("lua plugin `{file}`: cannot read it: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        reason: String,
    },
    /// A source file does not compile or fails while it runs at load.
    #[error("lua plugin `{file}`: {reason}")]
    Compile {
        /// The file.
        file: String,
        /// Lua's message, with the line.
        reason: String,
    },
    /// The definition asks for something this driver cannot run.
    #[error("{0}")]
    Unsupported(String),
}

/// The Lua plugin driver.
#[derive(Debug, Default)]
pub struct LuaDriver {
    options: LuaDriverOptions,
}

impl LuaDriver {
    /// A driver with these limits.
    pub fn new(options: LuaDriverOptions) -> Self {
        LuaDriver { options }
    }

    /// Loads `spec` into a [`LuaPlugin`] (what [`Driver::load`] does, with a typed error).
    pub fn load_plugin(&self, spec: &PluginSpec) -> Result<LuaPlugin, LoadError> {
        let shown = spec.file.display();
        if spec.hooks.is_empty() {
            return Err(LoadError::Unsupported(format!(
                "{shown}: custom_middleware declares no hooks for the lua driver"
            )));
        }
        let mut files: Vec<PathBuf> = Vec::new();
        for hook in &spec.hooks {
            if hook.kind == HookKind::Response {
                return Err(LoadError::Unsupported(format!(
                    "{shown}: response hook `{}`: the lua driver runs no response hooks \
                     (Tyk's Lua driver had none either)",
                    hook.name
                )));
            }
            let path = match &hook.path {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => {
                    return Err(LoadError::Unsupported(format!(
                        "{shown}: {} hook `{}` has no `path`: the lua driver loads the file (or \
                         bundle directory) it names",
                        hook.kind.as_str(),
                        hook.name
                    )));
                }
            };
            for file in lua_files(path)? {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read(&file).map_err(|e| LoadError::Read {
                file: file.display().to_string(),
                reason: e.to_string(),
            })?;
            sources.push((file, text));
        }
        let hooks: Vec<(HookKind, String)> = spec
            .hooks
            .iter()
            .map(|h| (h.kind, h.name.clone()))
            .collect();
        // The definition's `custom_middleware.timeout` is this API's deadline.
        let mut options = self.options.clone();
        if let Some(timeout) = spec.timeout {
            options.call_deadline = timeout;
        }
        let pool = Pool::start(&options, &sources, &hooks)?;
        Ok(LuaPlugin {
            pool,
            hooks: Arc::new(hooks),
        })
    }
}

/// The `.lua` files a hook's `path` names: the file itself, or every `.lua` file of a bundle
/// directory, by name.
fn lua_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
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
        if file.extension().is_some_and(|e| e == "lua") {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

impl Driver for LuaDriver {
    fn names(&self) -> &'static [&'static str] {
        &["lua"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        match self.load_plugin(spec) {
            Ok(plugin) => Ok(Arc::new(plugin)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// An API's Lua hooks, loaded: a pool of worker threads, each with the plugin's files loaded
/// into its own Lua state.
pub struct LuaPlugin {
    pool: Pool,
    hooks: Arc<Vec<(HookKind, String)>>,
}

impl LuaPlugin {
    fn check_declared(&self, kind: HookKind, name: &str) -> Result<(), PluginError> {
        let declared = self.hooks.iter().map(|(k, n)| (*k, n.as_str()));
        weir_core::plugin::check_declared(declared, kind, name, "lua")
    }
}

impl LoadedPlugin for LuaPlugin {
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
