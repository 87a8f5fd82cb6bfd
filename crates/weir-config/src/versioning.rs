//! Classic versioning (`version_data.not_versioned: false`): one definition, several versions,
//! the version of a request read from a header, a query parameter or the URL.
//!
//! Tyk's semantics (gateway/api_definition.go `getVersionFromRequest`, `Version`,
//! mw_version_check.go): `definition.location` is `header`, `url-param` or `url` and
//! `definition.key` names the header or parameter; with `url`, the first segment after the
//! listen path is the version, taken out of the path when `definition.strip_versioning_data`
//! (or the older `strip_path`) is on and the segment matches `url_versioning_pattern`. A request
//! without a version gets `version_data.default_version`; an unknown one gets it too when
//! `fallback_to_default` is on. Each version brings its own `extended_paths`, global headers,
//! size limit, timeouts and `override_target`; everything else belongs to the API.
//!
//! Versions as separate APIs (Tyk 5: classic `definition.enabled` with `definition.versions`,
//! OAS `info.versioning`) are [`VersionApis`]: the base API hands a request that names another
//! version to that version's API, as Tyk's `VersionCheck` does.

use std::path::Path;

use serde_json::Value;

use crate::errors::ConfigError;
use crate::model::{HeaderRules, UpstreamTarget};

/// Where a request names its version (`definition.location`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionLocation {
    /// `header`: the header `definition.key`.
    Header(String),
    /// `url-param`: the query parameter `definition.key`.
    QueryParam(String),
    /// `url`: the first path segment after the listen path.
    Url,
}

/// How a request names its version, in both versioning forms.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSelector {
    /// Where the version is read.
    pub location: VersionLocation,
    /// `strip_versioning_data` (or `strip_path`; OAS `stripVersioningData`): the version is
    /// taken out of the request before it goes upstream.
    pub strip: bool,
    /// `url_versioning_pattern` (OAS `urlVersioningPattern`): with `url` location, only a
    /// segment matching it is stripped (checked at load to compile).
    pub url_pattern: Option<String>,
    /// `fallback_to_default` (OAS `fallbackToDefault`): an unknown version gets the default
    /// one instead of an error.
    pub fallback_to_default: bool,
}

/// A versioned API's versions and how a request picks one.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioning {
    /// How a request names its version.
    pub selector: VersionSelector,
    /// `version_data.default_version`, when set: the version of a request that names none.
    pub default: Option<String>,
    /// The versions, in name order.
    pub versions: Vec<ApiVersion>,
}

/// One version of a versioned API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiVersion {
    /// The key in `version_data.versions`.
    pub name: String,
    /// `expires` as Unix seconds (UTC), when the version expires.
    pub expires: Option<i64>,
    /// The rules this version applies.
    pub rules: VersionRules,
}

/// What a version decides for itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionRules {
    /// `override_target`: this version's upstream instead of the API's.
    pub override_target: Option<UpstreamTarget>,
    /// Global request and response headers.
    pub headers: HeaderRules,
    /// JSVM virtual endpoints.
    pub virtual_endpoints: Vec<crate::virtual_endpoints::VirtualEndpointDecl>,
    /// Per-endpoint middleware (`extended_paths`).
    pub endpoints: crate::endpoints::EndpointRules,
    /// `global_size_limit` and `global_enforce_timeout`.
    pub limits: crate::limits::ApiLimits,
}

/// Versions as separate APIs: the base API's version name and the API serving each other
/// version (classic `definition`, OAS `x-tyk-api-gateway.info.versioning`).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionApis {
    /// `name`: the base API's own version.
    pub name: String,
    /// `default`: the version of a request that names none (`self` or `name` for the base);
    /// empty when there is none.
    pub default: String,
    /// How a request names its version.
    pub selector: VersionSelector,
    /// Version name → api_id (or API name) of the API serving it, in name order.
    pub versions: Vec<(String, String)>,
}

impl VersionApis {
    /// True when `name` is the base API's own version (`self` or its `name`).
    pub fn is_base(&self, name: &str) -> bool {
        name == "self" || name == self.name
    }
}

/// The field names of a versioning block in one definition form.
struct BlockKeys {
    prefix: &'static str,
    strip: &'static [&'static str],
    pattern: &'static str,
    fallback: &'static str,
}

/// Classic `definition`'s names (both versioning forms read their selector there).
const CLASSIC_KEYS: BlockKeys = BlockKeys {
    prefix: "definition",
    strip: &["strip_versioning_data", "strip_path"],
    pattern: "url_versioning_pattern",
    fallback: "fallback_to_default",
};

/// Reads how a request names its version from a versioning `block`. `default` names the
/// setting that holds the default version, for errors, when it is not set (`None` when it is).
fn read_selector(
    block: &Value,
    keys: &BlockKeys,
    unset_default: Option<&str>,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> VersionSelector {
    let text = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let flag = |k: &str| block.get(k).and_then(Value::as_bool) == Some(true);
    let mut err = |k: &str, reason: String| {
        errors.push(ConfigError::new(
            file,
            format!("{}.{k}", keys.prefix),
            reason,
        ));
    };
    let location = location(text("location"), text("key")).unwrap_or_else(|reason| {
        err("location", reason);
        VersionLocation::Url
    });
    let url_pattern = Some(text(keys.pattern))
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if let Some(Err(e)) = url_pattern.as_deref().map(regex::Regex::new) {
        err(keys.pattern, format!("not a regular expression: {e}"));
    }
    let fallback_to_default = flag(keys.fallback);
    if let Some(default) = unset_default {
        if let Some((field, reason)) = unreadable(text("location"), &location) {
            // Tyk finds no version in any request and, with no default either, answers every
            // request 403: a definition that cannot serve.
            err(field, format!("{reason}, and {default} is not set"));
        }
        if fallback_to_default {
            err(
                keys.fallback,
                format!("falls back to the default version, but {default} is not set"),
            );
        }
    }
    VersionSelector {
        location,
        strip: keys.strip.iter().any(|k| flag(k)),
        url_pattern,
        fallback_to_default,
    }
}

/// Classic `definition` with `enabled: true`: versions as separate APIs.
pub(crate) fn classic_version_apis(
    doc: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<VersionApis> {
    let block = doc.get("definition")?;
    if block.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let versions = block
        .get("versions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").trim().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Some(version_apis(block, versions, &CLASSIC_KEYS, file, errors))
}

/// OAS `x-tyk-api-gateway.info.versioning` with `enabled: true`.
pub(crate) fn oas_version_apis(
    doc: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<VersionApis> {
    let block = doc.pointer("/x-tyk-api-gateway/info/versioning")?;
    if block.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let versions = block
        .get("versions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|v| {
                    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
                    (
                        text("name").trim().to_string(),
                        text("id").trim().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    const KEYS: BlockKeys = BlockKeys {
        prefix: "x-tyk-api-gateway.info.versioning",
        strip: &["stripVersioningData"],
        pattern: "urlVersioningPattern",
        fallback: "fallbackToDefault",
    };
    Some(version_apis(block, versions, &KEYS, file, errors))
}

fn version_apis(
    block: &Value,
    mut versions: Vec<(String, String)>,
    keys: &BlockKeys,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> VersionApis {
    let text = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let default = text("default").to_string();
    let unset = default.is_empty().then_some("`default`");
    let selector = read_selector(block, keys, unset, file, errors);
    let mut err = |k: &str, reason: String| {
        errors.push(ConfigError::new(
            file,
            format!("{}.{k}", keys.prefix),
            reason,
        ));
    };
    versions.sort();
    if versions.is_empty() {
        err(
            "versions",
            "versioning is enabled but no version maps to an API".into(),
        );
    }
    for (name, id) in &versions {
        if name.is_empty() || id.is_empty() {
            err(
                "versions",
                format!("version `{name}` needs a name and an API id"),
            );
        }
    }
    let apis = VersionApis {
        name: text("name").to_string(),
        default,
        selector,
        versions,
    };
    let known = |n: &str| apis.is_base(n) || apis.versions.iter().any(|(v, _)| v == n);
    if !apis.default.is_empty() && !known(&apis.default) {
        let reason = format!(
            "names version `{}`, which is neither this API nor one of `versions`",
            apis.default
        );
        err("default", reason);
    }
    apis
}

/// Why no request can name a version at `location` (as written: `written`), with the field
/// to blame; `None` when requests can.
fn unreadable(written: &str, location: &VersionLocation) -> Option<(&'static str, String)> {
    let key = match location {
        VersionLocation::Header(k) | VersionLocation::QueryParam(k) => k,
        VersionLocation::Url => return None,
    };
    if written.is_empty() {
        Some((
            "location",
            "is not set: no request can name a version".into(),
        ))
    } else if key.is_empty() {
        Some((
            "key",
            "names no header or query parameter: no request can name a version".into(),
        ))
    } else {
        None
    }
}

/// A `location` with its `key`; an unknown location is an error.
fn location(location: &str, key: &str) -> Result<VersionLocation, String> {
    match location {
        // Tyk reads nothing for an unset location: every request then has no version.
        "" => Ok(VersionLocation::Header(String::new())),
        "header" => Ok(VersionLocation::Header(key.to_string())),
        "url-param" => Ok(VersionLocation::QueryParam(key.to_string())),
        "url" => Ok(VersionLocation::Url),
        other => Err(format!(
            "`{other}` is not a version location (header, url-param or url)"
        )),
    }
}

/// The format of `expires` (Go's layout `2006-01-02 15:04`, read as UTC).
const EXPIRES_FORMAT: &str = "%Y-%m-%d %H:%M";

/// True when a classic definition is versioned: `version_data.not_versioned` is not `true`
/// (and the definition has a `version_data` at all).
pub(crate) fn is_versioned(doc: &Value) -> bool {
    doc.get("version_data").is_some_and(|vd| {
        vd.get("not_versioned").and_then(Value::as_bool) != Some(true)
            && vd.get("versions").is_some_and(Value::is_object)
    })
}

/// The version names of a classic definition, in name order.
pub(crate) fn version_names(doc: &Value) -> Vec<String> {
    doc.pointer("/version_data/versions")
        .and_then(Value::as_object)
        .map(|m| {
            let mut names: Vec<String> = m.keys().cloned().collect();
            names.sort();
            names
        })
        .unwrap_or_default()
}

/// The document as Tyk would see it with `name` its only version: the per-version readers
/// then read that version's rules, and their errors name its fields.
pub(crate) fn single_version_doc(doc: &Value, name: &str) -> Value {
    let mut one = doc.clone();
    if let Some(versions) = one
        .pointer_mut("/version_data/versions")
        .and_then(Value::as_object_mut)
    {
        versions.retain(|k, _| k == name);
    }
    one
}

/// Reads `definition` and `version_data.default_version` of a versioned classic definition;
/// `versions` comes back empty for the caller to fill.
pub(crate) fn classic_selector(
    doc: &Value,
    names: &[String],
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Versioning {
    let default = doc
        .pointer("/version_data/default_version")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let block = doc.get("definition").unwrap_or(&Value::Null);
    let unset = default
        .is_none()
        .then_some("`version_data.default_version`");
    let selector = read_selector(block, &CLASSIC_KEYS, unset, file, errors);
    if let Some(d) = &default
        && !names.contains(d)
    {
        errors.push(ConfigError::new(
            file,
            "version_data.default_version",
            format!(
                "names version `{d}`, which `version_data.versions` does not have ({})",
                names.join(", ")
            ),
        ));
    }
    Versioning {
        selector,
        default,
        versions: Vec::new(),
    }
}

/// A version's `expires`: `None` for never (empty or `-1`); a date Tyk cannot read refuses
/// the API (Tyk would refuse every request of that version instead).
pub(crate) fn expires(
    version: &Value,
    field: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<i64> {
    let text = version.get("expires").and_then(Value::as_str)?.trim();
    if text.is_empty() || text == "-1" {
        return None;
    }
    let parsed = jiff::civil::DateTime::strptime(EXPIRES_FORMAT, text)
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC));
    match parsed {
        Ok(z) => Some(z.timestamp().as_second()),
        Err(_) => {
            errors.push(ConfigError::new(
                file,
                field,
                format!("`{text}` is not a date in Tyk's form `YYYY-MM-DD HH:MM` (UTC)"),
            ));
            None
        }
    }
}

/// Go's RFC 1123 form of an expiry, as Tyk sends it in `x-tyk-api-expires`.
pub fn expires_header(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

impl crate::model::ApiDefinition {
    /// The definition as version `index` of [`Self::versioning`] serves it: the API's
    /// settings with that version's rules, and no versioning of its own.
    pub fn version_variant(&self, index: usize) -> Option<crate::model::ApiDefinition> {
        let version = self.versioning.as_ref()?.versions.get(index)?;
        let rules = version.rules.clone();
        let mut def = self.clone();
        def.versioning = None;
        if let Some(target) = rules.override_target {
            def.targets = vec![target];
        }
        def.headers = rules.headers;
        def.virtual_endpoints = rules.virtual_endpoints;
        def.endpoints = rules.endpoints;
        def.limits = rules.limits;
        Some(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_dates_read_as_utc_and_print_as_go_does() {
        let mut errors = Vec::new();
        let v = json!({"expires": "2020-04-15 09:22"});
        let t = expires(&v, "x", Path::new("f"), &mut errors).unwrap();
        assert!(errors.is_empty());
        assert_eq!(expires_header(t), "Wed, 15 Apr 2020 09:22:00 UTC");
        for never in ["", "-1"] {
            assert_eq!(
                expires(&json!({"expires": never}), "x", Path::new("f"), &mut errors),
                None
            );
        }
        assert_eq!(
            expires(
                &json!({"expires": "soon"}),
                "x",
                Path::new("f"),
                &mut errors
            ),
            None
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("soon"), "{}", errors[0].reason);
    }

    #[test]
    fn the_selector_reads_tyks_definition_block() {
        let doc = json!({
            "definition": {"location": "url-param", "key": "v", "strip_versioning_data": true},
            "version_data": {"not_versioned": false, "default_version": "v2",
                "versions": {"v1": {}, "v2": {}}}
        });
        let names = version_names(&doc);
        let mut errors = Vec::new();
        let v = classic_selector(&doc, &names, Path::new("f"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v.selector.location, VersionLocation::QueryParam("v".into()));
        assert!(v.selector.strip);
        assert_eq!(v.default.as_deref(), Some("v2"));
        assert!(is_versioned(&doc));
        let one = single_version_doc(&doc, "v1");
        assert_eq!(version_names(&one), ["v1"]);
    }

    #[test]
    fn a_selector_that_cannot_work_is_refused_naming_the_field() {
        let fields = |doc: Value| {
            let mut errors = Vec::new();
            classic_selector(&doc, &version_names(&doc), Path::new("f"), &mut errors);
            errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        let bad_pattern_and_default = json!({
            "definition": {"location": "url", "url_versioning_pattern": "("},
            "version_data": {"default_version": "v9", "versions": {"v1": {}}}
        });
        assert_eq!(
            fields(bad_pattern_and_default),
            [
                "definition.url_versioning_pattern",
                "version_data.default_version"
            ]
        );
        let no_key_no_default = json!({
            "definition": {"location": "header", "fallback_to_default": true},
            "version_data": {"versions": {"v1": {}}}
        });
        assert_eq!(
            fields(no_key_no_default),
            ["definition.key", "definition.fallback_to_default"]
        );
        // No key but a default: Tyk serves everything as the default; so does Weir.
        let default_only =
            json!({"version_data": {"default_version": "v1", "versions": {"v1": {}}}});
        assert!(fields(default_only).is_empty());
    }

    #[test]
    fn versions_as_apis_are_read_in_both_forms() {
        let classic = json!({"definition": {"enabled": true, "name": "base", "default": "self",
            "location": "url-param", "key": "version", "fallback_to_default": true,
            "versions": {"v2": "api-v2", "v1": "api-v1"}}});
        let mut errors = Vec::new();
        let apis = classic_version_apis(&classic, Path::new("f"), &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            apis.selector.location,
            VersionLocation::QueryParam("version".into())
        );
        assert_eq!(apis.versions[0], ("v1".to_string(), "api-v1".to_string()));
        assert!(apis.is_base("self") && apis.is_base("base") && !apis.is_base("v1"));
        let oas = json!({"x-tyk-api-gateway": {"info": {"versioning": {"enabled": true,
            "name": "base", "default": "v9", "location": "header", "key": "x-version",
            "stripVersioningData": true, "versions": [{"name": "v1", "id": "api-v1"}]}}}});
        let apis = oas_version_apis(&oas, Path::new("f"), &mut errors).unwrap();
        assert!(apis.selector.strip);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["x-tyk-api-gateway.info.versioning.default"]);
        let off = json!({"definition": {"enabled": false, "versions": {"v1": "x"}}});
        assert!(classic_version_apis(&off, Path::new("f"), &mut errors).is_none());
    }
}
