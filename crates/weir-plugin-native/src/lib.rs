//! Weir's native plugin driver: runs shared libraries built against `weir_plugin.h` (in C, or
//! in Rust with `weir-plugin-sdk`) in the gateway's process. It answers to the driver names
//! `native` and `goplugin`, so a Tyk definition written for Go plugins (`"driver":
//! "goplugin"`, `"path": "x.so"`) loads a Weir native plugin at that path.
//!
//! # Loading
//! [`NativeDriver::load`] opens each distinct `path` the definition's hooks name, checks the
//! plugin's ABI version and descriptor before calling anything in it, refuses Go-built
//! libraries (see below), and calls the plugin's `init` with the API's `config_data`. The
//! hook's `name` is passed on every call, so one library can hold many hooks.
//!
//! A library is opened from a private copy of the file, so a reload that finds changed content
//! at the same path loads the new code (`dlopen` would return the cached old object for the
//! same path). Unchanged content is shared between loads and between APIs. Each
//! [`LoadedPlugin`] holds its library through an `Arc`: requests that started on the old load
//! finish on the old code, and the library is closed (and its copy deleted) when the last
//! user goes. A Rust plugin whose std registered thread-local destructors is marked
//! "no delete" by glibc: closing it then keeps it mapped, harmlessly.
//!
//! # Go plugins
//! A `-buildmode=plugin` file only loads into a Go program built with the same toolchain and
//! packages, and its hooks take Go's `http` types; a `-buildmode=c-shared` library starts a Go
//! runtime that can never be unloaded (a reload would crash the gateway) and cannot share the
//! process with a second one. So Go-built files are refused, before they are opened, with a
//! message saying so; Go plugins run as gRPC plugin servers instead.
//!
//! # Stream hooks
//! A `grpc_message` hook (classic `driver_specific_middleware.native_streams` /
//! `goplugin_streams`, OAS `grpcMessagePlugins`) runs the library's `on_grpc_message` on each
//! message of a gRPC call; a library whose descriptor has none is refused at load. Its status
//! is the verdict: pass (replaced after `set_grpc_message`), drop, or end with the status
//! given to `set_grpc_status`. The request is read-only there (see `weir_plugin.h`).
//!
//! # Calls and deadlines
//! A hook runs synchronously on the thread that polls [`LoadedPlugin::call`]. Native code
//! cannot be pre-empted: the host's deadline fails the request only after the hook returns
//! (Wasm and gRPC plugins are pre-empted). A panic in a Rust plugin is caught by the SDK and
//! fails only its request; a crash in native code (segfault, abort) is not survivable, as in
//! any in-process plugin system: native plugins are trusted code.

mod ctx;
mod elf;
mod host;
mod library;
mod plugin;
mod query;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use weir_core::plugin::{Driver, HookKind, LoadedPlugin, PluginSpec};

use library::{Instance, NativeLibrary};
use plugin::{NativePlugin, Route};

/// A library's identity: the file, and a digest and length of its content.
type LibraryKey = (PathBuf, u64, usize);

/// The native plugin driver. Keep one per gateway: it shares libraries between loads.
pub struct NativeDriver {
    temp_dir: PathBuf,
    libraries: Mutex<HashMap<LibraryKey, Weak<NativeLibrary>>>,
}

impl Default for NativeDriver {
    fn default() -> Self {
        NativeDriver::new()
    }
}

impl NativeDriver {
    /// A driver that keeps its private library copies in the system's temporary directory.
    pub fn new() -> Self {
        NativeDriver::with_temp_dir(std::env::temp_dir())
    }

    /// A driver that keeps its private library copies in `dir` (which must allow executable
    /// mappings: not a `noexec` mount).
    pub fn with_temp_dir(dir: impl Into<PathBuf>) -> Self {
        NativeDriver {
            temp_dir: dir.into(),
            libraries: Mutex::new(HashMap::new()),
        }
    }

    /// The library for `path`'s current content: shared when already open, else opened.
    fn library(&self, path: &Path) -> Result<Arc<NativeLibrary>, String> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("native plugin `{shown}`: cannot read it: {e}"))?;
        if let Some(marker) = elf::go_marker(&bytes) {
            return Err(format!(
                "native plugin `{shown}` was built by Go ({marker}), and Weir cannot host Go-built \
                 libraries: a -buildmode=plugin file only loads into a Go program built with the \
                 same toolchain and packages, and a -buildmode=c-shared library starts a Go \
                 runtime that can never be unloaded, so a reload would crash the gateway. Serve \
                 the Go plugin over gRPC (driver \"grpc\") or rebuild it against weir_plugin.h"
            ));
        }
        let mut digest = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut digest);
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let key = (canonical, digest.finish(), bytes.len());

        // Held while opening, so two loads of one new file open it once.
        let mut libraries = self
            .libraries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        libraries.retain(|_, lib| lib.strong_count() > 0);
        if let Some(lib) = libraries.get(&key).and_then(Weak::upgrade) {
            return Ok(lib);
        }
        let lib = Arc::new(NativeLibrary::open(path, &bytes, &self.temp_dir)?);
        tracing::debug!(
            plugin = %lib.name,
            file = %shown,
            copy = %lib.copy_path().display(),
            "native plugin library opened"
        );
        libraries.insert(key, Arc::downgrade(&lib));
        Ok(lib)
    }
}

impl Driver for NativeDriver {
    fn names(&self) -> &'static [&'static str] {
        &["native", "goplugin"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        if spec.hooks.is_empty() {
            return Err(format!(
                "{}: custom_middleware declares no hooks for the native driver",
                spec.file.display()
            ));
        }
        let config_json = spec.config_data.to_string();
        let mut instances: Vec<(PathBuf, Arc<Instance>)> = Vec::new();
        let mut routes = Vec::with_capacity(spec.hooks.len());
        for hook in &spec.hooks {
            let path = match &hook.path {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => {
                    return Err(format!(
                        "{}: {} hook `{}` has no `path`: the native driver loads the shared \
                         library it names",
                        spec.file.display(),
                        hook.kind.as_str(),
                        hook.name
                    ));
                }
            };
            let instance = match instances.iter().find(|(p, _)| p == path) {
                Some((_, instance)) => instance.clone(),
                None => {
                    let lib = self.library(path)?;
                    let instance = Arc::new(Instance::new(lib, &config_json)?);
                    instances.push((path.clone(), instance.clone()));
                    instance
                }
            };
            if hook.kind == HookKind::GrpcMessage && instance.lib.desc.on_grpc_message.is_none() {
                return Err(format!(
                    "{}: stream hook `{}` names native plugin `{}` (`{}`), which has no stream \
                     hooks: its descriptor's on_grpc_message is null (build it with a \
                     weir-plugin-sdk that has them, or set on_grpc_message in its C descriptor)",
                    spec.file.display(),
                    hook.name,
                    path.display(),
                    instance.lib.name
                ));
            }
            routes.push(Route {
                kind: hook.kind,
                name: hook.name.clone(),
                instance,
            });
        }
        Ok(Arc::new(NativePlugin { routes }))
    }
}
