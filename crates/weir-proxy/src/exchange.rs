//! One request in flight, as the lifecycle's phases see and change it.

use bytes::Bytes;
use compact_str::CompactString;
use http::header::HeaderValue;
use http::{HeaderMap, Request};
use http_body_util::Full;
use weir_core::plugin::HookContext;

use crate::api::CompiledApi;
use crate::auth::Caller;
use crate::body::RequestBody;
use crate::gateway::ConnInfo;
use crate::grpc_web::GrpcWebMode;
use crate::stream_hooks::HookedCall;

/// A request between the router and the upstream, and what its phases learnt on the way.
pub struct Exchange<'a> {
    /// The API serving it.
    pub api: &'a CompiledApi,
    /// Method, URI, headers. While request hooks run, the hooks' copy in `hooks` is the
    /// current one (see [`Exchange::headers_mut`]).
    pub parts: http::request::Parts,
    /// The body as it goes upstream.
    pub body: RequestBody,
    /// Where it came from.
    pub conn: ConnInfo,
    /// A gRPC call (gRPC-Web included).
    pub grpc: bool,
    /// The gRPC-Web mode of a browser's call.
    pub web: Option<GrpcWebMode>,
    /// The client's Origin, for CORS headers on the answer.
    pub origin: Option<HeaderValue>,
    /// The plugins' view of the request, once a plugin phase has run (response hooks keep it).
    pub hooks: Option<HookContext>,
    /// True while the request lives in `hooks` (between the first and the last request hook).
    pub(crate) in_hook_form: bool,
    /// Largest gRPC message handed to a stream hook.
    pub grpc_max_message_size: usize,
    /// The stream hooks of a gRPC call, when it has them.
    pub stream_call: Option<HookedCall>,
    /// Who the request was authenticated as (protected APIs).
    pub caller: Option<Caller>,
    /// On an `ignored` endpoint (Tyk's `StatusOkAndIgnore`): the lifecycle skips
    /// authentication and the auth plugin, so the key checks find no caller; the request is
    /// served as on a keyless API.
    pub skip_auth: bool,
    /// Context variables captured for this request (see [`crate::context_vars`]).
    pub context: Option<Box<crate::context_vars::ContextData>>,
    /// The endpoint path and method before the URL rewrite or the method transform changed
    /// them; per-path rules after those match these, as Tyk's do (see
    /// [`Exchange::original_endpoint`]). Inline strings: most paths need no allocation.
    pub before_rewrite: Option<(CompactString, CompactString)>,
    /// Where a `tyk://` loop may take this request (set by the gateway; see
    /// [`crate::looping::loop_to`]).
    pub looping: Option<crate::looping::Looping>,
    /// Why a versioned API cannot serve the version the request named; the version check
    /// answers it (see [`crate::versions`]).
    pub version_refusal: Option<crate::versions::VersionRefusal>,
    /// The API index's scan of the last endpoint path looked up (see
    /// [`Exchange::find_endpoint`]).
    endpoint_matches: Option<crate::endpoint::EndpointMatches>,
}

/// Which endpoint of the request a per-path rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointAt {
    /// The path and method as they are now.
    Current,
    /// As they were before the URL rewrite or the method transform (see
    /// [`Exchange::original_endpoint`]).
    Original,
}

impl<'a> Exchange<'a> {
    /// Starts an exchange for a routed request.
    pub fn new(
        api: &'a CompiledApi,
        req: Request<RequestBody>,
        conn: ConnInfo,
        grpc: bool,
        web: Option<GrpcWebMode>,
        grpc_max_message_size: usize,
    ) -> Self {
        let origin = req.headers().get(http::header::ORIGIN).cloned();
        let (parts, body) = req.into_parts();
        Exchange {
            api,
            parts,
            body,
            conn,
            grpc,
            web,
            origin,
            hooks: None,
            in_hook_form: false,
            grpc_max_message_size,
            stream_call: None,
            caller: None,
            skip_auth: false,
            context: None,
            before_rewrite: None,
            looping: None,
            version_refusal: None,
            endpoint_matches: None,
        }
    }

    /// The request's path and query as they are now (the hooks' copy while hooks hold it).
    pub fn current_url(&self) -> &str {
        match (&self.hooks, self.in_hook_form) {
            (Some(ctx), true) => &ctx.request.url,
            _ => self
                .parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str()),
        }
    }

    /// The request's method as it is now (the hooks' copy while hooks hold it).
    pub fn current_method(&self) -> &str {
        match (&self.hooks, self.in_hook_form) {
            (Some(ctx), true) => &ctx.request.method,
            _ => self.parts.method.as_str(),
        }
    }

    /// The path Tyk matches endpoints against: the current path without its query, with the
    /// listen path removed.
    pub fn endpoint_path(&self) -> &str {
        let path = match (&self.hooks, self.in_hook_form) {
            (Some(ctx), true) => ctx.request.url.split('?').next().unwrap_or("/"),
            _ => match self.parts.uri.path() {
                "" => "/",
                path => path,
            },
        };
        self.api.listen_path.strip_or_whole(path)
    }

    /// The endpoint path and method `at` stands for.
    pub fn endpoint_at(&self, at: EndpointAt) -> (&str, &str) {
        match at {
            EndpointAt::Current => (self.endpoint_path(), self.current_method()),
            EndpointAt::Original => self.original_endpoint(),
        }
    }

    /// The first entry of `list` matching the request's endpoint `at`. When the list is linked
    /// to this API's index, the index scans a path once for all its lists and the scan is kept
    /// for the next lookup of the same path; else the list scans on its own.
    pub fn find_endpoint<T>(
        &mut self,
        list: &'a crate::endpoint::EndpointList<T>,
        at: EndpointAt,
    ) -> Option<(&'a crate::endpoint::EndpointMatcher, &'a T)> {
        if list.is_empty() {
            return None;
        }
        let api = self.api;
        let Some(index) = api.endpoint_index.as_ref().filter(|i| list.is_linked_to(i)) else {
            let (path, method) = self.endpoint_at(at);
            return list.find(path, method);
        };
        let (path, method) = self.endpoint_at(at);
        if let Some(kept) = self.endpoint_matches.as_ref()
            && kept.are_for(index, path)
        {
            return list.find_matched(kept, method);
        }
        let matches = index.scan(path);
        let found = list.find_matched(&matches, method);
        self.endpoint_matches = Some(matches);
        found
    }

    /// Records the endpoint path and method as they are, once: call it before changing the
    /// request's URL (URL rewrite) or method (method transform).
    pub fn remember_original_endpoint(&mut self) {
        if self.before_rewrite.is_none() {
            let original = (
                CompactString::from(self.endpoint_path()),
                CompactString::from(self.current_method()),
            );
            self.before_rewrite = Some(original);
        }
    }

    /// The endpoint path and method before any URL rewrite or method transform (the current
    /// ones when neither ran): what Tyk's per-path rules after the rewrite match.
    pub fn original_endpoint(&self) -> (&str, &str) {
        match &self.before_rewrite {
            Some((path, method)) => (path, method),
            None => (self.endpoint_path(), self.current_method()),
        }
    }

    /// The request headers as they are now (the hooks' copy while hooks hold the request).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        match (&mut self.hooks, self.in_hook_form) {
            (Some(ctx), true) => &mut ctx.request.headers,
            _ => &mut self.parts.headers,
        }
    }

    /// Removes a query parameter from the request (the hooks' copy while hooks hold it).
    pub fn strip_query_param(&mut self, name: &str) {
        let url = match (&mut self.hooks, self.in_hook_form) {
            (Some(ctx), true) => ctx.request.url.clone(),
            _ => self.parts.uri.to_string(),
        };
        let Some((path, query)) = url.split_once('?') else {
            return;
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                url::form_urlencoded::parse(key.as_bytes())
                    .next()
                    .map_or(key != name, |(k, _)| k != name)
            })
            .collect();
        let url = if kept.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        match (&mut self.hooks, self.in_hook_form) {
            (Some(ctx), true) => ctx.request.url = url,
            _ => {
                if let Ok(uri) = url.parse() {
                    self.parts.uri = uri;
                }
            }
        }
    }

    /// Removes one cookie from the request's Cookie headers.
    pub fn strip_cookie(&mut self, name: &str) {
        let headers = self.headers_mut();
        let kept: Vec<String> = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
            .map(str::to_string)
            .collect();
        headers.remove(http::header::COOKIE);
        if let Ok(v) = HeaderValue::from_str(&kept.join("; "))
            && !kept.is_empty()
        {
            headers.insert(http::header::COOKIE, v);
        }
    }

    /// True when the request is a CORS preflight.
    pub fn is_preflight(&self) -> bool {
        crate::cors::is_preflight_parts(&self.parts.method, &self.parts.headers)
    }

    /// Takes the request out for the upstream call, leaving an empty one behind.
    pub fn take_request(&mut self) -> (http::request::Parts, RequestBody) {
        let (empty, _) = Request::new(()).into_parts();
        let parts = std::mem::replace(&mut self.parts, empty);
        let body = std::mem::replace(
            &mut self.body,
            RequestBody::Buffered(Full::new(Bytes::new())),
        );
        (parts, body)
    }
}
