//! API definition files: form detection, the checks both forms share, and plugin refusal.

use std::path::Path;

use serde_json::Value;

use crate::document::{DocFormat, kind_of, parse_document};
use crate::errors::ConfigError;
use crate::model::{
    ApiDefinition, DefinitionFormat, GatewayConfig, UpstreamScheme, UpstreamTarget,
};
use crate::{classic, oas};

/// Schemes accepted for upstream targets, for the error message.
const SCHEMES: &str = "http, https, h2c, grpc, grpcs, ws or wss";

/// Reads and parses one API definition file.
pub fn load_api_file(path: &Path) -> Result<ApiDefinition, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
        )]
    })?;
    parse_api_definition(&text, path)
}

/// Parses an API definition, classic JSON or OAS (JSON or YAML), as if read from `file`.
///
/// The syntax follows `file`'s extension (`.yaml`/`.yml` YAML, `.json` JSON, else either).
/// A document with top-level `openapi` and `x-tyk-api-gateway` is OAS; anything else is
/// classic. Unknown fields are ignored: Tyk definitions carry hundreds we do not use.
pub fn parse_api_definition(text: &str, file: &Path) -> Result<ApiDefinition, Vec<ConfigError>> {
    let doc = parse_document(text, DocFormat::from_path(file), file).map_err(|e| vec![e])?;
    let Some(obj) = doc.as_object() else {
        let reason = format!(
            "expected an object at the top level, found {}",
            kind_of(&doc)
        );
        return Err(vec![ConfigError::new(file, "", reason)]);
    };
    for wrapper in ["api_definition", "oas"] {
        if obj.get(wrapper).is_some_and(Value::is_object)
            && !obj.contains_key("proxy")
            && !obj.contains_key("x-tyk-api-gateway")
        {
            return Err(vec![ConfigError::new(
                file,
                wrapper,
                format!(
                    "this is a Tyk Dashboard export, not a gateway API definition; save the object \
                     under `{wrapper}` as a file of its own"
                ),
            )]);
        }
    }
    if obj.contains_key("openapi") && obj.contains_key("x-tyk-api-gateway") {
        oas::parse(doc, file)
    } else {
        classic::parse(doc, file)
    }
}

/// Applies the gateway settings that change what a definition means: without
/// `enable_custom_domains` (Tyk's default) an API's `domain` is ignored, as in Tyk; with
/// `trust_x_forwarded_headers` the IP lists judge the client the forwarded headers name.
pub fn apply_gateway_settings(api: &mut ApiDefinition, gateway: &GatewayConfig) {
    if !gateway.enable_custom_domains {
        api.domain = None;
    }
    api.ip_access.trust_forwarded = gateway.trust_x_forwarded_headers;
}

/// The api_id to use when the document has none: the file name without its extension.
pub(crate) fn id_from_file(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks a listen path as written; pushes an error naming `field` when it is unusable.
pub(crate) fn check_listen_path(
    path: &str,
    field: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) {
    if path.is_empty() {
        errors.push(ConfigError::new(file, field, "is required"));
    } else if !path.starts_with('/') {
        errors.push(ConfigError::new(
            file,
            field,
            format!("must start with '/', found `{path}`"),
        ));
    }
}

/// Parses one upstream URL and maps its scheme to how Weir talks to it.
pub(crate) fn parse_target(text: &str) -> Result<UpstreamTarget, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let scheme = match url.scheme() {
        // WebSocket upgrades ride on HTTP/1.1 to the same host.
        "http" | "ws" => UpstreamScheme::Http,
        "https" | "wss" => UpstreamScheme::Https,
        "h2c" | "grpc" => UpstreamScheme::H2c,
        "grpcs" => UpstreamScheme::H2Tls,
        other => {
            return Err(format!(
                "unsupported scheme `{other}` in `{text}` (expected {SCHEMES})"
            ));
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(UpstreamTarget { url, scheme })
}

/// Lower-cases a domain and drops a `:port`; empty means "any host".
pub(crate) fn normalise_domain(domain: &str) -> Option<String> {
    let d = domain.trim().to_ascii_lowercase();
    let host = match d.rsplit_once(':') {
        // "[::1]:8080" and "example.com:8080" lose the port; a bare IPv6 literal keeps its colons.
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            host.to_string()
        }
        _ => d,
    };
    (!host.is_empty()).then_some(host)
}

/// Refuses an API that asks for a plugin driver this build does not have.
///
/// Loading keeps such APIs (they are valid Tyk), so the gateway decides at load time, with
/// the drivers it was built with, and the error says which field asked for what.
pub fn refuse_unbuilt_plugins(
    api: &ApiDefinition,
    built_drivers: &[&str],
) -> Result<(), ConfigError> {
    let Some(plugins) = &api.plugins else {
        return Ok(());
    };
    if built_drivers.contains(&plugins.driver.as_str()) {
        return Ok(());
    }
    let field = match api.format {
        DefinitionFormat::Classic => "custom_middleware.driver",
        DefinitionFormat::Oas => "x-tyk-api-gateway.middleware.global.pluginConfig.driver",
    };
    let what = if plugins.driver.is_empty() {
        "asks for plugins but names no plugin driver".to_string()
    } else {
        format!(
            "asks for plugin driver `{}`, which is not built in this version",
            plugins.driver
        )
    };
    let built = if built_drivers.is_empty() {
        String::new()
    } else {
        format!(" (built: {})", built_drivers.join(", "))
    };
    Err(ConfigError::new(
        &api.file,
        field,
        format!("API `{}` ({}) {what}{built}", api.api_id, api.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_protocols() {
        let s = |u: &str| parse_target(u).map(|t| t.scheme);
        assert_eq!(s("http://a:1"), Ok(UpstreamScheme::Http));
        assert_eq!(s("wss://a"), Ok(UpstreamScheme::Https));
        assert_eq!(s("grpc://processor-service:50051"), Ok(UpstreamScheme::H2c));
        assert_eq!(s("h2c://a:1"), Ok(UpstreamScheme::H2c));
        assert_eq!(s("grpcs://a:1"), Ok(UpstreamScheme::H2Tls));
        assert!(
            s("ftp://a")
                .unwrap_err()
                .contains("unsupported scheme `ftp`")
        );
        assert!(s("nope").unwrap_err().contains("is not a URL"));
    }

    #[test]
    fn domains_lose_port_and_case() {
        assert_eq!(
            normalise_domain("API.Example.com:8443"),
            Some("api.example.com".into())
        );
        assert_eq!(normalise_domain("[::1]:80"), Some("[::1]".into()));
        assert_eq!(normalise_domain(""), None);
    }
}
