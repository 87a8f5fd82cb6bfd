//! Reading an API's plugin declaration from the definition as written: Tyk classic
//! `custom_middleware` (+ `config_data`, `custom_plugin_auth_enabled`) or the OAS
//! `x-tyk-api-gateway` plugin fields.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use weir_config::{ApiDefinition, ConfigError, DefinitionFormat};
use weir_core::plugin::{ApiSpecInfo, HookDecl, HookKind, PluginSpec};

/// What an API declares about plugins.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// What the driver gets.
    pub spec: PluginSpec,
    /// True when an `auth_check` hook authenticates requests (protected API with custom auth).
    pub custom_auth: bool,
    /// `custom_middleware.timeout` (Weir): deadline for one hook call.
    pub timeout: Option<Duration>,
}

/// Reads the declaration; `Ok(None)` when the API declares no hooks.
pub fn read_declaration(api: &ApiDefinition) -> Result<Option<Declaration>, ConfigError> {
    let decl = match api.format {
        DefinitionFormat::Classic => classic(api)?,
        DefinitionFormat::Oas => oas(api)?,
    };
    Ok(decl.filter(|d| !d.spec.hooks.is_empty()))
}

fn base_dir(api: &ApiDefinition) -> PathBuf {
    api.file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn bool_at(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn timeout_at(
    api: &ApiDefinition,
    v: &Value,
    field: &str,
) -> Result<Option<Duration>, ConfigError> {
    match v.get("timeout") {
        None | Some(Value::Null) => Ok(None),
        Some(t) => match t.as_f64() {
            Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
            _ => Err(ConfigError::new(
                &api.file,
                field,
                "expected a positive number of seconds",
            )),
        },
    }
}

fn spec_info(api: &ApiDefinition, config_data: &Value, bundle: &str) -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: api.org_id.clone(),
        api_id: api.api_id.clone(),
        config_data: (!config_data.is_null()).then(|| config_data.to_string()),
        // Tyk always sends it: the md5 of the bundle's name, of "" without one.
        bundle_hash: Some(format!("{:x}", md5::compute(bundle))),
    })
}

/// One hook entry: `{name, path, raw_body_only, require_session, disabled}`.
fn hook(
    api: &ApiDefinition,
    kind: HookKind,
    entry: &Value,
    names: (&str, &str, &str, &str, &str),
    field: &str,
) -> Result<Option<HookDecl>, ConfigError> {
    let (name_key, path_key, raw_key, session_key, disabled_key) = names;
    if !entry.is_object() {
        return Err(ConfigError::new(&api.file, field, "expected an object"));
    }
    // Tyk's Go types make these booleans: `"disabled": "true"` fails its load, so it fails here
    // too rather than leave a hook on that its author switched off.
    let flag = |key: &str| match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ConfigError::new(
            &api.file,
            format!("{field}.{key}"),
            format!("expected true or false, found {other}"),
        )),
    };
    let disabled = if disabled_key == "enabled" {
        flag("enabled")? == Some(false)
    } else {
        flag(disabled_key)?.unwrap_or(false)
    };
    let raw_body_only = flag(raw_key)?.unwrap_or(false);
    let require_session = flag(session_key)?.unwrap_or(false);
    if disabled {
        return Ok(None);
    }
    let mut name = str_at(entry, name_key).to_string();
    if name.is_empty() {
        // Seed 000 names the Go symbol in `symbol_name`.
        name = str_at(entry, "symbol_name").to_string();
    }
    if name.is_empty() {
        return Err(ConfigError::new(
            &api.file,
            format!("{field}.{name_key}"),
            "a hook needs a name",
        ));
    }
    let path = str_at(entry, path_key);
    Ok(Some(HookDecl {
        kind,
        name,
        path: (!path.is_empty()).then(|| base_dir(api).join(path)),
        raw_body_only,
        require_session,
    }))
}

const CLASSIC_KEYS: (&str, &str, &str, &str, &str) = (
    "name",
    "path",
    "raw_body_only",
    "require_session",
    "disabled",
);
const OAS_KEYS: (&str, &str, &str, &str, &str) = (
    "functionName",
    "path",
    "rawBodyOnly",
    "requireSession",
    "enabled",
);

fn classic(api: &ApiDefinition) -> Result<Option<Declaration>, ConfigError> {
    let doc = &api.document;
    let Some(mw) = doc.get("custom_middleware").filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let mut hooks = Vec::new();
    for (key, kind) in [
        ("pre", HookKind::Pre),
        ("post_key_auth", HookKind::PostKeyAuth),
        ("post", HookKind::Post),
        ("response", HookKind::Response),
    ] {
        if let Some(list) = mw.get(key).and_then(Value::as_array) {
            for (i, entry) in list.iter().enumerate() {
                let field = format!("custom_middleware.{key}[{i}]");
                hooks.extend(hook(api, kind, entry, CLASSIC_KEYS, &field)?);
            }
        }
    }
    hooks.extend(classic_stream_hooks(api, mw)?);
    let auth_enabled = [
        "custom_plugin_auth_enabled",
        "enable_coprocess_auth",
        "use_go_plugin_auth",
    ]
    .iter()
    .any(|k| bool_at(doc, k));
    let mut custom_auth = false;
    if let Some(entry) = mw
        .get("auth_check")
        .filter(|e| !str_at(e, "name").is_empty())
        && auth_enabled
        && !api.use_keyless
    {
        hooks.extend(hook(
            api,
            HookKind::CustomAuth,
            entry,
            CLASSIC_KEYS,
            "custom_middleware.auth_check",
        )?);
        custom_auth = true;
    }
    let bundle = if bool_at(doc, "custom_middleware_bundle_disabled") {
        ""
    } else {
        str_at(doc, "custom_middleware_bundle")
    };
    let config_data = if bool_at(doc, "config_data_disabled") {
        Value::Null
    } else {
        match doc.get("config_data") {
            Some(v) if !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()) => v.clone(),
            // Seed 000 hands its plugin the configuration through
            // middleware_global_config[<bundle name>].
            _ => doc
                .get("middleware_global_config")
                .and_then(|g| g.get(bundle))
                .cloned()
                .unwrap_or(Value::Null),
        }
    };
    Ok(Some(Declaration {
        timeout: timeout_at(api, mw, "custom_middleware.timeout")?,
        spec: PluginSpec {
            driver: str_at(mw, "driver").to_string(),
            hooks,
            api: spec_info(api, &config_data, bundle),
            config_data,
            file: api.file.clone(),
        },
        custom_auth,
    }))
}

/// Stream hooks, the way seed 000 declares them:
/// `driver_specific_middleware.<driver>_streams: [{path, symbol_name}]`, `<driver>` being the
/// API's own `custom_middleware.driver` (so the seed's `goplugin_streams` under driver
/// `goplugin`). A list under another driver's name is refused: an API has one driver.
fn classic_stream_hooks(api: &ApiDefinition, mw: &Value) -> Result<Vec<HookDecl>, ConfigError> {
    let Some(specific) = mw
        .get("driver_specific_middleware")
        .filter(|v| !v.is_null())
    else {
        return Ok(Vec::new());
    };
    let base = "custom_middleware.driver_specific_middleware";
    let Some(specific) = specific.as_object() else {
        return Err(ConfigError::new(&api.file, base, "expected an object"));
    };
    let driver = str_at(mw, "driver");
    let expected = format!("{driver}_streams");
    let mut hooks = Vec::new();
    for (key, list) in specific {
        let field = format!("{base}.{key}");
        let Some(list) = list.as_array() else {
            return Err(ConfigError::new(&api.file, field, "expected a list"));
        };
        if list.is_empty() {
            continue;
        }
        if *key != expected {
            return Err(ConfigError::new(
                &api.file,
                field,
                format!(
                    "API `{}`: stream hooks run in the API's driver (`{driver}`); declare them \
                     as `{expected}`",
                    api.api_id
                ),
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            hooks.extend(hook(
                api,
                HookKind::GrpcMessage,
                entry,
                CLASSIC_KEYS,
                &field,
            )?);
        }
    }
    Ok(hooks)
}

fn oas(api: &ApiDefinition) -> Result<Option<Declaration>, ConfigError> {
    let Some(gw) = api.document.get("x-tyk-api-gateway") else {
        return Ok(None);
    };
    let global = gw
        .pointer("/middleware/global")
        .cloned()
        .unwrap_or(Value::Null);
    let plugin_config = global.get("pluginConfig").cloned().unwrap_or(Value::Null);
    let base = "x-tyk-api-gateway.middleware.global";
    let mut hooks = Vec::new();
    // Tyk's deprecated singular blocks (`prePlugin: {plugins: [...]}`) are read the way Tyk
    // migrates them: the plural list wins when both are present.
    for (key, singular, kind) in [
        ("prePlugins", "prePlugin", HookKind::Pre),
        (
            "postAuthenticationPlugins",
            "postAuthenticationPlugin",
            HookKind::PostKeyAuth,
        ),
        ("postPlugins", "postPlugin", HookKind::Post),
        ("responsePlugins", "responsePlugin", HookKind::Response),
        // Weir: stream hooks (see docs/plugins.md).
        ("grpcMessagePlugins", "", HookKind::GrpcMessage),
    ] {
        let (list, field) = match global.get(key).filter(|v| !v.is_null()) {
            Some(list) => (Some(list), format!("{base}.{key}")),
            None => (
                global.get(singular).and_then(|b| b.get("plugins")),
                format!("{base}.{singular}.plugins"),
            ),
        };
        if let Some(list) = list.and_then(Value::as_array) {
            for (i, entry) in list.iter().enumerate() {
                let field = format!("{field}[{i}]");
                hooks.extend(hook(api, kind, entry, OAS_KEYS, &field)?);
            }
        }
    }
    let mut custom_auth = false;
    if let Some(custom) = gw.pointer("/server/authentication/custom")
        && bool_at(custom, "enabled")
        && !api.use_keyless
        && let Some(config) = custom.get("config")
        && config.get("enabled").and_then(Value::as_bool) != Some(false)
    {
        hooks.extend(hook(
            api,
            HookKind::CustomAuth,
            config,
            OAS_KEYS,
            "x-tyk-api-gateway.server.authentication.custom.config",
        )?);
        custom_auth = true;
    }
    let config_data = match plugin_config.get("data") {
        Some(d) if bool_at(d, "enabled") => d.get("value").cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let bundle = match plugin_config.get("bundle") {
        Some(b) if bool_at(b, "enabled") => str_at(b, "path"),
        _ => "",
    };
    Ok(Some(Declaration {
        timeout: timeout_at(api, &plugin_config, &format!("{base}.pluginConfig.timeout"))?,
        spec: PluginSpec {
            driver: str_at(&plugin_config, "driver").to_string(),
            hooks,
            api: spec_info(api, &config_data, bundle),
            config_data,
            file: api.file.clone(),
        },
        custom_auth,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic_api(custom_middleware: Value) -> ApiDefinition {
        let doc = serde_json::json!({
            "api_id": "a", "name": "a", "use_keyless": true,
            "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9"},
            "custom_middleware": custom_middleware
        });
        weir_config::parse_api_definition(&doc.to_string(), Path::new("/apps/a.json")).unwrap()
    }

    #[test]
    fn a_flag_written_as_a_string_is_refused_naming_it() {
        let api = classic_api(serde_json::json!({"driver": "grpc",
            "pre": [{"name": "MyPre", "disabled": "true"}]}));
        let e = read_declaration(&api).unwrap_err();
        assert_eq!(e.field, "custom_middleware.pre[0].disabled");
        assert!(e.reason.contains("expected true or false"), "{e}");
    }

    #[test]
    fn a_disabled_hook_is_off() {
        let api = classic_api(serde_json::json!({"driver": "grpc",
            "pre": [{"name": "MyPre", "disabled": true}, {"name": "Other"}]}));
        let decl = read_declaration(&api).unwrap().unwrap();
        let names: Vec<&str> = decl.spec.hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Other"]);
    }
}
