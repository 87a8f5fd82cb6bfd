//! Tyk classic API definitions (`apidef.APIDefinition` JSON), the subset Weir acts on.
//!
//! Only the fields listed in the model are read; every other field is accepted and kept in
//! `ApiDefinition::document`, so a definition exported from Tyk loads as it is.
//!
//! # gRPC APIs
//!
//! Weir's decision: **`strip_listen_path` is not applied to gRPC method paths.** A gRPC
//! request path is `/package.Service/Method`, which the upstream must see whole; Tyk's
//! convention is a listen path of `/package.Service/` with stripping off, and definitions
//! written with `strip_listen_path: true` (like the vision seed) would otherwise send
//! `/Method` upstream and fail. This crate only keeps `enable_grpc`, `enable_grpc_web` and
//! `strip_listen_path` as written; the proxy applies the rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::api::{check_listen_path, id_from_file, normalise_domain, parse_target};
use crate::compat::{self, Form};
use crate::document::{typed, without_nulls};
use crate::errors::ConfigError;
use crate::model::{ApiDefinition, CorsConfig, DefinitionFormat, HeaderRules, Transport};
use crate::plugins::{
    HookDeclaration, HookEntry, HookPhase, PluginDeclaration, flag, has_custom_auth, seconds,
};
use crate::versioning::VersionRules;
use crate::virtual_endpoints::VirtualEndpointDecl;

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawClassic {
    api_id: String,
    name: String,
    org_id: String,
    active: Option<bool>,
    use_keyless: bool,
    domain: String,
    domain_disabled: bool,
    proxy: RawProxy,
    version_data: RawVersionData,
    #[serde(rename = "CORS")]
    cors: RawCors,
    custom_middleware: Option<RawMiddleware>,
    custom_middleware_bundle: String,
    custom_middleware_bundle_disabled: bool,
    #[serde(deserialize_with = "flag")]
    custom_plugin_auth_enabled: bool,
    #[serde(deserialize_with = "flag")]
    enable_coprocess_auth: bool,
    #[serde(deserialize_with = "flag")]
    use_go_plugin_auth: bool,
    #[serde(deserialize_with = "flag")]
    config_data_disabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProxy {
    listen_path: String,
    target_url: String,
    strip_listen_path: bool,
    preserve_host_header: bool,
    disable_strip_slash: bool,
    enable_load_balancing: bool,
    target_list: Vec<String>,
    transport: RawTransport,
    enable_grpc: bool,
    enable_grpc_web: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTransport {
    ssl_insecure_skip_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawVersionData {
    versions: BTreeMap<String, RawVersion>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawVersion {
    use_extended_paths: bool,
    global_headers_disabled: bool,
    global_response_headers_disabled: bool,
    global_headers: BTreeMap<String, String>,
    global_headers_remove: Vec<String>,
    global_response_headers: BTreeMap<String, String>,
    global_response_headers_remove: Vec<String>,
    extended_paths: RawExtendedPaths,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawExtendedPaths {
    #[serde(rename = "virtual")]
    virtual_endpoints: Vec<crate::virtual_endpoints::RawVirtual>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawCors {
    enable: bool,
    allowed_origins: Vec<String>,
    allowed_methods: Vec<String>,
    allowed_headers: Vec<String>,
    exposed_headers: Vec<String>,
    allow_credentials: bool,
    max_age: u64,
    options_passthrough: bool,
}

/// `custom_middleware`: the driver and its hooks.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMiddleware {
    driver: String,
    pre: Vec<RawHook>,
    post_key_auth: Vec<RawHook>,
    post: Vec<RawHook>,
    response: Vec<RawHook>,
    auth_check: RawHook,
    /// Seed 000: `<driver>_streams` lists of stream hooks.
    driver_specific_middleware: BTreeMap<String, Vec<RawHook>>,
    /// Weir: seconds allowed for one hook call.
    #[serde(deserialize_with = "seconds")]
    timeout: Option<Duration>,
}

/// One hook: `{name, path, raw_body_only, require_session, disabled}` (Tyk's
/// `apidef.MiddlewareDefinition`), or seed 000's `{path, symbol_name}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHook {
    name: String,
    symbol_name: String,
    path: String,
    #[serde(deserialize_with = "flag")]
    raw_body_only: bool,
    #[serde(deserialize_with = "flag")]
    require_session: bool,
    #[serde(deserialize_with = "flag")]
    disabled: bool,
}

impl RawHook {
    fn entry(&self) -> HookEntry<'_> {
        HookEntry {
            name: &self.name,
            symbol_name: &self.symbol_name,
            path: &self.path,
            raw_body_only: self.raw_body_only,
            require_session: self.require_session,
            off: self.disabled,
        }
    }
}

/// Builds the model from a classic document.
pub(crate) fn parse(doc: Value, file: &Path) -> Result<ApiDefinition, Vec<ConfigError>> {
    let raw: RawClassic = typed(&without_nulls(&doc), file).map_err(|e| vec![e])?;
    let mut errors = compat::refusals(&doc, Form::Classic, file);

    let proxy = &raw.proxy;
    check_listen_path(&proxy.listen_path, "proxy.listen_path", file, &mut errors);

    let mut targets = Vec::new();
    if proxy.enable_load_balancing {
        if proxy.target_list.is_empty() {
            errors.push(ConfigError::new(
                file,
                "proxy.target_list",
                "enable_load_balancing is true but target_list is empty",
            ));
        }
        for (i, t) in proxy.target_list.iter().enumerate() {
            match parse_target(t) {
                Ok(t) => targets.push(t),
                Err(reason) => errors.push(ConfigError::new(
                    file,
                    format!("proxy.target_list[{i}]"),
                    reason,
                )),
            }
        }
    }
    // With load balancing on, target_url is informational in Tyk, but must still be sane.
    if proxy.target_url.trim().is_empty() {
        if !proxy.enable_load_balancing {
            errors.push(ConfigError::new(file, "proxy.target_url", "is required"));
        }
    } else if !crate::looping::is_loop_url(&proxy.target_url) {
        match parse_target(&proxy.target_url) {
            Ok(t) if !proxy.enable_load_balancing => targets.push(t),
            Ok(_) => {}
            Err(reason) => errors.push(ConfigError::new(file, "proxy.target_url", reason)),
        }
    }

    let api_id = if raw.api_id.trim().is_empty() {
        id_from_file(file)
    } else {
        raw.api_id.clone()
    };
    let plugins = plugin_declaration(&raw, &doc, &api_id, file, &mut errors);
    let (rules, context_vars, versioning) = if crate::versioning::is_versioned(&doc) {
        let (rules, context_vars, versioning) =
            versions(&doc, &raw.version_data, file, &mut errors);
        (rules, context_vars, Some(versioning))
    } else {
        let (rules, context_vars) = rules_of(&doc, &raw.version_data, false, file, &mut errors);
        (rules, context_vars, None)
    };
    if let Some(target) = rules.override_target.clone() {
        targets = vec![target];
    }
    let crate::versioning::VersionRules {
        headers,
        virtual_endpoints,
        endpoints,
        limits,
        ..
    } = rules;
    let plugin_auth = plugins.as_ref().is_some_and(|p| p.custom_auth);
    let auth = crate::auth::classic(&doc, plugin_auth, file, &mut errors);
    let ip_access = crate::ip_access::classic(&doc, file, &mut errors);
    let looping = crate::looping::classic(&doc, file, &mut errors);
    let error_overrides = crate::error_overrides::classic(&doc, file, &mut errors);
    let version_apis = crate::versioning::classic_version_apis(&doc, file, &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ApiDefinition {
        api_id,
        name: raw.name,
        org_id: raw.org_id,
        active: raw.active.unwrap_or(true),
        use_keyless: raw.use_keyless,
        auth,
        listen_path: raw.proxy.listen_path,
        strip_listen_path: raw.proxy.strip_listen_path,
        preserve_host_header: raw.proxy.preserve_host_header,
        disable_strip_slash: raw.proxy.disable_strip_slash,
        domain: if raw.domain_disabled {
            None
        } else {
            normalise_domain(&raw.domain)
        },
        targets,
        transport: Transport {
            ssl_insecure_skip_verify: raw.proxy.transport.ssl_insecure_skip_verify,
        },
        enable_grpc: raw.proxy.enable_grpc,
        enable_grpc_web: raw.proxy.enable_grpc_web,
        headers,
        cors: raw.cors.into_model(),
        limits,
        virtual_endpoints,
        endpoints,
        context_vars,
        ip_access,
        looping,
        error_overrides,
        versioning,
        version_apis,
        plugins,
        format: DefinitionFormat::Classic,
        file: file.to_path_buf(),
        document: doc,
    })
}

/// Reads the rules of the version Tyk applies in `doc` (its only version, else `Default`):
/// global headers, virtual endpoints, every `extended_paths` feature, the size limit and
/// timeouts, and with `versioned` its `override_target` (Tyk ignores that on an API that is
/// not versioned). Also returns `enable_context_vars`.
fn rules_of(
    doc: &Value,
    data: &RawVersionData,
    versioned: bool,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> (VersionRules, bool) {
    let (headers, virtual_endpoints) = version_rules(data, file, errors);
    // Each per-endpoint feature reads its own list (crate::endpoints).
    let mut endpoints = crate::endpoints::EndpointRules {
        ignore_case: crate::endpoints::ignores_endpoint_case(doc),
        ..Default::default()
    };
    if let Some((base, paths)) = crate::endpoints::classic_extended_paths(doc) {
        endpoints.url_rewrites = crate::url_rewrites::classic(paths, &base, file, errors);
    }
    crate::endpoint_lists::classic(doc, &mut endpoints, file, errors);
    crate::looping::classic_internal(doc, &mut endpoints, file, errors);
    let limits = crate::limits::classic(doc, file, &mut endpoints, errors);
    crate::request_schema::classic(doc, file, &mut endpoints, errors);
    let context_vars = crate::transforms::classic(doc, file, &mut endpoints, errors);
    let override_target = match crate::endpoints::classic_version(doc) {
        Some((name, version)) if versioned => {
            let text = version.get("override_target").and_then(Value::as_str);
            let text = text.map(str::trim).unwrap_or("");
            let field = format!("version_data.versions.{name}.override_target");
            match text {
                "" => None,
                t => parse_target(t)
                    .map_err(|reason| errors.push(ConfigError::new(file, field, reason)))
                    .ok(),
            }
        }
        _ => None,
    };
    let rules = VersionRules {
        override_target,
        headers,
        virtual_endpoints,
        endpoints,
        limits,
    };
    (rules, context_vars)
}

/// Reads every version of a versioned definition and how a request picks one; the rules
/// returned first are the default version's (else the first version's), which the API's own
/// fields then hold.
fn versions(
    doc: &Value,
    data: &RawVersionData,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> (VersionRules, bool, crate::versioning::Versioning) {
    let names = crate::versioning::version_names(doc);
    let mut versioning = crate::versioning::classic_selector(doc, &names, file, errors);
    if names.is_empty() {
        errors.push(ConfigError::new(
            file,
            "version_data.versions",
            "a versioned API (`not_versioned` is not true) needs at least one version",
        ));
    }
    let mut context_vars = false;
    for name in &names {
        let one = crate::versioning::single_version_doc(doc, name);
        let one_data = RawVersionData {
            versions: data
                .versions
                .iter()
                .filter(|(k, _)| *k == name)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let (rules, vars) = rules_of(&one, &one_data, true, file, errors);
        context_vars = vars;
        let field = format!("version_data.versions.{name}.expires");
        let version = &doc["version_data"]["versions"][name];
        let expires = crate::versioning::expires(version, &field, file, errors);
        versioning.versions.push(crate::versioning::ApiVersion {
            name: name.clone(),
            expires,
            rules,
        });
    }
    let base = versioning
        .default
        .as_ref()
        .and_then(|d| versioning.versions.iter().find(|v| &v.name == d))
        .or(versioning.versions.first())
        .map(|v| v.rules.clone())
        .unwrap_or_default();
    (base, context_vars, versioning)
}

impl RawCors {
    /// The model's CORS block, only when enabled.
    fn into_model(self) -> Option<CorsConfig> {
        self.enable.then_some(CorsConfig {
            allowed_origins: self.allowed_origins,
            allowed_methods: self.allowed_methods,
            allowed_headers: self.allowed_headers,
            exposed_headers: self.exposed_headers,
            allow_credentials: self.allow_credentials,
            max_age: self.max_age,
            options_passthrough: self.options_passthrough,
        })
    }
}

/// Picks the version whose rules apply and reads its header rules and virtual endpoints.
///
/// As Tyk does for an API that is not versioned: the only version, else the one named
/// `Default`, `default` or `` (versioned APIs and other cases are refused by the
/// compatibility table).
fn version_rules(
    data: &RawVersionData,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> (HeaderRules, Vec<VirtualEndpointDecl>) {
    let chosen = if data.versions.len() == 1 {
        data.versions.iter().next()
    } else {
        let defaults: Vec<_> = ["Default", "default", ""]
            .iter()
            .filter_map(|n| data.versions.get_key_value(*n))
            .collect();
        (defaults.len() == 1).then(|| defaults[0])
    };
    let Some((vname, version)) = chosen else {
        return Default::default();
    };
    let mut headers = HeaderRules::default();
    if !version.global_headers_disabled {
        headers.request_set = pairs(&version.global_headers);
        headers.request_remove = version.global_headers_remove.clone();
    }
    if !version.global_response_headers_disabled {
        headers.response_set = pairs(&version.global_response_headers);
        headers.response_remove = version.global_response_headers_remove.clone();
    }
    let virtual_endpoints = if version.use_extended_paths {
        let field = format!("version_data.versions.{vname}.extended_paths.virtual");
        crate::virtual_endpoints::declare(
            &version.extended_paths.virtual_endpoints,
            &field,
            file,
            errors,
        )
    } else {
        Vec::new()
    };
    (headers, virtual_endpoints)
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The plugin declaration, when the definition asks for any plugin.
///
/// A driver alone counts: with `custom_middleware_bundle`, the hooks come from the bundle's
/// manifest, which is not in the definition. So do hooks without a driver: refusing them is
/// better than skipping a hook the author counted on.
fn plugin_declaration(
    raw: &RawClassic,
    doc: &Value,
    api_id: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<PluginDeclaration> {
    let default = RawMiddleware::default();
    let mw = raw.custom_middleware.as_ref().unwrap_or(&default);
    let driver = mw.driver.trim();
    // Tyk runs `auth_check` only on a protected API with one of its custom-auth switches on.
    let auth_on = !raw.use_keyless
        && (raw.custom_plugin_auth_enabled || raw.enable_coprocess_auth || raw.use_go_plugin_auth);
    let hooks = declared_hooks(mw, driver, auth_on, api_id, file, errors);
    let bundle = if raw.custom_middleware_bundle_disabled {
        ""
    } else {
        raw.custom_middleware_bundle.trim()
    };
    let asked = !driver.is_empty()
        || [&mw.pre, &mw.post, &mw.post_key_auth, &mw.response]
            .iter()
            .any(|list| !list.is_empty())
        || !mw.auth_check.name.trim().is_empty()
        || mw
            .driver_specific_middleware
            .values()
            .any(|l| !l.is_empty())
        || !bundle.is_empty();
    (asked || !hooks.is_empty()).then(|| PluginDeclaration {
        driver: driver.to_string(),
        // With a bundle, the `auth_check` the switches turn on may be in its manifest.
        custom_auth: has_custom_auth(&hooks) || (auth_on && !bundle.is_empty()),
        hooks,
        timeout: mw.timeout,
        config_data: config_data(raw, doc, bundle),
        bundle: bundle.to_string(),
    })
}

/// The hooks of a `custom_middleware` section, paths resolved against `file`'s folder;
/// `auth_check` only when `auth_on`.
fn declared_hooks(
    mw: &RawMiddleware,
    driver: &str,
    auth_on: bool,
    api_id: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<HookDeclaration> {
    let mut hooks = Vec::new();
    for (key, list, phase) in [
        ("pre", &mw.pre, HookPhase::Pre),
        ("post_key_auth", &mw.post_key_auth, HookPhase::PostKeyAuth),
        ("post", &mw.post, HookPhase::Post),
        ("response", &mw.response, HookPhase::Response),
    ] {
        for (i, hook) in list.iter().enumerate() {
            let field = format!("custom_middleware.{key}[{i}]");
            hooks.extend(hook.entry().declare(phase, &field, "name", file, errors));
        }
    }
    hooks.extend(stream_hooks(mw, driver, api_id, file, errors));
    if auth_on && !mw.auth_check.name.is_empty() {
        let field = "custom_middleware.auth_check";
        let auth = mw.auth_check.entry();
        hooks.extend(auth.declare(HookPhase::CustomAuth, field, "name", file, errors));
    }
    hooks
}

/// What a plugin bundle's `manifest.json` declares in its `custom_middleware`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestMiddleware {
    /// `driver`, trimmed (may be empty: the API's driver then applies).
    pub driver: String,
    /// The hooks, paths resolved against the manifest's folder.
    pub hooks: Vec<HookDeclaration>,
    /// `timeout` (Weir), when set.
    pub timeout: Option<Duration>,
}

/// Reads a bundle manifest's `custom_middleware` section, which has the classic form. The
/// `auth_check` it names counts only when the API switches plugin authentication on
/// (`auth_on`), as in Tyk. Errors name `manifest` and the field.
pub fn manifest_middleware(
    section: &Value,
    manifest: &Path,
    api_id: &str,
    auth_on: bool,
) -> Result<ManifestMiddleware, Vec<ConfigError>> {
    let mw: RawMiddleware = serde_json::from_value(section.clone()).map_err(|e| {
        vec![ConfigError::new(
            manifest,
            "custom_middleware",
            e.to_string(),
        )]
    })?;
    let driver = mw.driver.trim().to_string();
    let mut errors = Vec::new();
    let hooks = declared_hooks(&mw, &driver, auth_on, api_id, manifest, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ManifestMiddleware {
        driver,
        hooks,
        timeout: mw.timeout,
    })
}

/// `config_data` unless disabled; when it is unset or `{}`, seed 000's
/// `middleware_global_config[<bundle name>]`.
///
/// Read from the document as written, not from the typed view: the configuration is handed to
/// plugins whole, `null`s included.
fn config_data(raw: &RawClassic, doc: &Value, bundle: &str) -> Value {
    if raw.config_data_disabled {
        return Value::Null;
    }
    match doc.get("config_data") {
        Some(v) if !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()) => v.clone(),
        _ => doc
            .get("middleware_global_config")
            .and_then(|g| g.get(bundle))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// Stream hooks, the way seed 000 declares them:
/// `driver_specific_middleware.<driver>_streams: [{path, symbol_name}]`, `<driver>` being the
/// API's own `custom_middleware.driver` (so the seed's `goplugin_streams` under driver
/// `goplugin`). A list under another driver's name is refused: an API has one driver.
fn stream_hooks(
    mw: &RawMiddleware,
    driver: &str,
    api_id: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<HookDeclaration> {
    let expected = format!("{driver}_streams");
    let mut hooks = Vec::new();
    for (key, list) in &mw.driver_specific_middleware {
        let field = format!("custom_middleware.driver_specific_middleware.{key}");
        if list.is_empty() {
            continue;
        }
        if *key != expected {
            errors.push(ConfigError::new(
                file,
                field,
                format!(
                    "API `{api_id}`: stream hooks run in the API's driver (`{driver}`); declare \
                     them as `{expected}`"
                ),
            ));
            continue;
        }
        for (i, hook) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let phase = HookPhase::GrpcMessage;
            hooks.extend(hook.entry().declare(phase, &field, "name", file, errors));
        }
    }
    hooks
}
