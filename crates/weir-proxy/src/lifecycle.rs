//! The request lifecycle of one API: an ordered list of phases, compiled once per load.
//!
//! This file is where a reader sees the order of a request, Tyk's order
//! (reference/tyk.md §2.2):
//!
//! ```text
//! route → [gRPC-Web preflight] [CORS preflight] [version check] [internal endpoints] [endpoint lists] [pre plugins] [IP lists] [size limit]
//!       [context vars] [authenticate | auth plugin → plugin caller] [post-auth plugins] [key checks]
//!       [global rate limit] [validate] [request headers] [URL rewrite] [method transform]
//!       [mock response] [virtual endpoints] [post plugins] [gRPC-Web]
//!       [stream hooks]
//!       → upstream →
//!       [stream hooks] [gRPC-Web] [response headers] [response plugins] [rate limit headers]
//!       [CORS headers]
//! ```
//!
//! A phase is in an API's list only when the API switches it on, so an API without features
//! pays for none. Each phase lives in one module of `phases/`; `Gateway::proxy` only runs the
//! lists around the upstream call.

use http::Response;
use weir_config::CorsConfig;
use weir_core::plugin::PluginChain;

use crate::api::CompiledHeaders;
use crate::auth::CompiledAuth;
use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::phases::{
    auth, context_vars, cors, endpoint_lists, grpc_web, headers, internal_endpoints, ip_access,
    method_transform, plugins, size_limit, stream_hooks, validate, version_check,
    virtual_endpoints,
};

/// One step before the upstream call. A step may answer the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPhase {
    /// Answers a browser's preflight for a gRPC-Web API without a CORS block.
    GrpcWebPreflight,
    /// Answers CORS preflights (unless `options_passthrough`).
    CorsPreflight,
    /// A versioned API's answer to a request whose version it cannot serve (Tyk's
    /// `VersionCheck`: none named and no default, unknown, or expired).
    VersionCheck,
    /// Internal endpoints: forbidden unless the request came through a loop.
    InternalEndpoints,
    /// Endpoint lists (Tyk's `VersionCheck`): allow and block lists, `ignored` endpoints,
    /// classic mock replies.
    EndpointLists,
    /// `pre` plugins.
    PrePlugins,
    /// IP allow and block lists.
    IpAccess,
    /// Request size limits (`global_size_limit`, `size_limits`, OAS `requestSizeLimit`).
    SizeLimit,
    /// Context variables (`enable_context_vars`): the request captured for `$tyk_context.*`.
    ContextVars,
    /// Built-in authentication: an auth token, basic auth or a JWT.
    Authenticate,
    /// The custom authentication plugin (`auth_check`).
    AuthPlugin,
    /// The plugin's session becomes the caller, for the key checks.
    PluginCaller,
    /// `post_key_auth` plugins.
    PostAuthPlugins,
    /// Strip the credential; expiry, access rights, `allowed_urls`, rate limit and quota.
    KeyChecks,
    /// `global_rate_limit`, for every caller of the API (keyless APIs too).
    GlobalRateLimit,
    /// `validate_json` / OAS `validateRequest`: the body read and checked.
    Validate,
    /// `global_headers` / `transformRequestHeaders`: before `post` plugins, which see them.
    RequestHeaders,
    /// URL rewrites (`url_rewrites` / `urlRewrite`): a new URL, another host, or a loop.
    UrlRewrite,
    /// Method transforms (`method_transforms` / `transformRequestMethod`).
    MethodTransform,
    /// OAS `mockResponse`: answered without the upstream, through the response phases.
    MockResponse,
    /// JSVM virtual endpoints (`extended_paths.virtual`): a matching request is answered by
    /// its JavaScript function.
    VirtualEndpoints,
    /// `post` plugins, the last step before the upstream.
    PostPlugins,
    /// gRPC-Web calls become gRPC toward the upstream.
    GrpcWebRequest,
    /// Stream hooks on the request side of a gRPC call.
    StreamHooksRequest,
}

impl RequestPhase {
    /// True for the steps that find the caller, which an `ignored` endpoint skips
    /// ([`Exchange::skip_auth`]). The key checks still run there: they strip the credential,
    /// and with no caller they check nothing else.
    pub fn finds_caller(self) -> bool {
        matches!(
            self,
            RequestPhase::Authenticate | RequestPhase::AuthPlugin | RequestPhase::PluginCaller
        )
    }
}

/// One step after the upstream call; each takes the response and gives one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsePhase {
    /// Stream hooks on the response side of a gRPC call.
    StreamHooksResponse,
    /// gRPC answers become gRPC-Web (trailers travel in the body, surviving later phases).
    GrpcWebResponse,
    /// `global_response_headers` / `transformResponseHeaders`: before `response` plugins.
    ResponseHeaders,
    /// `response` plugins.
    ResponsePlugins,
    /// X-RateLimit-* on a protected API's answer.
    RateLimitHeaders,
    /// CORS headers on the answer.
    CorsHeaders,
}

/// An API's phases, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Before the upstream.
    pub request: Vec<RequestPhase>,
    /// After the upstream.
    pub response: Vec<ResponsePhase>,
}

/// What an API switches on, as the lifecycle needs to know it.
pub struct Features<'a> {
    /// `proxy.enable_grpc_web`.
    pub grpc_web: bool,
    /// CORS, when enabled.
    pub cors: Option<&'a CorsConfig>,
    /// The API's plugins.
    pub plugins: Option<&'a PluginChain>,
    /// Header rules.
    pub headers: &'a CompiledHeaders,
    /// Authentication and limits.
    pub auth: Option<&'a CompiledAuth>,
    /// True when the API has URL rewrites.
    pub url_rewrites: bool,
    /// True when the API has virtual endpoints.
    pub virtual_endpoints: bool,
    /// True when the API has endpoint lists.
    pub endpoint_lists: bool,
    /// True when the API has internal endpoints.
    pub internal_endpoints: bool,
    /// True when the API has OAS mock responses.
    pub mock_responses: bool,
    /// True when the API limits request sizes.
    pub size_limit: bool,
    /// True when the API has IP allow or block lists.
    pub ip_access: bool,
    /// True when the API validates requests.
    pub validation: bool,
    /// Per-path header rules, method transforms and context variables.
    pub transforms: Option<&'a crate::transforms::CompiledTransforms>,
    /// True for a versioned API (the version check runs first).
    pub versioned: bool,
}

static NO_HEADERS: CompiledHeaders = CompiledHeaders {
    request_set: Vec::new(),
    request_remove: Vec::new(),
    response_set: Vec::new(),
    response_remove: Vec::new(),
};

impl Default for Features<'_> {
    /// An API that switches nothing on.
    fn default() -> Self {
        Features {
            grpc_web: false,
            cors: None,
            plugins: None,
            headers: &NO_HEADERS,
            auth: None,
            url_rewrites: false,
            virtual_endpoints: false,
            endpoint_lists: false,
            internal_endpoints: false,
            mock_responses: false,
            size_limit: false,
            ip_access: false,
            validation: false,
            transforms: None,
            versioned: false,
        }
    }
}

impl Lifecycle {
    /// Lists the phases an API needs, in Tyk's order.
    pub fn compile(f: &Features<'_>) -> Self {
        use RequestPhase as Rq;
        use ResponsePhase as Rs;
        let chain = f.plugins;
        let has = |pick: fn(&PluginChain) -> bool| chain.is_some_and(pick);
        let t = f.transforms;
        let per_path_response = t.is_some_and(|t| !t.response_headers.is_empty());
        // Per-path response rules need the request's original path, recorded on the way in.
        let request_headers = !f.headers.request_set.is_empty()
            || !f.headers.request_remove.is_empty()
            || t.is_some_and(|t| !t.request_headers.is_empty())
            || per_path_response;
        let response_headers = !f.headers.response_set.is_empty()
            || !f.headers.response_remove.is_empty()
            || per_path_response;
        let context_vars = t.is_some_and(|t| t.context_vars);
        let method_transforms = t.is_some_and(|t| !t.methods.is_empty());
        let stream_hooks = has(|c| !c.grpc_message.is_empty());
        let built_in = f.auth.is_some_and(CompiledAuth::built_in);
        let plugin_auth = has(|c| c.auth.is_some());
        let callers = built_in || plugin_auth;
        let global_limit = f.auth.is_some_and(|a| a.global.is_some());
        let steps = [
            (f.grpc_web && f.cors.is_none(), Rq::GrpcWebPreflight),
            (f.cors.is_some(), Rq::CorsPreflight),
            (f.versioned, Rq::VersionCheck),
            (f.internal_endpoints, Rq::InternalEndpoints),
            (f.endpoint_lists, Rq::EndpointLists),
            (has(|c| !c.pre.is_empty()), Rq::PrePlugins),
            (f.ip_access, Rq::IpAccess),
            (f.size_limit, Rq::SizeLimit),
            (context_vars, Rq::ContextVars),
            (built_in, Rq::Authenticate),
            (plugin_auth, Rq::AuthPlugin),
            (plugin_auth, Rq::PluginCaller),
            (has(|c| !c.post_key_auth.is_empty()), Rq::PostAuthPlugins),
            (callers, Rq::KeyChecks),
            (global_limit, Rq::GlobalRateLimit),
            (f.validation, Rq::Validate),
            (request_headers, Rq::RequestHeaders),
            (f.url_rewrites, Rq::UrlRewrite),
            (method_transforms, Rq::MethodTransform),
            (f.mock_responses, Rq::MockResponse),
            (f.virtual_endpoints, Rq::VirtualEndpoints),
            (has(|c| !c.post.is_empty()), Rq::PostPlugins),
            (f.grpc_web, Rq::GrpcWebRequest),
            (stream_hooks, Rq::StreamHooksRequest),
        ];
        let request = steps
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| p)
            .collect();
        let steps = [
            (stream_hooks, Rs::StreamHooksResponse),
            (f.grpc_web, Rs::GrpcWebResponse),
            (response_headers, Rs::ResponseHeaders),
            (has(|c| !c.response.is_empty()), Rs::ResponsePlugins),
            (callers, Rs::RateLimitHeaders),
            // gRPC-Web answers get theirs when translated; this is for the API's CORS block.
            (f.cors.is_some(), Rs::CorsHeaders),
        ];
        let response = steps
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| p)
            .collect();
        Lifecycle { request, response }
    }

    /// Runs the request phases; `Some` is an answer that ends the request there.
    pub async fn run_request(&self, ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
        for phase in &self.request {
            if ex.skip_auth && phase.finds_caller() {
                continue;
            }
            let answer = match phase {
                RequestPhase::GrpcWebPreflight => grpc_web::preflight(ex),
                RequestPhase::CorsPreflight => cors::preflight(ex),
                RequestPhase::VersionCheck => version_check::check(ex),
                RequestPhase::InternalEndpoints => internal_endpoints::check(ex),
                RequestPhase::EndpointLists => endpoint_lists::check(ex),
                RequestPhase::PrePlugins => plugins::pre(ex).await,
                RequestPhase::IpAccess => ip_access::check(ex),
                RequestPhase::SizeLimit => size_limit::check(ex),
                RequestPhase::ContextVars => context_vars::capture(ex).await,
                RequestPhase::Authenticate => auth::authenticate(ex).await,
                RequestPhase::AuthPlugin => plugins::auth(ex).await,
                RequestPhase::PluginCaller => auth::plugin_caller(ex),
                RequestPhase::PostAuthPlugins => plugins::post_auth(ex).await,
                RequestPhase::KeyChecks => auth::key_checks(ex).await,
                RequestPhase::GlobalRateLimit => auth::global_rate_limit(ex).await,
                RequestPhase::Validate => validate::check(ex).await,
                RequestPhase::RequestHeaders => {
                    headers::request(ex);
                    None
                }
                RequestPhase::UrlRewrite => crate::phases::url_rewrite::rewrite(ex).await,
                RequestPhase::MethodTransform => {
                    method_transform::transform(ex);
                    None
                }
                RequestPhase::MockResponse => endpoint_lists::mock(ex).await,
                RequestPhase::VirtualEndpoints => virtual_endpoints::answer(ex).await,
                RequestPhase::PostPlugins => plugins::post(ex).await,
                RequestPhase::GrpcWebRequest => plugins::leave_hook_form(ex).or_else(|| {
                    grpc_web::request(ex);
                    None
                }),
                RequestPhase::StreamHooksRequest => plugins::leave_hook_form(ex).or_else(|| {
                    stream_hooks::request(ex);
                    None
                }),
            };
            if answer.is_some() {
                return answer;
            }
        }
        plugins::leave_hook_form(ex)
    }

    /// Runs the response phases over the upstream's answer.
    pub async fn run_response(
        &self,
        ex: &mut Exchange<'_>,
        mut resp: Response<ProxyBody>,
    ) -> Response<ProxyBody> {
        for phase in &self.response {
            resp = match phase {
                ResponsePhase::StreamHooksResponse => stream_hooks::response(ex, resp),
                ResponsePhase::GrpcWebResponse => grpc_web::response(ex, resp),
                ResponsePhase::ResponseHeaders => headers::response(ex, resp),
                ResponsePhase::ResponsePlugins => plugins::response(ex, resp).await,
                ResponsePhase::RateLimitHeaders => auth::rate_limit_headers(ex, resp),
                ResponsePhase::CorsHeaders => cors::decorate(ex, resp),
            };
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};

    #[test]
    fn an_api_without_features_has_no_phases() {
        assert_eq!(
            Lifecycle::compile(&Features::default()),
            Lifecycle::default()
        );
    }

    #[test]
    fn phases_follow_tyks_order() {
        let headers = CompiledHeaders {
            request_set: vec![(
                HeaderName::from_static("x-a"),
                crate::transforms::HeaderText::Fixed(HeaderValue::from_static("1")),
            )],
            response_remove: vec![HeaderName::from_static("server")],
            ..CompiledHeaders::default()
        };
        let cors = CorsConfig::default();
        let f = Features {
            grpc_web: true,
            cors: Some(&cors),
            headers: &headers,
            ..Features::default()
        };
        let l = Lifecycle::compile(&f);
        assert_eq!(
            l.request,
            [
                RequestPhase::CorsPreflight,
                RequestPhase::RequestHeaders,
                RequestPhase::GrpcWebRequest
            ]
        );
        assert_eq!(
            l.response,
            [
                ResponsePhase::GrpcWebResponse,
                ResponsePhase::ResponseHeaders,
                ResponsePhase::CorsHeaders
            ]
        );
    }
}
