use super::*;
use crate::json::parse;
use crate::value::Value;

pub(super) fn run(mapping: &str, input: &str) -> Result<String, String> {
    let m = Mapping::compile(mapping).map_err(|e| e.to_string())?;
    let msg = Message {
        content: input.as_bytes().to_vec(),
        ..Message::default()
    };
    let out = m.run_message(&msg).map_err(|e| e.to_string())?;
    match out.content(input.as_bytes()).map_err(|e| e.to_string())? {
        Some(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        None => Ok("<deleted>".into()),
    }
}

#[test]
fn assignments_build_root() {
    assert_eq!(
        run("root.a.b = this.x\nroot.c = 5 * 2", r#"{"x":"y"}"#).unwrap(),
        r#"{"a":{"b":"y"},"c":10}"#
    );
    assert_eq!(
        run("root = this\nroot.bar = deleted()", r#"{"bar":1,"baz":2}"#).unwrap(),
        r#"{"baz":2}"#
    );
    assert_eq!(run("root = deleted()", "{}").unwrap(), "<deleted>");
    assert_eq!(
        run("root = this\nroot.x = nothing()", r#"{"a":1}"#).unwrap(),
        r#"{"a":1}"#
    );
    assert_eq!(
        run("root = this.s.uppercase()", r#"{"s":"hi"}"#).unwrap(),
        "HI"
    );
}

#[test]
fn go_arithmetic_and_output_format() {
    assert_eq!(
        run("root = [5 / 2, 4 / 2, 7 % 2, 1.5 + 1]", "{}").unwrap(),
        "[2.5,2,1,2.5]"
    );
    assert_eq!(
        run("root = this", r#"{"b":1.0,"a":1e3}"#).unwrap(),
        r#"{"a":1e3,"b":1.0}"#
    );
    assert_eq!(run("root = this.a + 1", r#"{"a":1.0}"#).unwrap(), "2");
    assert_eq!(
        run("root.v = (1.0/3).string()", "{}").unwrap(),
        r#"{"v":"0.3333333333333333"}"#
    );
}

#[test]
fn constant_folding_errors_at_compile_time() {
    assert!(
        run("root = 5 / 0", "{}")
            .unwrap_err()
            .starts_with("line 1 char 8")
    );
    assert!(
        run("root = 5 + \"a\"", "{}")
            .unwrap_err()
            .contains("cannot add")
    );
}

#[test]
fn variables_meta_and_conditionals() {
    let m = "let x = this.n\nmeta k = \"v\"\nroot.a = $x + 1\nroot.m = @k\nif this.n > 1 { root.big = true } else { root.big = false }";
    assert_eq!(
        run(m, r#"{"n":2}"#).unwrap(),
        r#"{"a":3,"big":true,"m":"v"}"#
    );
    assert!(
        run("root = $nope", "{}")
            .unwrap_err()
            .contains("variable 'nope' undefined")
    );
    assert!(
        run("if null { root = 1 }", "{}")
            .unwrap_err()
            .contains("expected bool")
    );
    assert_eq!(
        run("root = if this.a == null { \"none\" }", "{}").unwrap(),
        "none"
    );
}

#[test]
fn match_lambdas_and_iterators() {
    let m = "root = this.items.map_each(i -> i * 2).filter(x -> x > 2)";
    assert_eq!(run(m, r#"{"items":[1,2,3]}"#).unwrap(), "[4,6]");
    let m = "root = match this.v {\n  \"a\" => 1\n  this.length() > 3 => 2\n  _ => 3\n}";
    assert_eq!(run(m, r#"{"v":"a"}"#).unwrap(), "1");
    assert_eq!(run(m, r#"{"v":"abcd"}"#).unwrap(), "2");
    assert_eq!(run(m, r#"{"v":"ab"}"#).unwrap(), "3");
    assert_eq!(
        run("root = this.a.(x -> x + this.b)", r#"{"a":1,"b":2}"#).unwrap(),
        "3"
    );
}

#[test]
fn errors_catch_and_or() {
    assert_eq!(
        run("root = this.a.uppercase().catch(\"x\")", r#"{"a":5}"#).unwrap(),
        "x"
    );
    assert_eq!(run("root = this.a.or(\"d\")", "{}").unwrap(), "d");
    assert_eq!(run("root = this.a | \"d\"", "{}").unwrap(), "d");
    assert_eq!(
        run("root.a = this.a.not_null()", "{}").unwrap_err(),
        "failed assignment (line 1): field `this.a`: value is null"
    );
    assert!(
        run("root = this.a", "not json")
            .unwrap_err()
            .contains("unable to reference message as structured")
    );
    assert_eq!(
        run("root = content().string()", "not json").unwrap(),
        "not json"
    );
}

#[test]
fn maps_apply_with_a_recursion_bound() {
    let m = "map double {\n  root = this * 2\n}\nroot = this.n.apply(\"double\")";
    assert_eq!(run(m, r#"{"n":4}"#).unwrap(), "8");
    let m = "map loop {\n  root = this.apply(\"loop\")\n}\nroot = this.apply(\"loop\")";
    assert!(run(m, "{}").unwrap_err().contains("maximum mapping depth"));
}

#[test]
fn run_on_a_value() {
    let m = Mapping::compile("root.n = this.n + 1").unwrap();
    let out = m.run(&parse(br#"{"n":1}"#).unwrap()).unwrap();
    assert_eq!(out.root, parse(br#"{"n":2}"#).unwrap());
    assert_eq!(
        Mapping::compile("root = 1")
            .unwrap()
            .run(&Value::Null)
            .unwrap()
            .root,
        Value::Int(1)
    );
}

#[test]
fn deepest_accepted_mappings_run_without_overflow() {
    use crate::parser::MAX_NESTING;
    let n = MAX_NESTING - 2;
    let deep_arrays = format!("root = {}this{}", "[".repeat(n), "]".repeat(n));
    assert!(run(&deep_arrays, "1").is_ok());
    let deep_tails = format!("root = this{}", ".a".repeat(n));
    assert_eq!(run(&deep_tails, "{}").unwrap(), "null");
    let chain = format!("root = 0{}", " + this".repeat(n));
    assert_eq!(run(&chain, "1").unwrap(), n.to_string());
    let nested_maps = format!("root = {}this{}", "this.(".repeat(n / 2), ")".repeat(n / 2));
    assert_eq!(run(&nested_maps, "3").unwrap(), "3");
}

#[test]
fn ten_thousand_deep_input_passes_through() {
    let depth = crate::json::MAX_JSON_DEPTH;
    let doc = "[".repeat(depth) + &"]".repeat(depth);
    assert_eq!(run("root = this", &doc).unwrap(), doc);
}

#[test]
fn unknown_names_fail_compilation_but_known_unimplemented_ones_fail_at_run_time() {
    assert_eq!(
        run("root = not_a_function()", "{}").unwrap_err(),
        "line 1 char 8: unrecognised function 'not_a_function'"
    );
    assert!(
        run("root = this.a.not_a_thing()", "{}")
            .unwrap_err()
            .contains("unrecognised method 'not_a_thing'")
    );
    assert!(
        run("root = this.a.parse_parquet()", "{}")
            .unwrap_err()
            .contains("not implemented yet")
    );
}

#[test]
fn imports_from_memory_and_disk() {
    let files = [
        (
            "helpers.blobl".to_string(),
            "map double {\n  root = this * 2\n}\nimport \"more.blobl\"\n".to_string(),
        ),
        (
            "more.blobl".to_string(),
            "map inc {\n  root = this + 1\n}\n".to_string(),
        ),
        (
            "loop.blobl".to_string(),
            "import \"loop.blobl\"\n".to_string(),
        ),
        (
            "dup.blobl".to_string(),
            "map double {\n  root = 0\n}\n".to_string(),
        ),
    ];
    let imp = MemoryImporter::new(files.into_iter().collect());
    let m = Mapping::compile_with(
        "import \"./helpers.blobl\"\nroot = 20.apply(\"double\").apply(\"inc\")",
        &imp,
    )
    .unwrap();
    assert_eq!(m.run(&Value::Null).unwrap().root, Value::Int(41));
    let e = Mapping::compile_with("import \"loop.blobl\"\nroot = 1", &imp).unwrap_err();
    assert!(e.message.contains("nest deeper"), "{e}");
    let e = Mapping::compile_with("import \"nope.blobl\"\nroot = 1", &imp).unwrap_err();
    assert!(e.message.contains("no such file"), "{e}");
    let e = Mapping::compile_with(
        "import \"dup.blobl\"\nmap double {\n  root = 1\n}\nroot = 1",
        &imp,
    )
    .unwrap_err();
    assert!(e.message.contains("map name collision: double"), "{e}");

    let dir = std::env::temp_dir().join(format!("bloblang-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("h.blobl"),
        "map hi {\n  root = \"hi \" + this\n}\n",
    )
    .unwrap();
    let m = Mapping::compile_with(
        "import \"h.blobl\"\nroot = \"bob\".apply(\"hi\")",
        &FsImporter::new(&dir),
    )
    .unwrap();
    assert_eq!(m.run(&Value::Null).unwrap().root, Value::from("hi bob"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn counters_keep_state_across_messages() {
    let m = Mapping::compile(
        "root.a = counter(min: 5, max: 6)\nroot.b = counter(set: if this.reset { 0 })",
    )
    .unwrap();
    let run = |input: &str| {
        let msg = Message {
            content: input.as_bytes().to_vec(),
            ..Message::default()
        };
        let out = m.run_message(&msg).unwrap();
        String::from_utf8(out.content(&msg.content).unwrap().unwrap()).unwrap()
    };
    assert_eq!(run(r#"{"reset":false}"#), r#"{"a":5,"b":1}"#);
    assert_eq!(run(r#"{"reset":false}"#), r#"{"a":6,"b":2}"#);
    assert_eq!(run(r#"{"reset":true}"#), r#"{"a":5,"b":0}"#);
    let c = Mapping::compile("root = count(\"unit-test-counter\")").unwrap();
    assert_eq!(c.run(&Value::Null).unwrap().root, Value::Int(1));
    assert_eq!(c.run(&Value::Null).unwrap().root, Value::Int(2));
}

#[test]
fn compiled_programs_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Mapping>();
    shareable::<Interpolation>();
    let m = std::sync::Arc::new(Mapping::compile("root = this.n + 1").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let m = m.clone();
            std::thread::spawn(move || {
                m.run(&Value::Object([("n".to_string(), Value::Int(i))].into()))
                    .map(|o| o.root)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap(), Value::Int(i as i64 + 1));
    }
}

#[test]
fn branching_recursion_through_apply_is_cut_off() {
    let m = Mapping::compile(
        "map count {\n  root = if this <= 1 { 1 } else { (this - 1).apply(\"count\") + (this - 2).apply(\"count\") }\n}\nroot = 28.apply(\"count\")",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = m.run(&Value::Null).expect_err("cut off");
    assert!(err.message.contains("map applications"), "{err}");
    eprintln!("cut off after {:?}", started.elapsed());
    // A small one still runs to the end.
    let small = Mapping::compile(
        "map count {\n  root = if this <= 1 { 1 } else { (this - 1).apply(\"count\") + (this - 2).apply(\"count\") }\n}\nroot = 15.apply(\"count\")",
    )
    .unwrap();
    assert_eq!(small.run(&Value::Null).unwrap().root, Value::Int(987));
}

#[test]
fn sorting_is_stable_and_never_panics_on_an_inconsistent_order() {
    let input = r#"{"a":[{"k":2,"n":"x"},{"k":1,"n":"y"},{"k":2,"n":"z"},{"k":1,"n":"w"}]}"#;
    assert_eq!(
        run("root = this.a.sort_by(i -> i.k).map_each(i -> i.n)", input).unwrap(),
        r#"["y","w","x","z"]"#
    );
    assert_eq!(
        run(
            "root = this.a.sort(left.k > right.k).map_each(i -> i.n)",
            input
        )
        .unwrap(),
        r#"["x","z","y","w"]"#
    );
    // "Before or equal" is no strict order; a rule that contradicts itself neither.
    let many: Vec<String> = (0..200).map(|i| ((i * 37) % 11).to_string()).collect();
    let doc = format!(r#"{{"a":[{}]}}"#, many.join(","));
    assert!(run("root = this.a.sort(left >= right)", &doc).is_ok());
    assert!(run("root = this.a.sort(random_int() % 2 == 0)", &doc).is_ok());
    // Mixed types: an error naming both, not a panic.
    let err = run("root = [3, null, 1, \"a\", 2].sort()", "{}").unwrap_err();
    assert!(err.contains("expected number or string value"), "{err}");
}

#[test]
fn a_run_s_work_is_bounded() {
    use std::time::{Duration, Instant};
    let limited = |mapping: &str, input: &str| {
        let start = Instant::now();
        let err = run(mapping, input).unwrap_err();
        assert!(err.contains("work limit"), "{mapping}: {err}");
        assert!(start.elapsed() < Duration::from_secs(30), "{mapping}");
    };
    // A loop over a loop, a tally copied every step, a string grown every step.
    limited(
        "root = range(0, 1000000).map_each(i -> range(0, 1000000))",
        "{}",
    );
    limited(
        "root = range(0, 1000000).fold([], t -> t.tally.append(t.value)).length()",
        "{}",
    );
    limited(
        "root = range(0, 1000000).fold(\"\", t -> t.tally + \"0123456789abcdef\").length()",
        "{}",
    );
    limited(
        "root = range(0, 1000000).map_each(i -> this.s).length()",
        &format!(r#"{{"s":"{}"}}"#, "x".repeat(100_000)),
    );
    // Ordinary heavy work stays well inside, and the count starts again each run.
    for _ in 0..3 {
        assert_eq!(
            run("root = range(0, 100000).map_each(i -> i * 2).sum()", "{}").unwrap(),
            "9999900000"
        );
    }
}
