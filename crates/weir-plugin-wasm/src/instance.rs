//! One module instance: its store, its root context (started and configured once), and the
//! callback sequence of one hook call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Instance, InstancePre, Store, Trap, TypedFunc};
use weir_core::plugin::{ApiSpecInfo, GrpcMessage, HookContext, MessageVerdict, PluginError};

use crate::abi::ACTION_PAUSE;
use crate::callout;
use crate::grpc_call;
use crate::grpc_ext;
use crate::state::{Callouts, Event, HostState, Shared, Stream, Upstream};

/// The clients calls go out through, shared by the driver's plugins.
pub(crate) struct Clients {
    pub http: callout::Client,
    pub grpc: grpc_call::GrpcClient,
}

/// The root context id (Weir runs one plugin context per instance).
pub(crate) const ROOT: u32 = 1;

/// What every instance of one module in one API load is created with.
#[derive(Clone)]
pub(crate) struct InstanceConfig {
    pub shared: Arc<Shared>,
    pub upstreams: Arc<HashMap<String, Upstream>>,
    pub api: Arc<ApiSpecInfo>,
    pub plugin_config: Bytes,
    pub root_name: String,
    pub memory_limit: usize,
    pub deadline: Duration,
    pub deadline_ticks: u64,
}

type Cb3 = TypedFunc<(i32, i32, i32), i32>;
type Cb5 = TypedFunc<(i32, i32, i32, i32, i32), ()>;

/// The callbacks the host calls per hook; all optional, as the ABI says.
pub(crate) struct Exports {
    pub(crate) context_create: Option<TypedFunc<(i32, i32), ()>>,
    pub(crate) request_headers: Option<Cb3>,
    pub(crate) request_body: Option<Cb3>,
    pub(crate) response_headers: Option<Cb3>,
    pub(crate) response_body: Option<Cb3>,
    pub(crate) done: Option<TypedFunc<i32, i32>>,
    pub(crate) log: Option<TypedFunc<i32, ()>>,
    pub(crate) delete: Option<TypedFunc<i32, ()>>,
    pub(crate) call_response: Option<Cb5>,
    pub(crate) grpc_metadata: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(crate) grpc_receive: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(crate) grpc_trailers: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(crate) grpc_close: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(crate) tick: Option<TypedFunc<i32, ()>>,
    pub(crate) grpc_message: Option<Cb3>,
}

fn export<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    inst: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, String> {
    match inst.get_func(&mut *store, name) {
        None => Ok(None),
        Some(f) => f
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| format!("export `{name}` has the wrong signature: {e}")),
    }
}

/// A live instance with a configured root context.
pub(crate) struct WasmInstance {
    pub(crate) store: Store<HostState>,
    pub(crate) ex: Exports,
    next_id: u32,
    deadline: Duration,
    ticks: u64,
    /// Where the open context's calls report; `None` outside a context.
    pub(crate) events: Option<tokio::sync::mpsc::UnboundedReceiver<Event>>,
}

impl WasmInstance {
    /// Instantiates the module, runs its initialisers, and starts and configures the root
    /// context (`proxy_on_vm_start`, then `proxy_on_configure` with the plugin
    /// configuration). A module that refuses either is an error.
    pub fn new(pre: &InstancePre<HostState>, cfg: &InstanceConfig) -> Result<Self, String> {
        let state = HostState {
            shared: cfg.shared.clone(),
            upstreams: cfg.upstreams.clone(),
            api: cfg.api.clone(),
            memory: None,
            alloc: None,
            memory_limit: cfg.memory_limit,
            memory_exceeded: false,
            plugin_config: cfg.plugin_config.clone(),
            root_name: cfg.root_name.clone(),
            root_id: ROOT,
            effective: ROOT,
            next_call_id: 0,
            stream: None,
            callouts: None,
            grpc_status: (0, String::new()),
            tick_period: None,
            last_error: None,
            exit_code: None,
        };
        let mut store = Store::new(pre.module().engine(), state);
        store.limiter(|s| s);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(cfg.deadline_ticks);
        let me = |what: &str, e: wasmtime::Error, store: &Store<HostState>| {
            format!(
                "{what}: {}",
                explain(&e, store, cfg.deadline, &cfg.root_name)
            )
        };
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| me("instantiate", e, &store))?;
        let memory = inst
            .get_memory(&mut store, "memory")
            .ok_or("the module exports no `memory`")?;
        let alloc = match export::<i32, i32>(&inst, &mut store, "proxy_on_memory_allocate")? {
            Some(f) => Some(f),
            None => export::<i32, i32>(&inst, &mut store, "malloc")?,
        };
        if alloc.is_none() {
            return Err(
                "the module exports neither `proxy_on_memory_allocate` nor `malloc`".into(),
            );
        }
        if inst
            .get_func(&mut store, "proxy_abi_version_0_2_1")
            .is_none()
            && inst
                .get_func(&mut store, "proxy_abi_version_0_2_0")
                .is_none()
        {
            return Err(
                "the module does not export `proxy_abi_version_0_2_1` (or 0_2_0); \
                        other proxy-wasm ABI versions are not supported"
                    .into(),
            );
        }
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = alloc;
        if let Some(f) = export::<(), ()>(&inst, &mut store, "_initialize")? {
            f.call(&mut store, ())
                .map_err(|e| me("_initialize", e, &store))?;
            if let Some(main) = export::<(i32, i32), i32>(&inst, &mut store, "main")? {
                main.call(&mut store, (0, 0))
                    .map_err(|e| me("main", e, &store))?;
            }
        } else if let Some(f) = export::<(), ()>(&inst, &mut store, "_start")? {
            f.call(&mut store, ())
                .map_err(|e| me("_start", e, &store))?;
        }
        let ex = Exports {
            context_create: export(&inst, &mut store, "proxy_on_context_create")?,
            request_headers: export(&inst, &mut store, "proxy_on_request_headers")?,
            request_body: export(&inst, &mut store, "proxy_on_request_body")?,
            response_headers: export(&inst, &mut store, "proxy_on_response_headers")?,
            response_body: export(&inst, &mut store, "proxy_on_response_body")?,
            done: export(&inst, &mut store, "proxy_on_done")?,
            log: export(&inst, &mut store, "proxy_on_log")?,
            delete: export(&inst, &mut store, "proxy_on_delete")?,
            call_response: export(&inst, &mut store, "proxy_on_http_call_response")?,
            grpc_metadata: export(&inst, &mut store, "proxy_on_grpc_receive_initial_metadata")?,
            grpc_receive: export(&inst, &mut store, "proxy_on_grpc_receive")?,
            grpc_trailers: export(&inst, &mut store, "proxy_on_grpc_receive_trailing_metadata")?,
            grpc_close: export(&inst, &mut store, "proxy_on_grpc_close")?,
            tick: export(&inst, &mut store, "proxy_on_tick")?,
            grpc_message: export(&inst, &mut store, grpc_ext::EXPORT)?,
        };
        if let Some(f) = &ex.context_create {
            f.call(&mut store, (ROOT as i32, 0))
                .map_err(|e| me("proxy_on_context_create", e, &store))?;
        }
        let vm_start = export::<(i32, i32), i32>(&inst, &mut store, "proxy_on_vm_start")?;
        if let Some(f) = vm_start {
            let ok = f
                .call(&mut store, (ROOT as i32, 0))
                .map_err(|e| me("proxy_on_vm_start", e, &store))?;
            if ok == 0 {
                return Err(refused("proxy_on_vm_start", &store));
            }
        }
        let configure = export::<(i32, i32), i32>(&inst, &mut store, "proxy_on_configure")?;
        if let Some(f) = configure {
            let len = cfg.plugin_config.len() as i32;
            let ok = f
                .call(&mut store, (ROOT as i32, len))
                .map_err(|e| me("proxy_on_configure", e, &store))?;
            if ok == 0 {
                return Err(refused(
                    "proxy_on_configure (plugin configuration rejected)",
                    &store,
                ));
            }
        }
        Ok(WasmInstance {
            store,
            ex,
            next_id: ROOT + 1,
            deadline: cfg.deadline,
            ticks: cfg.deadline_ticks,
            events: None,
        })
    }

    /// The root context's timer period, if the filter set one.
    pub fn tick_period(&self) -> Option<Duration> {
        self.store
            .data()
            .tick_period
            .filter(|_| self.ex.tick.is_some())
    }

    /// Runs the root context's `proxy_on_tick`. On error the instance must be discarded.
    pub fn tick(&mut self) -> Result<(), PluginError> {
        let Some(f) = self.ex.tick.clone() else {
            return Ok(());
        };
        let st = self.store.data_mut();
        st.last_error = None;
        st.effective = ROOT;
        self.store.set_epoch_deadline(self.ticks);
        let name = self.store.data().root_name.clone();
        f.call(&mut self.store, ROOT as i32)
            .map_err(|e| explain(&e, &self.store, self.deadline, &name))
    }

    /// Opens the HTTP context of one request: a new context id (kept for every phase of the
    /// request) and `proxy_on_context_create`. On error the instance must be discarded.
    pub fn open(&mut self, ctx: &HookContext) -> Result<u32, PluginError> {
        let id = self.context_id();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.events = Some(rx);
        let st = self.store.data_mut();
        st.last_error = None;
        st.effective = id;
        st.callouts = Some(Callouts::new(tx));
        st.stream = Some(Stream {
            id,
            ctx: HookContext::blank(ctx.kind, ctx.spec.clone()),
            local_response: false,
            resumed: false,
            scratch: HashMap::new(),
            pending: Vec::new(),
            call_response: None,
            grpc: None,
        });
        self.store.set_epoch_deadline(self.ticks);
        if let Some(f) = &self.ex.context_create {
            f.call(&mut self.store, (id as i32, ROOT as i32))
                .map_err(|e| explain(&e, &self.store, self.deadline, &ctx.name))?;
        }
        Ok(id)
    }

    /// Runs one hook call's callbacks on the open context: the request's headers and body,
    /// or (`response`) the response's. `Ok(true)` when the filter answered locally. On error
    /// the instance must be discarded.
    pub async fn run_phase(
        &mut self,
        ctx: &mut HookContext,
        clients: &Clients,
        response: bool,
    ) -> Result<bool, PluginError> {
        let hook = ctx.name.clone();
        let id = {
            let st = self.store.data_mut();
            st.last_error = None;
            let s = st.stream.as_mut().expect("context opened");
            std::mem::swap(&mut s.ctx, ctx);
            s.local_response = false;
            s.resumed = false;
            st.effective = s.id;
            s.id
        };
        self.store.set_epoch_deadline(self.ticks);
        let result = self.drive(id, clients, response).await;
        if let Some(s) = self.store.data_mut().stream.as_mut() {
            std::mem::swap(&mut s.ctx, ctx);
        }
        result.map_err(|e| match e {
            Fail::Wasm(e) => explain(&e, &self.store, self.deadline, &hook),
            Fail::Reply(reason) => PluginError::BadReply { hook, reason },
        })
    }

    /// Ends the open context: its calls are cancelled, then `proxy_on_done`, `proxy_on_log`
    /// and `proxy_on_delete` run once. `ctx` is what `proxy_on_log` reads (the request, and
    /// the response when there is one); without it the maps are empty.
    pub fn close(&mut self, mut ctx: Option<&mut HookContext>) -> Result<(), PluginError> {
        let name = self.store.data().root_name.clone();
        let st = self.store.data_mut();
        if let Some(mut c) = st.callouts.take() {
            c.abort_all();
        }
        self.events = None;
        let Some(s) = st.stream.as_mut() else {
            return Ok(());
        };
        let id = s.id;
        s.pending.clear();
        // The request's context is lent for the last callbacks, as for a phase: no copy.
        match ctx.as_deref_mut() {
            Some(ctx) => std::mem::swap(&mut s.ctx, ctx),
            None => s.ctx.name.clone_from(&st.root_name),
        }
        st.effective = id;
        self.store.set_epoch_deadline(self.ticks);
        let ended = self.end_context(id as i32);
        if let (Some(s), Some(ctx)) = (self.store.data_mut().stream.take(), ctx) {
            let mut s = s;
            std::mem::swap(&mut s.ctx, ctx);
        }
        ended.map_err(|e| explain(&e, &self.store, self.deadline, &name))
    }

    fn end_context(&mut self, id: i32) -> wasmtime::Result<()> {
        if let Some(f) = &self.ex.done {
            f.call(&mut self.store, id)?;
        }
        if let Some(f) = &self.ex.log {
            f.call(&mut self.store, id)?;
        }
        if let Some(f) = &self.ex.delete {
            f.call(&mut self.store, id)?;
        }
        Ok(())
    }

    /// Runs a stream hook on one gRPC message: a fresh HTTP context gets
    /// `proxy_on_grpc_message`, then `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`.
    /// Synchronous: a message hook cannot wait on HTTP calls. On error the instance must be
    /// discarded.
    pub fn run_message(&mut self, msg: &mut GrpcMessage) -> Result<MessageVerdict, PluginError> {
        let hook = msg.hook.clone();
        let bad = |reason: String| PluginError::BadReply {
            hook: hook.to_string(),
            reason,
        };
        let Some(on_message) = self.ex.grpc_message.clone() else {
            return Err(bad(format!(
                "the module does not export `{}`",
                grpc_ext::EXPORT
            )));
        };
        let size = i32::try_from(msg.payload.len())
            .map_err(|_| bad(format!("a {} byte message is too big", msg.payload.len())))?;
        let id = self.context_id();
        let st = self.store.data_mut();
        st.last_error = None;
        st.effective = id;
        st.stream = Some(grpc_ext::stream(id, msg));
        self.store.set_epoch_deadline(self.ticks);
        let direction = grpc_ext::direction_code(msg.direction);
        let result = self.drive_message(id as i32, on_message, direction, size);
        let call = self.store.data_mut().stream.take().and_then(|s| s.grpc);
        match (result, call) {
            (Ok(action), Some(call)) => grpc_ext::verdict(action, call, msg).map_err(bad),
            (Ok(_), None) => Err(bad("the message call lost its state".into())),
            (Err(e), _) => Err(explain(&e, &self.store, self.deadline, &hook)),
        }
    }

    fn drive_message(
        &mut self,
        id: i32,
        f: Cb3,
        direction: i32,
        size: i32,
    ) -> wasmtime::Result<i32> {
        if let Some(c) = &self.ex.context_create {
            c.call(&mut self.store, (id, ROOT as i32))?;
        }
        let action = f.call(&mut self.store, (id, direction, size))?;
        if let Some(f) = &self.ex.done {
            f.call(&mut self.store, id)?;
        }
        if let Some(f) = &self.ex.log {
            f.call(&mut self.store, id)?;
        }
        if let Some(f) = &self.ex.delete {
            f.call(&mut self.store, id)?;
        }
        Ok(action)
    }

    /// A new HTTP context id (ids wrap, skipping the root's).
    fn context_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(ROOT + 1);
        id
    }

    async fn drive(&mut self, id: u32, clients: &Clients, response: bool) -> Result<bool, Fail> {
        let id32 = id as i32;
        let (headers, body) = {
            let s = self.stream();
            match (response, &s.ctx.response) {
                (true, Some(r)) => (1 + r.headers.len(), r.body.len()),
                (true, None) => {
                    return Err(Fail::Reply(
                        "a response hook was called without a response".into(),
                    ));
                }
                (false, _) => {
                    let h = &s.ctx.request.headers;
                    (
                        4 + h.len() - usize::from(h.contains_key(http::header::HOST)),
                        s.ctx.request.body.len(),
                    )
                }
            }
        };
        let (on_headers, on_body) = if response {
            (
                self.ex.response_headers.clone(),
                self.ex.response_body.clone(),
            )
        } else {
            (
                self.ex.request_headers.clone(),
                self.ex.request_body.clone(),
            )
        };
        let eos = i32::from(body == 0);
        if self
            .phase(on_headers, (id32, headers as i32, eos), clients)
            .await?
            && body > 0
        {
            self.phase(on_body, (id32, body as i32, 1), clients).await?;
        }
        Ok(self.stream().local_response)
    }

    /// One callback, then the calls it made. Returns whether later callbacks of the phase
    /// should run (not after a local response).
    ///
    /// The host already holds the whole message, so a `PAUSE` with nothing outstanding is
    /// taken as "go on". One-shot calls (HTTP, unary gRPC) are always answered before the
    /// phase ends (each is bounded by its own timeout); open gRPC streams are waited on only
    /// while the filter stays paused. A `PAUSE` that waited must be ended by the filter with
    /// `proxy_continue_stream` or a local response.
    async fn phase(
        &mut self,
        f: Option<Cb3>,
        args: (i32, i32, i32),
        clients: &Clients,
    ) -> Result<bool, Fail> {
        let Some(f) = f else { return Ok(true) };
        let action = f.call(&mut self.store, args)?;
        if action != 0 && action != ACTION_PAUSE {
            return Err(Fail::Reply(format!(
                "callback returned unknown action {action}"
            )));
        }
        let mut waited = false;
        loop {
            self.start_pending(clients);
            let st = self.store.data();
            let s = st.stream.as_ref().expect("context opened");
            let Some(callouts) = st.callouts.as_ref() else {
                break;
            };
            let paused = action == ACTION_PAUSE && !s.resumed;
            if s.local_response || (callouts.calls() == 0 && !(paused && callouts.streams() > 0)) {
                break;
            }
            let Some(event) = (match self.events.as_mut() {
                Some(rx) => rx.recv().await,
                None => None,
            }) else {
                break;
            };
            waited = true;
            // The wait does not count against the filter's own deadline.
            self.store.set_epoch_deadline(self.ticks);
            self.deliver(event)?;
        }
        let s = self.stream();
        if s.local_response {
            return Ok(false);
        }
        if action == ACTION_PAUSE && waited && !s.resumed {
            return Err(Fail::Reply(
                "the filter paused for a call and neither resumed the stream nor answered".into(),
            ));
        }
        s.resumed = false;
        Ok(true)
    }

    pub(crate) fn stream(&mut self) -> &mut Stream {
        self.store
            .data_mut()
            .stream
            .as_mut()
            .expect("stream set by run")
    }
}

enum Fail {
    Wasm(wasmtime::Error),
    Reply(String),
}

impl From<wasmtime::Error> for Fail {
    fn from(e: wasmtime::Error) -> Self {
        Fail::Wasm(e)
    }
}

fn refused(what: &str, store: &Store<HostState>) -> String {
    match &store.data().last_error {
        Some(msg) => format!("{what} returned false: {msg}"),
        None => format!("{what} returned false"),
    }
}

/// Classifies a wasm failure: deadline → `Timeout`, everything else (trap, memory limit,
/// `proc_exit`) → `Crashed` with the most telling reason available.
fn explain(
    e: &wasmtime::Error,
    store: &Store<HostState>,
    limit: Duration,
    hook: &str,
) -> PluginError {
    let trap = e.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return PluginError::Timeout {
            hook: hook.to_owned(),
            limit,
        };
    }
    let st = store.data();
    let mut reason = if st.memory_exceeded {
        format!("memory limit of {} bytes exceeded", st.memory_limit)
    } else if let Some(code) = st.exit_code {
        format!("the module called proc_exit({code})")
    } else if let Some(t) = trap {
        format!("wasm trap: {t}")
    } else {
        e.to_string()
    };
    if let Some(msg) = &st.last_error {
        reason.push_str(" — ");
        reason.push_str(msg);
    }
    PluginError::Crashed {
        hook: hook.to_owned(),
        reason,
    }
}
