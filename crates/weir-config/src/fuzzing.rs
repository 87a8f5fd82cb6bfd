//! Entry points for the fuzz targets (`fuzz/`) and for replaying their corpus in the tests:
//! each takes arbitrary bytes and must return without panicking, whatever they are.

use std::path::Path;

use crate::DocFormat;

/// An API definition as a file would hold it (JSON, then YAML), and what the loaders derive
/// from one that loads (refusals, unknown fields).
pub fn api_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for name in ["/apps/fuzz.json", "/apps/fuzz.yaml"] {
        if let Ok(api) = crate::parse_api_definition(text, Path::new(name)) {
            let _ = crate::compat::unknown_fields(&api);
        }
    }
}

/// A gateway config (tyk.conf) in any syntax, with an environment override for every key.
pub fn gateway_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/etc/weir/tyk.conf");
    let _ = crate::gateway_config_from_str(text, DocFormat::Auto, file, &|_| None);
    let _ = crate::gateway_config_from_str(text, DocFormat::Json, file, &|name| {
        name.ends_with("PORT")
            .then(|| text.chars().take(8).collect())
    });
}

/// Runs `run` on every file of the repository's `fuzz/corpus/<target>/` (the corpus a fuzz
/// target kept); returns how many there were. The tests replay it this way, without a fuzzer.
pub fn replay_corpus(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a corpus entry").path();
        run(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        count += 1;
    }
    count
}
