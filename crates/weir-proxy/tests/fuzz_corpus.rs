//! Replays the corpus the fuzz targets found (`fuzz/corpus/`, kept in the repository): gRPC
//! framing and gRPC-Web text decoding must end every input without a panic.

use weir_config::fuzzing::replay_corpus;
use weir_proxy::fuzzing::{grpc_frames, grpc_web_text};

#[test]
fn grpc_frames_corpus_replays() {
    assert!(replay_corpus("grpc_frames", grpc_frames) > 0);
}

#[test]
fn grpc_web_text_corpus_replays() {
    assert!(replay_corpus("grpc_web_text", grpc_web_text) > 0);
}
