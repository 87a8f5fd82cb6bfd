//! One loaded shared library ([`NativeLibrary`]) and one plugin instance in it ([`Instance`]).
//!
//! `dlopen` returns the already-loaded object for a path (and for a file whose device and
//! inode it has already mapped), so loading a changed `.so` at the same path would silently
//! keep the old code. Each library is therefore opened from a private copy in a temporary
//! directory, kept on disk until the library is closed: a live copy's inode cannot be reused
//! by a later copy. The copy is deleted right after `dlclose`.

use std::ffi::c_void;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::Library;
use tempfile::TempPath;
use weir_plugin_abi::*;

use crate::host::HOST_API;

/// Room for `init`'s error message.
const INIT_ERROR_CAP: usize = 2048;

/// A plugin library, open while anything holds an `Arc` to it.
pub(crate) struct NativeLibrary {
    /// Dropped first: `dlclose`. Only held, never read: the descriptor was copied out.
    _lib: Library,
    /// Dropped second: deletes the private copy.
    copy: TempPath,
    /// The plugin's descriptor, copied out of the library (its pointers live as long as `lib`).
    pub desc: WeirPluginV1,
    /// The plugin's name, for logs.
    pub name: String,
    /// The file the definition names.
    pub source: PathBuf,
}

impl NativeLibrary {
    /// The private copy this library was opened from.
    pub fn copy_path(&self) -> &Path {
        &self.copy
    }

    /// Copies `bytes` (the content of `source`) into `temp_dir`, opens the copy and checks
    /// the plugin's ABI version and descriptor.
    pub fn open(source: &Path, bytes: &[u8], temp_dir: &Path) -> Result<NativeLibrary, String> {
        let shown = source.display();
        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = write_copy(bytes, temp_dir, &stem).map_err(|e| {
            format!(
                "native plugin `{shown}`: cannot copy it into {}: {e}",
                temp_dir.display()
            )
        })?;
        let lib = dlopen(&copy).map_err(|e| {
            let hint = if e.contains("failed to map segment") {
                " (is the temporary directory mounted noexec? choose another one)"
            } else {
                ""
            };
            format!(
                "native plugin `{shown}`: cannot load it (from its copy {}): {e}{hint}",
                copy.display()
            )
        })?;

        // SAFETY: a data symbol's address; reading 4 bytes of whatever it names is harmless.
        let version = unsafe {
            let sym = lib.get::<*const u32>(ABI_VERSION_SYMBOL).map_err(|_| {
                format!(
                    "native plugin `{shown}` does not export `weir_plugin_abi_version`: it is \
                     not a Weir plugin (build it with weir-plugin-sdk or weir_plugin.h)"
                )
            })?;
            std::ptr::read_unaligned(*sym)
        };
        if version != WEIR_PLUGIN_ABI_VERSION {
            return Err(format!(
                "native plugin `{shown}` is built for Weir plugin ABI version {version}, but this \
                 gateway speaks ABI version {WEIR_PLUGIN_ABI_VERSION}: rebuild it against this \
                 gateway's weir_plugin.h or weir-plugin-sdk"
            ));
        }
        // SAFETY: version 1 defines this symbol as `DescriptorFn`, and the version matched.
        let desc_ptr = unsafe {
            let f = lib.get::<DescriptorFn>(DESCRIPTOR_SYMBOL).map_err(|_| {
                format!("native plugin `{shown}` declares ABI version 1 but does not export `weir_plugin_v1`")
            })?;
            f()
        };
        if desc_ptr.is_null() {
            return Err(format!(
                "native plugin `{shown}`: weir_plugin_v1() returned null"
            ));
        }
        // SAFETY: the two leading u32 fields exist in every version of the descriptor.
        let (abi, size) = unsafe { ((*desc_ptr).abi_version, (*desc_ptr).struct_size) };
        if abi != WEIR_PLUGIN_ABI_VERSION {
            return Err(format!(
                "native plugin `{shown}`: its descriptor says ABI version {abi}, its \
                 weir_plugin_abi_version says {version} (this gateway speaks \
                 {WEIR_PLUGIN_ABI_VERSION})"
            ));
        }
        let needed = std::mem::size_of::<WeirPluginV1>();
        if (size as usize) < needed {
            return Err(format!(
                "native plugin `{shown}`: its descriptor is {size} bytes, ABI version \
                 {WEIR_PLUGIN_ABI_VERSION} needs {needed}"
            ));
        }
        // SAFETY: the descriptor is at least as large as ours; fields past ours are ignored.
        let desc = unsafe { std::ptr::read(desc_ptr) };
        // SAFETY: the name is static data of the library, which is open.
        let name = String::from_utf8_lossy(unsafe { desc.name.as_bytes() }).into_owned();
        Ok(NativeLibrary {
            _lib: lib,
            copy,
            desc,
            name,
            source: source.to_owned(),
        })
    }
}

fn write_copy(bytes: &[u8], dir: &Path, stem: &str) -> std::io::Result<TempPath> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!("weir-native-{stem}-"))
        .suffix(".so")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.flush()?;
    Ok(file.into_temp_path())
}

/// Opens with symbols resolved now, so a missing dependency fails the load, not a request.
#[cfg(unix)]
fn dlopen(path: &Path) -> Result<Library, String> {
    use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: running the library's initialisers is what loading a plugin means; the file
    // was checked not to be Go-built.
    unsafe { UnixLibrary::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map(Library::from)
        .map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn dlopen(path: &Path) -> Result<Library, String> {
    // SAFETY: as above.
    unsafe { Library::new(path) }.map_err(|e| e.to_string())
}

/// One `init`ed plugin value, dropped (through the plugin's `drop`) before its library.
pub(crate) struct Instance {
    pub lib: Arc<NativeLibrary>,
    pub raw: *mut c_void,
}

// SAFETY: the ABI requires `call` to be callable from any thread concurrently, and `drop`
// from any thread once; the pointer is only handed back to the plugin.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    /// Calls the plugin's `init` with the API's config_data as JSON text.
    pub fn new(lib: Arc<NativeLibrary>, config_json: &str) -> Result<Instance, String> {
        let mut buf = vec![0u8; INIT_ERROR_CAP];
        let mut err = WeirErrorBuf {
            ptr: buf.as_mut_ptr(),
            cap: buf.len(),
            len: 0,
        };
        // SAFETY: the descriptor came from the open library; the arguments live for the call.
        let raw = unsafe { (lib.desc.init)(&HOST_API, WeirStr::from_text(config_json), &mut err) };
        if raw.is_null() {
            let msg = String::from_utf8_lossy(&buf[..err.len.min(INIT_ERROR_CAP)]).into_owned();
            let msg = if msg.is_empty() {
                "no reason given".into()
            } else {
                msg
            };
            return Err(format!(
                "native plugin `{}` (`{}`) failed to initialise: {msg}",
                lib.source.display(),
                lib.name
            ));
        }
        Ok(Instance { lib, raw })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: created by this library's `init`, dropped once; no call is running since
        // calls borrow the instance.
        unsafe { (self.lib.desc.drop)(self.raw) };
    }
}
