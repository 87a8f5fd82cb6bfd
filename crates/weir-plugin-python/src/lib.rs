//! Weir's Python plugin driver (`"driver": "python"`): runs Tyk Python middleware, unchanged,
//! in an embedded CPython (Debian's libpython3.11, through `pyo3`), each loaded plugin's hooks
//! on worker threads of its own.
//!
//! # Tyk's Python API, as this driver reproduces it
//! From Tyk's `coprocess/python` (`tyk/decorators.py`, `tyk/middleware.py`, `tyk/request.py`,
//! `gateway.py`); the modules are Weir's own code with the same names and behaviour:
//! - `from tyk.decorators import *` gives `Hook` (any hook, told apart by its argument count),
//!   the legacy `Pre`, `Post`, `PostKeyAuth`, `CustomKeyCheck`, and `Event`.
//! - `from gateway import TykGateway as tyk`: `tyk.log(msg, level)`, `tyk.log_error(...)`,
//!   `tyk.store_data(key, value, ttl)`, `tyk.get_data(key)`, `tyk.trigger_event(name, payload)`.
//!   Logs go to Weir's log (target `weir::python`). The store is Weir's, in process: shared by
//!   every Python plugin of the gateway, keys expire after `ttl` seconds (0: never), at most
//!   65,536 keys (Tyk's used Redis). `trigger_event` logs the event.
//! - Dispatch by arguments, as Tyk's `TykMiddleware.process`: 3 `(request, session, spec)` for
//!   pre, post and post_key_auth (they return `request, session`); 4 `(request, session,
//!   metadata, spec)` for auth_check (returns `request, session, metadata`; the session and
//!   `metadata["token"]` name the key); 5 `(request, response, session, metadata, spec)` for
//!   response hooks (returns `response`).
//! - `request` has `add_header`, `delete_header`, `add_param`, `delete_param`, `get_header`,
//!   and `request.object` with the coprocess `MiniRequestObject` fields (`headers`,
//!   `set_headers`, `delete_headers`, `body`, `raw_body`, `url`, `params`, `add_params`,
//!   `delete_params`, `method`, `request_uri`, `scheme`, `return_overrides` with
//!   `response_code` (-1: none), `response_error`, `headers`, `override_error`,
//!   `response_body`). `session` has the coprocess `SessionState` fields (`rate`, `per`,
//!   `quota_max`, `metadata`, ...). `spec` is a dict: `OrgID`, `APIID`, `config_data` (JSON
//!   text), `bundle_hash`. The response has `status_code`, `headers`, `multivalue_headers`,
//!   `body`, `raw_body`.
//! - A hook's `path` is a `.py` file, or a bundle directory whose entry file is
//!   `middleware.py` (Tyk's; a bundle with a single `.py` file uses that one, as Tyk's
//!   single-file fallback does). The file's directory, and its `vendor/` folder when there is one,
//!   go on `sys.path`, so a bundle's helper modules and vendored packages (`pip install
//!   --target vendor protobuf`) import.
//!
//! # Where Weir decides
//! - A hook name is looked up among the module's attributes: an `@Hook` (or legacy decorator)
//!   object, or a plain function. A missing name, or an argument count that does not fit the
//!   hook type (3 or 4 for request hooks and auth, 5 for response, 3 for stream hooks),
//!   refuses the load (Tyk failed each request).
//! - A hook that returns `None` keeps what it was given; one that returns only `request`
//!   keeps the session. The changed `body` (text) wins over a changed `raw_body`.
//! - `request.get_header` also finds another spelling of the name.
//! - Stream hooks (Weir's, not Tyk's), declared in `driver_specific_middleware.python_streams`:
//!   `fn(message, session, spec)` with `message.payload` (bytes), `direction`, `method`,
//!   `index`, `headers`. Returning the message passes it (with its payload replaced if the hook
//!   assigned a new one, bytes or a protobuf message); `None` or `False` drops it; a dict or
//!   object with an int `grpc_status` (and `grpc_message`) ends the call.
//!
//! # Threads, faults and limits
//! One interpreter serves the process (CPython's GIL lets one thread run Python bytecode at a
//! time; `time.sleep`, I/O and most C extensions release it). Each plugin has
//! [`PythonDriverOptions::threads`] workers; the async side only awaits a oneshot.
//! - An exception fails only its request ([`PluginError::Crashed`], naming file and line).
//! - The deadline (the definition's `timeout`, else [`PythonDriverOptions::call_deadline`])
//!   is enforced by a watchdog raising `HookTimeout` (a `BaseException`) in the hook's thread,
//!   again every 10 ms until it ends: [`PluginError::Timeout`], and the thread serves the next
//!   call. A hook blocked in C code is interrupted when that code returns; its request still
//!   fails at the deadline plus 250 ms, and the other workers serve meanwhile. A worker that
//!   does not answer by then (stuck in C, or swallowing every interrupt in a loop, which
//!   CPython cannot stop) is replaced by a spare thread, up to as many spares as workers.
//! - Memory: each call may allocate [`PythonDriverOptions::memory_limit`] net bytes (counted
//!   by a wrapper around CPython's raw and arena allocators, per thread); past it allocation
//!   fails, Python raises `MemoryError`, and an uncaught one is [`PluginError::Crashed`].
//! - Top-level code runs at load under the same memory limit and a deadline of at least 10 s;
//!   a syntax error or an exception there refuses the load, naming file and line.

mod convert;
mod memory;
mod runtime;
mod watchdog;
mod worker;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use weir_core::plugin::{
    BoxFuture, Driver, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageVerdict,
    PluginError, PluginSpec,
};
use weir_core::worker_hooks::{call_on_worker, message_on_worker};

use worker::{Failure, Pool, Resolved, Shared};

/// Limits for the Python driver.
#[derive(Debug, Clone)]
pub struct PythonDriverOptions {
    /// Longest one hook call may run when the definition sets no `timeout`. Default 1 s.
    pub call_deadline: Duration,
    /// Most net bytes one hook call may allocate. Default 128 MiB.
    pub memory_limit: usize,
    /// Worker threads per loaded plugin. Default 4 (the GIL serialises bytecode; more threads
    /// help hooks that wait on I/O or sleep).
    pub threads: usize,
}

impl Default for PythonDriverOptions {
    fn default() -> Self {
        PythonDriverOptions {
            call_deadline: Duration::from_secs(1),
            memory_limit: 128 << 20,
            threads: 4,
        }
    }
}

/// The shortest deadline top-level code gets at load (imports take time).
const LOAD_DEADLINE: Duration = Duration::from_secs(10);

/// Why a Python plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The interpreter could not start.
    #[error("python driver: {0}")]
    Runtime(String),
    /// A file does not compile, or its top-level code fails.
    #[error("python plugin `{file}`: {reason}")]
    Compile {
        /// The file.
        file: String,
        /// Python's message, with file and line.
        reason: String,
    },
    /// The definition asks for something this driver cannot run.
    #[error("{0}")]
    Unsupported(String),
}

/// The Python plugin driver.
#[derive(Debug, Default)]
pub struct PythonDriver {
    options: PythonDriverOptions,
}

impl PythonDriver {
    /// A driver with these limits.
    pub fn new(options: PythonDriverOptions) -> Self {
        PythonDriver { options }
    }

    /// Loads `spec` into a [`PythonPlugin`] (what [`Driver::load`] does, with a typed error).
    pub fn load_plugin(&self, spec: &PluginSpec) -> Result<PythonPlugin, LoadError> {
        let shown = spec.file.display();
        if spec.hooks.is_empty() {
            return Err(LoadError::Unsupported(format!(
                "{shown}: custom_middleware declares no hooks for the python driver"
            )));
        }
        let rt = runtime::runtime().map_err(LoadError::Runtime)?;
        watchdog::start(&rt.timeout).map_err(LoadError::Runtime)?;
        let deadline = spec.timeout.unwrap_or(self.options.call_deadline);
        let mut entries: Vec<(PathBuf, PathBuf)> = Vec::new();
        let mut wanted = Vec::new();
        for hook in &spec.hooks {
            let entry = entry_file(hook.path.as_deref()).ok_or_else(|| {
                LoadError::Unsupported(format!(
                    "{shown}: {} hook `{}` has no `path`: the python driver loads the .py file \
                     (or bundle directory with middleware.py) it names",
                    hook.kind.as_str(),
                    hook.name
                ))
            })?;
            if !entries.iter().any(|(f, _)| *f == entry.0) {
                entries.push(entry.clone());
            }
            wanted.push((hook.kind, hook.name.clone(), entry.0));
        }
        let limit = self.options.memory_limit;
        let hooks = Python::attach(|py| -> Result<_, LoadError> {
            let mut modules = HashMap::new();
            for (file, root) in &entries {
                let module = load_module(py, rt, deadline.max(LOAD_DEADLINE), limit, file, root)?;
                modules.insert(file.clone(), module);
            }
            let mut hooks = HashMap::new();
            for (kind, name, file) in wanted {
                let module = modules[&file].bind(py);
                let (f, argc) = rt
                    .resolve
                    .bind(py)
                    .call1((module, &name))
                    .and_then(|t| t.extract::<(Py<PyAny>, usize)>())
                    .map_err(|e| {
                        LoadError::Unsupported(format!(
                            "{shown}: {} hook `{name}` ({}): {}",
                            kind.as_str(),
                            file.display(),
                            worker::describe(py, rt, &e)
                        ))
                    })?;
                check_arity(kind, argc).map_err(|why| {
                    LoadError::Unsupported(format!(
                        "{shown}: {} hook `{name}` ({}): {why}",
                        kind.as_str(),
                        file.display()
                    ))
                })?;
                hooks.insert((kind, name), Resolved { f, argc });
            }
            Ok(hooks)
        })?;
        let shared = Arc::new(Shared {
            runtime: rt,
            hooks,
            deadline,
            memory_limit: limit,
        });
        let pool = Pool::start(shared, self.options.threads).map_err(LoadError::Unsupported)?;
        Ok(PythonPlugin { pool })
    }
}

/// The entry file a hook's `path` names and the folder that goes on `sys.path`: a `.py`
/// file and its folder, or a bundle directory's `middleware.py` and the directory.
fn entry_file(path: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
    let path = path.filter(|p| !p.as_os_str().is_empty())?;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    if path.is_dir() {
        let entry = path.join("middleware.py");
        if entry.is_file() {
            return Some((entry, path));
        }
        // Tyk's fallback for a bundle of one file: that file is the entry.
        let mut files = std::fs::read_dir(&path)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "py"));
        return match (files.next(), files.next()) {
            (Some(only), None) => Some((only, path)),
            _ => Some((entry, path)),
        };
    }
    let root = path.parent().map(Path::to_owned).unwrap_or_default();
    Some((path, root))
}

/// Whether a function of `argc` arguments can be this kind of hook (Tyk's dispatch).
fn check_arity(kind: HookKind, argc: usize) -> Result<(), String> {
    let ok = match kind {
        HookKind::Pre | HookKind::Post | HookKind::PostKeyAuth | HookKind::CustomAuth => {
            argc == 3 || argc == 4
        }
        HookKind::Response => argc == 5,
        HookKind::GrpcMessage => argc == 3,
    };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        HookKind::Response => "5 (request, response, session, metadata, spec)",
        HookKind::GrpcMessage => "3 (message, session, spec)",
        _ => "3 (request, session, spec) or 4 (request, session, metadata, spec)",
    };
    Err(format!(
        "it takes {argc} arguments; this hook type takes {expected}"
    ))
}

/// Runs a plugin file as a module of its own, under the load deadline.
fn load_module(
    py: Python<'_>,
    rt: &runtime::Runtime,
    deadline: Duration,
    limit: usize,
    file: &Path,
    root: &Path,
) -> Result<Py<PyAny>, LoadError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let shown = file.display().to_string();
    if !file.is_file() {
        return Err(LoadError::Compile {
            file: shown,
            reason: "no such file (or bundle directory with a middleware.py)".into(),
        });
    }
    let name = format!("weir_plugin_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let (path, root) = (file.to_string_lossy(), root.to_string_lossy());
    let result = worker::bounded(py, rt, deadline, limit, |py| {
        rt.load
            .bind(py)
            .call1((name.as_str(), path.as_ref(), root.as_ref()))
            .map(Bound::unbind)
    });
    result.map_err(|f| LoadError::Compile {
        file: shown,
        reason: match f {
            Failure::Timeout => format!("its top-level code ran past the {deadline:?} deadline"),
            Failure::Memory(text) => format!("the memory limit was reached at load: {text}"),
            Failure::Raised(text) => text,
        },
    })
}

impl Driver for PythonDriver {
    fn names(&self) -> &'static [&'static str] {
        &["python"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        match self.load_plugin(spec) {
            Ok(plugin) => Ok(Arc::new(plugin)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// An API's Python hooks, loaded: the plugin's modules and a pool of worker threads.
pub struct PythonPlugin {
    pool: Pool,
}

impl LoadedPlugin for PythonPlugin {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
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
        Box::pin(async move { message_on_worker(msg, |m| self.pool.run_message(m)).await })
    }
}
