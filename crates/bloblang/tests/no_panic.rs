//! A cheap robustness sweep until the fuzz target exists: every prefix of every
//! corpus mapping (at a stride) must compile or fail cleanly, and whatever
//! compiles must run on a few awkward inputs without panicking.

mod common;

use bloblang::{Mapping, Message, json};

#[test]
fn corpus_prefixes_never_panic() {
    let path = common::corpus_file("bloblang-corpus.jsonl");
    let all = std::fs::read_to_string(path).expect("corpus readable");
    let inputs: [&[u8]; 4] = [
        b"{}",
        b"null",
        b"not json",
        br#"{"a":[1,{"b":"c"}],"n":-1.5}"#,
    ];
    let mut compiled = 0;
    for line in all.lines().step_by(3) {
        let Ok(bloblang::Value::Object(ref case)) = json::parse(line.as_bytes()) else {
            continue;
        };
        let Some(bloblang::Value::String(src)) = case.get("mapping") else {
            continue;
        };
        let cuts: Vec<usize> = src
            .char_indices()
            .map(|(i, _)| i)
            .step_by(11)
            .chain([src.len()])
            .collect();
        for cut in cuts {
            match Mapping::compile(&src[..cut]) {
                Err(e) => assert!(
                    !e.message.contains("internal error"),
                    "{:?}: {e}",
                    &src[..cut]
                ),
                Ok(m) => {
                    compiled += 1;
                    for input in inputs {
                        let msg = Message {
                            content: input.to_vec(),
                            ..Message::default()
                        };
                        if let Ok(out) = m.run_message(&msg) {
                            let _ = out.content(input);
                        }
                    }
                }
            }
        }
    }
    eprintln!("compiled and ran {compiled} prefixes");
}
