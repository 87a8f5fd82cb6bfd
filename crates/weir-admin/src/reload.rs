//! Reloading the API definitions: read app_path, keep the last good version of any file that
//! no longer loads, compile, and swap the routing table in one step.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_config::{ApiDefinition, ConfigError, load_app_dir};
use weir_plugins::PluginHost;
use weir_proxy::{ApiPlugins, CompiledApi, Gateway, RoutingTable};

/// Loads an API's plugins, and refuses a definition that asks for something this build cannot
/// do, rather than serving it without that part: a protected API is never served open.
pub fn load_plugins(def: &ApiDefinition, host: &PluginHost) -> Result<ApiPlugins, ConfigError> {
    let chain = host.compile(def)?;
    let virtual_endpoints = host.compile_virtual(def)?;
    // A versioned API: each version's own virtual endpoints.
    let versions = def.versioning.as_ref().map_or(0, |v| v.versions.len());
    let version_virtuals = (0..versions)
        .filter_map(|i| def.version_variant(i))
        .map(|version| host.compile_virtual(&version))
        .collect::<Result<Vec<_>, _>>()?;
    let custom_auth = chain.as_ref().is_some_and(|c| c.auth.is_some());
    if def.auth.method == weir_config::auth::AuthMethod::Plugin && !custom_auth {
        return Err(ConfigError::new(
            &def.file,
            "custom_middleware.auth_check",
            format!(
                "API `{}` ({}) authenticates with a plugin, but no plugin driver loaded its auth hook",
                def.api_id, def.name
            ),
        ));
    }
    let grpc = def.enable_grpc || def.enable_grpc_web;
    if grpc && chain.as_ref().is_some_and(|c| !c.response.is_empty()) {
        let field = match def.format {
            weir_config::DefinitionFormat::Classic => "custom_middleware.response",
            weir_config::DefinitionFormat::Oas => {
                "x-tyk-api-gateway.middleware.global.responsePlugins"
            }
        };
        return Err(ConfigError::new(
            &def.file,
            field,
            format!(
                "API `{}` ({}) proxies gRPC: response hooks read the whole response and would lose \
                 its trailers (grpc-status); use stream hooks (`<driver>_streams`) on gRPC APIs",
                def.api_id, def.name
            ),
        ));
    }
    Ok(ApiPlugins {
        chain,
        virtual_endpoints,
        matching: host.endpoint_matching(),
        version_virtuals,
    })
}

/// Work done at the start of each reload, before definitions are read.
pub type BeforeReload = Box<dyn Fn() + Send + Sync>;

/// What one reload did.
#[derive(Debug, Default, Clone)]
pub struct ReloadReport {
    /// api_ids now served.
    pub loaded: Vec<String>,
    /// Problems found, each naming file, field and reason.
    pub errors: Vec<ConfigError>,
    /// api_ids that kept their last good version because the file no longer loads.
    pub kept_last_good: Vec<String>,
}

impl ReloadReport {
    /// True when every definition loaded.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Rebuilds the routing table from app_path on demand. Reloads are serialised.
pub struct Reloader {
    gateway: Arc<Gateway>,
    host: PluginHost,
    before_reload: Option<BeforeReload>,
    app_path: PathBuf,
    state: tokio::sync::Mutex<LastGood>,
}

/// Per file: the last definition that loaded and compiled, and its compiled form.
#[derive(Default)]
struct LastGood {
    by_file: HashMap<PathBuf, Arc<CompiledApi>>,
}

impl Reloader {
    /// Creates a reloader for the gateway's app_path, loading plugins with `host`'s drivers.
    /// `before_reload` runs at the start of every reload (the binary re-reads driver settings).
    pub fn new(
        gateway: Arc<Gateway>,
        host: PluginHost,
        before_reload: Option<BeforeReload>,
    ) -> Arc<Self> {
        let app_path = gateway.config.app_path.clone();
        Arc::new(Reloader {
            gateway,
            host,
            before_reload,
            app_path,
            state: tokio::sync::Mutex::new(LastGood::default()),
        })
    }

    /// The folder of definitions.
    pub fn app_path(&self) -> &Path {
        &self.app_path
    }

    /// Reads every definition, compiles what loads, and swaps the routing table.
    pub async fn reload(&self) -> ReloadReport {
        let mut state = self.state.lock().await;
        if let Some(hook) = &self.before_reload {
            hook();
        }
        let policy_error = self.load_policies();
        let files = {
            let dir = self.app_path.clone();
            tokio::task::spawn_blocking(move || load_app_dir(&dir))
                .await
                .unwrap_or_default()
        };
        // APIs already serving claim their routes first: a new file that collides with one is
        // the one refused, whatever the file names' order.
        let mut files = files;
        files.sort_by_key(|(file, _)| !state.by_file.contains_key(file));
        let mut report = ReloadReport::default();
        report.errors.extend(policy_error);
        let mut next: HashMap<PathBuf, Arc<CompiledApi>> = HashMap::new();
        let mut served: Vec<Arc<CompiledApi>> = Vec::new();
        let mut routes: HashSet<(String, String)> = HashSet::new();
        let mut ids: HashSet<String> = HashSet::new();

        for (file, result) in files {
            let candidate = match result {
                Ok(mut def) => {
                    weir_config::apply_gateway_settings(&mut def, &self.gateway.config);
                    self.compile(def, &state, &mut report.errors).await
                }
                Err(errs) => {
                    report.errors.extend(errs);
                    None
                }
            };
            let last = state.by_file.get(&file).cloned();
            let chosen = match candidate {
                Some(api) if claim(&api, &mut routes, &mut ids, &served, &mut report.errors) => {
                    Some(api)
                }
                _ => match last {
                    // The file no longer loads (or now collides): keep what it served before,
                    // so no API disappears because of a typo.
                    Some(old) if claim(&old, &mut routes, &mut ids, &served, &mut Vec::new()) => {
                        tracing::warn!(api_id = %old.def.api_id, file = %file.display(), "keeping the last good version");
                        report.kept_last_good.push(old.def.api_id.clone());
                        Some(old)
                    }
                    _ => None,
                },
            };
            if let Some(api) = chosen {
                report.loaded.push(api.def.api_id.clone());
                next.insert(file, api.clone());
                served.push(api);
            }
        }
        // A file that has gone away takes its API with it: deleting is not a typo.
        state.by_file = next;
        for e in &report.errors {
            tracing::error!(file = %e.file.display(), field = %e.field, reason = %e.reason, "API definition refused");
        }
        let strict = self.gateway.config.http_server_options.enable_strict_routes;
        self.gateway.swap_table(RoutingTable::new(served, strict));
        self.gateway.metrics.reloaded(report.is_clean());
        self.gateway
            .metrics
            .definition_errors
            .set(report.errors.len() as i64);
        tracing::info!(
            apis = report.loaded.len(),
            errors = report.errors.len(),
            "API definitions loaded"
        );
        report
    }

    /// Re-reads the policy file (`policies.policy_path`); on an error the policies in force stay.
    fn load_policies(&self) -> Option<ConfigError> {
        let path = self.gateway.config.keys.policy_path.as_ref()?;
        match weir_auth::policy::Policies::from_file(path) {
            Ok(policies) => {
                tracing::info!(policies = policies.len(), path = %path.display(), "policies loaded");
                self.gateway.keys.set_policies(policies);
                None
            }
            Err(e) => Some(ConfigError::new(path, "policies", e.to_string())),
        }
    }

    async fn compile(
        &self,
        def: ApiDefinition,
        state: &LastGood,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Arc<CompiledApi>> {
        // An unchanged definition keeps its compiled form (its plugins, round-robin position).
        // A changed plugin file (same definition) is picked up because the drivers compare
        // file contents when they load.
        if let Some(old) = state.by_file.get(&def.file)
            && old.def == def
            && old.plugins.is_none()
            && old.virtual_endpoints.is_empty()
            && old.versions.is_none()
        {
            return Some(old.clone());
        }
        // Loading plugins compiles Wasm, opens libraries and runs their init: work for the
        // blocking pool, not for the event loop that serves requests meanwhile.
        let host = self.host.clone();
        let file = def.file.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let plugins = load_plugins(&def, &host);
            (def, plugins)
        })
        .await;
        let (def, plugins) = match loaded {
            Ok(pair) => pair,
            Err(e) => {
                let reason = format!("loading the API's plugins failed: {e}");
                errors.push(ConfigError::new(&file, "", reason));
                return None;
            }
        };
        let plugins = match plugins {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        match CompiledApi::compile(
            def,
            &self.gateway.metrics,
            plugins,
            self.gateway.streaming(),
            &self.gateway.keys,
            self.gateway.config.keys.rate_limit_headers_from_rate,
        ) {
            Ok(api) => Some(Arc::new(api)),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }
}

/// Reserves the API's id and (domain, listen path); false, with an error, if taken.
fn claim(
    api: &CompiledApi,
    routes: &mut HashSet<(String, String)>,
    ids: &mut HashSet<String>,
    served: &[Arc<CompiledApi>],
    errors: &mut Vec<ConfigError>,
) -> bool {
    let def = &api.def;
    let route = (
        def.domain.clone().unwrap_or_default(),
        api.listen_path.as_str().to_string(),
    );
    let holder = |pred: &dyn Fn(&CompiledApi) -> bool| {
        served
            .iter()
            .find(|a| pred(a))
            .map(|a| a.def.file.display().to_string())
            .unwrap_or_default()
    };
    if ids.contains(&def.api_id) {
        let other = holder(&|a| a.def.api_id == def.api_id);
        errors.push(ConfigError {
            file: def.file.clone(),
            field: "api_id".into(),
            reason: format!("api_id `{}` is already used by {other}", def.api_id),
        });
        return false;
    }
    if def.active && routes.contains(&route) {
        let other = holder(&|a| {
            a.def.active
                && a.listen_path.as_str() == api.listen_path.as_str()
                && a.def.domain == def.domain
        });
        errors.push(ConfigError {
            file: def.file.clone(),
            field: "proxy.listen_path".into(),
            reason: format!(
                "listen path `{}` is already served by {other}",
                def.listen_path
            ),
        });
        return false;
    }
    ids.insert(def.api_id.clone());
    if def.active {
        routes.insert(route);
    }
    true
}
