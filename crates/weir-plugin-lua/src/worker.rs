//! Worker threads: each owns one Lua state with the plugin's files loaded, and runs the jobs
//! the async side sends it, so a slow hook never holds an executor thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaSerdeExt, StdLib, Value, VmState};
use tokio::sync::oneshot;
use weir_core::plugin::{GrpcMessage, HookContext, HookKind, MessageVerdict, PluginError};

use crate::{LoadError, LuaDriverOptions, convert};

/// Lua instructions between two deadline checks: often enough to stop a loop within
/// microseconds of its deadline, rare enough to cost nothing measurable.
const CHECK_EVERY: u32 = 1000;

/// The `tyk` helpers, run in every state before the plugin's files. `object` is the global
/// Tyk's helpers work on; the driver sets it before each call.
const PRELUDE: &str = r#"
object = nil
local req = {}
function req.set_header(key, value)
  local r = object["request"]
  if r["set_headers"] == nil then r["set_headers"] = {} end
  r["set_headers"][key] = value
end
function req.clear_header(key)
  local r = object["request"]
  if r["delete_headers"] == nil then r["delete_headers"] = {} end
  table.insert(r["delete_headers"], key)
end
function req.get_headers()
  return object["request"]["headers"]
end
tyk = { req = req, header = nil }
"#;

/// A hook call's outcome, with the context handed back.
type HookReply = (Box<HookContext>, Result<(), PluginError>);
/// A stream hook's outcome: the verdict and the replacement payload, if any.
pub(crate) type MessageReply = Result<(MessageVerdict, Option<Bytes>), PluginError>;

enum Job {
    Hook(Box<HookContext>, oneshot::Sender<HookReply>),
    Message(GrpcMessage, oneshot::Sender<MessageReply>),
}

/// The current call's deadline, read by the instruction-count hook.
#[derive(Default)]
struct Deadline {
    until: Option<Instant>,
    hit: bool,
}

/// A loaded plugin's workers. Dropping the pool ends them once their current job is done.
pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    /// Builds one state per thread on this thread (so load errors are reported now) and
    /// starts the threads.
    pub(crate) fn start(
        options: &LuaDriverOptions,
        sources: &[(std::path::PathBuf, Vec<u8>)],
        hooks: &[(HookKind, String)],
    ) -> Result<Pool, LoadError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..options.threads.max(1) {
            let lua = new_state(options, sources, hooks)?;
            let worker = Worker {
                lua,
                deadline: options.call_deadline,
            };
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("weir-lua-{n}"))
                .spawn(move || worker.run(&rx))
                .map_err(|e| {
                    LoadError::Unsupported(format!("cannot start a lua worker thread: {e}"))
                })?;
        }
        Ok(Pool { jobs: tx })
    }

    /// Runs a request hook on a worker; the context comes back with the outcome.
    pub(crate) async fn run_hook(
        &self,
        ctx: Box<HookContext>,
        hook: &str,
    ) -> Result<HookReply, PluginError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Hook(ctx, tx)).map_err(|_| gone(hook))?;
        rx.await.map_err(|_| gone(hook))
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
        reason: "the lua worker thread has stopped".into(),
    }
}

/// A fresh state: safe standard libraries, the `tyk` and `cjson` helpers, the plugin's
/// files, limits, and a check that every declared hook is a global function.
fn new_state(
    options: &LuaDriverOptions,
    sources: &[(std::path::PathBuf, Vec<u8>)],
    hooks: &[(HookKind, String)],
) -> Result<Lua, LoadError> {
    let setup = |e: mlua::Error| LoadError::Unsupported(format!("lua state setup failed: {e}"));
    let lua = Lua::new_with(StdLib::ALL_SAFE, mlua::LuaOptions::default()).map_err(setup)?;
    install_helpers(&lua).map_err(setup)?;
    lua.set_app_data(Deadline::default());
    // A global hook reaches coroutines the script creates too. Past the deadline it yields:
    // a yield from a hook passes through `pcall` (which would catch an error), so the hook's
    // coroutine stops whatever the script does; where nothing can yield, it raises instead.
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(CHECK_EVERY),
        |lua, _| {
            let mut deadline = lua
                .app_data_mut::<Deadline>()
                .ok_or_else(|| mlua::Error::runtime("no deadline"))?;
            match deadline.until {
                Some(until) if deadline.hit || Instant::now() >= until => {
                    deadline.hit = true;
                    Ok(VmState::Yield)
                }
                _ => Ok(VmState::Continue),
            }
        },
    )
    .map_err(setup)?;
    // Loading runs top-level code too: it gets the same limits as a call.
    lua.set_memory_limit(options.memory_limit).map_err(setup)?;
    for (file, text) in sources {
        let shown = file.display().to_string();
        let compile = |e: mlua::Error| LoadError::Compile {
            file: shown.clone(),
            reason: convert::lua_message(&e),
        };
        let chunk = lua
            .load(text.as_slice())
            .set_name(format!("@{shown}"))
            .into_function()
            .map_err(compile)?;
        match bounded(&lua, options.call_deadline, &chunk, ()) {
            Ok(_) => {}
            Err(Failure::Lua(e)) => return Err(compile(e)),
            Err(Failure::Timeout) => {
                return Err(LoadError::Compile {
                    file: shown,
                    reason: format!(
                        "its top-level code ran past the {:?} deadline",
                        options.call_deadline
                    ),
                });
            }
        }
    }
    for (kind, name) in hooks {
        if !matches!(
            lua.globals().get::<Value>(name.as_str()),
            Ok(Value::Function(_))
        ) {
            return Err(LoadError::Unsupported(format!(
                "{} hook `{name}`: no global function of that name in the plugin's lua files",
                kind.as_str()
            )));
        }
    }
    Ok(lua)
}

/// `print` to the log, no `os.exit`, the `tyk` table and `require "cjson"`.
fn install_helpers(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let print = lua.create_function(|_, args: mlua::Variadic<Value>| {
        let line: Vec<String> = args
            .iter()
            .map(|v| v.to_string().unwrap_or_else(|_| v.type_name().to_owned()))
            .collect();
        tracing::info!(target: "weir::lua", "{}", line.join("\t"));
        Ok(())
    })?;
    globals.set("print", print)?;
    if let Ok(mlua::Value::Table(os)) = globals.get::<Value>("os") {
        os.set("exit", Value::Nil)?;
    }
    let cjson = lua.create_table()?;
    cjson.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let json: serde_json::Value = lua.from_value(v)?;
            Ok(json.to_string())
        })?,
    )?;
    cjson.set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| {
            let json: serde_json::Value =
                serde_json::from_slice(&s.as_bytes()).map_err(mlua::Error::external)?;
            lua.to_value(&json)
        })?,
    )?;
    let preload: mlua::Table = globals.get::<mlua::Table>("package")?.get("preload")?;
    preload.set(
        "cjson",
        lua.create_function(move |_, ()| Ok(cjson.clone()))?,
    )?;
    lua.load(PRELUDE).set_name("=weir/tyk.lua").exec()
}

/// Sets (or clears) the deadline the instruction hook enforces.
fn arm(lua: &Lua, limit: Option<Duration>) {
    if let Some(mut d) = lua.app_data_mut::<Deadline>() {
        d.until = limit.map(|l| Instant::now() + l);
        d.hit = false;
    }
}

/// Why a bounded call failed.
pub(crate) enum Failure {
    /// It ran past its deadline.
    Timeout,
    /// Lua raised an error (memory errors included).
    Lua(mlua::Error),
}

/// Calls `f` in a fresh coroutine under `limit`. A coroutine that is suspended when the call
/// returns was stopped by the deadline (or yielded at top level, which is refused); it is
/// never resumed and the collector takes it.
pub(crate) fn bounded(
    lua: &Lua,
    limit: Duration,
    f: &Function,
    args: impl mlua::IntoLuaMulti,
) -> Result<mlua::MultiValue, Failure> {
    let thread = lua.create_thread(f.clone()).map_err(Failure::Lua)?;
    arm(lua, Some(limit));
    let result = thread.resume::<mlua::MultiValue>(args);
    let hit = lua.app_data_ref::<Deadline>().is_some_and(|d| d.hit);
    arm(lua, None);
    if hit {
        return Err(Failure::Timeout);
    }
    let values = result.map_err(Failure::Lua)?;
    if thread.is_resumable() {
        return Err(Failure::Lua(mlua::Error::runtime(
            "the hook yielded (coroutine.yield outside a coroutine of its own)",
        )));
    }
    Ok(values)
}

struct Worker {
    lua: Lua,
    deadline: Duration,
}

impl Worker {
    fn run(self, rx: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            // The lock is held only while waiting, so idle workers take turns at the queue.
            let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
            let Ok(job) = job else { return };
            match job {
                Job::Hook(mut ctx, reply) => {
                    let result = self.hook(&mut ctx);
                    let _ = reply.send((ctx, result));
                }
                Job::Message(msg, reply) => {
                    let _ = reply.send(self.message(&msg));
                }
            }
        }
    }

    fn function(&self, name: &str) -> Result<Function, PluginError> {
        self.lua
            .globals()
            .get::<Function>(name)
            .map_err(|_| PluginError::Unavailable {
                hook: name.to_owned(),
                reason: "no global lua function of that name".into(),
            })
    }

    /// Maps a failed call to the error the gateway reports: past the deadline, out of
    /// memory, or a Lua error.
    fn failure(&self, hook: &str, f: Failure) -> PluginError {
        match f {
            Failure::Timeout => PluginError::Timeout {
                hook: hook.to_owned(),
                limit: self.deadline,
            },
            Failure::Lua(e) => PluginError::Crashed {
                hook: hook.to_owned(),
                reason: convert::lua_message(&e),
            },
        }
    }

    fn hook(&self, ctx: &mut HookContext) -> Result<(), PluginError> {
        let name = ctx.name.clone();
        let f = self.function(&name)?;
        let lua = &self.lua;
        let sent = convert::object(lua, ctx).map_err(|e| self.failure(&name, Failure::Lua(e)))?;
        let returned = convert::call_hook(lua, self.deadline, &f, ctx.kind, &sent)
            .map_err(|e| self.failure(&name, e))?;
        let applied = convert::apply(lua, ctx, &sent, returned);
        // The next call must not see this request through the global.
        let _ = lua.globals().set("object", Value::Nil);
        applied.map_err(|reason| PluginError::BadReply { hook: name, reason })
    }

    fn message(&self, msg: &GrpcMessage) -> MessageReply {
        let f = self.function(&msg.hook)?;
        let lua = &self.lua;
        let fail = |e: Failure| self.failure(&msg.hook, e);
        let table = convert::message(lua, msg).map_err(|e| fail(Failure::Lua(e)))?;
        let returned = convert::call_message(lua, self.deadline, &f, msg, &table).map_err(fail)?;
        convert::verdict(msg, returned).map_err(|reason| PluginError::BadReply {
            hook: msg.hook.to_string(),
            reason,
        })
    }
}
