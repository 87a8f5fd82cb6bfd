//! Replays the corpus the fuzz targets found (`fuzz/corpus/`, kept in the repository): every
//! input must load or be refused without a panic.

use std::path::Path;

use weir_config::fuzzing::{api_definition, gateway_config, replay_corpus};

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn api_definition_corpus_replays() {
    assert!(replay_corpus(&corpus(), "api_definition", api_definition) > 0);
}

#[test]
fn gateway_config_corpus_replays() {
    assert!(replay_corpus(&corpus(), "gateway_config", gateway_config) > 0);
}
