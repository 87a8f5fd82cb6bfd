//! An API definition compiled for the request path: header names parsed, targets resolved,
//! metric handles taken. Built once per load, shared read-only by every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use weir_config::plugin_settings::EndpointMatching;
use weir_config::{ApiDefinition, ConfigError, CorsConfig, UpstreamScheme};
use weir_core::plugin::PluginChain;
use weir_core::virtual_endpoint::VirtualEndpoint;
use weir_streams::ApiStreams;

use crate::auth::CompiledAuth;
use crate::lifecycle::{Features, Lifecycle};
use crate::metrics::{ApiMetrics, Metrics};
use crate::phases::virtual_endpoints::CompiledVirtual;
use crate::streams::Streaming;
use weir_auth::service::KeyService;

/// One upstream address, ready to put into a request URI.
pub struct Target {
    /// Protocol to use.
    pub scheme: UpstreamScheme,
    /// `http` or `https`, as the connector expects it.
    pub uri_scheme: Scheme,
    /// host:port.
    pub authority: Authority,
    /// The target URL's path, joined in front of the request path.
    pub base_path: String,
    /// The Host header value to send when the client's Host is not preserved.
    pub host_header: HeaderValue,
}

/// Header rules with names and values already validated.
#[derive(Default)]
pub struct CompiledHeaders {
    /// Set on the upstream request.
    pub request_set: Vec<(HeaderName, crate::transforms::HeaderText)>,
    /// Removed from the upstream request.
    pub request_remove: Vec<HeaderName>,
    /// Set on the response.
    pub response_set: Vec<(HeaderName, crate::transforms::HeaderText)>,
    /// Removed from the response.
    pub response_remove: Vec<HeaderName>,
}

/// What the plugin host loaded for an API: its hook chain and its virtual endpoints.
#[derive(Default)]
pub struct ApiPlugins {
    /// The hooks, when the API declares any.
    pub chain: Option<PluginChain>,
    /// JSVM virtual endpoints (`extended_paths.virtual`).
    pub virtual_endpoints: Vec<VirtualEndpoint>,
    /// How their paths match (the gateway's endpoint matching switches).
    pub matching: EndpointMatching,
    /// A versioned API's virtual endpoints, per version (in the order of
    /// `ApiDefinition::versioning`'s versions).
    pub version_virtuals: Vec<Vec<VirtualEndpoint>>,
}

/// What compiling an API's versions needs from [`CompiledApi::compile`]'s arguments.
struct VersionContext<'a> {
    metrics: &'a Metrics,
    matching: EndpointMatching,
    streaming: Streaming<'a>,
    keys: &'a Arc<KeyService>,
    headers_from_rate: bool,
}

/// An API ready to serve.
pub struct CompiledApi {
    /// The definition it came from.
    pub def: ApiDefinition,
    /// The listen path, compiled for matching and stripping request paths.
    pub listen_path: crate::listen_path::ListenPath,
    /// Upstream targets (round-robin).
    pub targets: Vec<Target>,
    next_target: AtomicUsize,
    /// Header rules.
    pub headers: CompiledHeaders,
    /// Per-path header rules, method transforms and context variables.
    pub transforms: crate::transforms::CompiledTransforms,
    /// CORS, when enabled.
    pub cors: Option<CorsConfig>,
    /// Size limits, request validation and enforced timeouts.
    pub limits: crate::limits::CompiledLimits,
    /// Metric handles.
    pub metrics: ApiMetrics,
    /// The API's plugins, loaded by the plugin host.
    pub plugins: Option<PluginChain>,
    /// JSVM virtual endpoints, their paths compiled.
    pub virtual_endpoints: Vec<CompiledVirtual>,
    /// URL rewrites, when the API has any.
    pub url_rewrites: Option<crate::phases::url_rewrite::CompiledRewrites>,
    /// The phases a request of this API goes through, in order.
    pub lifecycle: Lifecycle,
    /// The API's `x-tyk-streaming` streams, served after the request phases.
    pub streams: Option<Arc<ApiStreams>>,
    /// Authentication and limits (absent on a keyless API without `global_rate_limit`).
    pub auth: Option<CompiledAuth>,
    /// `error_overrides`, compiled (see [`crate::error_overrides`]).
    pub error_overrides: Option<crate::error_overrides::CompiledOverrides>,
    /// Endpoint lists and OAS mock responses, when the API has any.
    pub endpoint_lists: Option<crate::phases::endpoint_lists::CompiledLists>,
    /// Internal endpoints: only `tyk://` loops reach them.
    pub internal_endpoints: crate::endpoint::EndpointList<()>,
    /// The patterns of the per-path rules' lists in one set (see
    /// [`crate::endpoint::EndpointIndex`]).
    pub endpoint_index: Option<crate::endpoint::EndpointIndex>,
    /// A versioned API's versions, each compiled (see [`crate::versions`]). This API is then
    /// its default (else first) version, which answers the requests no version can serve.
    pub versions: Option<Box<crate::versions::ApiVersions>>,
    /// For one version of a versioned API, its name (the key checks match it against the
    /// key's `versions`).
    pub version_name: Option<String>,
    /// Versions as separate APIs: where this base API sends a request naming another version.
    pub version_apis: Option<Box<crate::versions::CompiledVersionApis>>,
}

impl CompiledApi {
    /// Compiles a definition with its already-loaded plugins; errors name the definition's
    /// file and field.
    pub fn compile(
        def: ApiDefinition,
        metrics: &Metrics,
        plugins: ApiPlugins,
        streaming: Streaming<'_>,
        keys: &Arc<KeyService>,
        headers_from_rate: bool,
    ) -> Result<Self, ConfigError> {
        let err = |field: &str, reason: String| ConfigError {
            file: def.file.clone(),
            field: field.to_string(),
            reason,
        };
        let mut targets = Vec::with_capacity(def.targets.len());
        for (i, t) in def.targets.iter().enumerate() {
            let field = if def.targets.len() > 1 {
                format!("proxy.target_list[{i}]")
            } else {
                "proxy.target_url".to_string()
            };
            let host = t
                .url
                .host_str()
                .ok_or_else(|| err(&field, format!("`{}` has no host", t.url)))?;
            let tls = matches!(t.scheme, UpstreamScheme::Https | UpstreamScheme::H2Tls);
            let port = t.url.port().unwrap_or(if tls { 443 } else { 80 });
            let host_port = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let authority: Authority = host_port
                .parse()
                .map_err(|e| err(&field, format!("`{}`: bad host: {e}", t.url)))?;
            // The Host header carries the port only when the URL names one, as browsers do.
            let host_header = match t.url.port() {
                Some(_) => HeaderValue::from_str(&host_port),
                None => HeaderValue::from_str(host),
            }
            .map_err(|e| err(&field, format!("`{}`: bad host: {e}", t.url)))?;
            targets.push(Target {
                scheme: t.scheme,
                uri_scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
                authority,
                base_path: t.url.path().to_string(),
                host_header,
            });
        }
        let base = "version_data.versions.Default";
        let headers = CompiledHeaders {
            request_set: header_pairs(&def.headers.request_set)
                .map_err(|r| err(&format!("{base}.global_headers"), r))?,
            request_remove: header_names(&def.headers.request_remove)
                .map_err(|r| err(&format!("{base}.global_headers_remove"), r))?,
            response_set: header_pairs(&def.headers.response_set)
                .map_err(|r| err(&format!("{base}.global_response_headers"), r))?,
            response_remove: header_names(&def.headers.response_remove)
                .map_err(|r| err(&format!("{base}.global_response_headers_remove"), r))?,
        };
        let streams = crate::streams::compile(&def, streaming)?;
        let listen_path = crate::listen_path::ListenPath::compile(&def.listen_path)
            .map_err(|reason| err(listen_path_field(&def), reason))?;
        let needs_auth = def.auth.method != weir_config::auth::AuthMethod::Keyless
            || def.auth.global_rate_limit.is_some();
        let auth = needs_auth
            .then(|| CompiledAuth::compile(&def, keys, headers_from_rate))
            .transpose()?;
        let ApiPlugins {
            chain: plugins,
            virtual_endpoints,
            matching: host_matching,
            version_virtuals,
        } = plugins;
        let matching = EndpointMatching {
            ignore_case: host_matching.ignore_case || def.endpoints.ignore_case,
            ..host_matching
        };
        let virtual_endpoints = virtual_endpoints
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                CompiledVirtual::compile(v, matching)
                    .map_err(|reason| err(&format!("extended_paths.virtual[{i}].path"), reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limits = crate::limits::CompiledLimits::compile(&def, matching)
            .map_err(|(field, reason)| err(&field, reason))?;
        let internal_endpoints = crate::phases::internal_endpoints::compile(&def, matching)
            .map_err(|(field, reason)| err(&field, reason))?;
        let mut endpoint_lists =
            crate::phases::endpoint_lists::CompiledLists::compile(&def, matching)
                .map_err(|(field, reason)| err(&field, reason))?;
        let mut url_rewrites = crate::phases::url_rewrite::CompiledRewrites::compile(
            &def.endpoints.url_rewrites,
            matching,
        )
        .map_err(|(field, reason)| err(&field, reason))?;
        let mut transforms = crate::transforms::CompiledTransforms::compile(&def, matching)
            .map_err(|(field, reason)| err(&field, reason))?;
        let mut index = crate::endpoint::IndexBuilder::default();
        if let Some(lists) = &mut endpoint_lists {
            lists.link(&mut index);
        }
        if let Some(rewrites) = &mut url_rewrites {
            rewrites.link(&mut index);
        }
        transforms.link(&mut index);
        let lifecycle = Lifecycle::compile(&Features {
            transforms: Some(&transforms),
            endpoint_lists: endpoint_lists.as_ref().is_some_and(|l| l.has_lists()),
            internal_endpoints: !internal_endpoints.is_empty(),
            mock_responses: endpoint_lists.as_ref().is_some_and(|l| l.has_mocks()),
            grpc_web: def.enable_grpc_web,
            cors: def.cors.as_ref(),
            plugins: plugins.as_ref(),
            headers: &headers,
            auth: auth.as_ref(),
            url_rewrites: url_rewrites.is_some(),
            virtual_endpoints: !virtual_endpoints.is_empty(),
            size_limit: limits.size.is_some(),
            ip_access: def.ip_access.is_on(),
            validation: !limits.validation.is_empty(),
            versioned: def.versioning.is_some() || def.version_apis.is_some(),
        });
        let mut api = CompiledApi {
            transforms,
            url_rewrites,
            endpoint_lists,
            internal_endpoints,
            endpoint_index: index.build(),
            virtual_endpoints,
            auth,
            error_overrides: def
                .error_overrides
                .as_ref()
                .map(crate::error_overrides::CompiledOverrides::compile),
            lifecycle,
            streams,
            metrics: metrics.for_api(&def.api_id),
            cors: def.cors.clone(),
            listen_path,
            targets,
            next_target: AtomicUsize::new(0),
            headers,
            limits,
            plugins,
            versions: None,
            version_name: None,
            version_apis: def
                .version_apis
                .as_ref()
                .map(|v| Box::new(crate::versions::CompiledVersionApis::compile(v))),
            def,
        };
        let context = VersionContext {
            metrics,
            matching: host_matching,
            streaming,
            keys,
            headers_from_rate,
        };
        api.versions = api.compile_versions(version_virtuals, &context)?;
        Ok(api)
    }

    /// Compiles each version of a versioned API as an API of its own, sharing this one's
    /// plugins (see [`crate::versions`]).
    fn compile_versions(
        &self,
        mut virtuals: Vec<Vec<VirtualEndpoint>>,
        context: &VersionContext<'_>,
    ) -> Result<Option<Box<crate::versions::ApiVersions>>, ConfigError> {
        let Some(versioning) = &self.def.versioning else {
            return Ok(None);
        };
        let versions = crate::versions::ApiVersions::compile(versioning, |i| {
            let Some(def) = self.def.version_variant(i) else {
                return Err(ConfigError::new(
                    &self.def.file,
                    "version_data",
                    "lost a version",
                ));
            };
            let plugins = ApiPlugins {
                chain: self.plugins.clone(),
                virtual_endpoints: virtuals.get_mut(i).map(std::mem::take).unwrap_or_default(),
                matching: context.matching,
                version_virtuals: Vec::new(),
            };
            let mut api = CompiledApi::compile(
                def,
                context.metrics,
                plugins,
                context.streaming,
                context.keys,
                context.headers_from_rate,
            )?;
            api.version_name = Some(versioning.versions[i].name.clone());
            Ok(api)
        })?;
        Ok(Some(Box::new(versions)))
    }

    /// Index of the target to try first (round-robin).
    pub fn first_target(&self) -> usize {
        if self.targets.len() <= 1 {
            0
        } else {
            self.next_target.fetch_add(1, Ordering::Relaxed) % self.targets.len()
        }
    }

    /// The response-head timeout for a request path (after the listen path) and method.
    pub fn timeout_for(&self, path: &str, method: &str, default: Duration) -> Duration {
        self.limits.timeout_for(path, method, default)
    }
}

/// The definition's listen path field, for load errors.
fn listen_path_field(def: &ApiDefinition) -> &'static str {
    match def.format {
        weir_config::DefinitionFormat::Classic => "proxy.listen_path",
        weir_config::DefinitionFormat::Oas => "x-tyk-api-gateway.server.listenPath.value",
    }
}

fn header_pairs(
    pairs: &[(String, String)],
) -> Result<Vec<(HeaderName, crate::transforms::HeaderText)>, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("`{k}` is not a valid header name"))?;
            HeaderValue::from_str(v)
                .map_err(|_| format!("the value of `{k}` is not a valid header value"))?;
            // Placeholders are filled per request (`$tyk_context.*`, `$tyk_meta.*`).
            let value = crate::transforms::HeaderText::compile(v)?;
            Ok((name, value))
        })
        .collect()
}

fn header_names(names: &[String]) -> Result<Vec<HeaderName>, String> {
    names
        .iter()
        .map(|k| {
            HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("`{k}` is not a valid header name"))
        })
        .collect()
}
