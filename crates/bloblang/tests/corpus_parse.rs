//! Parses every mapping of the conformance corpus and reports how many parse as
//! Bento says they should. Only the parse phase is checked here; execution comes
//! with the interpreter.

mod common;

use bloblang::{Value, json, parse};

fn field<'a>(case: &'a Value, key: &str) -> Option<&'a Value> {
    match case {
        Value::Object(m) => m.get(key),
        _ => None,
    }
}

#[test]
fn corpus_mappings_parse_as_bento_says() {
    let path = common::corpus_file("bloblang-corpus.jsonl");
    let text = std::fs::read_to_string(path).expect("corpus readable");
    let (mut ok, mut total, mut failures) = (0usize, 0usize, Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case = json::parse(line.as_bytes()).expect("corpus line is JSON");
        let Some(Value::String(mapping)) = field(&case, "mapping") else {
            continue;
        };
        let id = match field(&case, "id") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let want_parse_error =
            matches!(field(&case, "error_phase"), Some(Value::String(p)) if p == "parse");
        total += 1;
        match (parse(mapping), want_parse_error) {
            (Ok(_), false) | (Err(_), true) => ok += 1,
            (Err(e), false) => failures.push(format!("{id}: {e}")),
            (Ok(_), true) => failures.push(format!("{id}: parsed but Bento rejects it")),
        }
    }
    let rate = ok as f64 * 100.0 / total as f64;
    eprintln!("parse agreement: {ok}/{total} ({rate:.1}%)");
    for f in failures.iter().take(40) {
        eprintln!("  {f}");
    }
    // A floor, to be raised as the parser improves; functions/methods are not
    // resolved at parse time yet, so unknown-name errors count as misses.
    assert!(rate >= 90.0, "parse agreement fell to {rate:.1}%");
}
