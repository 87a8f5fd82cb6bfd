//! Mapping-level tests of the P1 additions: the message error functions and
//! the identifier functions, run through compile and run as users call them.

use super::{ErrorSource, Mapping, Message};
use crate::value::Value;

fn run_on(mapping: &str, msg: &Message) -> Value {
    Mapping::compile(mapping)
        .unwrap()
        .run_message(msg)
        .unwrap()
        .root
}

#[test]
fn error_functions_read_the_message_error() {
    let clean = Message::default();
    let q = "root = [error(), errored(), error_source_name()]";
    assert_eq!(
        run_on(q, &clean),
        Value::Array(vec![Value::Null, Value::Bool(false), Value::Null])
    );
    let failed = Message {
        error: Some("http request failed: 503".into()),
        error_source: Some(ErrorSource {
            label: "fetch".into(),
            name: "http".into(),
            path: "root.pipeline.processors.1".into(),
        }),
        ..Message::default()
    };
    assert_eq!(
        run_on(q, &failed),
        Value::Array(vec![
            "http request failed: 503".into(),
            Value::Bool(true),
            "http".into()
        ])
    );
    let no_source = Message {
        error: Some("boom".into()),
        ..Message::default()
    };
    assert_eq!(
        run_on("root = error_source_label()", &no_source),
        Value::Null
    );
    // Other messages of the batch keep their own error state.
    let m = Mapping::compile("root = errored().from(1)").unwrap();
    let out = m.run_in_batch(&[failed.clone(), clean.clone()], 0).unwrap();
    assert_eq!(out.root, Value::Bool(false));
}

#[test]
fn identifier_functions_have_their_formats() {
    let msg = Message::default();
    let v7 = crate::json::to_go_string(&run_on("root = uuid_v7()", &msg));
    assert_eq!((v7.len(), &v7[14..15]), (36, "7"));
    let id = crate::json::to_go_string(&run_on("root = nanoid(10, \"xyz\")", &msg));
    assert!(id.len() == 10 && id.chars().all(|c| "xyz".contains(c)));
    let k = crate::json::to_go_string(&run_on("root = ksuid()", &msg));
    assert!(k.len() == 27 && k.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        run_on(
            "root = \"a\".uuid_v5(\"x500\") == \"a\".uuid_v5(\"x500\")",
            &msg
        ),
        Value::Bool(true)
    );
}
