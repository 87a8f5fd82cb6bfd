//! The plugin drivers this binary is built with. Adding a language is one line here.

use std::sync::Arc;

use weir_config::GatewayConfig;
use weir_core::plugin::{Driver, LoadedPlugin, PluginSpec};
use weir_plugins::PluginHost;

/// The plugin host with every driver built into this binary.
pub fn plugin_host(config: &GatewayConfig) -> PluginHost {
    let mut host = PluginHost::new();
    host.register(Arc::new(weir_plugin_native::NativeDriver::new()));
    match weir_plugin_wasm::WasmDriver::new(weir_plugin_wasm::WasmOptions::default()) {
        Ok(driver) => host.register(Arc::new(driver)),
        Err(e) => host.register(Arc::new(Unconfigured {
            names: &["wasm"],
            reason: format!("the Wasm engine could not start: {e}"),
        })),
    }
    let grpc_server = config
        .coprocess_options
        .get("coprocess_grpc_server")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if grpc_server.is_empty() {
        host.register(Arc::new(Unconfigured {
            names: &["grpc"],
            reason: "coprocess_options.coprocess_grpc_server is not set in the gateway config"
                .into(),
        }));
    } else {
        match weir_plugin_grpc::GrpcOptions::from_json(&config.coprocess_options) {
            Ok(options) => host.register(Arc::new(weir_plugin_grpc::GrpcDriver::new(options))),
            Err(e) => host.register(Arc::new(Unconfigured {
                names: &["grpc"],
                reason: format!("coprocess_options: {e}"),
            })),
        }
    }
    host
}

/// A driver that is built but cannot work with this gateway config: every API that asks for
/// it is refused at load with the reason, instead of the driver looking absent.
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
