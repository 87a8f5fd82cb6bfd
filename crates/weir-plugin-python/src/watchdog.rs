//! The deadline: one watchdog thread for the process raises `HookTimeout` in a thread whose
//! hook ran past its deadline (`PyThreadState_SetAsyncExc`), again every few milliseconds
//! until the call ends, so a hook that catches it once still stops. Python checks for it
//! between bytecodes: `while True: pass` stops; a blocking C call (`time.sleep(60)`) stops
//! only when it returns, and the caller's own timeout answers the request meanwhile.
//!
//! Locking rule: [`arm`] and [`disarm`] are called only while the thread is detached from
//! Python, so the watchdog may hold the table's lock while it waits for the GIL.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyType;

/// How often a hook past its deadline is interrupted again.
const REPEAT: Duration = Duration::from_millis(10);

struct Entry {
    /// Python's id of the thread running the call.
    ident: std::ffi::c_ulong,
    /// When to interrupt it next.
    due: Instant,
    /// Whether it was interrupted at least once.
    fired: bool,
}

#[derive(Default)]
struct Table {
    next: u64,
    calls: BTreeMap<u64, Entry>,
}

struct Watchdog {
    table: Mutex<Table>,
    wake: Condvar,
    exception: Py<PyType>,
}

static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();

/// Starts the watchdog (once) with the exception it raises.
pub(crate) fn start(exception: &Py<PyType>) -> Result<(), String> {
    let mut started = Ok(());
    WATCHDOG.get_or_init(|| {
        let exception = Python::attach(|py| exception.clone_ref(py));
        if let Err(e) = std::thread::Builder::new()
            .name("weir-python-watchdog".into())
            .spawn(run)
        {
            started = Err(format!("cannot start the python watchdog thread: {e}"));
        }
        Watchdog {
            table: Mutex::new(Table::default()),
            wake: Condvar::new(),
            exception,
        }
    });
    started
}

/// A call being watched.
pub(crate) struct Armed(u64);

/// Watches the calling thread until [`disarm`]: past `deadline` its Python code is
/// interrupted. Call it detached from Python.
pub(crate) fn arm(deadline: Duration) -> Option<Armed> {
    let dog = WATCHDOG.get()?;
    // SAFETY: reads the calling thread's id; no Python state is touched.
    let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    let mut table = dog.table.lock().unwrap_or_else(PoisonError::into_inner);
    table.next += 1;
    let id = table.next;
    table.calls.insert(
        id,
        Entry {
            ident,
            due: Instant::now() + deadline,
            fired: false,
        },
    );
    drop(table);
    dog.wake.notify_one();
    Some(Armed(id))
}

/// Stops watching; returns whether the call was interrupted. Call it detached from Python.
pub(crate) fn disarm(armed: Option<Armed>) -> bool {
    let (Some(dog), Some(Armed(id))) = (WATCHDOG.get(), armed) else {
        return false;
    };
    let mut table = dog.table.lock().unwrap_or_else(PoisonError::into_inner);
    table.calls.remove(&id).is_some_and(|e| e.fired)
}

/// Drops an interrupt that was raised too late to land in the call it was meant for. Called
/// with the GIL held, before a thread runs Python for a new call.
pub(crate) fn clear_pending(_py: Python<'_>) {
    // SAFETY: the GIL is held; a null exception clears the thread's pending one.
    unsafe {
        let ident = pyo3::ffi::PyThread_get_thread_ident();
        pyo3::ffi::PyThreadState_SetAsyncExc(ident as _, std::ptr::null_mut());
    }
}

fn run() {
    let Some(dog) = wait_for_watchdog() else {
        return;
    };
    let mut table = dog.table.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        let next = table.calls.values().map(|e| e.due).min();
        match next {
            None => {
                table = dog.wake.wait(table).unwrap_or_else(PoisonError::into_inner);
            }
            Some(due) if due > now => {
                table = dog
                    .wake
                    .wait_timeout(table, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            Some(_) => {
                // Workers take the lock only while detached, so holding it while waiting for
                // the GIL cannot deadlock; an entry still here is still running.
                Python::attach(|py| {
                    for entry in table.calls.values_mut().filter(|e| e.due <= now) {
                        // SAFETY: GIL held; the exception type is a live class object.
                        unsafe {
                            pyo3::ffi::PyThreadState_SetAsyncExc(
                                entry.ident as _,
                                dog.exception.as_ptr(),
                            );
                        }
                        entry.fired = true;
                        entry.due = now + REPEAT;
                    }
                    let _ = py;
                });
            }
        }
    }
}

/// The watchdog is stored just after its thread is spawned; wait for it.
fn wait_for_watchdog() -> Option<&'static Watchdog> {
    for _ in 0..1000 {
        if let Some(dog) = WATCHDOG.get() {
            return Some(dog);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}
