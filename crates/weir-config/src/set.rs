//! Checks across all loaded APIs: things no single file can get wrong on its own.

use std::collections::HashMap;

use crate::errors::ConfigError;
use crate::model::{ApiDefinition, DefinitionFormat};

/// Reports duplicate `api_id`s and duplicate (domain, listen path) routes.
///
/// Each duplicate is reported on the later API's file and names the earlier one, so both
/// files appear in the message. Listen paths compare with a trailing '/' ignored (`/a` and
/// `/a/` route the same requests). Inactive APIs are not routed, so they only take part in
/// the `api_id` check.
pub fn check_api_set(apis: &[ApiDefinition]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut ids: HashMap<&str, &ApiDefinition> = HashMap::new();
    let mut routes: HashMap<(&str, &str), &ApiDefinition> = HashMap::new();
    for api in apis {
        if let Some(first) = ids.get(api.api_id.as_str()) {
            errors.push(ConfigError::new(
                &api.file,
                id_field(api),
                format!(
                    "duplicate api_id `{}`: also used by {}",
                    api.api_id,
                    first.file.display()
                ),
            ));
        } else {
            ids.insert(&api.api_id, api);
        }
        if !api.active {
            continue;
        }
        let key = (
            api.domain.as_deref().unwrap_or(""),
            api.listen_path.trim_end_matches('/'),
        );
        if let Some(first) = routes.get(&key) {
            let host = api
                .domain
                .as_deref()
                .map_or_else(|| "any host".to_string(), |d| format!("domain `{d}`"));
            errors.push(ConfigError::new(
                &api.file,
                listen_path_field(api),
                format!(
                    "listen path `{}` on {host} is already used by API `{}` in {}",
                    api.listen_path,
                    first.api_id,
                    first.file.display()
                ),
            ));
        } else {
            routes.insert(key, api);
        }
    }
    errors
}

fn id_field(api: &ApiDefinition) -> &'static str {
    match api.format {
        DefinitionFormat::Classic => "api_id",
        DefinitionFormat::Oas => "x-tyk-api-gateway.info.id",
    }
}

fn listen_path_field(api: &ApiDefinition) -> &'static str {
    match api.format {
        DefinitionFormat::Classic => "proxy.listen_path",
        DefinitionFormat::Oas => "x-tyk-api-gateway.server.listenPath.value",
    }
}
