//! Resolving `import "path"`: where imported mapping text comes from.

use std::collections::HashMap;
use std::path::PathBuf;

/// How deep imports may chain (`a` imports `b` imports …), which also stops cycles.
pub const MAX_IMPORT_DEPTH: usize = 16;

/// A source of imported mapping files.
pub trait Importer: Sync {
    /// The text of the file named `path`, or why it cannot be read.
    fn import(&self, path: &str) -> Result<String, String>;
}

/// Reads imports from the file system, relative to a base directory.
#[derive(Debug, Clone)]
pub struct FsImporter {
    base: PathBuf,
}

impl FsImporter {
    /// Imports relative to `base` (absolute import paths are used as they are).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        FsImporter { base: base.into() }
    }
}

impl Importer for FsImporter {
    fn import(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.base.join(path)).map_err(|e| format!("{path}: {e}"))
    }
}

/// Imports from an in-memory map of file names to contents (tests, embedded configs).
#[derive(Debug, Clone, Default)]
pub struct MemoryImporter {
    files: HashMap<String, String>,
}

impl MemoryImporter {
    /// An importer over `files`.
    pub fn new(files: HashMap<String, String>) -> Self {
        MemoryImporter { files }
    }
}

impl Importer for MemoryImporter {
    fn import(&self, path: &str) -> Result<String, String> {
        let key = path.trim_start_matches("./");
        self.files
            .get(key)
            .or_else(|| self.files.get(path))
            .cloned()
            .ok_or_else(|| format!("{path}: no such file or directory"))
    }
}
