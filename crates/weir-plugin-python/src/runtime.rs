//! The one embedded interpreter: started on the first Python load, with Tyk's modules
//! (`tyk.decorators`, `tyk.request`, `tyk.session`, `gateway`) and Weir's runtime installed,
//! and the counting allocator the memory limit relies on.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString, PyType};

use crate::memory;

/// Most keys the `gateway` store keeps at once; past it `store_data` raises.
const STORE_LIMIT: usize = 65_536;

/// Handles on Weir's runtime module, shared by every plugin.
pub(crate) struct Runtime {
    /// `runtime.load(name, path, root)`.
    pub load: Py<PyAny>,
    /// `runtime.resolve(module, name)`.
    pub resolve: Py<PyAny>,
    /// `runtime.call(fn, argc, data)`.
    pub call: Py<PyAny>,
    /// `runtime.message(fn, data)`.
    pub message: Py<PyAny>,
    /// `runtime.describe(exc)`.
    pub describe: Py<PyAny>,
    /// `runtime.HookTimeout`, raised in a hook past its deadline.
    pub timeout: Py<PyType>,
    /// Whether the memory limit can be enforced (the counting allocator is installed).
    pub counted: bool,
}

/// Our Python sources, as `(module name, file name, text)`, in dependency order.
const MODULES: [(&str, &str, &str); 5] = [
    (
        "tyk.decorators",
        "<weir/tyk/decorators.py>",
        include_str!("python/decorators.py"),
    ),
    (
        "tyk.request",
        "<weir/tyk/request.py>",
        include_str!("python/request.py"),
    ),
    (
        "tyk.session",
        "<weir/tyk/session.py>",
        include_str!("python/session.py"),
    ),
    (
        "gateway",
        "<weir/gateway.py>",
        include_str!("python/gateway.py"),
    ),
    (
        "_weir_runtime",
        "<weir/runtime.py>",
        include_str!("python/runtime.py"),
    ),
];

/// The interpreter's runtime, started on first use. An interpreter that cannot start fails
/// every Python load with the same reason.
pub(crate) fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Python::initialize();
            Python::attach(|py| start(py).map_err(|e| format!("python runtime: {e}")))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn start(py: Python<'_>) -> PyResult<Runtime> {
    let counted = memory::install();
    let sys = py.import("sys")?;
    // The gateway writes nothing into plugin folders (they may be read-only bundles), and a
    // file edited within the same second is never read from a stale cache.
    sys.setattr("dont_write_bytecode", true)?;
    let modules = sys.getattr("modules")?.cast_into::<PyDict>()?;
    let native = native_module(py)?;
    modules.set_item("_weir", native)?;
    // `tyk` is a package whose submodules are already in sys.modules: `import tyk.request`
    // and `from tyk.decorators import *` find them there.
    let tyk = PyModule::new(py, "tyk")?;
    tyk.setattr("__path__", pyo3::types::PyList::empty(py))?;
    modules.set_item("tyk", &tyk)?;
    let mut runtime = None;
    for (name, file, text) in MODULES {
        let code = CString::new(text).map_err(to_py)?;
        let file = CString::new(file).map_err(to_py)?;
        let cname = CString::new(name).map_err(to_py)?;
        let module = PyModule::from_code(py, &code, &file, &cname)?;
        modules.set_item(name, &module)?;
        if let Some(short) = name.strip_prefix("tyk.") {
            tyk.setattr(short, &module)?;
        }
        runtime = Some(module);
    }
    let rt = runtime.ok_or_else(|| to_py("no runtime module"))?;
    let get = |name: &str| -> PyResult<Py<PyAny>> { Ok(rt.getattr(name)?.unbind()) };
    Ok(Runtime {
        load: get("load")?,
        resolve: get("resolve")?,
        call: get("call")?,
        message: get("message")?,
        describe: get("describe")?,
        timeout: rt.getattr("HookTimeout")?.cast_into::<PyType>()?.unbind(),
        counted,
    })
}

fn to_py(e: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err(e.to_string())
}

/// `_weir`: the gateway services `gateway.TykGateway` calls.
fn native_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "_weir")?;
    m.add_function(wrap_pyfunction!(log, &m)?)?;
    m.add_function(wrap_pyfunction!(store_data, &m)?)?;
    m.add_function(wrap_pyfunction!(get_data, &m)?)?;
    Ok(m)
}

/// `TykGateway.log(msg, level)`: Tyk's level names onto Weir's log.
#[pyfunction]
fn log(msg: &str, level: &str) {
    match level.to_ascii_lowercase().as_str() {
        "error" | "fatal" | "panic" => tracing::error!(target: "weir::python", "{msg}"),
        "warning" | "warn" => tracing::warn!(target: "weir::python", "{msg}"),
        "debug" => tracing::debug!(target: "weir::python", "{msg}"),
        "trace" => tracing::trace!(target: "weir::python", "{msg}"),
        _ => tracing::info!(target: "weir::python", "{msg}"),
    }
}

/// A stored value keeps its type: `get_data` gives back str for str, bytes for bytes.
#[derive(Clone)]
enum Stored {
    Text(String),
    Bytes(Vec<u8>),
}

/// Stored values by key, each with an optional expiry.
type Store = Mutex<HashMap<String, (Stored, Option<Instant>)>>;

/// The `gateway` store: process-wide, shared by every Python plugin.
fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(Default::default)
}

/// `TykGateway.store_data(key, value, ttl)`: `ttl` in seconds, 0 or less keeps it for good.
#[pyfunction]
fn store_data(key: String, value: &Bound<'_, PyAny>, ttl: i64) -> PyResult<()> {
    let value = if let Ok(s) = value.cast::<PyString>() {
        Stored::Text(s.to_str()?.to_owned())
    } else if let Ok(b) = value.cast::<PyBytes>() {
        Stored::Bytes(b.as_bytes().to_vec())
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "store_data stores str or bytes",
        ));
    };
    let expiry = u64::try_from(ttl)
        .ok()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t));
    let mut map = store().lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= STORE_LIMIT && !map.contains_key(&key) {
        let now = Instant::now();
        map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        if map.len() >= STORE_LIMIT {
            return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
                "the gateway store is full ({STORE_LIMIT} keys)"
            )));
        }
    }
    map.insert(key, (value, expiry));
    Ok(())
}

/// `TykGateway.get_data(key)`: the value, or None when absent or expired.
#[pyfunction]
fn get_data(py: Python<'_>, key: &str) -> Py<PyAny> {
    let found = {
        let mut map = store().lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some((_, Some(exp))) if *exp <= Instant::now() => {
                map.remove(key);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    };
    match found {
        Some(Stored::Text(s)) => PyString::new(py, &s).into_any().unbind(),
        Some(Stored::Bytes(b)) => PyBytes::new(py, &b).into_any().unbind(),
        None => py.None(),
    }
}
