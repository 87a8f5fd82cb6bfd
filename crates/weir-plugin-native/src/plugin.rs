//! [`NativePlugin`]: an API's loaded native hooks, and the calls into them — request and
//! response hooks through the plugin's `call`, stream hooks through its `on_grpc_message`.

use std::sync::Arc;

use weir_core::plugin::{
    BoxFuture, GrpcMessage, HookContext, HookKind, LoadedPlugin, MessageDirection, MessageVerdict,
    PluginError,
};
use weir_plugin_abi::*;

use crate::ctx::{HostCtx, Target};
use crate::host::HOST_API;
use crate::library::Instance;

/// Which instance serves a declared hook.
pub(crate) struct Route {
    pub kind: HookKind,
    pub name: String,
    pub instance: Arc<Instance>,
}

/// An API's native plugins, as one load built them.
pub(crate) struct NativePlugin {
    pub routes: Vec<Route>,
}

impl NativePlugin {
    fn route(&self, kind: HookKind, name: &str) -> Result<&Route, PluginError> {
        self.routes
            .iter()
            .find(|r| r.kind == kind && r.name == name)
            .ok_or_else(|| PluginError::Unavailable {
                hook: name.to_owned(),
                reason: format!(
                    "no {} hook of that name was declared for the native driver",
                    kind.as_str()
                ),
            })
    }

    /// Runs a request or response hook on a blocking-pool thread, so a slow or stuck hook
    /// never stalls the event loop; the caller's deadline then holds (a hook past it fails its
    /// request while its thread finishes on its own).
    async fn call_off_loop(&self, ctx: &mut HookContext) -> Result<(), PluginError> {
        if ctx.kind == HookKind::GrpcMessage {
            return Err(PluginError::Unavailable {
                hook: ctx.name.clone(),
                reason: "a stream hook runs on gRPC messages, not on a request".into(),
            });
        }
        let route = self.route(ctx.kind, &ctx.name)?;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime (a tool, a test polling by hand) there is no event loop to
            // protect and no deadline to keep: call on this thread.
            return run_hook(&route.instance, &route.name, ctx);
        };
        let (instance, name) = (route.instance.clone(), route.name.clone());
        let mut owned = ctx.take();
        let job = runtime.spawn_blocking(move || {
            let result = run_hook(&instance, &name, &mut owned);
            (owned, result)
        });
        match job.await {
            Ok((owned, result)) => {
                *ctx = owned;
                result
            }
            Err(e) => Err(PluginError::Crashed {
                hook: route.name.clone(),
                reason: format!("the hook's thread failed: {e}"),
            }),
        }
    }

    fn message_now(&self, msg: &mut GrpcMessage) -> Result<MessageVerdict, PluginError> {
        let route = self.route(HookKind::GrpcMessage, &msg.hook)?;
        let instance = &route.instance;
        let lib = &instance.lib;
        let Some(on_message) = lib.desc.on_grpc_message else {
            // Refused at load; kept as an error rather than a panic all the same.
            return Err(PluginError::Unavailable {
                hook: msg.hook.to_string(),
                reason: format!("native plugin `{}` has no on_grpc_message", lib.name),
            });
        };
        let direction = match msg.direction {
            MessageDirection::ToUpstream => WEIR_GRPC_CLIENT_TO_SERVER,
            MessageDirection::FromUpstream => WEIR_GRPC_SERVER_TO_CLIENT,
        };
        let mut host = HostCtx::for_message(msg, &lib.name);
        // SAFETY: as in `call_now`; the method and payload borrowed here stay untouched until
        // the call returns (a replacement is kept in `host`).
        let status = unsafe {
            on_message(
                instance.raw,
                &HOST_API,
                host.as_ptr(),
                WeirStr::from_text(&route.name),
                direction,
                WeirStr::from_text(&msg.method),
                WeirStr::from_bytes(&msg.payload),
            )
        };
        let error = host.error.take();
        let Target::Message(call) = host.target else {
            unreachable!("built by for_message");
        };
        match status {
            WEIR_OK => {
                if let Some(payload) = call.replacement {
                    msg.payload = payload;
                }
                Ok(MessageVerdict::Pass)
            }
            WEIR_GRPC_DROP => Ok(MessageVerdict::Drop),
            WEIR_GRPC_END => match call.status {
                Some((code, message)) => Ok(MessageVerdict::End { code, message }),
                None => Err(PluginError::BadReply {
                    hook: route.name.clone(),
                    reason: "the plugin returned WEIR_GRPC_END without calling set_grpc_status"
                        .into(),
                }),
            },
            other => Err(failure(&route.name, other, error)),
        }
    }
}

/// Calls one request or response hook of `instance` on `ctx`, on the current thread.
fn run_hook(instance: &Instance, name: &str, ctx: &mut HookContext) -> Result<(), PluginError> {
    let lib = &instance.lib;
    let kind = ctx.kind.tyk_hook_type() as u32;
    let mut host = HostCtx::for_hook(ctx, &lib.name);
    // SAFETY: the instance came from this library's init and the library is open (the
    // instance holds it); `host` outlives the call and nothing else touches it meanwhile.
    let status = unsafe {
        (lib.desc.call)(
            instance.raw,
            &HOST_API,
            host.as_ptr(),
            kind,
            WeirStr::from_text(name),
        )
    };
    match status {
        WEIR_OK => Ok(()),
        other => Err(failure(name, other, host.error.take())),
    }
}

/// The error for a hook's failing status, with what the plugin said through `set_error`.
fn failure(hook: &str, status: WeirStatus, said: Option<String>) -> PluginError {
    let hook = hook.to_owned();
    let said = said.unwrap_or_else(|| "no reason given".into());
    match status {
        WEIR_ERR_PANIC => PluginError::Crashed { hook, reason: said },
        WEIR_ERR_HOOK => PluginError::Crashed {
            hook,
            reason: format!("the hook failed: {said}"),
        },
        WEIR_ERR_ABI => PluginError::Crashed {
            hook,
            reason: "the plugin needs a newer host function table than this gateway's".into(),
        },
        other => PluginError::BadReply {
            hook,
            reason: format!("the plugin returned status {other}, which this hook does not define"),
        },
    }
}

impl LoadedPlugin for NativePlugin {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.call_off_loop(ctx))
    }

    fn on_grpc_message<'a>(
        &'a self,
        msg: &'a mut GrpcMessage,
    ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
        Box::pin(async move { self.message_now(msg) })
    }
}
