//! An API's plugin declaration, as the drivers take it: weir-config parses and checks the
//! definition ([`weir_config::PluginDeclaration`]); this only maps it to the driver model.

use std::sync::Arc;
use std::time::Duration;

use weir_config::{ApiDefinition, HookDeclaration, HookPhase, PluginDeclaration};
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

/// `decl` (the API's declaration, its bundle applied) for the drivers; `None` when it has no
/// hooks.
pub fn read_declaration(api: &ApiDefinition, decl: &PluginDeclaration) -> Option<Declaration> {
    if decl.hooks.is_empty() {
        return None;
    }
    let config_data = &decl.config_data;
    let info = info_of(api, config_data, &decl.bundle);
    Some(Declaration {
        spec: PluginSpec {
            driver: decl.driver.clone(),
            hooks: decl.hooks.iter().map(hook).collect(),
            api: Arc::new(info),
            config_data: config_data.clone(),
            file: api.file.clone(),
            timeout: decl.timeout,
        },
        custom_auth: decl.custom_auth,
        timeout: decl.timeout,
    })
}

/// What hooks know about the API: its ids, `config_data` and bundle hash.
fn info_of(api: &ApiDefinition, config_data: &serde_json::Value, bundle: &str) -> ApiSpecInfo {
    ApiSpecInfo {
        org_id: api.org_id.clone(),
        api_id: api.api_id.clone(),
        // A JSON string is handed over as JSON text too (quoted); drivers that want its
        // bytes read `PluginSpec::config_data`.
        config_data: (!config_data.is_null()).then(|| config_data.to_string()),
        // Tyk always sends it: the md5 of the bundle's name, of "" without one.
        bundle_hash: Some(format!("{:x}", md5::compute(bundle))),
    }
}

/// The API as a virtual endpoint sees it (`config_data` unless `config_data_disabled`).
pub(crate) fn spec_info(api: &ApiDefinition) -> ApiSpecInfo {
    let disabled = api
        .document
        .get("config_data_disabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let config_data = match (&api.plugins, api.document.get("config_data")) {
        (Some(p), _) => p.config_data.clone(),
        (None, Some(c)) if !disabled => c.clone(),
        _ => serde_json::Value::Null,
    };
    let bundle = api.plugins.as_ref().map_or("", |p| p.bundle.as_str());
    info_of(api, &config_data, bundle)
}

fn hook(h: &HookDeclaration) -> HookDecl {
    HookDecl {
        kind: kind(h.phase),
        name: h.name.clone(),
        path: h.path.clone(),
        raw_body_only: h.raw_body_only,
        require_session: h.require_session,
    }
}

fn kind(phase: HookPhase) -> HookKind {
    match phase {
        HookPhase::Pre => HookKind::Pre,
        HookPhase::CustomAuth => HookKind::CustomAuth,
        HookPhase::PostKeyAuth => HookKind::PostKeyAuth,
        HookPhase::Post => HookKind::Post,
        HookPhase::Response => HookKind::Response,
        HookPhase::GrpcMessage => HookKind::GrpcMessage,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn classic_api(extra: serde_json::Value) -> ApiDefinition {
        let mut doc = serde_json::json!({
            "api_id": "a", "name": "a", "use_keyless": true,
            "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9"},
        });
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        weir_config::parse_api_definition(&doc.to_string(), Path::new("/apps/a.json")).unwrap()
    }

    #[test]
    fn the_typed_declaration_maps_to_the_driver_model() {
        let api = classic_api(serde_json::json!({
            "custom_middleware": {"driver": "wasm", "timeout": 2,
                "pre": [{"name": "AddHeader", "path": "p/f.wasm", "raw_body_only": true}],
                "driver_specific_middleware": {"wasm_streams": [{"symbol_name": "OnMessage"}]}},
            "custom_middleware_bundle": "b.zip",
            "config_data": "raw text"
        }));
        let decl = read_declaration(&api, api.plugins.as_ref().unwrap()).unwrap();
        let hooks: Vec<_> = decl.spec.hooks.iter().map(|h| (h.kind, &*h.name)).collect();
        assert_eq!(
            hooks,
            [
                (HookKind::Pre, "AddHeader"),
                (HookKind::GrpcMessage, "OnMessage")
            ]
        );
        assert_eq!(
            decl.spec.hooks[0].path,
            Some(PathBuf::from("/apps/p/f.wasm"))
        );
        assert!(decl.spec.hooks[0].raw_body_only);
        assert_eq!(decl.spec.driver, "wasm");
        assert_eq!(decl.timeout, Some(Duration::from_secs(2)));
        assert_eq!(decl.spec.config_data, "raw text");
        assert_eq!(decl.spec.api.config_data.as_deref(), Some("\"raw text\""));
        let md5_of = |s: &str| format!("{:x}", md5::compute(s));
        assert_eq!(decl.spec.api.bundle_hash, Some(md5_of("b.zip")));
        assert_eq!(decl.spec.file, Path::new("/apps/a.json"));
    }

    #[test]
    fn without_hooks_there_is_nothing_for_a_driver() {
        let api = classic_api(serde_json::json!({"custom_middleware": {"driver": "grpc"}}));
        assert!(api.plugins.is_some());
        assert!(read_declaration(&api, api.plugins.as_ref().unwrap()).is_none());
    }
}
