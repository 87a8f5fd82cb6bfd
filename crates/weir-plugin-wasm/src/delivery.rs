//! Delivering what a context's calls report (HTTP answers, gRPC metadata, messages and
//! closes) to the filter, and starting the calls a callback made.

use crate::callout;
use crate::grpc_call;
use crate::instance::{Clients, ROOT, WasmInstance};
use crate::state::{CallKind, CallResponse, Event, Outbound};

impl WasmInstance {
    /// Starts the calls the last callback made.
    pub(crate) fn start_pending(&mut self, clients: &Clients) {
        let st = self.store.data_mut();
        let Some(s) = st.stream.as_mut() else { return };
        let pending = std::mem::take(&mut s.pending);
        let Some(callouts) = st.callouts.as_mut() else {
            return;
        };
        for call in pending {
            let (id, task) = match call {
                Outbound::Http(c) => (
                    c.id,
                    callout::start(&clients.http, c, callouts.events.clone()),
                ),
                Outbound::Grpc(r) => (
                    r.id,
                    grpc_call::start(&clients.grpc, r, callouts.events.clone()),
                ),
            };
            match callouts.running.get_mut(&id) {
                Some((_, slot)) => *slot = Some(task),
                // Cancelled in the same callback that made it.
                None => task.abort(),
            }
        }
    }

    /// Hands one call event to the filter.
    pub(crate) fn deliver(&mut self, event: Event) -> wasmtime::Result<()> {
        let root = ROOT as i32;
        let st = self.store.data_mut();
        let Some(callouts) = st.callouts.as_mut() else {
            return Ok(());
        };
        let id = event.id();
        let Some(&(kind, _)) = callouts.running.get(&id) else {
            // Cancelled: its late events are dropped.
            return Ok(());
        };
        let last = match &event {
            Event::Http { .. } | Event::GrpcClose { .. } => true,
            Event::GrpcMessage { .. } => kind == CallKind::Call,
            Event::GrpcHeaders { .. } | Event::GrpcTrailers { .. } => false,
        };
        if last {
            callouts.running.remove(&id);
            callouts.senders.remove(&id);
        }
        let id = id as i32;
        let (answer, cb, n) = match event {
            Event::Http { answer, .. } => {
                let (n, len) = answer
                    .as_ref()
                    .map_or((0, 0), |r| (r.headers.len(), r.body.len()));
                self.stream().call_response = answer;
                if let Some(cb) = self.ex.call_response.clone() {
                    cb.call(&mut self.store, (root, id, n as i32, len as i32, 0))?;
                }
                self.stream().call_response = None;
                return Ok(());
            }
            Event::GrpcHeaders { metadata, .. } => {
                let n = metadata.len();
                let answer = CallResponse {
                    headers: metadata,
                    ..CallResponse::default()
                };
                (answer, self.ex.grpc_metadata.clone(), n)
            }
            Event::GrpcMessage { message, .. } => {
                if last {
                    self.store.data_mut().grpc_status = (0, String::new());
                }
                let n = message.len();
                let answer = CallResponse {
                    body: message,
                    ..CallResponse::default()
                };
                (answer, self.ex.grpc_receive.clone(), n)
            }
            Event::GrpcTrailers { trailers, .. } => {
                let n = trailers.len();
                let answer = CallResponse {
                    trailers,
                    ..CallResponse::default()
                };
                (answer, self.ex.grpc_trailers.clone(), n)
            }
            Event::GrpcClose { code, message, .. } => {
                self.store.data_mut().grpc_status = (code, message);
                (
                    CallResponse::default(),
                    self.ex.grpc_close.clone(),
                    code as usize,
                )
            }
        };
        self.stream().call_response = Some(answer);
        if let Some(cb) = cb {
            cb.call(&mut self.store, (root, id, n as i32))?;
        }
        self.stream().call_response = None;
        Ok(())
    }
}
