//! Versioned APIs (classic `version_data.not_versioned: false`): which version serves a
//! request, and Tyk's answers when it names none, an unknown or an expired one
//! (gateway/api_definition.go `getVersionFromRequest` and `Version`, mw_version_check.go).
//!
//! Each version is compiled into an API of its own (the API's settings with the version's
//! rules, see `ApiDefinition::version_variant`); the gateway picks one before the request
//! phases run, and the picked version's phases serve the request. A request that cannot be
//! served runs the API's default (else first) version up to its `VersionCheck` step, which
//! answers 403 with Tyk's message: the CORS preflight before it still works.

use std::sync::Arc;

use http::{HeaderValue, Request, StatusCode};
use weir_config::versioning::{VersionApis, VersionLocation, Versioning, expires_header};

use crate::api::CompiledApi;
use crate::router::RoutingTable;

/// The header Tyk sends with the answers of a version that expires.
pub const X_TYK_API_EXPIRES: http::HeaderName = http::HeaderName::from_static("x-tyk-api-expires");

/// The API version that serves a request (`api` itself unless it is versioned), the version
/// check's refusal when none can, and the picked version's `x-tyk-api-expires`.
pub fn pick_version<B>(
    api: Arc<CompiledApi>,
    req: &mut Request<B>,
    rest: &mut String,
) -> (
    Arc<CompiledApi>,
    Option<VersionRefusal>,
    Option<HeaderValue>,
) {
    let Some(versions) = api.versions.as_deref() else {
        return (api, None, None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let picked = versions
        .pick(req, rest, now)
        .map(|v| (v.api.clone(), v.expires_header().cloned()));
    match picked {
        Ok((version, expires)) => (version, None, expires),
        Err(refusal) => (api, Some(refusal), None),
    }
}

/// Tyk's 403 messages (gateway/api_definition.go `RequestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRefusal {
    /// No version in the request and no default version.
    NotFound,
    /// A version the API does not have (and no fallback to the default).
    DoesNotExist,
    /// The version's `expires` has passed.
    Expired,
    /// Versions as separate APIs: the version names no loaded API (404).
    NoVersionApi,
    /// Versions as separate APIs: the fallback's default names no loaded API (500).
    NoDefaultApi,
}

impl VersionRefusal {
    /// The error message Tyk answers with.
    pub fn message(self) -> &'static str {
        match self {
            VersionRefusal::NotFound => "Version information not found",
            VersionRefusal::DoesNotExist => "This API version does not seem to exist",
            VersionRefusal::Expired => {
                "Api Version has expired, please check documentation or contact administrator"
            }
            VersionRefusal::NoVersionApi => "This API version does not seem to exist",
            VersionRefusal::NoDefaultApi => "Internal Server Error",
        }
    }

    /// The status Tyk answers with.
    pub fn status(self) -> StatusCode {
        match self {
            VersionRefusal::NoVersionApi => StatusCode::NOT_FOUND,
            VersionRefusal::NoDefaultApi => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// Where the base of versions-as-APIs sends a request.
pub enum Dispatch {
    /// The base API serves it (its own version, or the API is not versioned this way).
    Base,
    /// That version's API serves it.
    Api(Arc<CompiledApi>),
    /// The base answers with this refusal.
    Refuse(VersionRefusal),
}

/// Versions as separate APIs, compiled.
pub struct CompiledVersionApis {
    selector: VersionSelector,
    apis: VersionApis,
}

impl CompiledVersionApis {
    /// Compiles the selector of `apis`.
    pub fn compile(apis: &VersionApis) -> Self {
        CompiledVersionApis {
            selector: VersionSelector::compile(&apis.selector),
            apis: apis.clone(),
        }
    }

    /// Picks the API serving the version `req` names (Tyk's `VersionCheck` with
    /// `definition.enabled`), among the APIs of `table` by api_id or name.
    pub fn dispatch<B>(
        &self,
        req: &mut Request<B>,
        rest: &mut String,
        table: &RoutingTable,
    ) -> Dispatch {
        let apis = &self.apis;
        let mut name = self.selector.take_name(req, rest);
        if name.is_empty() {
            name = apis.default.clone();
        }
        if apis.is_base(&name) {
            return Dispatch::Base;
        }
        if name.is_empty() {
            return Dispatch::Refuse(VersionRefusal::NotFound);
        }
        let find = |version: &str| {
            let (_, id) = apis.versions.iter().find(|(n, _)| n == version)?;
            table.api_by_id_or_name(id)
        };
        if let Some(api) = find(&name) {
            return Dispatch::Api(api);
        }
        if !self.selector.fallback_to_default {
            return Dispatch::Refuse(VersionRefusal::NoVersionApi);
        }
        if apis.is_base(&apis.default) {
            return Dispatch::Base;
        }
        match find(&apis.default) {
            Some(api) => Dispatch::Api(api),
            None => {
                tracing::error!(default = %apis.default, "the default version's API is not loaded");
                Dispatch::Refuse(VersionRefusal::NoDefaultApi)
            }
        }
    }
}

/// Where a request names its version, compiled.
struct VersionSelector {
    location: VersionLocation,
    strip: bool,
    url_pattern: Option<regex::Regex>,
    fallback_to_default: bool,
}

/// One version, compiled.
pub struct ApiVersion {
    /// Its name.
    pub name: String,
    /// `expires` (Unix seconds) and its `x-tyk-api-expires` value.
    expires: Option<(i64, HeaderValue)>,
    /// The API as this version serves it.
    pub api: Arc<CompiledApi>,
}

impl ApiVersion {
    /// The `x-tyk-api-expires` header value Tyk sends with this version's answers.
    pub fn expires_header(&self) -> Option<&HeaderValue> {
        self.expires.as_ref().map(|(_, h)| h)
    }
}

/// A versioned API's versions and how a request picks one.
pub struct ApiVersions {
    selector: VersionSelector,
    default: Option<usize>,
    versions: Vec<ApiVersion>,
}

/// The version a request asked for, after any stripping.
pub type Picked<'v> = Result<&'v ApiVersion, VersionRefusal>;

impl ApiVersions {
    /// Compiles the selector; `compile_version(i)` compiles version `i` of `versioning`.
    pub fn compile<E>(
        versioning: &Versioning,
        mut compile_version: impl FnMut(usize) -> Result<CompiledApi, E>,
    ) -> Result<Self, E> {
        let mut versions = Vec::with_capacity(versioning.versions.len());
        for (i, v) in versioning.versions.iter().enumerate() {
            let expires = v.expires.and_then(|t| {
                let value = HeaderValue::from_str(&expires_header(t)).ok()?;
                Some((t, value))
            });
            versions.push(ApiVersion {
                name: v.name.clone(),
                expires,
                api: Arc::new(compile_version(i)?),
            });
        }
        let default = versioning
            .default
            .as_ref()
            .and_then(|d| versions.iter().position(|v| &v.name == d));
        Ok(ApiVersions {
            selector: VersionSelector::compile(&versioning.selector),
            default,
            versions,
        })
    }

    /// The versions, in name order.
    pub fn versions(&self) -> &[ApiVersion] {
        &self.versions
    }

    /// Picks the version `req` names (its path after the listen path is `rest`) at `now`
    /// (Unix seconds). With `strip_versioning_data`, the header, query parameter or path
    /// segment naming it is removed from `req` (and `rest`) whatever the outcome, as in Tyk.
    pub fn pick<B>(&self, req: &mut Request<B>, rest: &mut String, now: i64) -> Picked<'_> {
        let name = self.selector.take_name(req, rest);
        let index = if name.is_empty() {
            self.default.ok_or(VersionRefusal::NotFound)?
        } else {
            match self.versions.iter().position(|v| v.name == name) {
                Some(i) => i,
                None if self.selector.fallback_to_default => {
                    self.default.ok_or(VersionRefusal::DoesNotExist)?
                }
                None => return Err(VersionRefusal::DoesNotExist),
            }
        };
        let version = &self.versions[index];
        match version.expires {
            Some((at, _)) if now >= at => Err(VersionRefusal::Expired),
            _ => Ok(version),
        }
    }
}

impl VersionSelector {
    fn compile(selector: &weir_config::versioning::VersionSelector) -> Self {
        VersionSelector {
            location: selector.location.clone(),
            strip: selector.strip,
            // Checked at load (weir-config refuses a pattern that does not compile).
            url_pattern: selector
                .url_pattern
                .as_deref()
                .and_then(|p| regex::Regex::new(p).ok()),
            fallback_to_default: selector.fallback_to_default,
        }
    }

    /// Reads the version's name from the request, stripping it when asked.
    fn take_name<B>(&self, req: &mut Request<B>, rest: &mut String) -> String {
        match &self.location {
            VersionLocation::Header(key) => {
                let name = req
                    .headers()
                    .get(key.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if self.strip {
                    req.headers_mut().remove(key.as_str());
                }
                name
            }
            VersionLocation::QueryParam(key) => {
                let query = req.uri().query().unwrap_or("");
                let name = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                if self.strip && !name.is_empty() {
                    let kept =
                        url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != key);
                    let query = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(kept)
                        .finish();
                    let path = req.uri().path().to_string();
                    crate::path::set_path_and_query(req.uri_mut(), &path, Some(&query));
                }
                name
            }
            VersionLocation::Url => {
                let name = rest
                    .split('/')
                    .find(|s| !s.is_empty())
                    .unwrap_or("")
                    .to_string();
                let matches = self.url_pattern.as_ref().is_none_or(|p| p.is_match(&name));
                if self.strip && !name.is_empty() && matches {
                    strip_segment(req, rest, &name);
                }
                name
            }
        }
    }
}

/// Takes `/<name>/` at the start of `rest` out of the request path (Tyk removes `<name>/`,
/// so a path ending in the version keeps it).
fn strip_segment<B>(req: &mut Request<B>, rest: &mut String, name: &str) {
    let lead = rest.len() - rest.trim_start_matches('/').len();
    let segment_end = lead + name.len();
    if rest.as_bytes().get(segment_end) != Some(&b'/') {
        return;
    }
    let new_rest = format!("{}{}", &rest[..lead], &rest[segment_end + 1..]);
    let path = req.uri().path();
    let listen = &path[..path.len().saturating_sub(rest.len())];
    let new_path = format!("{listen}{new_rest}");
    let query = req.uri().query().map(str::to_owned);
    crate::path::set_path_and_query(req.uri_mut(), &new_path, query.as_deref());
    *rest = new_rest;
}

/// Makes `rest` (the path after the listen path) the request's path, its query kept.
pub fn strip_listen_path<B>(req: &mut Request<B>, rest: &str) {
    let path = if rest.is_empty() { "/" } else { rest };
    let query = req.uri().query().map(str::to_owned);
    crate::path::set_path_and_query(req.uri_mut(), path, query.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(location: VersionLocation, strip: bool, pattern: Option<&str>) -> VersionSelector {
        VersionSelector::compile(&weir_config::versioning::VersionSelector {
            location,
            strip,
            url_pattern: pattern.map(str::to_string),
            fallback_to_default: false,
        })
    }

    fn request(uri: &str) -> Request<()> {
        Request::builder()
            .uri(uri)
            .header("x-api-version", "v2")
            .body(())
            .unwrap()
    }

    #[test]
    fn the_url_segment_is_the_version_and_strips_only_when_followed_by_a_slash() {
        let s = selector(VersionLocation::Url, true, None);
        let mut req = request("/api/v1/items?a=1");
        let mut rest = "/v1/items".to_string();
        assert_eq!(s.take_name(&mut req, &mut rest), "v1");
        assert_eq!(req.uri(), "/api/items?a=1");
        assert_eq!(rest, "/items");
        let mut req = request("/api/v1");
        let mut rest = "/v1".to_string();
        assert_eq!(s.take_name(&mut req, &mut rest), "v1");
        assert_eq!(req.uri(), "/api/v1");
        // A pattern keeps a segment that does not match it in the path.
        let s = selector(VersionLocation::Url, true, Some("^v[0-9]+$"));
        let mut req = request("/api/latest/items");
        let mut rest = "/latest/items".to_string();
        assert_eq!(s.take_name(&mut req, &mut rest), "latest");
        assert_eq!(req.uri(), "/api/latest/items");
    }

    #[test]
    fn header_and_query_versions_are_read_and_stripped_when_asked() {
        let s = selector(VersionLocation::Header("x-api-version".into()), true, None);
        let mut req = request("/api/items");
        let mut rest = "/items".to_string();
        assert_eq!(s.take_name(&mut req, &mut rest), "v2");
        assert!(req.headers().get("x-api-version").is_none());
        let s = selector(VersionLocation::QueryParam("v".into()), true, None);
        let mut req = request("/api/items?a=1&v=v3&b=2");
        assert_eq!(s.take_name(&mut req, &mut rest), "v3");
        assert_eq!(req.uri(), "/api/items?a=1&b=2");
        let s = selector(VersionLocation::QueryParam("v".into()), false, None);
        let mut req = request("/api/items?v=v3");
        assert_eq!(s.take_name(&mut req, &mut rest), "v3");
        assert_eq!(req.uri(), "/api/items?v=v3");
    }
}
