//! The few `wasi_snapshot_preview1` functions the ABI names (what Rust's std on
//! `wasm32-wasip1` imports): stdout/stderr go to tracing, clocks and randomness are real, the
//! environment and arguments are empty, `proc_exit` ends the call as a crash.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::sync::OnceLock;

use wasmtime::Linker;

use crate::abi::errno;
use crate::host::log_line;
use crate::mem::{Cx, memory, put_u32, put_u64, slice};
use crate::state::HostState;

const WASI: &str = "wasi_snapshot_preview1";

fn e(status: i32) -> i32 {
    // Host statuses from the memory helpers only mean "bad pointer" here.
    if status == 0 {
        errno::SUCCESS
    } else {
        errno::FAULT
    }
}

fn zero_pair(mut c: Cx<'_>, a: i32, b: i32) -> i32 {
    match put_u32(&mut c, a, 0).and_then(|_| put_u32(&mut c, b, 0)) {
        Ok(()) => errno::SUCCESS,
        Err(s) => e(s),
    }
}

/// Links the WASI functions.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Cx<'_>, fd: i32, iovs: i32, n: i32, written: i32| {
            if fd != 1 && fd != 2 {
                return errno::BADF;
            }
            let Ok(m) = memory(&c) else {
                return errno::FAULT;
            };
            let (data, st) = m.data_and_store_mut(&mut c);
            let mut text = Vec::new();
            for i in 0..n.max(0) {
                let Ok(iov) = slice(data, iovs.wrapping_add(i * 8), 8) else {
                    return errno::FAULT;
                };
                let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                let Ok(bytes) = slice(data, ptr, len) else {
                    return errno::FAULT;
                };
                text.extend_from_slice(bytes);
            }
            let msg = String::from_utf8_lossy(&text);
            if !msg.trim().is_empty() {
                log_line(st, if fd == 1 { 2 } else { 4 }, &msg);
            }
            match put_u32(&mut c, written, text.len() as u32) {
                Ok(()) => errno::SUCCESS,
                Err(s) => e(s),
            }
        },
    )?;
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Cx<'_>, id: i32, _precision: i64, ret: i32| {
            static START: OnceLock<Instant> = OnceLock::new();
            let nanos = match id {
                0 => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
                1 => START.get_or_init(Instant::now).elapsed().as_nanos(),
                _ => return errno::INVAL,
            };
            match put_u64(&mut c, ret, nanos as u64) {
                Ok(()) => errno::SUCCESS,
                Err(s) => e(s),
            }
        },
    )?;
    linker.func_wrap(WASI, "random_get", |mut c: Cx<'_>, ptr: i32, len: i32| {
        let Ok(m) = memory(&c) else {
            return errno::FAULT;
        };
        let data = m.data_mut(&mut c);
        let (p, l) = (ptr as u32 as usize, len as u32 as usize);
        let Some(buf) = p.checked_add(l).and_then(|end| data.get_mut(p..end)) else {
            return errno::FAULT;
        };
        match getrandom::fill(buf) {
            Ok(()) => errno::SUCCESS,
            Err(_) => errno::INVAL,
        }
    })?;
    linker.func_wrap(WASI, "environ_sizes_get", |c: Cx<'_>, a: i32, b: i32| {
        zero_pair(c, a, b)
    })?;
    linker.func_wrap(WASI, "environ_get", |_: Cx<'_>, _: i32, _: i32| {
        errno::SUCCESS
    })?;
    linker.func_wrap(WASI, "args_sizes_get", |c: Cx<'_>, a: i32, b: i32| {
        zero_pair(c, a, b)
    })?;
    linker.func_wrap(WASI, "args_get", |_: Cx<'_>, _: i32, _: i32| errno::SUCCESS)?;
    linker.func_wrap(
        WASI,
        "proc_exit",
        |mut c: Cx<'_>, code: i32| -> wasmtime::Result<()> {
            c.data_mut().exit_code = Some(code);
            Err(wasmtime::Error::msg(format!(
                "the module called proc_exit({code})"
            )))
        },
    )?;
    Ok(())
}
