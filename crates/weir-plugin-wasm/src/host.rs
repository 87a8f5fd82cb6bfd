//! The `env` host functions of proxy-wasm ABI v0.2.1. Every function of the ABI is linked; the
//! ones Weir does not support return `UNIMPLEMENTED` (see the crate README for coverage).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::Linker;

use crate::abi::{deserialize_map, split_path, status, stream};
use crate::fields::{self, Write};
use crate::mem::{Cx, give, memory, put_u32, put_u64, slice, tri};
use crate::props;
use crate::state::{CallKind, HostState, Outbound, PendingCall};

type R = wasmtime::Result<i32>;

/// The hook name for log lines: the stream's, or the module's first hook outside a stream.
pub(crate) fn hook_name(s: &HostState) -> &str {
    s.stream
        .as_ref()
        .map_or(s.root_name.as_str(), |s| s.ctx.name.as_str())
}

/// Emits a guest log line through tracing; error-level lines are kept to explain a crash.
pub(crate) fn log_line(s: &mut HostState, level: i32, msg: &str) {
    let hook = hook_name(s);
    match level {
        0 => tracing::trace!(target: "weir::wasm", hook, "{msg}"),
        1 => tracing::debug!(target: "weir::wasm", hook, "{msg}"),
        2 => tracing::info!(target: "weir::wasm", hook, "{msg}"),
        3 => tracing::warn!(target: "weir::wasm", hook, "{msg}"),
        _ => tracing::error!(target: "weir::wasm", hook, "{msg}"),
    }
    if level >= 4 {
        s.last_error = Some(msg.trim_end().to_owned());
    }
}

fn unimplemented(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // Closing a stream has no equivalent in a hook call.
    linker.func_wrap("env", "proxy_close_stream", |_: Cx<'_>, _: i32| {
        status::UNIMPLEMENTED
    })?;
    // No foreign functions are registered, so every name is unknown.
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |_: Cx<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| status::NOT_FOUND,
    )?;
    Ok(())
}

fn timers(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // The root context's timer: the plugin keeps one instance aside to tick it
    // (`crate::timer`); 0 stops it.
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Cx<'_>, period: i32| {
            let s = c.data_mut();
            if s.effective != s.root_id {
                return status::BAD_ARGUMENT;
            }
            s.tick_period = (period != 0).then(|| Duration::from_millis(u64::from(period as u32)));
            status::OK
        },
    )?;
    Ok(())
}

fn lifecycle(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // The host never waits on proxy_on_done's answer (the hook call ends anyway), so a later
    // proxy_done has nothing left to release.
    linker.func_wrap("env", "proxy_done", |_: Cx<'_>| status::OK)?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: Cx<'_>, id: i32| {
            let s = c.data_mut();
            let id = id as u32;
            if id == s.root_id || s.stream.as_ref().is_some_and(|st| st.id == id) {
                s.effective = id;
                status::OK
            } else {
                status::BAD_ARGUMENT
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Cx<'_>, level: i32, ptr: i32, len: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let msg = String::from_utf8_lossy(tri!(slice(data, ptr, len))).into_owned();
            log_line(st, level, &msg);
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut c: Cx<'_>, ret: i32| -> R {
            use tracing::level_filters::LevelFilter;
            let level = match LevelFilter::current() {
                LevelFilter::TRACE => 0,
                LevelFilter::DEBUG => 1,
                LevelFilter::INFO => 2,
                LevelFilter::WARN => 3,
                LevelFilter::ERROR => 4,
                _ => 5,
            };
            Ok(put_u32(&mut c, ret, level).err().unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Cx<'_>, ret: i32| -> R {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Ok(put_u64(&mut c, ret, now.as_nanos() as u64)
                .err()
                .unwrap_or(status::OK))
        },
    )?;
    Ok(())
}

fn buffers(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Cx<'_>, id: i32, start: i32, max: i32, ptr_out: i32, size_out: i32| -> R {
            let buf = tri!(fields::buffer(c.data(), id));
            let start = (start as u32 as usize).min(buf.len());
            let end = start.saturating_add(max as u32 as usize).min(buf.len());
            give(&mut c, &buf[start..end], ptr_out, size_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Cx<'_>, id: i32, start: i32, size: i32, ptr: i32, len: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let value = tri!(slice(data, ptr, len));
            Ok(fields::set_buffer(
                st,
                id,
                start as u32 as usize,
                size as u32 as usize,
                value,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_status",
        |mut c: Cx<'_>, id: i32, size_out: i32, flags_out: i32| -> R {
            let len = tri!(fields::buffer(c.data(), id)).len();
            tri!(put_u32(&mut c, size_out, len as u32));
            Ok(put_u32(&mut c, flags_out, 0).err().unwrap_or(status::OK))
        },
    )?;
    Ok(())
}

fn header_maps(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut c: Cx<'_>, map_id: i32, ret: i32| -> R {
            let (bytes, _) = tri!(fields::serialized(c.data(), map_id));
            Ok(put_u32(&mut c, ret, bytes.len() as u32)
                .err()
                .unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Cx<'_>, map_id: i32, ptr_out: i32, size_out: i32| -> R {
            let (bytes, _) = tri!(fields::serialized(c.data(), map_id));
            give(&mut c, &bytes, ptr_out, size_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Cx<'_>, map_id: i32, ptr: i32, len: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let Some(pairs) = deserialize_map(tri!(slice(data, ptr, len))) else {
                return Ok(status::BAD_ARGUMENT);
            };
            Ok(fields::replace_all(st, map_id, &pairs))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Cx<'_>, map_id: i32, kp: i32, kl: i32, ptr_out: i32, size_out: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let key = tri!(slice(data, kp, kl));
            match tri!(fields::value(st, map_id, key)) {
                Some(v) => give(&mut c, &v, ptr_out, size_out),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    for (name, how) in [
        ("proxy_add_header_map_value", Write::Add),
        ("proxy_replace_header_map_value", Write::Replace),
    ] {
        linker.func_wrap(
            "env",
            name,
            move |mut c: Cx<'_>, map_id: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> R {
                let m = tri!(memory(&c));
                let (data, st) = m.data_and_store_mut(&mut c);
                let key = tri!(slice(data, kp, kl));
                let value = tri!(slice(data, vp, vl));
                Ok(fields::write(st, map_id, key, value, how))
            },
        )?;
    }
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Cx<'_>, map_id: i32, kp: i32, kl: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let key = tri!(slice(data, kp, kl));
            Ok(fields::remove(st, map_id, key))
        },
    )?;
    Ok(())
}

fn streams(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut c: Cx<'_>, kind: i32| match (c.data_mut().stream.as_mut(), kind) {
            (Some(s), stream::HTTP_REQUEST | stream::HTTP_RESPONSE) => {
                s.resumed = true;
                status::OK
            }
            (Some(_), _) => status::BAD_ARGUMENT,
            (None, _) => status::NOT_FOUND,
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Cx<'_>,
         code: i32,
         _dp: i32,
         _dl: i32,
         bp: i32,
         bl: i32,
         hp: i32,
         hl: i32,
         grpc: i32|
         -> R {
            let Ok(code) = u16::try_from(code) else {
                return Ok(status::BAD_ARGUMENT);
            };
            if !(100..=999).contains(&code) {
                return Ok(status::BAD_ARGUMENT);
            }
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let body = tri!(slice(data, bp, bl));
            let Some(headers) = deserialize_map(tri!(slice(data, hp, hl))) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let Some(s) = st.stream.as_mut() else {
                return Ok(status::NOT_FOUND);
            };
            if s.grpc.is_some() {
                // A message hook ends its call with weir_end_grpc_stream instead.
                return Ok(status::BAD_ARGUMENT);
            }
            Ok(fields::local_response(s, code, body, &headers, grpc))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Cx<'_>, up: i32, ul: i32, hp: i32, hl: i32, bp: i32, bl: i32, _tp: i32, _tl: i32, timeout: i32, ret: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let name = String::from_utf8_lossy(tri!(slice(data, up, ul))).into_owned();
            let Some(pairs) = deserialize_map(tri!(slice(data, hp, hl))) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let body = tri!(slice(data, bp, bl)).to_vec();
            let pseudo = |k: &[u8]| {
                pairs.iter().find(|(n, _)| *n == k).and_then(|(_, v)| std::str::from_utf8(v).ok()).map(str::to_owned)
            };
            let (Some(method), Some(path), Some(authority)) =
                (pseudo(b":method"), pseudo(b":path"), pseudo(b":authority"))
            else {
                return Ok(status::BAD_ARGUMENT);
            };
            let Some(upstream) = st.upstreams.get(&name).cloned() else {
                tracing::warn!(target: "weir::wasm", hook = hook_name(st), "http_call to unknown upstream `{name}`");
                return Ok(status::BAD_ARGUMENT);
            };
            let headers = pairs
                .iter()
                .filter(|(k, _)| !k.starts_with(b":"))
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
                .collect();
            if st.callouts.is_none() || st.stream.as_ref().is_none_or(|s| s.grpc.is_some()) {
                // The root context (a timer) has no HTTP context to wait in; a message hook
                // cannot wait (its action has no PAUSE).
                return Ok(status::UNIMPLEMENTED);
            }
            st.next_call_id = st.next_call_id.wrapping_add(1).max(1);
            let id = st.next_call_id;
            if let Some(c) = st.callouts.as_mut() {
                c.running.insert(id, (CallKind::Call, None));
            }
            let Some(s) = st.stream.as_mut() else {
                return Ok(status::NOT_FOUND);
            };
            s.pending.push(Outbound::Http(PendingCall {
                id,
                upstream,
                method,
                path,
                authority,
                headers,
                body,
                timeout: Duration::from_millis(u64::from(timeout as u32).max(1)),
            }));
            Ok(put_u32(&mut c, ret, id).err().unwrap_or(status::OK))
        },
    )?;
    Ok(())
}

fn properties(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Cx<'_>, pp: i32, pl: i32, ptr_out: i32, size_out: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let raw = tri!(slice(data, pp, pl));
            let value = tri!(props::get(st, raw, &split_path(raw)));
            give(&mut c, &value, ptr_out, size_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Cx<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> R {
            let m = tri!(memory(&c));
            let (data, st) = m.data_and_store_mut(&mut c);
            let raw = tri!(slice(data, pp, pl));
            let value = tri!(slice(data, vp, vl));
            Ok(props::set(st, raw, &split_path(raw), value))
        },
    )?;
    Ok(())
}

/// Links every `env` host function of the ABI.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    lifecycle(linker)?;
    buffers(linker)?;
    header_maps(linker)?;
    streams(linker)?;
    crate::host_shared::link(linker)?;
    properties(linker)?;
    timers(linker)?;
    crate::grpc_call::link(linker)?;
    unimplemented(linker)?;
    Ok(())
}
