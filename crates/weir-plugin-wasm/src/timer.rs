//! Root-context timers (`proxy_set_tick_period_milliseconds` and `proxy_on_tick`).
//!
//! Envoy ticks each filter's root context on its own; Weir runs one root per instance and a
//! pool of instances per module, so a module whose root asks for a timer (in
//! `proxy_on_vm_start` or `proxy_on_configure`) gets one instance set aside at load that only
//! ticks: `proxy_on_tick` runs on it every period, on the gateway's runtime, until the API is
//! reloaded or removed. The filter may change or stop (0) the period from `proxy_on_tick`.

use std::sync::{Arc, Weak};

use crate::instance::WasmInstance;
use crate::plugin::Pool;

/// A ticking root context; dropping it stops the timer.
pub(crate) struct Timer {
    task: tokio::task::AbortHandle,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Timer {
    /// Starts the module's timer when the root of the instance made at load asked for one
    /// (that instance becomes the ticking one; the pool makes more as requests need them).
    pub fn start(pool: &Arc<Pool>) -> Result<Option<Timer>, String> {
        let Some(inst) = pool.take_idle() else {
            return Ok(None);
        };
        if inst.tick_period().is_none() {
            pool.give_back(inst);
            return Ok(None);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            "the filter sets a tick period, and timers run on the gateway's runtime, which \
             is not running here"
                .to_string()
        })?;
        let task = runtime.spawn(tick(inst, Arc::downgrade(pool)));
        Ok(Some(Timer {
            task: task.abort_handle(),
        }))
    }
}

async fn tick(mut inst: WasmInstance, pool: Weak<Pool>) {
    while let Some(period) = inst.tick_period() {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else { return };
        if let Err(e) = inst.tick() {
            tracing::warn!(target: "weir::wasm", hook = %pool.cfg.root_name, error = %e, "proxy_on_tick failed; the timer goes on in a fresh instance");
            match WasmInstance::new(&pool.pre, &pool.cfg) {
                Ok(fresh) => inst = fresh,
                Err(e) => {
                    tracing::error!(target: "weir::wasm", hook = %pool.cfg.root_name, error = %e, "the timer stops: no fresh instance");
                    return;
                }
            }
        }
    }
}
