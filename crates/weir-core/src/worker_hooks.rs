//! What the drivers that run hooks on threads of their own (JavaScript, Python, Lua) share:
//! the request context goes to the worker whole and comes back whole, so a hook that fails or
//! times out never leaves the proxy with half of it.

use std::future::Future;

use bytes::Bytes;

use crate::plugin::{GrpcMessage, HookContext, MessageVerdict, PluginError};

/// The outcome of a hook run on a worker: the context back, and the hook's own result.
pub type WorkerOutcome = Result<(Box<HookContext>, Result<(), PluginError>), PluginError>;

/// Hands `ctx` to `run` (the driver's worker pool) under the hook's name and puts what comes
/// back in its place. While the worker holds it, `ctx` keeps the hook's name, so a caller's
/// timeout that drops this future still reports which hook it was.
pub async fn call_on_worker<F, Fut>(ctx: &mut HookContext, run: F) -> Result<(), PluginError>
where
    F: FnOnce(Box<HookContext>, String) -> Fut,
    Fut: Future<Output = WorkerOutcome>,
{
    let hook = ctx.name.clone();
    let owned = Box::new(ctx.take());
    ctx.name.clone_from(&hook);
    let (back, result) = run(owned, hook).await?;
    *ctx = *back;
    result
}

/// Hands a copy of `msg` to `run` (the driver's worker pool); a payload the hook replaced
/// becomes the message's.
pub async fn message_on_worker<F, Fut>(
    msg: &mut GrpcMessage,
    run: F,
) -> Result<MessageVerdict, PluginError>
where
    F: FnOnce(GrpcMessage) -> Fut,
    Fut: Future<Output = Result<(MessageVerdict, Option<Bytes>), PluginError>>,
{
    let (verdict, payload) = run(msg.clone()).await?;
    if let Some(payload) = payload {
        msg.payload = payload;
    }
    Ok(verdict)
}
