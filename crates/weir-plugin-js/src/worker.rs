//! Worker threads: each builds and owns one QuickJS runtime with the plugin loaded, and runs
//! the jobs the async side sends it, so a slow hook never holds an executor thread.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rquickjs::function::This;
use rquickjs::{Ctx, Function, Value};
use tokio::sync::oneshot;
use weir_core::plugin::{ApiSpecInfo, GrpcMessage, HookContext, HookKind, PluginError};

use crate::engine::{self, Engine, Failure};
use crate::stream::{self, Verdict};
use crate::virtual_endpoint::{self, VirtualCall, VirtualReply};
use crate::{HookEntry, KeyAccess, LoadError, convert};

/// Native stack of a worker thread: QuickJS's own limit ([`engine::JS_STACK`]) is checked
/// well before it runs out.
const THREAD_STACK: usize = 8 << 20;

/// Everything a worker needs to build (and rebuild) its runtime.
pub(crate) struct Setup {
    /// The plugin's files, in load order.
    pub(crate) sources: Vec<(PathBuf, String)>,
    /// The declared hooks.
    pub(crate) hooks: Vec<HookEntry>,
    /// Global functions that must exist (a virtual endpoint's `response_function_name`).
    pub(crate) functions: Vec<String>,
    /// Deadline of one call (and of the files' top-level code).
    pub(crate) deadline: Duration,
    /// Memory limit of the runtime.
    pub(crate) memory_limit: usize,
    /// What `TykGetKeyData` / `TykSetKeyData` use.
    pub(crate) keys: Option<Arc<dyn KeyAccess>>,
    /// The API.
    pub(crate) api: Arc<ApiSpecInfo>,
}

/// A hook call's outcome, with the context handed back.
type HookReply = (Box<HookContext>, Result<(), PluginError>);
/// A stream hook's outcome.
pub(crate) type MessageReply = Result<Verdict, PluginError>;

enum Job {
    Hook(Box<HookContext>, oneshot::Sender<HookReply>),
    Message(GrpcMessage, oneshot::Sender<MessageReply>),
    Virtual(Box<VirtualCall>, oneshot::Sender<VirtualReply>),
}

/// A loaded plugin's workers. Dropping the pool ends them once their current job is done.
pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    /// Starts the threads; each builds its runtime and reports, so a load error is returned
    /// here.
    pub(crate) fn start(setup: Arc<Setup>, threads: usize) -> Result<Pool, LoadError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (rx, setup) = (rx.clone(), setup.clone());
            std::thread::Builder::new()
                .name(format!("weir-js-{n}"))
                .stack_size(THREAD_STACK)
                .spawn(move || {
                    let engine = match Engine::new(&setup) {
                        Ok(engine) => engine,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    Worker { engine, setup }.run(&rx);
                })
                .map_err(|e| {
                    LoadError::Unsupported(format!("cannot start a js worker thread: {e}"))
                })?;
            ready_rx.recv().map_err(|_| {
                LoadError::Unsupported("a js worker thread stopped while loading".into())
            })??;
        }
        Ok(Pool { jobs: tx })
    }

    /// Runs a request or response hook on a worker; the context comes back with the outcome.
    pub(crate) async fn run_hook(
        &self,
        ctx: Box<HookContext>,
        hook: &str,
    ) -> Result<HookReply, PluginError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Hook(ctx, tx)).map_err(|_| gone(hook))?;
        rx.await.map_err(|_| gone(hook))
    }

    /// Runs a virtual endpoint's function on a worker.
    pub(crate) async fn run_virtual(&self, call: Box<VirtualCall>) -> VirtualReply {
        let function = call.function.clone();
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Virtual(call, tx))
            .map_err(|_| gone(&function))?;
        rx.await.map_err(|_| gone(&function))?
    }

    /// Runs a stream hook on a worker.
    pub(crate) async fn run_message(&self, msg: GrpcMessage) -> MessageReply {
        let hook = msg.hook.clone();
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Message(msg, tx))
            .map_err(|_| gone(&hook))?;
        rx.await.map_err(|_| gone(&hook))?
    }
}

fn gone(hook: &str) -> PluginError {
    PluginError::Unavailable {
        hook: hook.to_owned(),
        reason: "the js worker thread has stopped".into(),
    }
}

struct Worker {
    engine: Engine,
    setup: Arc<Setup>,
}

impl Worker {
    fn run(mut self, rx: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            // The lock is held only while waiting, so idle workers take turns at the queue.
            let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
            let Ok(job) = job else { return };
            let rebuild = match job {
                Job::Hook(mut ctx, reply) => {
                    let (result, rebuild) = self.hook(&mut ctx);
                    let _ = reply.send((ctx, result));
                    rebuild
                }
                Job::Message(msg, reply) => {
                    let (result, rebuild) = self.message(&msg);
                    let _ = reply.send(result);
                    rebuild
                }
                Job::Virtual(call, reply) => {
                    let result = virtual_endpoint::run(&self.engine, &call);
                    let rebuild = result
                        .as_ref()
                        .is_err_and(|f| matches!(f, Failure::OutOfMemory));
                    let _ = reply.send(result.map_err(|f| self.failure(&call.function, f).0));
                    rebuild
                }
            };
            if rebuild {
                self.rebuild();
            }
        }
    }

    /// A runtime that hit its memory limit is replaced by a fresh one.
    fn rebuild(&mut self) {
        match Engine::new(&self.setup) {
            Ok(engine) => self.engine = engine,
            Err(e) => {
                tracing::error!(target: "weir::jsvm", api_id = %self.setup.api.api_id, error = %e, "cannot rebuild the js runtime; keeping the old one");
                self.engine.collect();
            }
        }
    }

    /// Maps a failed call to the error the gateway reports; true when the runtime must be
    /// rebuilt.
    fn failure(&self, hook: &str, f: Failure) -> (PluginError, bool) {
        let rebuild = matches!(f, Failure::OutOfMemory);
        let error = match f {
            Failure::Timeout => PluginError::Timeout {
                hook: hook.to_owned(),
                limit: self.engine.limit(),
            },
            other => PluginError::Crashed {
                hook: hook.to_owned(),
                reason: engine::describe(&other, self.engine.limit()),
            },
        };
        (error, rebuild)
    }

    fn hook(&self, ctx: &mut HookContext) -> (Result<(), PluginError>, bool) {
        let name = ctx.name.clone();
        let require_session = self
            .setup
            .hooks
            .iter()
            .any(|h| h.kind == ctx.kind && h.name == name && h.require_session);
        let response = ctx.kind == HookKind::Response;
        let args = match hook_args(ctx) {
            Ok(args) => args,
            Err(reason) => return (Err(PluginError::BadReply { hook: name, reason }), false),
        };
        let answer = self
            .engine
            .bounded(|c| call_middleware(c, &name, response, &args));
        let answer = match answer {
            Ok(Some(text)) => text,
            Ok(None) => {
                let reason = "the middleware returned nothing (it must return mw.ReturnData(...))";
                return (bad(&name, reason.into()), false);
            }
            Err(f) => {
                let (e, rebuild) = self.failure(&name, f);
                return (Err(e), rebuild);
            }
        };
        let applied = serde_json::from_str(&answer)
            .map_err(|e| format!("the middleware's answer is not JSON: {e}"))
            .and_then(|answer: serde_json::Value| {
                if response {
                    convert::apply_response(ctx, &answer)
                } else {
                    convert::apply_request(ctx, &answer, require_session)
                }
            });
        (applied.or_else(|reason| bad(&name, reason)), false)
    }

    fn message(&self, msg: &GrpcMessage) -> (MessageReply, bool) {
        let result = self.engine.bounded(|c| {
            let f = Function::from_value(engine::resolve(c, &msg.hook)?)?;
            stream::call(c, f, msg)
        });
        match result {
            Ok(Ok(verdict)) => (Ok(verdict), false),
            Ok(Err(reason)) => (
                Err(PluginError::BadReply {
                    hook: msg.hook.to_string(),
                    reason,
                }),
                false,
            ),
            Err(f) => {
                let (e, rebuild) = self.failure(&msg.hook, f);
                (Err(e), rebuild)
            }
        }
    }
}

fn bad(hook: &str, reason: String) -> Result<(), PluginError> {
    Err(PluginError::BadReply {
        hook: hook.to_owned(),
        reason,
    })
}

/// The hook's arguments as JSON text: `(request, session, config)`, or `(response, request,
/// session, config)` for response hooks.
fn hook_args(ctx: &HookContext) -> Result<Vec<String>, String> {
    let session = convert::session_json(ctx.session.as_ref()).to_string();
    let config = convert::spec_json(&ctx.spec).to_string();
    if ctx.kind == HookKind::Response {
        let response = convert::response_json(ctx)?.to_string();
        let request = convert::request_json(ctx, false).to_string();
        Ok(vec![response, request, session, config])
    } else {
        Ok(vec![
            convert::request_json(ctx, true).to_string(),
            session,
            config,
        ])
    }
}

/// `name.DoProcessRequest(...)` (or `DoProcessResponse`), answered as JSON text; `None` when
/// the middleware returned nothing.
fn call_middleware(
    c: &Ctx<'_>,
    name: &str,
    response: bool,
    args: &[String],
) -> rquickjs::Result<Option<String>> {
    let target = engine::resolve(c, name)?;
    let Some(obj) = target.as_object().cloned() else {
        return Err(rquickjs::Exception::throw_message(
            c,
            &format!("`{name}` is not a middleware object"),
        ));
    };
    let method = if response {
        "DoProcessResponse"
    } else {
        "DoProcessRequest"
    };
    let f: Function = obj.get(method)?;
    let mut values: Vec<Value> = Vec::with_capacity(args.len());
    for a in args {
        values.push(c.json_parse(a.as_bytes())?);
    }
    let returned: Value = match values.as_slice() {
        [a, b, d] => f.call((This(obj.clone()), a.clone(), b.clone(), d.clone()))?,
        [a, b, d, e] => f.call((
            This(obj.clone()),
            a.clone(),
            b.clone(),
            d.clone(),
            e.clone(),
        ))?,
        _ => unreachable_args(c)?,
    };
    if returned.is_undefined() || returned.is_null() {
        return Ok(None);
    }
    let text = c.json_stringify(returned)?;
    text.map(|s| s.to_string()).transpose()
}

fn unreachable_args<'js>(c: &Ctx<'js>) -> rquickjs::Result<Value<'js>> {
    Err(rquickjs::Exception::throw_message(
        c,
        "internal error: wrong number of hook arguments",
    ))
}
