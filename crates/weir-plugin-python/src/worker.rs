//! Worker threads: each stays attached to the interpreter for its life (one Python thread
//! state) and detaches while it waits for a job, so the GIL is free whenever no hook runs. The
//! async side only sends jobs and awaits a oneshot: no executor thread ever takes the GIL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use pyo3::prelude::*;
use tokio::sync::oneshot;
use weir_core::plugin::{GrpcMessage, HookContext, HookKind, MessageVerdict, PluginError};

use crate::runtime::Runtime;
use crate::{convert, memory, watchdog};

/// A hook call's outcome, with the context handed back.
pub(crate) type HookReply = (Box<HookContext>, Result<(), PluginError>);
/// A stream hook's outcome: the verdict and the replacement payload, if any.
pub(crate) type MessageReply = Result<(MessageVerdict, Option<Bytes>), PluginError>;

enum Job {
    Hook(Box<HookContext>, oneshot::Sender<HookReply>),
    Message(GrpcMessage, oneshot::Sender<MessageReply>),
}

/// A resolved hook: the callable and how many arguments it takes.
pub(crate) struct Resolved {
    pub f: Py<PyAny>,
    pub argc: usize,
}

/// What every worker of one plugin shares.
pub(crate) struct Shared {
    pub runtime: &'static Runtime,
    pub hooks: HashMap<(HookKind, String), Resolved>,
    pub deadline: Duration,
    pub memory_limit: usize,
}

/// Why a bounded run failed.
pub(crate) enum Failure {
    /// Past the deadline.
    Timeout,
    /// Over the memory limit.
    Memory(String),
    /// A Python exception, described as `file:line: Type: message`.
    Raised(String),
}

/// Runs `f` under the deadline and the memory limit. Called attached, on any thread.
pub(crate) fn bounded<'py, T>(
    py: Python<'py>,
    runtime: &Runtime,
    deadline: Duration,
    memory_limit: usize,
    f: impl FnOnce(Python<'py>) -> PyResult<T>,
) -> Result<T, Failure> {
    let armed = py.detach(|| watchdog::arm(deadline));
    watchdog::clear_pending(py);
    memory::begin(if runtime.counted { memory_limit } else { 0 });
    let result = f(py);
    let refused = memory::end();
    let fired = py.detach(|| watchdog::disarm(armed));
    // Nothing can be raised at this thread any more: drop what came in after the call ended.
    watchdog::clear_pending(py);
    match result {
        _ if fired => Err(Failure::Timeout),
        Ok(v) => Ok(v),
        Err(e) if e.is_instance(py, runtime.timeout.bind(py)) => Err(Failure::Timeout),
        Err(e) => {
            let text = describe(py, runtime, &e);
            if refused {
                Err(Failure::Memory(text))
            } else {
                Err(Failure::Raised(text))
            }
        }
    }
}

/// `file:line: Type: message` for an exception.
pub(crate) fn describe(py: Python<'_>, runtime: &Runtime, e: &PyErr) -> String {
    runtime
        .describe
        .bind(py)
        .call1((e.value(py), e.traceback(py)))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| e.to_string())
}

/// A loaded plugin's workers. Dropping the pool ends them once their current job is done.
pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
    /// How long the async side waits for a reply: the deadline, plus time for the interrupt
    /// to land, so a hook stuck in C code still fails its request in bounded time.
    wait: Duration,
    /// What a replacement worker needs.
    shared: Arc<Shared>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Workers started to replace stuck ones, at most as many as the pool's own.
    spares: AtomicUsize,
    threads: usize,
}

impl Pool {
    /// Starts `threads` workers.
    pub(crate) fn start(shared: Arc<Shared>, threads: usize) -> Result<Pool, String> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let wait = shared.deadline + Duration::from_millis(250);
        let threads = threads.max(1);
        for n in 0..threads {
            spawn(&shared, &rx, n)?;
        }
        Ok(Pool {
            jobs: tx,
            wait,
            shared,
            rx,
            spares: AtomicUsize::new(0),
            threads,
        })
    }

    /// Runs a request or response hook on a worker; the context comes back with the outcome.
    pub(crate) async fn run_hook(
        &self,
        ctx: Box<HookContext>,
        hook: &str,
    ) -> Result<HookReply, PluginError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Hook(ctx, tx)).map_err(|_| gone(hook))?;
        match tokio::time::timeout(self.wait, rx).await {
            Ok(reply) => reply.map_err(|_| gone(hook)),
            Err(_) => Err(self.late(hook)),
        }
    }

    /// Runs a stream hook on a worker.
    pub(crate) async fn run_message(&self, msg: GrpcMessage) -> MessageReply {
        let hook = msg.hook.clone();
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Message(msg, tx))
            .map_err(|_| gone(&hook))?;
        match tokio::time::timeout(self.wait, rx).await {
            Ok(reply) => reply.map_err(|_| gone(&hook))?,
            Err(_) => Err(self.late(&hook)),
        }
    }

    /// A worker did not answer in time: it is stuck in C code or swallows every interrupt.
    /// A spare takes its place (up to the pool's size) so the API keeps being served.
    fn late(&self, hook: &str) -> PluginError {
        let n = self.spares.fetch_add(1, Ordering::Relaxed);
        if n < self.threads {
            tracing::warn!(
                hook,
                "a python worker is stuck past its deadline; starting a spare"
            );
            if let Err(e) = spawn(&self.shared, &self.rx, self.threads + n) {
                tracing::error!(error = %e, "no spare python worker");
            }
        }
        PluginError::Timeout {
            hook: hook.to_owned(),
            limit: self.wait,
        }
    }
}

fn spawn(
    shared: &Arc<Shared>,
    rx: &Arc<Mutex<mpsc::Receiver<Job>>>,
    n: usize,
) -> Result<(), String> {
    let (shared, rx) = (shared.clone(), rx.clone());
    std::thread::Builder::new()
        .name(format!("weir-python-{n}"))
        .spawn(move || run(&shared, &rx))
        .map(drop)
        .map_err(|e| format!("cannot start a python worker thread: {e}"))
}

fn gone(hook: &str) -> PluginError {
    PluginError::Unavailable {
        hook: hook.to_owned(),
        reason: "the python worker thread has stopped".into(),
    }
}

fn run(shared: &Shared, rx: &Mutex<mpsc::Receiver<Job>>) {
    Python::attach(|py| {
        loop {
            // Detached while waiting: the GIL is free for the other threads. The lock is held
            // only while waiting, so idle workers take turns at the queue.
            let job = py.detach(|| rx.lock().unwrap_or_else(PoisonError::into_inner).recv());
            let Ok(job) = job else { return };
            match job {
                Job::Hook(mut ctx, reply) => {
                    let result = hook(py, shared, &mut ctx);
                    let _ = reply.send((ctx, result));
                }
                Job::Message(msg, reply) => {
                    let _ = reply.send(message(py, shared, &msg));
                }
            }
        }
    });
}

fn failure(shared: &Shared, hook: &str, f: Failure) -> PluginError {
    let hook = hook.to_owned();
    match f {
        Failure::Timeout => PluginError::Timeout {
            hook,
            limit: shared.deadline,
        },
        Failure::Memory(text) => PluginError::Crashed {
            hook,
            reason: format!(
                "the python memory limit ({} bytes for one call) was reached: {text}",
                shared.memory_limit
            ),
        },
        Failure::Raised(reason) => PluginError::Crashed { hook, reason },
    }
}

fn resolved<'a>(
    shared: &'a Shared,
    kind: HookKind,
    name: &str,
) -> Result<&'a Resolved, PluginError> {
    shared
        .hooks
        .get(&(kind, name.to_owned()))
        .ok_or_else(|| PluginError::Unavailable {
            hook: name.to_owned(),
            reason: format!(
                "no {} hook of that name was declared for the python driver",
                kind.as_str()
            ),
        })
}

fn hook(py: Python<'_>, shared: &Shared, ctx: &mut HookContext) -> Result<(), PluginError> {
    let name = ctx.name.clone();
    let r = resolved(shared, ctx.kind, &name)?;
    let rt = shared.runtime;
    let out = bounded(py, rt, shared.deadline, shared.memory_limit, |py| {
        let data = convert::hook_data(py, ctx)?;
        rt.call.bind(py).call1((r.f.bind(py), r.argc, data))
    })
    .map_err(|f| failure(shared, &name, f))?;
    convert::apply(ctx, &out).map_err(|reason| PluginError::BadReply { hook: name, reason })
}

fn message(py: Python<'_>, shared: &Shared, msg: &GrpcMessage) -> MessageReply {
    let r = resolved(shared, HookKind::GrpcMessage, &msg.hook)?;
    let rt = shared.runtime;
    let out = bounded(py, rt, shared.deadline, shared.memory_limit, |py| {
        let data = convert::message_data(py, msg)?;
        rt.message.bind(py).call1((r.f.bind(py), data))
    })
    .map_err(|f| failure(shared, &msg.hook, f))?;
    convert::verdict(&out).map_err(|reason| PluginError::BadReply {
        hook: msg.hook.to_string(),
        reason,
    })
}
