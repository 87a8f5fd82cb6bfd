//! What the corpus tests share: where the conformance corpus is. It always sits beside the
//! repository (../shared/reference/bloblang-corpus, or `BLOBLANG_CORPUS`); a missing file
//! fails the test rather than skipping it.

use std::path::PathBuf;

/// The corpus file `name`, which must exist.
pub fn corpus_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("BLOBLANG_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/bloblang-corpus")
        });
    let file = dir.join(name);
    assert!(
        file.exists(),
        "{} is missing: the Bloblang corpus is not beside the repository \
         (../shared/reference/bloblang-corpus); set BLOBLANG_CORPUS to its folder",
        file.display()
    );
    file
}
