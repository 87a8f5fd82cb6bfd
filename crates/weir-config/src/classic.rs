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

use crate::api::{check_listen_path, id_from_file, non_empty_list, normalise_domain, parse_target};
use crate::compat::{self, Form};
use crate::document::{typed, without_nulls};
use crate::errors::ConfigError;
use crate::model::{
    ApiDefinition, CorsConfig, DefinitionFormat, EndpointTimeout, HeaderRules, PluginRequest,
    Transport,
};

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

#[derive(Deserialize, Default)]
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawExtendedPaths {
    hard_timeouts: Vec<RawHardTimeout>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHardTimeout {
    path: String,
    method: String,
    /// Seconds; Tyk writes an integer, a float is accepted too.
    timeout: f64,
    disabled: bool,
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

/// Only checked for types here; the section itself is handed over as written.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMiddleware {
    driver: String,
    auth_check: RawHook,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHook {
    name: String,
}

/// Hook lists in `custom_middleware` that make an API need a plugin driver.
const HOOK_LISTS: [&str; 4] = ["pre", "post", "post_key_auth", "response"];

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
    } else {
        match parse_target(&proxy.target_url) {
            Ok(t) if !proxy.enable_load_balancing => targets.push(t),
            Ok(_) => {}
            Err(reason) => errors.push(ConfigError::new(file, "proxy.target_url", reason)),
        }
    }

    let (headers, hard_timeouts) = version_rules(&raw.version_data, file, &mut errors);
    let plugins = plugin_request(&raw, &doc);

    if !errors.is_empty() {
        return Err(errors);
    }
    let api_id = if raw.api_id.trim().is_empty() {
        id_from_file(file)
    } else {
        raw.api_id.clone()
    };
    Ok(ApiDefinition {
        api_id,
        name: raw.name,
        org_id: raw.org_id,
        active: raw.active.unwrap_or(true),
        use_keyless: raw.use_keyless,
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
        hard_timeouts,
        plugins,
        format: DefinitionFormat::Classic,
        file: file.to_path_buf(),
        document: doc,
    })
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

/// Picks the version whose rules apply and reads its header rules and hard timeouts.
///
/// As Tyk does for an API that is not versioned: the only version, else the one named
/// `Default`, `default` or `` (versioned APIs and other cases are refused by the
/// compatibility table).
fn version_rules(
    data: &RawVersionData,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> (HeaderRules, Vec<EndpointTimeout>) {
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
    let mut timeouts = Vec::new();
    // Tyk reads extended_paths only with use_extended_paths.
    let hard_timeouts: &[RawHardTimeout] = if version.use_extended_paths {
        &version.extended_paths.hard_timeouts
    } else {
        &[]
    };
    for (i, t) in hard_timeouts.iter().enumerate() {
        let field = format!("version_data.versions.{vname}.extended_paths.hard_timeouts[{i}]");
        if t.disabled {
            continue;
        }
        if t.path.is_empty() {
            errors.push(ConfigError::new(
                file,
                format!("{field}.path"),
                "is required",
            ));
            continue;
        }
        match Duration::try_from_secs_f64(t.timeout) {
            // 0 means "no hard timeout" in Tyk; the gateway default then applies.
            Ok(d) if d.is_zero() => {}
            Ok(timeout) => timeouts.push(EndpointTimeout {
                path: t.path.clone(),
                method: t.method.trim().to_ascii_uppercase(),
                timeout,
            }),
            Err(_) => errors.push(ConfigError::new(
                file,
                format!("{field}.timeout"),
                format!(
                    "expected a number of seconds that is not negative, found {}",
                    t.timeout
                ),
            )),
        }
    }
    (headers, timeouts)
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The plugin request, when the definition asks for any plugin.
///
/// A driver alone counts: with `custom_middleware_bundle`, the hooks come from the bundle's
/// manifest, which is not in the definition.
fn plugin_request(raw: &RawClassic, doc: &Value) -> Option<PluginRequest> {
    let section = doc.get("custom_middleware").cloned().unwrap_or(Value::Null);
    let mw = raw.custom_middleware.as_ref();
    let driver = mw.map(|m| m.driver.trim().to_string()).unwrap_or_default();
    let any_hook = HOOK_LISTS.iter().any(|k| non_empty_list(section.get(*k)))
        || mw.is_some_and(|m| !m.auth_check.name.trim().is_empty())
        || section
            .get("driver_specific_middleware")
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().any(|v| non_empty_list(Some(v))));
    let bundle =
        !raw.custom_middleware_bundle.trim().is_empty() && !raw.custom_middleware_bundle_disabled;
    (!driver.is_empty() || any_hook || bundle).then_some(PluginRequest { driver, section })
}
