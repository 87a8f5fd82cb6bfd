//! The one request model every plugin driver works on, with the semantics of Tyk's coprocess
//! `Object` (reference: tyk.md §1.5–1.7), and the [`Driver`] trait every driver implements.
//!
//! Drivers mutate a [`HookContext`] in place. The gRPC driver translates it to and from Tyk's
//! protobuf `Object`; the native and Wasm drivers expose it through host calls. The pipeline
//! then applies the outcome the same way whatever the driver: return overrides short-circuit,
//! a custom auth hook must leave a session and `metadata["token"]`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

/// Hook points, in the order a request meets them (Tyk's chain order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// Before authentication; no session.
    Pre,
    /// Custom authentication (`auth_check`): must produce a session and `metadata["token"]`.
    CustomAuth,
    /// After authentication.
    PostKeyAuth,
    /// Just before the upstream call.
    Post,
    /// On the upstream's response.
    Response,
    /// On each message of a gRPC call, either way (a Weir stream hook; not a Tyk hook type).
    GrpcMessage,
}

impl HookKind {
    /// The number Tyk's `coprocess.HookType` enum gives this hook.
    pub fn tyk_hook_type(self) -> i32 {
        match self {
            HookKind::Pre => 1,
            HookKind::Post => 2,
            HookKind::PostKeyAuth => 3,
            HookKind::CustomAuth => 4,
            HookKind::Response => 5,
            // Tyk's HookType has no such hook: 0 is its `Unknown`.
            HookKind::GrpcMessage => 0,
        }
    }

    /// The name used in logs and in the native ABI.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Pre => "pre",
            HookKind::CustomAuth => "auth_check",
            HookKind::PostKeyAuth => "post_key_auth",
            HookKind::Post => "post",
            HookKind::Response => "response",
            HookKind::GrpcMessage => "grpc_message",
        }
    }
}

/// Tyk's `ReturnOverrides`: how a hook answers the client instead of the upstream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReturnOverrides {
    /// Status to answer with; `-1` (see [`ReturnOverrides::none`]) means no override.
    pub response_code: i32,
    /// Error message (copied into the body when set).
    pub response_error: String,
    /// Headers of the answer.
    pub headers: Vec<(String, String)>,
    /// With a code >= 400: answer with the raw body instead of Tyk's error template.
    pub override_error: bool,
    /// Raw body of the answer.
    pub response_body: String,
}

impl ReturnOverrides {
    /// No override: Tyk's `-1` sentinel.
    pub fn none() -> Self {
        ReturnOverrides {
            response_code: -1,
            ..Default::default()
        }
    }
}

/// The request as hooks see and change it.
#[derive(Debug, Clone)]
pub struct HookRequest {
    /// Method.
    pub method: String,
    /// Path and query, listen path included (as Tyk's `request.url`).
    pub url: String,
    /// The path and query as the client sent them, unchanged by hooks.
    pub request_uri: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Headers, including `Host`.
    pub headers: HeaderMap,
    /// The whole body (empty when there is none).
    pub body: Bytes,
    /// How to answer instead of the upstream.
    pub return_overrides: ReturnOverrides,
}

/// The upstream's response, for response hooks.
#[derive(Debug, Clone)]
pub struct HookResponse {
    /// Status code.
    pub status: u16,
    /// Headers (all values).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// A session (Tyk's SessionState, REST JSON names). Fields Weir does not use yet are kept in
/// `extra` so they travel through plugins unchanged.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Session {
    /// Requests allowed per `per` seconds.
    pub rate: f64,
    /// Rate window in seconds.
    pub per: f64,
    /// Remaining allowance.
    pub allowance: f64,
    /// Unix time of expiry (0 or -1 = never).
    pub expires: i64,
    /// Quota size (-1 = unlimited).
    pub quota_max: i64,
    /// Unix time the quota renews.
    pub quota_renews: i64,
    /// Quota left.
    pub quota_remaining: i64,
    /// Quota period in seconds.
    pub quota_renewal_rate: i64,
    /// Organisation.
    pub org_id: String,
    /// Metadata (`meta_data` in Tyk's JSON).
    #[serde(rename = "meta_data")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Alias.
    pub alias: String,
    /// Policies to apply.
    pub apply_policies: Vec<String>,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a hook knows about its API (Tyk's `spec` map).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiSpecInfo {
    /// `org_id`.
    pub org_id: String,
    /// `api_id`.
    pub api_id: String,
    /// The API's `config_data` as JSON text, when set and not disabled.
    pub config_data: Option<String>,
    /// md5 hex of `custom_middleware_bundle`, when set.
    pub bundle_hash: Option<String>,
}

/// One hook call: the request (and response, for response hooks), session and metadata.
/// Drivers change it in place.
#[derive(Debug, Clone)]
pub struct HookContext {
    /// Which hook.
    pub kind: HookKind,
    /// The hook's `name` from the definition (gRPC `hook_name`, native symbol, ...).
    pub name: String,
    /// The request.
    pub request: HookRequest,
    /// The upstream response (response hooks only).
    pub response: Option<HookResponse>,
    /// The session, when one exists (never for pre and custom auth, as in Tyk).
    pub session: Option<Session>,
    /// Metadata (for custom auth, `token` names the key).
    pub metadata: BTreeMap<String, String>,
    /// The API.
    pub spec: Arc<ApiSpecInfo>,
    /// What the API's driver keeps open between the hooks of this one request (the Wasm
    /// driver's HTTP contexts); dropped with the request.
    pub driver_state: DriverState,
}

/// A driver's state for one request, opaque to everyone else. A clone is empty: state that
/// belongs to one request is never shared with another context.
#[derive(Default)]
pub struct DriverState(pub Option<Box<dyn std::any::Any + Send>>);

impl Clone for DriverState {
    fn clone(&self) -> Self {
        DriverState(None)
    }
}

impl std::fmt::Debug for DriverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "DriverState(open)"
        } else {
            "DriverState(none)"
        })
    }
}

impl HookContext {
    /// An empty context for an API: no request line, headers, body, response or session.
    pub fn blank(kind: HookKind, spec: Arc<ApiSpecInfo>) -> HookContext {
        HookContext {
            kind,
            name: String::new(),
            request: HookRequest {
                method: String::new(),
                url: String::new(),
                request_uri: String::new(),
                scheme: String::new(),
                headers: HeaderMap::new(),
                body: Bytes::new(),
                return_overrides: ReturnOverrides::none(),
            },
            response: None,
            session: None,
            metadata: BTreeMap::new(),
            spec,
            driver_state: DriverState(None),
        }
    }

    /// Takes the context out, leaving an empty one for the same API (no allocation), so a
    /// driver can hand it to another thread and put it back when the hook returns.
    pub fn take(&mut self) -> HookContext {
        let empty = HookContext::blank(self.kind, self.spec.clone());
        std::mem::replace(self, empty)
    }
}

/// Why a hook failed. Every variant fails only the request it happened on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// The hook ran past its deadline.
    #[error("plugin `{hook}` ran past its {limit:?} deadline")]
    Timeout {
        /// Hook name.
        hook: String,
        /// The deadline.
        limit: Duration,
    },
    /// The plugin crashed (panic, trap, memory limit).
    #[error("plugin `{hook}` crashed: {reason}")]
    Crashed {
        /// Hook name.
        hook: String,
        /// What happened.
        reason: String,
    },
    /// The plugin answered something that cannot be applied.
    #[error("plugin `{hook}` returned an unusable result: {reason}")]
    BadReply {
        /// Hook name.
        hook: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The plugin could not be reached (gRPC server down).
    #[error("plugin `{hook}` is unavailable: {reason}")]
    Unavailable {
        /// Hook name.
        hook: String,
        /// Why.
        reason: String,
    },
}

/// Which way a gRPC message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageDirection {
    /// Upstream to client (the response body).
    FromUpstream,
    /// Client to upstream (the request body).
    ToUpstream,
}

impl MessageDirection {
    /// `from_upstream` or `to_upstream`, as logs and the Wasm and gRPC ABIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageDirection::FromUpstream => "from_upstream",
            MessageDirection::ToUpstream => "to_upstream",
        }
    }
}

/// One message of a gRPC call as a stream hook sees it. A hook replaces the message by
/// assigning a new `payload`.
#[derive(Debug, Clone)]
pub struct GrpcMessage {
    /// The stream hook's name (`symbol_name` / `functionName`); shared, not copied, per message.
    pub hook: Arc<str>,
    /// Which way it travels.
    pub direction: MessageDirection,
    /// The call's method, `/package.Service/Method`.
    pub method: Arc<str>,
    /// The protobuf bytes, without the gRPC frame and decompressed.
    pub payload: Bytes,
    /// Position in this direction of the call, from 0, counting dropped messages.
    pub index: u64,
    /// The call's request headers, as sent upstream (after the request hooks).
    pub headers: Arc<HeaderMap>,
    /// The session, when a custom auth hook made one.
    pub session: Option<Arc<Session>>,
    /// The API (ids and config_data).
    pub spec: Arc<ApiSpecInfo>,
}

/// What happens to a message after its hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageVerdict {
    /// Send it on: the payload as it came, or as the hook replaced it.
    Pass,
    /// Do not send it; the stream goes on.
    Drop,
    /// End the call with this gRPC status; nothing more is read or sent.
    End {
        /// gRPC status code.
        code: u8,
        /// Status message (sent percent-encoded, as gRPC requires).
        message: String,
    },
}

/// `Ok` when `(kind, name)` is among the hooks a driver loaded; else the error its call
/// fails with (the pipeline calls declared hooks only, so this is a mix-up, never user input).
pub fn check_declared<'h>(
    mut declared: impl Iterator<Item = (HookKind, &'h str)>,
    kind: HookKind,
    name: &str,
    driver: &str,
) -> Result<(), PluginError> {
    if declared.any(|(k, n)| k == kind && n == name) {
        return Ok(());
    }
    Err(PluginError::Unavailable {
        hook: name.to_owned(),
        reason: format!(
            "no {} hook of that name was declared for the {driver} driver",
            kind.as_str()
        ),
    })
}

/// A boxed future, as trait methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A plugin bound to one API, built once per load.
pub trait LoadedPlugin: Send + Sync {
    /// Runs one hook on the context.
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>>;

    /// Runs the stream hook `msg.hook` on one gRPC message. Drivers that load stream hooks
    /// implement it; the default fails the call, for a driver that refused none at load.
    fn on_grpc_message<'a>(
        &'a self,
        msg: &'a mut GrpcMessage,
    ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
        Box::pin(async move {
            Err(PluginError::Unavailable {
                hook: msg.hook.to_string(),
                reason: "this driver does not run stream hooks".into(),
            })
        })
    }
}

/// One hook as the definition declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookDecl {
    /// Which hook point.
    pub kind: HookKind,
    /// `name` (OAS `functionName`).
    pub name: String,
    /// `path`: the file (.so, .wasm) for in-process drivers, empty for gRPC.
    pub path: Option<PathBuf>,
    /// `raw_body_only`.
    pub raw_body_only: bool,
    /// `require_session`.
    pub require_session: bool,
}

/// Everything a driver needs to load an API's plugins.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The driver name as written (`grpc`, `goplugin`, `native`, `wasm`, ...).
    pub driver: String,
    /// The hooks, in declaration order.
    pub hooks: Vec<HookDecl>,
    /// The API (ids and config_data).
    pub api: Arc<ApiSpecInfo>,
    /// The API's `config_data` as a JSON value (Null when unset).
    pub config_data: serde_json::Value,
    /// The definition file, for error messages.
    pub file: PathBuf,
    /// `custom_middleware.timeout` (OAS `pluginConfig.timeout`): the deadline of one hook
    /// call as the definition sets it; `None` leaves the driver's own default (for JS, the
    /// gateway's `jsvm_timeout`). In-process drivers interrupt a hook at it.
    pub timeout: Option<Duration>,
}

/// A plugin driver: loads an API's plugins into a [`LoadedPlugin`].
pub trait Driver: Send + Sync {
    /// Driver names this driver answers to in `custom_middleware.driver`.
    fn names(&self) -> &'static [&'static str];
    /// Loads (compiles, connects, dlopens) the API's plugins. Called once per load.
    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String>;

    /// The hook deadline when the API sets no `timeout`, where the driver's own settings
    /// name one (JavaScript: the gateway's `jsvm_timeout`); `None` leaves the gateway's.
    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    /// Loads a JSVM virtual endpoint; only the JavaScript driver has them.
    fn load_virtual(
        &self,
        spec: &crate::virtual_endpoint::VirtualSpec,
    ) -> Result<Arc<dyn crate::virtual_endpoint::VirtualHandler>, String> {
        Err(format!(
            "virtual endpoint `{}`: this driver runs none",
            spec.function
        ))
    }
}

/// An API's compiled plugins: the loaded driver instance and its hooks by phase.
#[derive(Clone)]
pub struct PluginChain {
    /// The driver's instance for this API.
    pub plugin: Arc<dyn LoadedPlugin>,
    /// `pre` hooks.
    pub pre: Vec<HookDecl>,
    /// `auth_check`, when custom authentication is on for this API.
    pub auth: Option<HookDecl>,
    /// `post_key_auth` hooks.
    pub post_key_auth: Vec<HookDecl>,
    /// `post` hooks.
    pub post: Vec<HookDecl>,
    /// `response` hooks.
    pub response: Vec<HookDecl>,
    /// Stream hooks, run in order on every gRPC message of a call.
    pub grpc_message: Vec<HookDecl>,
    /// Deadline for one hook call.
    pub timeout: Duration,
    /// The API, as hooks see it.
    pub spec: Arc<ApiSpecInfo>,
    /// The driver's name, for logs and errors.
    pub driver: String,
}

impl PluginChain {
    /// True when any hook runs before the upstream call (the request body is then read whole).
    pub fn has_request_hooks(&self) -> bool {
        !self.pre.is_empty()
            || self.auth.is_some()
            || !self.post_key_auth.is_empty()
            || !self.post.is_empty()
    }
}

impl std::fmt::Debug for PluginChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginChain")
            .field("driver", &self.driver)
            .field("pre", &self.pre)
            .field("auth", &self.auth)
            .field("post_key_auth", &self.post_key_auth)
            .field("post", &self.post)
            .field("response", &self.response)
            .field("grpc_message", &self.grpc_message)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Most plugin counter series (`api_id`, `name` pairs) kept at once: a plugin that makes up
/// names per message must not grow the gateway's memory and `/metrics` without bound.
pub const PLUGIN_COUNTER_LIMIT: usize = 4096;

/// Plugin counters by API id, then name. Process-wide on purpose: a reload builds new plugin
/// instances, and a Prometheus counter must not go back to zero because of it.
static PLUGIN_COUNTERS: std::sync::Mutex<BTreeMap<String, BTreeMap<String, u64>>> =
    std::sync::Mutex::new(BTreeMap::new());

/// One plugin counter, as [`plugin_counters`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCounter {
    /// The API whose plugin counted.
    pub api_id: String,
    /// The counter's name, as the plugin gave it.
    pub name: String,
    /// Total so far.
    pub value: u64,
}

/// Adds `delta` to the plugin counter `name` of `api_id` (0 creates it at 0). Returns false,
/// counting nothing, when the counter would be a new series past [`PLUGIN_COUNTER_LIMIT`].
/// Callers validate `name`; this only keeps the numbers.
pub fn plugin_counter_add(api_id: &str, name: &str, delta: u64) -> bool {
    let mut counters = PLUGIN_COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(value) = counters
        .get_mut(api_id)
        .and_then(|names| names.get_mut(name))
    {
        *value = value.saturating_add(delta);
        return true;
    }
    let series: usize = counters.values().map(BTreeMap::len).sum();
    if series >= PLUGIN_COUNTER_LIMIT {
        return false;
    }
    counters
        .entry(api_id.to_owned())
        .or_default()
        .insert(name.to_owned(), delta);
    true
}

/// Every plugin counter, ordered by API id then name.
pub fn plugin_counters() -> Vec<PluginCounter> {
    let counters = PLUGIN_COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    counters
        .iter()
        .flat_map(|(api_id, names)| {
            names.iter().map(|(name, value)| PluginCounter {
                api_id: api_id.clone(),
                name: name.clone(),
                value: *value,
            })
        })
        .collect()
}

/// The value of one plugin counter, when it exists.
pub fn plugin_counter(api_id: &str, name: &str) -> Option<u64> {
    let counters = PLUGIN_COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    counters.get(api_id)?.get(name).copied()
}

/// Applies a hook's `delete_params` then `add_params` to `url`'s query, as Tyk does for every
/// driver: deleted and re-added keys go, the added pairs follow sorted by key (a stable
/// order, whatever map the driver held them in), and untouched parameters keep their exact
/// bytes and order.
pub fn rewrite_query<'a>(
    url: &str,
    delete: &[String],
    add: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut add: Vec<(&str, &str)> = add.into_iter().collect();
    add.sort_unstable();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|seg| !seg.is_empty())
        .filter(|seg| {
            let key = url::form_urlencoded::parse(seg.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            !delete.contains(&key) && !add.iter().any(|(k, _)| *k == key)
        })
        .collect();
    let added = {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &add {
            ser.append_pair(k, v);
        }
        ser.finish()
    };
    if !added.is_empty() {
        kept.push(&added);
    }
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod plugin_counter_tests {
    use super::*;

    #[test]
    fn counters_add_up_per_api_and_name() {
        assert_eq!(plugin_counter("counter-test-a", "hits"), None);
        assert!(plugin_counter_add("counter-test-a", "hits", 0));
        assert_eq!(plugin_counter("counter-test-a", "hits"), Some(0));
        assert!(plugin_counter_add("counter-test-a", "hits", 2));
        assert!(plugin_counter_add("counter-test-a", "hits", 3));
        assert!(plugin_counter_add("counter-test-b", "hits", 7));
        assert!(plugin_counter_add("counter-test-a", "misses", u64::MAX));
        assert!(plugin_counter_add("counter-test-a", "misses", 1));
        let ours: Vec<_> = plugin_counters()
            .into_iter()
            .filter(|c| c.api_id.starts_with("counter-test-"))
            .map(|c| (c.api_id, c.name, c.value))
            .collect();
        assert_eq!(
            ours,
            [
                ("counter-test-a".into(), "hits".into(), 5),
                ("counter-test-a".into(), "misses".into(), u64::MAX),
                ("counter-test-b".into(), "hits".into(), 7),
            ]
        );
    }
}
