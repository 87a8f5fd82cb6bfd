//! `http_server` (input): each request under `path` (or WebSocket frame under `ws_path`) is a
//! message; the request is answered once the message is acknowledged, with the sync response
//! if the stream set one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::StreamError;
use crate::outputs::http_server::Cors;

/// Bento's `http_server` input fields that Weir implements; any other field is refused.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerInputConfig {
    /// Bento's own listener; must be empty.
    pub address: String,
    /// Endpoint for requests.
    pub path: String,
    /// WebSocket endpoint.
    pub ws_path: String,
    /// Sent to each WebSocket client when it connects.
    pub ws_welcome_message: String,
    /// Verbs accepted on `path`.
    pub allowed_verbs: Vec<String>,
    /// How long a request waits for its message to be acknowledged before 408.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// The reply's status and headers.
    pub sync_response: SyncResponseConfig,
    /// CORS (refused when enabled).
    pub cors: Cors,
}

impl Default for HttpServerInputConfig {
    fn default() -> Self {
        HttpServerInputConfig {
            address: String::new(),
            path: "/post".into(),
            ws_path: "/post/ws".into(),
            ws_welcome_message: String::new(),
            allowed_verbs: vec!["POST".into()],
            timeout: Duration::from_secs(5),
            sync_response: SyncResponseConfig::default(),
            cors: Cors::default(),
        }
    }
}

/// `sync_response`: status and headers of the reply (interpolated on the reply message).
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SyncResponseConfig {
    /// Status code.
    #[serde(deserialize_with = "crate::config::string_or_number::deserialize")]
    pub status: String,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// Which metadata keys become headers.
    pub metadata_headers: MetadataHeaders,
}

impl Default for SyncResponseConfig {
    fn default() -> Self {
        SyncResponseConfig {
            status: "200".into(),
            headers: [(
                "Content-Type".to_string(),
                "application/octet-stream".to_string(),
            )]
            .into(),
            metadata_headers: MetadataHeaders::default(),
        }
    }
}

/// `metadata_headers`.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataHeaders {
    /// Metadata keys with one of these prefixes become headers.
    pub include_prefixes: Vec<String>,
    /// Metadata keys matching one of these regular expressions become headers.
    pub include_patterns: Vec<String>,
}

/// The checked input, with its interpolations compiled.
pub struct HttpServerInput {
    /// The config.
    pub cfg: HttpServerInputConfig,
    /// `sync_response.status`.
    pub status: bloblang::Interpolation,
    /// `sync_response.headers`.
    pub headers: Vec<(http::HeaderName, bloblang::Interpolation)>,
    /// `sync_response.metadata_headers.include_patterns`.
    pub meta_patterns: Vec<regex::Regex>,
    /// The fields written in the config (the rest are Bento's defaults).
    pub written: Vec<String>,
}

impl HttpServerInput {
    /// Reads and checks the config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: HttpServerInputConfig = crate::config::typed(body, path)?;
        mounted_under_the_api(&cfg.address, cfg.cors.enabled, path)?;
        for (field, p) in [("path", &cfg.path), ("ws_path", &cfg.ws_path)] {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(StreamError::new(
                    format!("{path}.{field}"),
                    "a path must start with '/'",
                ));
            }
            if p.contains('{') {
                return Err(StreamError::new(
                    format!("{path}.{field}"),
                    "path parameters (`{name}`) are not built",
                ));
            }
        }
        let sr = &cfg.sync_response;
        let status =
            crate::config::interpolation(&sr.status, &format!("{path}.sync_response.status"))?;
        let mut headers = Vec::new();
        for (k, v) in &sr.headers {
            let at = format!("{path}.sync_response.headers.{k}");
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| StreamError::new(&at, "not a valid header name"))?;
            headers.push((name, crate::config::interpolation(v, &at)?));
        }
        let mut meta_patterns = Vec::new();
        for (i, p) in sr.metadata_headers.include_patterns.iter().enumerate() {
            meta_patterns.push(regex::Regex::new(p).map_err(|e| {
                StreamError::new(
                    format!("{path}.sync_response.metadata_headers.include_patterns[{i}]"),
                    e.to_string(),
                )
            })?);
        }
        Ok(HttpServerInput {
            written: written_fields(body),
            cfg,
            status,
            headers,
            meta_patterns,
        })
    }
}

/// `address` and `cors` of an `http_server` input or output: the endpoints are mounted under
/// the API's listen path (its middleware, its CORS), so neither a listener of their own nor
/// stream-level CORS is served.
pub(crate) fn mounted_under_the_api(
    address: &str,
    cors: bool,
    path: &str,
) -> Result<(), StreamError> {
    if !address.is_empty() {
        return Err(StreamError::new(
            format!("{path}.address"),
            "a separate listener is not served: leave `address` empty and the endpoints are mounted under the API's listen path, behind its middleware",
        ));
    }
    if cors {
        return Err(StreamError::new(
            format!("{path}.cors"),
            "stream-level CORS is not built; use the API's CORS settings",
        ));
    }
    Ok(())
}

/// The keys of a component's config object, to tell written paths from defaulted ones.
pub(crate) fn written_fields(body: &Value) -> Vec<String> {
    body.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
