//! Weir's gRPC plugin driver: Tyk's coprocess protocol (package `coprocess`, service
//! `Dispatcher`), so plugin servers written for Tyk, in any language, work unchanged.
//!
//! The gateway sends one `Dispatch(Object)` per hook call and applies the `Object` that
//! comes back (tyk.md §1.5–1.7). Stream hooks use Weir's own extension RPC,
//! `DispatchGrpcMessage`, one unary call per gRPC message (docs/stream-hooks-grpc.md); it is
//! only called for APIs that declare stream hooks, so Tyk's servers never see it.
//!
//! One lazily connected channel per plugin server address is shared by every API; when the
//! server goes away calls fail with [`PluginError::Unavailable`] and succeed again once it is
//! back, without a reload.
//!
//! ```no_run
//! use weir_plugin_grpc::{GrpcDriver, GrpcOptions};
//! let options = GrpcOptions::from_json(&serde_json::json!({
//!     "coprocess_grpc_server": "tcp://127.0.0.1:5555"
//! })).unwrap();
//! let driver = GrpcDriver::new(options);
//! // register `driver` with the plugin host as the "grpc" driver
//! # let _ = driver;
//! ```

mod object;
mod options;
mod session;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};
use weir_core::plugin::{
    BoxFuture, Driver, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageVerdict,
    PluginError, PluginSpec,
};

pub use options::{DEFAULT_RECV_MAX_SIZE, GrpcOptions, OptionsError, ServerAddress};

/// The generated protobuf messages, client and server (package `coprocess`). The server
/// trait has default methods answering UNIMPLEMENTED, so a Rust plugin server implements
/// only the RPCs it serves.
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("coprocess");
}

/// Folder holding `coprocess.proto`, for plugin servers that generate their stubs from it.
pub const PROTO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");

/// The protocol definition (package `coprocess`, service `Dispatcher`).
pub const PROTO_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/coprocess.proto");

/// How long to wait for a TCP/Unix connection before calling the server unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A distinct plugin server: its address and the `:authority` sent to it.
type ChannelKey = (ServerAddress, Option<String>);

/// The `grpc` driver.
pub struct GrpcDriver {
    options: Mutex<GrpcOptions>,
    /// One channel per distinct server (address, authority): APIs and reloads share them.
    channels: Mutex<HashMap<ChannelKey, Arc<LazyChannel>>>,
}

impl GrpcDriver {
    /// A driver talking to the server in `options`. Nothing connects until the first call.
    pub fn new(options: GrpcOptions) -> GrpcDriver {
        GrpcDriver {
            options: Mutex::new(options),
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Switches to new options (a config reload). Plugins loaded afterwards use them; a
    /// server address seen before reuses its connection.
    pub fn reconfigure(&self, options: GrpcOptions) {
        *lock(&self.options) = options;
    }

    /// The current options.
    pub fn options(&self) -> GrpcOptions {
        lock(&self.options).clone()
    }

    /// Sends an event to the plugin server (`DispatchEvent`); `payload` is the JSON text Tyk
    /// sends (`{"message":{...},"handler_name":...,"spec":{...}}`).
    pub async fn dispatch_event(&self, payload: String) -> Result<(), PluginError> {
        let client = self.client();
        client
            .call_event(payload)
            .await
            .map_err(|s| status_error("DispatchEvent", &s))
    }

    fn client(&self) -> Client {
        let options = self.options();
        let key = (options.server.clone(), options.authority.clone());
        let channel = lock(&self.channels)
            .entry(key)
            .or_insert_with(|| {
                Arc::new(LazyChannel {
                    server: options.server.clone(),
                    authority: options.authority.clone(),
                    channel: OnceLock::new(),
                })
            })
            .clone();
        Client {
            channel,
            recv_max: options.recv_max_size,
            send_max: options.send_max_size,
        }
    }
}

impl Driver for GrpcDriver {
    fn names(&self) -> &'static [&'static str] {
        &["grpc"]
    }

    fn load(&self, spec: &PluginSpec) -> Result<Arc<dyn LoadedPlugin>, String> {
        if spec.hooks.iter().any(|h| h.name.is_empty()) {
            return Err(format!(
                "{}: a grpc hook needs a `name` (sent to the plugin server as hook_name)",
                spec.file.display()
            ));
        }
        let raw_body_only = spec
            .hooks
            .iter()
            .map(|h| ((h.kind, h.name.clone()), h.raw_body_only))
            .collect();
        Ok(Arc::new(GrpcPlugin {
            client: self.client(),
            raw_body_only,
        }))
    }
}

/// One API's hooks, bound to the shared channel.
struct GrpcPlugin {
    client: Client,
    raw_body_only: HashMap<(HookKind, String), bool>,
}

impl LoadedPlugin for GrpcPlugin {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            if ctx.kind == HookKind::Response && ctx.response.is_none() {
                return Err(object::bad_reply(
                    &ctx.name,
                    "response hook called without a response".into(),
                ));
            }
            let raw_body_only = self
                .raw_body_only
                .get(&(ctx.kind, ctx.name.clone()))
                .copied()
                .unwrap_or(false);
            let (request, sent) = object::build(ctx, raw_body_only);
            let reply = self
                .client
                .call_dispatch(request)
                .await
                .map_err(|s| status_error(&ctx.name, &s))?;
            let name = ctx.name.clone();
            object::apply(ctx, reply, sent).map_err(|reason| object::bad_reply(&name, reason))
        })
    }

    fn on_grpc_message<'a>(
        &'a self,
        msg: &'a mut GrpcMessage,
    ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
        Box::pin(async move {
            let request = stream::build(msg);
            let reply = self
                .client
                .call_grpc_message(request)
                .await
                .map_err(|s| stream::status_error(&msg.hook, &s))?;
            stream::apply(msg, reply).map_err(|reason| object::bad_reply(&msg.hook, reason))
        })
    }
}

/// A channel created on first use: tonic's lazy channel needs a tokio runtime, which
/// `Driver::load` may not run in.
struct LazyChannel {
    server: ServerAddress,
    authority: Option<String>,
    channel: OnceLock<Result<Channel, String>>,
}

impl LazyChannel {
    fn get(&self) -> Result<Channel, String> {
        self.channel
            .get_or_init(|| connect_lazy(&self.server, self.authority.as_deref()))
            .clone()
    }
}

fn connect_lazy(server: &ServerAddress, authority: Option<&str>) -> Result<Channel, String> {
    let uri = match server {
        ServerAddress::Tcp(host_port) => format!("http://{host_port}"),
        // The URI only names the peer; grpc-go uses `localhost` as a Unix socket's authority.
        ServerAddress::Unix(_) => "http://localhost".to_string(),
    };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| format!("bad plugin server address {server}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(authority) = authority {
        let origin: Uri = format!("http://{authority}")
            .parse()
            .map_err(|e| format!("bad grpc_authority `{authority}`: {e}"))?;
        endpoint = endpoint.origin(origin);
    }
    Ok(match server {
        ServerAddress::Tcp(_) => endpoint.connect_lazy(),
        ServerAddress::Unix(path) => {
            let path: Arc<PathBuf> = Arc::new(path.clone());
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path.as_path()).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
        }
    })
}

/// A handle on the shared channel with this driver's message size limits.
#[derive(Clone)]
struct Client {
    channel: Arc<LazyChannel>,
    recv_max: usize,
    send_max: usize,
}

impl Client {
    fn dispatcher(
        &self,
    ) -> Result<pb::dispatcher_client::DispatcherClient<Channel>, tonic::Status> {
        let channel = self.channel.get().map_err(tonic::Status::unavailable)?;
        Ok(pb::dispatcher_client::DispatcherClient::new(channel)
            .max_decoding_message_size(self.recv_max)
            .max_encoding_message_size(self.send_max))
    }

    /// tonic reports an oversized request as an opaque h2 reset; say what happened.
    fn check_send_size(
        &self,
        what: &str,
        message: &impl prost::Message,
    ) -> Result<(), tonic::Status> {
        let len = message.encoded_len();
        if len > self.send_max {
            return Err(tonic::Status::resource_exhausted(format!(
                "request {what} of {len} bytes exceeds grpc_send_max_size ({} bytes)",
                self.send_max
            )));
        }
        Ok(())
    }

    async fn call_dispatch(&self, object: pb::Object) -> Result<pb::Object, tonic::Status> {
        self.check_send_size("Object", &object)?;
        let reply = self.dispatcher()?.dispatch(object).await?;
        Ok(reply.into_inner())
    }

    async fn call_grpc_message(
        &self,
        message: pb::GrpcMessage,
    ) -> Result<pb::GrpcMessageReply, tonic::Status> {
        self.check_send_size("GrpcMessage", &message)?;
        let reply = self.dispatcher()?.dispatch_grpc_message(message).await?;
        Ok(reply.into_inner())
    }

    async fn call_event(&self, payload: String) -> Result<(), tonic::Status> {
        self.dispatcher()?
            .dispatch_event(pb::Event { payload })
            .await?;
        Ok(())
    }
}

/// Maps a gRPC status to the plugin error the host reports.
fn status_error(hook: &str, status: &tonic::Status) -> PluginError {
    let hook = hook.to_string();
    let reason = format!("{:?}: {}", status.code(), status.message());
    let msg = status.message();
    match status.code() {
        // Cancelled: the connection closed under a request in flight (server killed).
        tonic::Code::Unavailable | tonic::Code::Cancelled => {
            PluginError::Unavailable { hook, reason }
        }
        // Too big to send: the request never reached the plugin.
        tonic::Code::ResourceExhausted if msg.contains("grpc_send_max_size") => {
            PluginError::Unavailable { hook, reason }
        }
        // The reply was too big (grpc_recv_max_size) or could not be decoded.
        tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
            if msg.contains("message length") || msg.contains("decod") =>
        {
            PluginError::BadReply { hook, reason }
        }
        _ => PluginError::Crashed { hook, reason },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::plugin::{ApiSpecInfo, HookDecl};

    #[test]
    fn load_checks_hook_names() {
        let driver = GrpcDriver::new(GrpcOptions::new(ServerAddress::Tcp("127.0.0.1:1".into())));
        assert_eq!(driver.names(), ["grpc"]);
        let mut spec = PluginSpec {
            driver: "grpc".into(),
            hooks: vec![HookDecl {
                kind: HookKind::Pre,
                name: String::new(),
                path: None,
                raw_body_only: false,
                require_session: false,
            }],
            api: Arc::new(ApiSpecInfo::default()),
            config_data: serde_json::Value::Null,
            file: PathBuf::from("apps/a.json"),
            timeout: None,
        };
        let err = driver.load(&spec).err().expect("empty name is refused");
        assert!(err.contains("apps/a.json") && err.contains("name"), "{err}");
        spec.hooks[0].name = "MyPre".into();
        // Loading needs no runtime and no server: nothing connects before the first call.
        assert!(driver.load(&spec).is_ok());
    }
}
