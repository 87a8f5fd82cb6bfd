//! One QuickJS runtime and context with the prelude, the Tyk globals and the plugin's files
//! loaded, and bounded calls into it: a deadline enforced by the interrupt handler and a
//! memory limit.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Runtime, Value};
use weir_core::plugin::HookKind;

use crate::LoadError;
use crate::globals;
use crate::worker::Setup;

/// The Tyk API prelude, run before the plugin's files.
const PRELUDE: &str = include_str!("prelude.js");

/// Native stack QuickJS may use; the worker threads get far more than this.
pub(crate) const JS_STACK: usize = 1 << 20;

/// The current call's deadline, shared with the interrupt handler.
#[derive(Default)]
pub(crate) struct Deadline {
    until: Cell<Option<Instant>>,
    hit: Cell<bool>,
}

impl Deadline {
    /// The time left before the current call's deadline (for blocking host calls).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.until
            .get()
            .map(|u| u.saturating_duration_since(Instant::now()))
    }
}

/// Why a bounded call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It ran past its deadline.
    Timeout,
    /// The runtime's memory limit was reached; the runtime must be rebuilt.
    OutOfMemory,
    /// A JavaScript exception (or a conversion error), as text.
    Script(String),
}

/// A runtime with the plugin loaded.
pub(crate) struct Engine {
    // Field order: the context must go before its runtime.
    pub(crate) context: Context,
    runtime: Runtime,
    pub(crate) deadline: Rc<Deadline>,
    limit: Duration,
}

impl Engine {
    /// Builds the runtime, installs the globals and runs the plugin's files (under the same
    /// deadline and memory limit as a call), then checks every declared hook is there.
    pub(crate) fn new(setup: &Setup) -> Result<Engine, LoadError> {
        let fail = |e: rquickjs::Error| LoadError::Unsupported(format!("js runtime setup: {e}"));
        let runtime = Runtime::new().map_err(fail)?;
        runtime.set_memory_limit(setup.memory_limit);
        runtime.set_max_stack_size(JS_STACK);
        let deadline = Rc::new(Deadline::default());
        let watch = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || match watch.until.get() {
            Some(until) if watch.hit.get() || Instant::now() >= until => {
                watch.hit.set(true);
                true
            }
            _ => false,
        })));
        let context = Context::full(&runtime).map_err(fail)?;
        let engine = Engine {
            context,
            runtime,
            deadline,
            limit: setup.deadline,
        };
        engine
            .context
            .with(|ctx| globals::install(&ctx, setup, engine.deadline.clone()))
            .map_err(fail)?;
        engine
            .eval_file("weir/prelude.js", PRELUDE)
            .map_err(|reason| LoadError::Unsupported(format!("js prelude: {reason}")))?;
        for (file, text) in &setup.sources {
            let shown = file.display().to_string();
            engine
                .eval_file(&shown, text)
                .map_err(|reason| LoadError::Compile {
                    file: shown.clone(),
                    reason,
                })?;
        }
        let mut wanted: Vec<(String, &str, bool)> = setup
            .hooks
            .iter()
            .map(|h| {
                let label = format!("{} hook", h.kind.as_str());
                (label, h.name.as_str(), h.kind == HookKind::GrpcMessage)
            })
            .collect();
        for f in &setup.functions {
            wanted.push(("virtual endpoint function".into(), f.as_str(), true));
        }
        for (label, name, function) in wanted {
            let fits = engine
                .bounded(|ctx| {
                    let v = resolve(ctx, name)?;
                    Ok(if function {
                        v.is_function()
                    } else {
                        v.is_object() && !v.is_function()
                    })
                })
                .map_err(|f| LoadError::Unsupported(describe(&f, engine.limit)))?;
            if !fits {
                let want = if function {
                    "function"
                } else {
                    "middleware object (new TykJS.TykMiddleware.NewMiddleware)"
                };
                return Err(LoadError::Unsupported(format!(
                    "{label} `{name}`: no global {want} of that name in the plugin's js files"
                )));
            }
        }
        Ok(engine)
    }

    /// Runs one source file at top level, under the call limits.
    fn eval_file(&self, name: &str, text: &str) -> Result<(), String> {
        let result = self.bounded(|ctx| {
            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some(name.to_owned());
            ctx.eval_with_options::<(), _>(text.as_bytes(), options)
        });
        result.map_err(|f| match f {
            Failure::Timeout => {
                format!("its top-level code ran past the {:?} deadline", self.limit)
            }
            other => describe(&other, self.limit),
        })
    }

    /// Runs `f` in the context under the deadline. A pending exception becomes
    /// [`Failure::Script`] with its message and position.
    pub(crate) fn bounded<R>(
        &self,
        f: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<R>,
    ) -> Result<R, Failure> {
        self.deadline.hit.set(false);
        self.deadline.until.set(Some(Instant::now() + self.limit));
        let result = self.context.with(|ctx| match f(&ctx) {
            Ok(v) => Ok(v),
            Err(rquickjs::Error::Exception) => Err(Failure::Script(exception_text(&ctx.catch()))),
            Err(e) => Err(Failure::Script(e.to_string())),
        });
        // Promise jobs the call queued run now, under the same deadline: nothing waits for
        // them, and left queued they would pile up for the life of the worker.
        while self.runtime.is_job_pending() && !self.deadline.hit.get() {
            if let Err(e) = self.runtime.execute_pending_job() {
                let text = e.0.with(|ctx| exception_text(&ctx.catch()));
                tracing::debug!(target: "weir::jsvm", error = %text, "a promise job failed");
            }
        }
        let hit = self.deadline.hit.get();
        self.deadline.until.set(None);
        self.deadline.hit.set(false);
        match result {
            Err(_) if hit => Err(Failure::Timeout),
            Err(Failure::Script(m)) if m.contains("out of memory") => Err(Failure::OutOfMemory),
            other => other,
        }
    }

    /// Frees what the last call left (cycles included), so the next starts from a clean heap.
    pub(crate) fn collect(&self) {
        self.runtime.run_gc();
    }

    /// The call deadline.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

/// A failure as load errors and logs put it.
pub(crate) fn describe(f: &Failure, limit: Duration) -> String {
    match f {
        Failure::Timeout => format!("ran past the {limit:?} deadline"),
        Failure::OutOfMemory => "out of memory: the js memory limit was reached".into(),
        Failure::Script(m) => m.clone(),
    }
}

/// The value a hook name refers to: a global, or a dotted path from one (Tyk evaluates
/// `name.DoProcessRequest(...)`, so both work there). Names that are not identifiers are
/// refused rather than evaluated.
pub(crate) fn resolve<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Value<'js>> {
    let valid = !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        });
    if !valid {
        return Err(rquickjs::Exception::throw_message(
            ctx,
            &format!("hook name `{name}` is not a JavaScript identifier"),
        ));
    }
    // `let`/`const` globals are not properties of globalThis: evaluate the name itself.
    ctx.eval(format!(
        "(function () {{ try {{ return {name}; }} catch (e) {{ return undefined; }} }})()"
    ))
}

/// An exception's text: `Name: message` and where it was thrown (`at file:line:col`).
pub(crate) fn exception_text(value: &Value<'_>) -> String {
    let Some(obj) = value.as_object() else {
        return format!("uncaught exception: {}", plain(value));
    };
    let Some(exc) = rquickjs::Exception::from_object(obj.clone()) else {
        return format!("uncaught exception: {}", plain(value));
    };
    let name: Option<String> = obj.get("name").ok();
    let message = exc.message().unwrap_or_default();
    let mut text = match name {
        Some(n) if !n.is_empty() => format!("{n}: {message}"),
        _ => message,
    };
    if let Some(at) = exc
        .stack()
        .as_deref()
        .and_then(|s| s.lines().map(str::trim).find(|l| l.starts_with("at ")))
    {
        text.push_str(" (");
        text.push_str(at);
        text.push(')');
    }
    text
}

/// A thrown non-error value, as text.
fn plain(value: &Value<'_>) -> String {
    if let Some(s) = value.as_string().and_then(|s| s.to_string().ok()) {
        return s;
    }
    value
        .ctx()
        .json_stringify(value.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| value.type_name().to_owned())
}
