//! Host-wide state functions of the ABI: the shared key-value store (with CAS), shared
//! queues, and metrics. All live in the driver's [`Shared`](crate::state::Shared), so every
//! instance of every API loaded by one driver sees the same values.

use wasmtime::Linker;

use crate::abi::status;
use crate::mem::{Cx, give, guest_string, lock, memory, put_u32, put_u64, slice, tri};
use crate::state::{HostState, Metric};

type R = wasmtime::Result<i32>;

/// Links shared data, queue and metric functions.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    shared_data(linker)?;
    queues(linker)?;
    metrics(linker)
}

fn shared_data(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Cx<'_>, kp: i32, kl: i32, ptr_out: i32, size_out: i32, cas_out: i32| -> R {
            let key = tri!(guest_string(&c, kp, kl));
            let found = lock(&c.data().shared.data).get(&key).cloned();
            let Some((value, cas)) = found else {
                return Ok(status::NOT_FOUND);
            };
            tri!(put_u32(&mut c, cas_out, cas));
            give(&mut c, &value, ptr_out, size_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |c: Cx<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> R {
            let m = tri!(memory(&c));
            let data = m.data(&c);
            let key = String::from_utf8_lossy(tri!(slice(data, kp, kl))).into_owned();
            let value = tri!(slice(data, vp, vl)).to_vec();
            let mut map = lock(&c.data().shared.data);
            let cas = cas as u32;
            match map.get_mut(&key) {
                Some((_, current)) if cas != 0 && cas != *current => Ok(status::CAS_MISMATCH),
                Some((v, current)) => {
                    *v = value;
                    *current = current.wrapping_add(1).max(1);
                    Ok(status::OK)
                }
                None if cas != 0 => Ok(status::CAS_MISMATCH),
                None => {
                    map.insert(key, (value, 1));
                    Ok(status::OK)
                }
            }
        },
    )?;
    Ok(())
}

fn queues(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Cx<'_>, np: i32, nl: i32, ret: i32| -> R {
            let name = tri!(guest_string(&c, np, nl));
            let id = {
                let mut q = lock(&c.data().shared.queues);
                let next = q.by_name.len() as u32 + 1;
                let id = *q.by_name.entry(name).or_insert(next);
                q.items.entry(id).or_default();
                id
            };
            Ok(put_u32(&mut c, ret, id).err().unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Cx<'_>, _vp: i32, _vl: i32, np: i32, nl: i32, ret: i32| -> R {
            let name = tri!(guest_string(&c, np, nl));
            let id = lock(&c.data().shared.queues).by_name.get(&name).copied();
            match id {
                Some(id) => Ok(put_u32(&mut c, ret, id).err().unwrap_or(status::OK)),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |c: Cx<'_>, id: i32, vp: i32, vl: i32| -> R {
            let m = tri!(memory(&c));
            let value = tri!(slice(m.data(&c), vp, vl)).to_vec();
            let mut q = lock(&c.data().shared.queues);
            match q.items.get_mut(&(id as u32)) {
                Some(items) => {
                    items.push_back(value);
                    Ok(status::OK)
                }
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Cx<'_>, id: i32, ptr_out: i32, size_out: i32| -> R {
            let item = {
                let mut q = lock(&c.data().shared.queues);
                match q.items.get_mut(&(id as u32)) {
                    Some(items) => items.pop_front(),
                    None => return Ok(status::NOT_FOUND),
                }
            };
            match item {
                Some(v) => give(&mut c, &v, ptr_out, size_out),
                None => Ok(status::EMPTY),
            }
        },
    )?;
    Ok(())
}

fn metrics(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Cx<'_>, kind: i32, np: i32, nl: i32, ret: i32| -> R {
            if !(0..=2).contains(&kind) {
                return Ok(status::BAD_ARGUMENT);
            }
            let name = tri!(guest_string(&c, np, nl));
            let id = {
                let mut list = lock(&c.data().shared.metrics);
                match list.iter().position(|x| x.name == name && x.kind == kind) {
                    Some(i) => i,
                    None => {
                        list.push(Metric {
                            kind,
                            name,
                            value: 0,
                        });
                        list.len() - 1
                    }
                }
            };
            Ok(put_u32(&mut c, ret, id as u32).err().unwrap_or(status::OK))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |c: Cx<'_>, id: i32, value: i64| {
            let mut list = lock(&c.data().shared.metrics);
            match list.get_mut(id as u32 as usize) {
                Some(m) => {
                    m.value = value;
                    status::OK
                }
                None => status::NOT_FOUND,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |c: Cx<'_>, id: i32, delta: i64| {
            let mut list = lock(&c.data().shared.metrics);
            match list.get_mut(id as u32 as usize) {
                Some(m) if m.kind == 2 => status::BAD_ARGUMENT,
                Some(m) => {
                    m.value = m.value.wrapping_add(delta);
                    status::OK
                }
                None => status::NOT_FOUND,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Cx<'_>, id: i32, ret: i32| -> R {
            let value = lock(&c.data().shared.metrics)
                .get(id as u32 as usize)
                .map(|m| m.value);
            match value {
                Some(v) => Ok(put_u64(&mut c, ret, v as u64).err().unwrap_or(status::OK)),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    Ok(())
}
