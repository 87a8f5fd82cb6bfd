//! Integration tests of weir-config's public API, on real files in temporary folders.
//!
//! One test binary with modules, so the workspace links once instead of once per file.

mod apps;
mod classic;
mod compat;
mod fuzz_corpus;
mod gateway;
mod oas;
mod plugins;

use std::path::{Path, PathBuf};

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A seed file shared by the project (outside the repo, beside it).
pub fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/seeds/configs")
        .join(name)
}

/// The single error of a failed load, asserting there is exactly one.
pub fn only<T: std::fmt::Debug>(
    result: Result<T, Vec<weir_config::ConfigError>>,
) -> weir_config::ConfigError {
    let mut errors = result.expect_err("expected the load to fail");
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.remove(0)
}

/// Merges `over` into `base`: objects key by key, anything else replaced.
pub fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    use serde_json::Value;
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}
