//! The plugin host. Every driver implements [`weir_core::plugin::Driver`]; the host takes an
//! API's plugin declaration as weir-config parsed it ([`weir_config::PluginDeclaration`], from
//! classic `custom_middleware` or OAS `pluginConfig` and friends), picks the driver by name,
//! and loads the API's plugins once per load into a [`PluginChain`] the proxy runs.
//!
//! Adding a language is adding a driver crate and registering it in the binary; nothing here
//! or in the proxy changes.

pub mod bundle;
mod declaration;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use weir_config::plugin_settings::PluginSettings;
use weir_config::{ApiDefinition, ConfigError, DefinitionFormat};
use weir_core::plugin::{Driver, PluginChain};
use weir_core::virtual_endpoint::{VirtualCode, VirtualEndpoint, VirtualSpec};

pub use declaration::{Declaration, read_declaration};

/// Deadline for one hook call when the definition does not set `timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// The registered drivers, and the gateway's bundle settings.
#[derive(Default, Clone)]
pub struct PluginHost {
    drivers: Vec<Arc<dyn Driver>>,
    settings: Arc<RwLock<PluginSettings>>,
}

impl PluginHost {
    /// A host with no drivers: every API that asks for plugins is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a driver.
    pub fn register(&mut self, driver: Arc<dyn Driver>) {
        self.drivers.push(driver);
    }

    /// Applies the gateway config's plugin settings (`middleware_path`, bundle download and
    /// signature settings) to the APIs compiled from now on.
    pub fn configure(&self, settings: &PluginSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = settings.clone();
    }

    /// Loads an API's JSVM virtual endpoints (`extended_paths.virtual`) with the JavaScript
    /// driver; an error names the entry and why (JS off, blobs disabled, a load failure).
    pub fn compile_virtual(
        &self,
        api: &ApiDefinition,
    ) -> Result<Vec<VirtualEndpoint>, ConfigError> {
        if api.virtual_endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let settings = self
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let fail = |i: usize, reason: String| {
            ConfigError::new(
                &api.file,
                format!("extended_paths.virtual[{i}]"),
                format!("API `{}`: {reason}", api.api_id),
            )
        };
        let driver = self
            .drivers
            .iter()
            .find(|d| d.names().contains(&"javascript"))
            .ok_or_else(|| {
                fail(
                    0,
                    "virtual endpoints need the JavaScript driver, which is not built".into(),
                )
            })?;
        let timeout = api
            .plugins
            .as_ref()
            .and_then(|p| p.timeout)
            .or_else(|| driver.default_timeout())
            .unwrap_or(DEFAULT_HOOK_TIMEOUT);
        let info = Arc::new(declaration::spec_info(api));
        let mut out = Vec::with_capacity(api.virtual_endpoints.len());
        for (i, v) in api.virtual_endpoints.iter().enumerate() {
            let code = match &v.source {
                weir_config::virtual_endpoints::VirtualCode::File(p) => {
                    VirtualCode::File(p.clone())
                }
                weir_config::virtual_endpoints::VirtualCode::Blob(_)
                    if settings.disable_virtual_path_blobs =>
                {
                    return Err(fail(
                        i,
                        "its code is a blob and the gateway config sets disable_virtual_path_blobs"
                            .into(),
                    ));
                }
                weir_config::virtual_endpoints::VirtualCode::Blob(b) => {
                    VirtualCode::Blob(b.clone())
                }
            };
            let spec = VirtualSpec {
                function: v.function.clone(),
                code,
                api: info.clone(),
                timeout,
            };
            let handler = driver
                .load_virtual(&spec)
                .map_err(|reason| fail(i, reason))?;
            out.push(VirtualEndpoint {
                path: v.path.clone(),
                method: v.method.clone(),
                proxy_on_error: v.proxy_on_error,
                ignore_case: v.ignore_case,
                handler,
            });
        }
        Ok(out)
    }

    /// How endpoint paths match (the gateway's `enable_path_prefix_matching`,
    /// `enable_path_suffix_matching` and `ignore_endpoint_case`).
    pub fn endpoint_matching(&self) -> weir_config::plugin_settings::EndpointMatching {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .endpoint_matching
    }

    /// Names of every registered driver.
    pub fn driver_names(&self) -> Vec<&'static str> {
        self.drivers
            .iter()
            .flat_map(|d| d.names().iter().copied())
            .collect()
    }

    /// Loads an API's plugins. `Ok(None)` when it declares none; an error names the file, the
    /// field and why (unknown driver, driver not built, the driver refused to load).
    pub fn compile(&self, api: &ApiDefinition) -> Result<Option<PluginChain>, ConfigError> {
        let Some(declared) = api.plugins.as_ref() else {
            return Ok(None);
        };
        let settings = self
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let resolved = bundle::resolve(&settings, api, declared)?;
        let Some(decl) = read_declaration(api, &resolved) else {
            return Ok(None);
        };
        let driver_field = match api.format {
            DefinitionFormat::Classic => "custom_middleware.driver",
            DefinitionFormat::Oas => "x-tyk-api-gateway.middleware.global.pluginConfig.driver",
        };
        let driver = self
            .drivers
            .iter()
            .find(|d| d.names().contains(&decl.spec.driver.as_str()))
            .ok_or_else(|| {
                let built = self.driver_names().join(", ");
                ConfigError::new(
                    &api.file,
                    driver_field,
                    format!(
                        "API `{}` ({}) asks for plugin driver `{}`, which is not built in this version (built: {})",
                        api.api_id,
                        api.name,
                        decl.spec.driver,
                        if built.is_empty() { "none" } else { &built }
                    ),
                )
            })?;
        let plugin = driver.load(&decl.spec).map_err(|reason| {
            ConfigError::new(
                &api.file,
                driver_field,
                format!(
                    "API `{}`: driver `{}` could not load its plugins: {reason}",
                    api.api_id, decl.spec.driver
                ),
            )
        })?;
        let mut chain = PluginChain {
            plugin,
            pre: Vec::new(),
            auth: None,
            post_key_auth: Vec::new(),
            post: Vec::new(),
            response: Vec::new(),
            grpc_message: Vec::new(),
            timeout: decl
                .timeout
                .or_else(|| driver.default_timeout())
                .unwrap_or(DEFAULT_HOOK_TIMEOUT),
            spec: decl.spec.api.clone(),
            driver: decl.spec.driver.clone(),
        };
        use weir_core::plugin::HookKind;
        for hook in decl.spec.hooks {
            match hook.kind {
                HookKind::Pre => chain.pre.push(hook),
                HookKind::CustomAuth => chain.auth = Some(hook),
                HookKind::PostKeyAuth => chain.post_key_auth.push(hook),
                HookKind::Post => chain.post.push(hook),
                HookKind::Response => chain.response.push(hook),
                HookKind::GrpcMessage => chain.grpc_message.push(hook),
            }
        }
        Ok(Some(chain))
    }
}
