//! `weir blobl` as a Bento user runs it: lines in on stdin, one result per line
//! out, failures on stderr without stopping, non-zero exit only for a mapping
//! that does not compile.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn weir_blobl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("blobl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("weir finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn maps_each_line_and_keeps_going_after_a_failing_one() {
    let mapping = r#"root = if this.drop == true { deleted() } else if this.say != null { this.say } else { this.assign({"n": this.n * 2}) }"#;
    let input = "{\"n\":1}\n{\"drop\":true}\n{\"say\":\"hi <there>\"}\n{\"n\":\"abc\"}\nnot json\n\n{\"n\":2.5,\"a\":\"&\"}\n";
    let out = weir_blobl(&[mapping], input);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"n\":2}\nhi <there>\n{\"a\":\"&\",\"n\":5}\n"
    );
    let err = text(&out.stderr);
    assert!(err.contains("line 4:"), "{err}");
    assert!(err.contains("expected number value"), "{err}");
    assert!(err.contains("line 5:") && err.contains("not JSON"), "{err}");
}

#[test]
fn raw_lines_and_pretty_output() {
    let out = weir_blobl(
        &["-r", "root = content().string().uppercase()"],
        "abc\ndef\n",
    );
    assert_eq!(text(&out.stdout), "ABC\nDEF\n");
    let out = weir_blobl(&["-p", "root.a = this.b"], "{\"b\":[1]}\n");
    assert_eq!(text(&out.stdout), "{\n  \"a\": [\n    1\n  ]\n}\n");
}

#[test]
fn a_mapping_that_does_not_compile_exits_non_zero_with_a_caret() {
    let out = weir_blobl(&["root = this.foo.(bar"], "{}\n");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 1"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn a_mapping_file_and_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.blobl");
    std::fs::write(&good, "root.id = this.id\nroot.seen = true\n").expect("written");
    let bad = dir.path().join("bad.blobl");
    std::fs::write(&bad, "root.id = this.id\nroot.x = nope_fn()\n").expect("written");

    let out = weir_blobl(&["-f", good.to_str().expect("utf-8")], "{\"id\":7}\n");
    assert_eq!(text(&out.stdout), "{\"id\":7,\"seen\":true}\n");

    let ok = weir_blobl(&["--check", good.to_str().expect("utf-8")], "");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let failed = weir_blobl(&["--check", bad.to_str().expect("utf-8")], "");
    assert!(!failed.status.success());
    let err = text(&failed.stderr);
    assert!(err.contains("bad.blobl") && err.contains("line 2"), "{err}");
    assert!(err.contains("nope_fn"), "{err}");
}
