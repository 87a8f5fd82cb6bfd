//! Replays the corpus the fuzz targets found (`fuzz/corpus/`, kept in the repository): every
//! input must load or be refused without a panic.

use weir_config::fuzzing::{api_definition, gateway_config, replay_corpus};

#[test]
fn api_definition_corpus_replays() {
    assert!(replay_corpus("api_definition", api_definition) > 0);
}

#[test]
fn gateway_config_corpus_replays() {
    assert!(replay_corpus("gateway_config", gateway_config) > 0);
}
