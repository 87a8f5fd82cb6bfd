//! Guest memory access for host functions. Out-of-range pointers give the ABI's
//! `INVALID_MEMORY_ACCESS` status (or WASI's `FAULT`), never a trap.

use wasmtime::{Caller, Memory};

use crate::abi::status;
use crate::state::HostState;

/// A host function's caller.
pub(crate) type Cx<'a> = Caller<'a, HostState>;

/// The instance's exported memory.
pub(crate) fn memory(c: &Cx<'_>) -> Result<Memory, i32> {
    c.data().memory.ok_or(status::INTERNAL_FAILURE)
}

/// `len` bytes at `ptr`, borrowed from guest memory.
pub(crate) fn slice(data: &[u8], ptr: i32, len: i32) -> Result<&[u8], i32> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    p.checked_add(l)
        .and_then(|end| data.get(p..end))
        .ok_or(status::INVALID_MEMORY_ACCESS)
}

/// A string argument (a key or name) read from guest memory; invalid UTF-8 is replaced.
pub(crate) fn guest_string(c: &Cx<'_>, ptr: i32, len: i32) -> Result<String, i32> {
    let m = memory(c)?;
    Ok(String::from_utf8_lossy(slice(m.data(c), ptr, len)?).into_owned())
}

/// Locks host-side shared state. A guest cannot poison it (host code does not panic while
/// holding it), so a poisoned lock's data is used as is.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes `bytes` at `ptr`.
pub(crate) fn put(data: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let p = ptr as u32 as usize;
    p.checked_add(bytes.len())
        .and_then(|end| data.get_mut(p..end))
        .map(|d| d.copy_from_slice(bytes))
        .ok_or(status::INVALID_MEMORY_ACCESS)
}

/// Writes a little-endian u32 at `ptr`.
pub(crate) fn put_u32(c: &mut Cx<'_>, ptr: i32, v: u32) -> Result<(), i32> {
    let m = memory(c)?;
    put(m.data_mut(c), ptr, &v.to_le_bytes())
}

/// Writes a little-endian u64 at `ptr`.
pub(crate) fn put_u64(c: &mut Cx<'_>, ptr: i32, v: u64) -> Result<(), i32> {
    let m = memory(c)?;
    put(m.data_mut(c), ptr, &v.to_le_bytes())
}

/// Hands `bytes` to the module: allocates with `proxy_on_memory_allocate` (or `malloc`),
/// copies, and writes the pointer and size to the out-pointers. Empty data is returned as a
/// null pointer without allocating. A trap inside the allocator propagates.
pub(crate) fn give(
    c: &mut Cx<'_>,
    bytes: &[u8],
    ptr_out: i32,
    size_out: i32,
) -> wasmtime::Result<i32> {
    if bytes.is_empty() {
        let r = put_u32(c, ptr_out, 0).and_then(|_| put_u32(c, size_out, 0));
        return Ok(r.err().unwrap_or(status::OK));
    }
    let Some(alloc) = c.data().alloc.clone() else {
        return Ok(status::INTERNAL_FAILURE);
    };
    let Ok(len) = i32::try_from(bytes.len()) else {
        return Ok(status::BAD_ARGUMENT);
    };
    let p = alloc.call(&mut *c, len)?;
    if p == 0 {
        return Ok(status::INTERNAL_FAILURE);
    }
    let r = memory(c)
        .and_then(|m| put(m.data_mut(&mut *c), p, bytes))
        .and_then(|_| put_u32(c, ptr_out, p as u32))
        .and_then(|_| put_u32(c, size_out, len as u32));
    Ok(r.err().unwrap_or(status::OK))
}

/// Turns `Result<i32 status, i32 status>` style early returns into a status.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(status) => return Ok(status),
        }
    };
}
pub(crate) use tri;
