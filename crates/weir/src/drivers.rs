//! The plugin drivers this binary is built with. Adding a language is one line here.

use std::sync::{Arc, Mutex, PoisonError};

use weir_config::GatewayConfig;
use weir_core::plugin::{Driver, LoadedPlugin, PluginSpec};
use weir_plugin_grpc::{GrpcDriver, GrpcOptions};
use weir_plugins::PluginHost;

/// The plugin host with every driver built into this binary, and the handle that re-applies
/// the gateway config's driver settings at each reload.
pub fn plugin_host(config: &GatewayConfig) -> (PluginHost, DriverSettings) {
    let mut host = PluginHost::new();
    host.register(Arc::new(weir_plugin_native::NativeDriver::new()));
    let wasm = match weir_plugin_wasm::WasmDriver::new(weir_plugin_wasm::WasmOptions::default()) {
        Ok(driver) => {
            let driver = Arc::new(driver);
            host.register(driver.clone());
            Some(driver)
        }
        Err(e) => {
            host.register(Arc::new(Unconfigured {
                names: &["wasm"],
                reason: format!("the Wasm engine could not start: {e}"),
            }));
            None
        }
    };
    let grpc = Arc::new(GrpcSlot::default());
    host.register(grpc.clone());
    // The interpreter starts on the first API that asks for driver `python`.
    host.register(Arc::new(weir_plugin_python::PythonDriver::default()));
    host.register(Arc::new(weir_plugin_lua::LuaDriver::new(
        weir_plugin_lua::LuaDriverOptions::default(),
    )));
    // One QuickJS engine answers both of Tyk's JS driver names; `enable_jsvm` is applied below.
    let js = Arc::new(weir_plugin_js::JsDriver::default());
    host.register(js.clone());
    let settings = DriverSettings {
        grpc,
        wasm,
        host: host.clone(),
        js,
    };
    settings.configure(config);
    (host, settings)
}

/// The drivers whose settings live in the gateway config, which a reload re-reads.
#[derive(Clone)]
pub struct DriverSettings {
    grpc: Arc<GrpcSlot>,
    wasm: Option<Arc<weir_plugin_wasm::WasmDriver>>,
    /// Shares its bundle settings with the host the gateway compiles with.
    host: PluginHost,
    /// The JavaScript driver (`enable_jsvm`, `jsvm_timeout`).
    js: Arc<weir_plugin_js::JsDriver>,
}

impl DriverSettings {
    /// Lets JavaScript plugins read and write keys (`TykGetKeyData` / `TykSetKeyData`) in the
    /// gateway's key store.
    pub fn install_key_store(&self, keys: Arc<weir_auth::service::KeyService>) {
        self.js
            .set_key_access(Some(Arc::new(crate::js_keys::JsKeyAccess::new(keys))));
    }

    /// Applies `coprocess_options`, `wasm_upstreams` and the bundle settings; plugins loaded
    /// from now on use them.
    pub fn configure(&self, config: &GatewayConfig) {
        self.host.configure(&config.plugins);
        self.js.configure(weir_plugin_js::JsDriverOptions {
            enabled: config.plugins.enable_jsvm,
            default_timeout: config.plugins.jsvm_timeout,
            ..self.js.options()
        });
        self.grpc.configure(&config.coprocess_options);
        if let Some(wasm) = &self.wasm {
            let upstreams = config.wasm_upstreams.clone().into_iter().collect();
            if let Err(e) = wasm.set_upstreams(&upstreams) {
                tracing::error!(error = %e, "wasm_upstreams not applied");
            }
        }
    }
}

/// The gRPC driver, configured from `coprocess_options`, which a reload may change (a new
/// plugin server address is picked up without a restart).
pub struct GrpcSlot {
    state: Mutex<Result<Arc<GrpcDriver>, String>>,
}

impl Default for GrpcSlot {
    fn default() -> Self {
        GrpcSlot {
            state: Mutex::new(Err("the grpc driver is not configured".into())),
        }
    }
}

impl GrpcSlot {
    /// Applies a `coprocess_options` block: a new address or limits take effect for plugins
    /// loaded from now on; requests in flight keep the connection they started with.
    pub fn configure(&self, options: &serde_json::Value) {
        let server = options
            .get("coprocess_grpc_server")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if server.is_empty() {
            *state = Err(
                "coprocess_options.coprocess_grpc_server is not set in the gateway config".into(),
            );
            return;
        }
        match GrpcOptions::from_json(options) {
            Ok(parsed) => match &*state {
                Ok(driver) => driver.reconfigure(parsed),
                Err(_) => *state = Ok(Arc::new(GrpcDriver::new(parsed))),
            },
            Err(e) => *state = Err(format!("coprocess_options: {e}")),
        }
    }
}

impl Driver for GrpcSlot {
    fn names(&self) -> &'static [&'static str] {
        &["grpc"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            Ok(driver) => driver.load(spec),
            Err(reason) => Err(reason.clone()),
        }
    }
}

/// A driver that is built but cannot work here: every API that asks for it is refused at
/// load with the reason, instead of the driver looking absent.
struct Unconfigured {
    names: &'static [&'static str],
    reason: String,
}

impl Driver for Unconfigured {
    fn names(&self) -> &'static [&'static str] {
        self.names
    }

    fn load(&self, _spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        Err(self.reason.clone())
    }
}
