//! Tyk OAS definitions: an OpenAPI 3 document with an `x-tyk-api-gateway` extension.
//!
//! Only `x-tyk-api-gateway` drives the gateway; the OpenAPI part (paths, components) and
//! `x-tyk-streaming` are kept in `ApiDefinition::document` for the modules that use them.
//! Error paths are written from the document root (`x-tyk-api-gateway.server.listenPath.value`)
//! so they can be found in the file as written.

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
    HookEntry, HookPhase, PluginDeclaration, flag, has_custom_auth, optional_flag, seconds,
};

/// The root of the extension, for error paths.
const ROOT: &str = "x-tyk-api-gateway";

/// Weights are expanded into list entries, so an absurd weight would exhaust memory.
const MAX_WEIGHT: u32 = 1000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDoc {
    info: RawOpenApiInfo,
    #[serde(rename = "x-tyk-api-gateway")]
    gateway: RawGateway,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOpenApiInfo {
    title: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawGateway {
    info: RawInfo,
    upstream: RawUpstream,
    server: RawServer,
    middleware: RawMiddleware,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawInfo {
    id: String,
    name: String,
    org_id: String,
    state: RawState,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawState {
    active: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawUpstream {
    url: String,
    load_balancing: RawLoadBalancing,
    preserve_host_header: Enabled,
    tls_transport: RawTlsTransport,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLoadBalancing {
    enabled: bool,
    targets: Vec<RawWeightedTarget>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawWeightedTarget {
    url: String,
    weight: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawTlsTransport {
    insecure_skip_verify: bool,
}

/// The many `{enabled: bool}` blocks of Tyk OAS.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Enabled {
    enabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawServer {
    listen_path: RawListenPath,
    custom_domain: RawCustomDomain,
    authentication: RawAuthentication,
    /// Weir: `server.grpc.enabled`, the OAS form of classic `proxy.enable_grpc`.
    grpc: Enabled,
    /// Weir: `server.grpcWeb.enabled`, the OAS form of classic `proxy.enable_grpc_web`.
    grpc_web: Enabled,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawListenPath {
    value: String,
    strip: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCustomDomain {
    enabled: bool,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAuthentication {
    enabled: bool,
    custom: RawCustomAuth,
}

/// `server.authentication.custom`: the custom authentication plugin.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCustomAuth {
    enabled: bool,
    config: Option<RawPlugin>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMiddleware {
    global: RawGlobal,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawGlobal {
    cors: RawCors,
    transform_request_headers: RawHeaderTransform,
    transform_response_headers: RawHeaderTransform,
    plugin_config: RawPluginConfig,
    pre_plugins: Option<Vec<RawPlugin>>,
    post_authentication_plugins: Option<Vec<RawPlugin>>,
    post_plugins: Option<Vec<RawPlugin>>,
    response_plugins: Option<Vec<RawPlugin>>,
    pre_plugin: Option<RawPluginList>,
    post_authentication_plugin: Option<RawPluginList>,
    post_plugin: Option<RawPluginList>,
    response_plugin: Option<RawPluginList>,
    /// Weir: stream hooks (see docs/plugins.md).
    grpc_message_plugins: Option<Vec<RawPlugin>>,
}

/// Tyk's deprecated singular form, `prePlugin: {plugins: [...]}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPluginList {
    plugins: Vec<RawPlugin>,
}

/// One plugin hook: `{enabled, functionName, path, rawBodyOnly, requireSession}`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPlugin {
    /// Only `false` switches the hook off.
    #[serde(deserialize_with = "optional_flag")]
    enabled: Option<bool>,
    function_name: String,
    /// Seed 000's name for the function, read in both forms.
    #[serde(rename = "symbol_name")]
    symbol_name: String,
    path: String,
    #[serde(deserialize_with = "flag")]
    raw_body_only: bool,
    #[serde(deserialize_with = "flag")]
    require_session: bool,
}

impl RawPlugin {
    fn entry(&self) -> HookEntry<'_> {
        HookEntry {
            name: &self.function_name,
            symbol_name: &self.symbol_name,
            path: &self.path,
            raw_body_only: self.raw_body_only,
            require_session: self.require_session,
            off: self.enabled == Some(false),
        }
    }
}

impl RawGlobal {
    /// Each phase's hooks, with the field path they were written at.
    fn hook_lists(&self) -> [(HookPhase, String, &[RawPlugin]); 5] {
        [
            (
                HookPhase::Pre,
                ("prePlugins", &self.pre_plugins),
                ("prePlugin", self.pre_plugin.as_ref()),
            ),
            (
                HookPhase::PostKeyAuth,
                (
                    "postAuthenticationPlugins",
                    &self.post_authentication_plugins,
                ),
                (
                    "postAuthenticationPlugin",
                    self.post_authentication_plugin.as_ref(),
                ),
            ),
            (
                HookPhase::Post,
                ("postPlugins", &self.post_plugins),
                ("postPlugin", self.post_plugin.as_ref()),
            ),
            (
                HookPhase::Response,
                ("responsePlugins", &self.response_plugins),
                ("responsePlugin", self.response_plugin.as_ref()),
            ),
            (
                HookPhase::GrpcMessage,
                ("grpcMessagePlugins", &self.grpc_message_plugins),
                ("", None),
            ),
        ]
        .map(|(phase, plural, singular)| {
            let (field, list) = migrated(plural, singular);
            (phase, field, list)
        })
    }
}

/// The hooks of one phase as Tyk migrates them, with the field path they were written at:
/// the plural list when present, else the deprecated singular block's `plugins`.
fn migrated<'a>(
    (key, plural): (&str, &'a Option<Vec<RawPlugin>>),
    (singular_key, singular): (&str, Option<&'a RawPluginList>),
) -> (String, &'a [RawPlugin]) {
    let base = format!("{ROOT}.middleware.global");
    match (plural, singular) {
        (Some(list), _) => (format!("{base}.{key}"), list),
        (None, Some(block)) => (format!("{base}.{singular_key}.plugins"), &block.plugins),
        (None, None) => (String::new(), &[]),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawCors {
    enabled: bool,
    allowed_origins: Vec<String>,
    allowed_methods: Vec<String>,
    allowed_headers: Vec<String>,
    exposed_headers: Vec<String>,
    allow_credentials: bool,
    max_age: u64,
    options_passthrough: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHeaderTransform {
    enabled: bool,
    add: Vec<RawHeader>,
    remove: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHeader {
    name: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPluginConfig {
    driver: String,
    /// `{enabled, value}`: `value` is read from the document as written.
    data: Enabled,
    bundle: RawBundle,
    /// Seconds allowed for one hook call.
    #[serde(deserialize_with = "seconds")]
    timeout: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawBundle {
    enabled: bool,
    path: String,
}

/// Builds the model from an OAS document.
pub(crate) fn parse(doc: Value, file: &Path) -> Result<ApiDefinition, Vec<ConfigError>> {
    let raw: RawDoc = typed(&without_nulls(&doc), file).map_err(|e| vec![e])?;
    let gw = raw.gateway;
    let mut errors = compat::refusals(&doc, Form::Oas, file);
    errors.extend(compat::refusals(&doc, Form::Streaming, file));

    let listen_field = format!("{ROOT}.server.listenPath.value");
    check_listen_path(
        &gw.server.listen_path.value,
        &listen_field,
        file,
        &mut errors,
    );

    let up = &gw.upstream;
    let mut targets = Vec::new();
    if up.load_balancing.enabled {
        for (i, t) in up.load_balancing.targets.iter().enumerate() {
            let field = format!("{ROOT}.upstream.loadBalancing.targets[{i}]");
            if t.weight > MAX_WEIGHT {
                errors.push(ConfigError::new(
                    file,
                    format!("{field}.weight"),
                    format!("must be at most {MAX_WEIGHT}, found {}", t.weight),
                ));
                continue;
            }
            match parse_target(&t.url) {
                // Tyk expands a weight of n into n entries of the round-robin list.
                Ok(target) => targets.extend(std::iter::repeat_n(target, t.weight as usize)),
                Err(reason) => errors.push(ConfigError::new(file, format!("{field}.url"), reason)),
            }
        }
        if targets.is_empty() && errors.is_empty() {
            errors.push(ConfigError::new(
                file,
                format!("{ROOT}.upstream.loadBalancing.targets"),
                "loadBalancing is enabled but no target has a weight above 0",
            ));
        }
    } else if !up.url.trim().is_empty() && !crate::looping::is_loop_url(&up.url) {
        match parse_target(&up.url) {
            Ok(t) => targets.push(t),
            Err(reason) => errors.push(ConfigError::new(
                file,
                format!("{ROOT}.upstream.url"),
                reason,
            )),
        }
    }

    let global = &gw.middleware.global;
    let headers = HeaderRules {
        request_set: header_pairs(&global.transform_request_headers),
        request_remove: header_removals(&global.transform_request_headers),
        response_set: header_pairs(&global.transform_response_headers),
        response_remove: header_removals(&global.transform_response_headers),
    };
    let cors = global.cors.enabled.then(|| CorsConfig {
        allowed_origins: global.cors.allowed_origins.clone(),
        allowed_methods: global.cors.allowed_methods.clone(),
        allowed_headers: global.cors.allowed_headers.clone(),
        exposed_headers: global.cors.exposed_headers.clone(),
        allow_credentials: global.cors.allow_credentials,
        max_age: global.cors.max_age,
        options_passthrough: global.cors.options_passthrough,
    });
    let plugins = plugin_declaration(&gw, &doc, file, &mut errors);
    // Each per-endpoint feature reads its own operations (crate::endpoints::Operations).
    let mut endpoints = crate::endpoints::EndpointRules {
        ignore_case: crate::endpoints::ignores_endpoint_case(&doc),
        ..Default::default()
    };
    let operations = crate::endpoints::Operations::of(&doc);
    endpoints.url_rewrites = crate::url_rewrites::oas(&doc, file, &mut errors);
    // A middleware block for an operation that `paths` does not declare would never apply.
    for id in operations.middleware(&doc).1 {
        errors.push(ConfigError::new(
            file,
            format!("x-tyk-api-gateway.middleware.operations.{id}"),
            "no operation in `paths` has this operationId",
        ));
    }
    crate::endpoint_lists::oas(&doc, &operations, &mut endpoints, file, &mut errors);
    crate::looping::oas_internal(&doc, &operations, &mut endpoints, file, &mut errors);
    let limits = crate::limits::oas(&doc, &operations, file, &mut endpoints, &mut errors);
    crate::request_schema::oas(&doc, &operations, file, &mut endpoints, &mut errors);
    let context_vars = crate::transforms::oas(&doc, &operations, file, &mut endpoints, &mut errors);
    let plugin_auth = plugins.as_ref().is_some_and(|p| p.custom_auth);
    let auth = crate::auth::oas(&doc, plugin_auth, file, &mut errors);
    let ip_access = crate::ip_access::oas(&doc, file, &mut errors);
    let looping = crate::looping::oas(&doc, file, &mut errors);
    let error_overrides = crate::error_overrides::oas(&doc, file, &mut errors);
    let version_apis = crate::versioning::oas_version_apis(&doc, file, &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    let name = if gw.info.name.is_empty() {
        raw.info.title
    } else {
        gw.info.name
    };
    let api_id = if gw.info.id.trim().is_empty() {
        id_from_file(file)
    } else {
        gw.info.id
    };
    let domain = if gw.server.custom_domain.enabled {
        normalise_domain(&gw.server.custom_domain.name)
    } else {
        None
    };
    Ok(ApiDefinition {
        api_id,
        name,
        org_id: gw.info.org_id,
        active: gw.info.state.active.unwrap_or(true),
        // Tyk OAS: no enabled authentication means an open (keyless) API.
        use_keyless: !gw.server.authentication.enabled,
        auth,
        listen_path: gw.server.listen_path.value,
        strip_listen_path: gw.server.listen_path.strip,
        preserve_host_header: gw.upstream.preserve_host_header.enabled,
        // Classic-only setting; OAS has no equivalent.
        disable_strip_slash: false,
        domain,
        targets,
        transport: Transport {
            ssl_insecure_skip_verify: gw.upstream.tls_transport.insecure_skip_verify,
        },
        enable_grpc: gw.server.grpc.enabled,
        enable_grpc_web: gw.server.grpc_web.enabled,
        headers,
        cors,
        // OAS timeouts are per operation (`enforceTimeout`), not read yet.
        limits,
        virtual_endpoints: Vec::new(),
        endpoints,
        context_vars,
        ip_access,
        looping,
        error_overrides,
        versioning: None,
        version_apis,
        plugins,
        format: DefinitionFormat::Oas,
        file: file.to_path_buf(),
        document: doc,
    })
}

fn header_pairs(t: &RawHeaderTransform) -> Vec<(String, String)> {
    if !t.enabled {
        return Vec::new();
    }
    t.add
        .iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

fn header_removals(t: &RawHeaderTransform) -> Vec<String> {
    if t.enabled {
        t.remove.clone()
    } else {
        Vec::new()
    }
}

/// The plugin declaration, when any plugin hook is enabled (or, without `enabled`, declared).
///
/// Tyk's deprecated singular blocks (`prePlugin: {plugins: [...]}`) are read the way Tyk
/// migrates them: the plural list wins when both are present. Hooks without a driver still
/// ask for plugins: refusing them is better than skipping an authentication or pre hook the
/// author counted on.
fn plugin_declaration(
    gw: &RawGateway,
    doc: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<PluginDeclaration> {
    let global = &gw.middleware.global;
    let mut hooks = Vec::new();
    let mut asked = false;
    for (phase, field, list) in global.hook_lists() {
        asked |= list.iter().any(|h| h.enabled == Some(true));
        for (i, hook) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let entry = hook.entry();
            hooks.extend(entry.declare(phase, &field, "functionName", file, errors));
        }
    }
    let auth = &gw.server.authentication;
    // An enabled `authentication` is what makes an OAS API protected (not keyless).
    asked |= auth.enabled && auth.custom.enabled;
    if auth.enabled
        && auth.custom.enabled
        && let Some(config) = &auth.custom.config
    {
        let field = format!("{ROOT}.server.authentication.custom.config");
        let entry = config.entry();
        hooks.extend(entry.declare(HookPhase::CustomAuth, &field, "functionName", file, errors));
    }
    let plugin_config = &global.plugin_config;
    let config_data = if plugin_config.data.enabled {
        // As written, `null`s included: the typed view drops them.
        doc.pointer("/x-tyk-api-gateway/middleware/global/pluginConfig/data/value")
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let bundle = if plugin_config.bundle.enabled {
        plugin_config.bundle.path.trim().to_string()
    } else {
        String::new()
    };
    asked |= !bundle.is_empty();
    // With a bundle, the custom authentication hook may be in its manifest.
    let auth_on = auth.enabled && auth.custom.enabled;
    (asked || !hooks.is_empty()).then(|| PluginDeclaration {
        driver: plugin_config.driver.trim().to_string(),
        custom_auth: has_custom_auth(&hooks) || (auth_on && !bundle.is_empty()),
        hooks,
        timeout: plugin_config.timeout,
        config_data,
        bundle,
    })
}
