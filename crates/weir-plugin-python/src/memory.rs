//! The memory limit: a counting wrapper around CPython's raw allocator and its arena
//! allocator (pymalloc takes small objects from 256 KiB arenas and sends larger ones to the raw
//! allocator, so the two see nearly every byte Python allocates). Each thread counts the net
//! bytes allocated since its hook call began; past the call's limit an allocation fails, which
//! Python raises as `MemoryError` in the hook. Outside a call nothing is counted.
//!
//! Sizes come from `malloc_usable_size`, so blocks allocated before the wrapper was installed
//! free correctly. That needs the raw allocator to be libc's: with `PYTHONMALLOC` or
//! `PYTHONDEVMODE` set (debug hooks move pointers) the wrapper is not installed and the limit
//! is off.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::OnceLock;

use pyo3::ffi;

thread_local! {
    /// Net bytes allocated by this thread in the current call.
    static USED: Cell<isize> = const { Cell::new(0) };
    /// This thread's limit for the current call; 0 when no call is running.
    static LIMIT: Cell<isize> = const { Cell::new(0) };
    /// Whether an allocation was refused in the current call.
    static HIT: Cell<bool> = const { Cell::new(false) };
}

/// The allocators we wrap.
struct Previous {
    raw: ffi::PyMemAllocatorEx,
    arena: ffi::PyObjectArenaAllocator,
}

// SAFETY: the context pointers belong to CPython's allocators, which are thread-safe (the raw
// allocator is called without the GIL by design); we only pass them back.
unsafe impl Send for Previous {}
// SAFETY: as above; the struct is never mutated after it is stored.
unsafe impl Sync for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Installs the counting allocators. Called once, with the GIL held, before any plugin
/// thread starts. Returns whether the limit can be enforced.
pub(crate) fn install() -> bool {
    if std::env::var_os("PYTHONMALLOC").is_some() || std::env::var_os("PYTHONDEVMODE").is_some() {
        tracing::warn!(
            "PYTHONMALLOC or PYTHONDEVMODE is set: the python plugin memory limit is off"
        );
        return false;
    }
    let mut raw = ffi::PyMemAllocatorEx {
        ctx: std::ptr::null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    };
    let mut arena = ffi::PyObjectArenaAllocator {
        ctx: std::ptr::null_mut(),
        alloc: None,
        free: None,
    };
    // SAFETY: reading the current allocators into valid structs.
    unsafe {
        ffi::PyMem_GetAllocator(ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut raw);
        ffi::PyObject_GetArenaAllocator(&mut arena);
    }
    if PREVIOUS.set(Previous { raw, arena }).is_err() {
        return true;
    }
    let mut ours = ffi::PyMemAllocatorEx {
        ctx: std::ptr::null_mut(),
        malloc: Some(raw_malloc),
        calloc: Some(raw_calloc),
        realloc: Some(raw_realloc),
        free: Some(raw_free),
    };
    let mut ours_arena = ffi::PyObjectArenaAllocator {
        ctx: std::ptr::null_mut(),
        alloc: Some(arena_alloc),
        free: Some(arena_free),
    };
    // SAFETY: our functions wrap the previous allocators (documented as allowed after
    // initialization); CPython copies the structs.
    unsafe {
        ffi::PyMem_SetAllocator(ffi::PyMemAllocatorDomain::PYMEM_DOMAIN_RAW, &mut ours);
        ffi::PyObject_SetArenaAllocator(&mut ours_arena);
    }
    true
}

/// Starts counting this thread's allocations against `limit` bytes (0: no limit).
pub(crate) fn begin(limit: usize) {
    USED.set(0);
    HIT.set(false);
    LIMIT.set(isize::try_from(limit).unwrap_or(isize::MAX));
}

/// Stops counting; returns whether an allocation was refused since [`begin`].
pub(crate) fn end() -> bool {
    LIMIT.set(0);
    HIT.replace(false)
}

/// The wrapped allocators; always set, since ours are installed only after it.
fn prev() -> Option<&'static Previous> {
    PREVIOUS.get()
}

fn usable(p: *mut c_void) -> isize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: p was returned by libc's malloc family (see the module docs).
    isize::try_from(unsafe { libc::malloc_usable_size(p) }).unwrap_or(isize::MAX)
}

/// Whether `grow` more bytes fit in this thread's budget; marks the refusal when not.
fn admit(grow: isize) -> bool {
    let limit = LIMIT.get();
    if limit == 0 || grow <= 0 || USED.get().saturating_add(grow) <= limit {
        return true;
    }
    HIT.set(true);
    false
}

fn counting() -> bool {
    LIMIT.get() != 0
}

fn add(n: isize) {
    USED.set(USED.get().saturating_add(n));
}

extern "C" fn raw_malloc(_ctx: *mut c_void, size: libc::size_t) -> *mut c_void {
    let Some(p) = prev() else {
        return std::ptr::null_mut();
    };
    if !admit(isize::try_from(size).unwrap_or(isize::MAX)) {
        return std::ptr::null_mut();
    }
    let out = p
        .raw
        .malloc
        .map_or(std::ptr::null_mut(), |f| f(p.raw.ctx, size));
    if counting() {
        add(usable(out));
    }
    out
}

extern "C" fn raw_calloc(_ctx: *mut c_void, n: libc::size_t, size: libc::size_t) -> *mut c_void {
    let Some(p) = prev() else {
        return std::ptr::null_mut();
    };
    let total = n.saturating_mul(size);
    if !admit(isize::try_from(total).unwrap_or(isize::MAX)) {
        return std::ptr::null_mut();
    }
    let out = p
        .raw
        .calloc
        .map_or(std::ptr::null_mut(), |f| f(p.raw.ctx, n, size));
    if counting() {
        add(usable(out));
    }
    out
}

extern "C" fn raw_realloc(_ctx: *mut c_void, ptr: *mut c_void, size: libc::size_t) -> *mut c_void {
    let Some(p) = prev() else {
        return std::ptr::null_mut();
    };
    let counted = counting();
    let old = if counted { usable(ptr) } else { 0 };
    let grow = isize::try_from(size).unwrap_or(isize::MAX) - old;
    if !admit(grow) {
        return std::ptr::null_mut();
    }
    let out = p
        .raw
        .realloc
        .map_or(std::ptr::null_mut(), |f| f(p.raw.ctx, ptr, size));
    if counted && !out.is_null() {
        add(usable(out) - old);
    }
    out
}

extern "C" fn raw_free(_ctx: *mut c_void, ptr: *mut c_void) {
    let Some(p) = prev() else { return };
    if counting() {
        add(-usable(ptr));
    }
    if let Some(f) = p.raw.free {
        f(p.raw.ctx, ptr);
    }
}

extern "C" fn arena_alloc(_ctx: *mut c_void, size: libc::size_t) -> *mut c_void {
    let Some(p) = prev() else {
        return std::ptr::null_mut();
    };
    let n = isize::try_from(size).unwrap_or(isize::MAX);
    if !admit(n) {
        return std::ptr::null_mut();
    }
    let out = p
        .arena
        .alloc
        .map_or(std::ptr::null_mut(), |f| f(p.arena.ctx, size));
    if counting() && !out.is_null() {
        add(n);
    }
    out
}

extern "C" fn arena_free(_ctx: *mut c_void, ptr: *mut c_void, size: libc::size_t) {
    let Some(p) = prev() else { return };
    if counting() {
        add(-isize::try_from(size).unwrap_or(isize::MAX));
    }
    if let Some(f) = p.arena.free {
        f(p.arena.ctx, ptr, size);
    }
}
