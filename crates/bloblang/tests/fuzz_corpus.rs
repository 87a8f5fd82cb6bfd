//! Replays the corpus the fuzz target kept (`fuzz/corpus/mapping/`, in the
//! repository): every input must compile, run and print, or fail cleanly.

use std::path::Path;

#[test]
fn fuzz_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mapping");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the fuzz corpus is kept in the repository)",
            dir.display()
        )
    });
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file readable");
        bloblang::fuzzing::mapping_and_input(&data);
        replayed += 1;
    }
    eprintln!("replayed {replayed} inputs");
    assert!(replayed > 0, "{} holds no inputs", dir.display());
}
