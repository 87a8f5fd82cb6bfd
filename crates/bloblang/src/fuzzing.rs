//! The fuzz entry point, here rather than in the fuzz target so the corpus the
//! fuzzer keeps (`fuzz/corpus/mapping/`) is replayed by `cargo test` without a fuzzer.

use crate::interp::MemoryImporter;
use crate::{Interpolation, Mapping, Message, json};
use std::collections::HashMap;

/// One fuzz input: a mapping, a NUL byte, then the message content. The mapping
/// compiles (imports resolve against an empty in-memory importer, so nothing is
/// read from disk), runs on the content, and its output is printed; the same
/// text is also compiled as a `${! }` interpolation and the content parsed as
/// JSON. Any outcome but a panic, a hang or unbounded memory is a pass.
pub fn mapping_and_input(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(src) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let content = data.get(split + 1..).unwrap_or_default();
    let _ = json::parse(content);
    let msg = Message {
        content: content.to_vec(),
        ..Message::default()
    };
    if let Ok(mapping) = Mapping::compile_with(src, &MemoryImporter::new(HashMap::new()))
        && let Ok(out) = mapping.run_message(&msg)
    {
        let _ = out.content(content);
    }
    if let Ok(template) = Interpolation::compile(src) {
        let _ = template.render_in_batch(std::slice::from_ref(&msg), 0);
    }
}
