//! One module instance: its store, its root context (started and configured once), and the
//! callback sequence of one hook call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Instance, InstancePre, Store, Trap, TypedFunc};
use weir_core::plugin::{
    ApiSpecInfo, GrpcMessage, HookContext, HookKind, MessageVerdict, PluginError,
};

use crate::abi::ACTION_PAUSE;
use crate::callout::{self, Client};
use crate::grpc_ext;
use crate::state::{HostState, Shared, Stream, Upstream};

/// The root context id (Weir runs one plugin context per instance).
const ROOT: u32 = 1;

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
struct Exports {
    context_create: Option<TypedFunc<(i32, i32), ()>>,
    request_headers: Option<Cb3>,
    request_body: Option<Cb3>,
    response_headers: Option<Cb3>,
    response_body: Option<Cb3>,
    done: Option<TypedFunc<i32, i32>>,
    log: Option<TypedFunc<i32, ()>>,
    delete: Option<TypedFunc<i32, ()>>,
    call_response: Option<Cb5>,
    grpc_message: Option<Cb3>,
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
    store: Store<HostState>,
    ex: Exports,
    next_id: u32,
    deadline: Duration,
    ticks: u64,
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
        })
    }

    /// Runs one hook call on the context. On error the instance must be discarded.
    pub async fn run(&mut self, ctx: &mut HookContext, client: &Client) -> Result<(), PluginError> {
        let hook = ctx.name.clone();
        let id = self.context_id();
        let st = self.store.data_mut();
        st.last_error = None;
        st.effective = id;
        st.stream = Some(Stream {
            id,
            ctx: ctx.take(),
            local_response: false,
            resumed: false,
            scratch: HashMap::new(),
            pending: Vec::new(),
            call_response: None,
            grpc: None,
        });
        self.store.set_epoch_deadline(self.ticks);
        let result = self.drive(id, client).await;
        if let Some(s) = self.store.data_mut().stream.take() {
            *ctx = s.ctx;
        }
        result.map_err(|e| match e {
            Fail::Wasm(e) => explain(&e, &self.store, self.deadline, &hook),
            Fail::Reply(reason) => PluginError::BadReply { hook, reason },
        })
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

    async fn drive(&mut self, id: u32, client: &Client) -> Result<(), Fail> {
        let id32 = id as i32;
        if let Some(f) = &self.ex.context_create {
            f.call(&mut self.store, (id32, ROOT as i32))?;
        }
        let (kind, headers, body) = {
            let s = self
                .store
                .data()
                .stream
                .as_ref()
                .expect("stream set by run");
            match (&s.ctx.kind, &s.ctx.response) {
                (HookKind::Response, Some(r)) => (true, 1 + r.headers.len(), r.body.len()),
                (HookKind::Response, None) => {
                    return Err(Fail::Reply(
                        "a response hook was called without a response".into(),
                    ));
                }
                (_, _) => {
                    let h = &s.ctx.request.headers;
                    (
                        false,
                        4 + h.len() - usize::from(h.contains_key(http::header::HOST)),
                        s.ctx.request.body.len(),
                    )
                }
            }
        };
        let (on_headers, on_body) = if kind {
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
            .phase(on_headers, (id32, headers as i32, eos), client)
            .await?
            && body > 0
        {
            self.phase(on_body, (id32, body as i32, 1), client).await?;
        }
        if let Some(f) = &self.ex.done {
            f.call(&mut self.store, id32)?;
        }
        if let Some(f) = &self.ex.log {
            f.call(&mut self.store, id32)?;
        }
        if let Some(f) = &self.ex.delete {
            f.call(&mut self.store, id32)?;
        }
        Ok(())
    }

    /// One callback, then the HTTP calls it made. Returns whether later phases should run
    /// (not after a local response).
    ///
    /// The host already holds the whole message, so a `PAUSE` with nothing outstanding is
    /// taken as "go on"; a `PAUSE` that waited for calls must be ended by the filter with
    /// `proxy_continue_stream` or a local response.
    async fn phase(
        &mut self,
        f: Option<Cb3>,
        args: (i32, i32, i32),
        client: &Client,
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
            let pending = std::mem::take(&mut self.stream().pending);
            if pending.is_empty() {
                break;
            }
            for call in pending {
                waited = true;
                let call_id = call.id as i32;
                let answer = callout::perform(client, call).await;
                let (n, len) = answer
                    .as_ref()
                    .map_or((0, 0), |r| (r.headers.len(), r.body.len()));
                self.stream().call_response = answer;
                // The wait does not count against the filter's own deadline.
                self.store.set_epoch_deadline(self.ticks);
                if let Some(cb) = &self.ex.call_response {
                    cb.call(
                        &mut self.store,
                        (ROOT as i32, call_id, n as i32, len as i32, 0),
                    )?;
                }
                self.stream().call_response = None;
            }
        }
        let s = self.stream();
        if s.local_response {
            return Ok(false);
        }
        if action == ACTION_PAUSE && waited && !s.resumed {
            return Err(Fail::Reply(
                "the filter paused for an HTTP call and neither resumed the stream nor answered"
                    .into(),
            ));
        }
        s.resumed = false;
        Ok(true)
    }

    fn stream(&mut self) -> &mut Stream {
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
