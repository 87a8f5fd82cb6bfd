//! The plugin drivers this binary is built with. Adding a language is one line here.

use weir_config::GatewayConfig;
use weir_plugins::PluginHost;

/// The plugin host with every driver built into this binary.
pub fn plugin_host(_config: &GatewayConfig) -> PluginHost {
    PluginHost::new()
}
