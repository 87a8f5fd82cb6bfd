//! Runs the conformance corpus through compile + run, prints the pass rate and
//! the failing ids per tier, and fails below 98% of p0 or 90% of p1 (p2 is
//! reported only).

mod common;

use bloblang::interp::MemoryImporter;
use bloblang::{Mapping, Message, Value, json};
use std::collections::BTreeMap;

fn get<'a>(case: &'a Value, key: &str) -> Option<&'a Value> {
    match case {
        Value::Object(m) => m.get(key),
        _ => None,
    }
}

fn text<'a>(case: &'a Value, key: &str) -> Option<&'a str> {
    match get(case, key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Whether one case passes: the same output bytes, or an error where one is expected.
/// With `BLOBLANG_CORPUS_VERBOSE` set, each p0 failure prints what we produced.
fn passes(case: &Value, groups: &mut Groups) -> bool {
    let (ok, got) = outcome(case, groups);
    let verbose = std::env::var_os("BLOBLANG_CORPUS_VERBOSE").is_some();
    if !ok
        && verbose
        && text(case, "tier")
            == std::env::var("BLOBLANG_CORPUS_TIER")
                .ok()
                .as_deref()
                .or(Some("p0"))
    {
        let want = text(case, "output")
            .or(text(case, "error_msg"))
            .unwrap_or("?");
        let cut = |s: &str| s.chars().take(100).collect::<String>();
        eprintln!(
            "{} | {:?}\n   want {:?}\n   got  {:?}",
            text(case, "id").unwrap_or("?"),
            cut(text(case, "mapping").unwrap_or("")),
            cut(want),
            cut(&got)
        );
    }
    ok
}

/// The case's batch (or just its input as a batch of one) and the message index.
fn batch_of(case: &Value) -> (Vec<Message>, usize) {
    let mut meta = bloblang::Object::new();
    if let Some(Value::Object(m)) = get(case, "input_metadata") {
        meta = m.clone();
    }
    let single = || Message {
        content: text(case, "input").unwrap_or("").as_bytes().to_vec(),
        metadata: meta.clone(),
        ..Message::default()
    };
    let Some(Value::Array(items)) = get(case, "batch") else {
        return (vec![single()], 0);
    };
    let batch = items
        .iter()
        .map(|m| Message {
            content: text(m, "content").unwrap_or("").as_bytes().to_vec(),
            metadata: match get(m, "metadata") {
                Some(Value::Object(md)) => md.clone(),
                _ => bloblang::Object::new(),
            },
            ..Message::default()
        })
        .collect();
    let index = match get(case, "index") {
        Some(Value::Int(i)) => usize::try_from(*i).unwrap_or(0),
        _ => 0,
    };
    (batch, index)
}

/// Runs one case: whether it passed and what it produced.
/// Compiled mappings of stateful groups: their cases run in order against one
/// mapping so `counter()` state carries over, as it does across messages.
type Groups = std::collections::HashMap<String, Mapping>;

fn outcome(case: &Value, groups: &mut Groups) -> (bool, String) {
    let Some(mapping) = text(case, "mapping") else {
        return (false, "no mapping".into());
    };
    let want_error = matches!(get(case, "error"), Some(Value::Bool(true)));
    let files: std::collections::HashMap<String, String> = match get(case, "files") {
        Some(Value::Object(f)) => f
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.to_string(), s.clone())),
                _ => None,
            })
            .collect(),
        _ => Default::default(),
    };
    let group = text(case, "group").map(|g| format!("{g}\u{0}{mapping}"));
    let cached = group.as_ref().and_then(|g| groups.get(g)).cloned();
    let m = match cached.map_or_else(
        || Mapping::compile_with(mapping, &MemoryImporter::new(files)),
        Ok,
    ) {
        Ok(m) => m,
        Err(e) => return (want_error, format!("compile: {e}")),
    };
    if let Some(g) = group {
        groups.entry(g).or_insert_with(|| m.clone());
    }
    let (batch, index) = batch_of(case);
    let msg = batch[index].clone();
    let out = match m.run_in_batch(&batch, index) {
        Ok(o) => o,
        Err(e) => return (want_error, format!("run: {e}")),
    };
    match out.content(&msg.content) {
        _ if want_error => (false, "no error".into()),
        Ok(None) => (
            matches!(get(case, "deleted"), Some(Value::Bool(true))),
            "<deleted>".into(),
        ),
        // Clock- and randomness-dependent cases give only the output's type.
        Ok(Some(_)) if text(case, "output_type").is_some() => {
            // Some cases name the Go type (`int64`) rather than Bloblang's.
            let go_type = match &out.root {
                Value::Int(_) => "int64",
                Value::Float(_) => "float64",
                _ => "",
            };
            let got = out.root.type_name();
            let want = text(case, "output_type");
            (want == Some(got) || want == Some(go_type), got.to_string())
        }
        Ok(Some(bytes)) => (
            text(case, "output").is_some_and(|o| o.as_bytes() == bytes.as_slice()),
            String::from_utf8_lossy(&bytes).into_owned(),
        ),
        Err(e) => (false, format!("output: {e}")),
    }
}

#[test]
fn corpus_pass_rate_per_tier() {
    let path = common::corpus_file("bloblang-corpus.jsonl");
    let text_all = std::fs::read_to_string(path).expect("corpus readable");
    let mut tiers: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut groups = Groups::new();
    for line in text_all.lines().filter(|l| !l.trim().is_empty()) {
        let case = json::parse(line.as_bytes()).expect("corpus line is JSON");
        // Environment cases run in child processes: environment_cases_in_child_processes.
        if get(&case, "env").is_some() {
            continue;
        }
        let tier = text(&case, "tier").unwrap_or("?").to_string();
        let ok = passes(&case, &mut groups);
        let e = tiers.entry(tier.clone()).or_default();
        e.1 += 1;
        if ok {
            e.0 += 1;
        } else {
            let id = text(&case, "id").unwrap_or("?").to_string();
            failing.entry(tier).or_default().push(id);
        }
    }
    for (tier, (ok, total)) in &tiers {
        eprintln!(
            "{tier}: {ok}/{total} ({:.1}%)",
            *ok as f64 * 100.0 / *total as f64
        );
    }
    for (tier, ids) in &failing {
        eprintln!("failing {tier}: {}", ids.join(" "));
    }
    for (tier, floor) in [("p0", 98.0), ("p1", 90.0)] {
        let (ok, total) = tiers.get(tier).copied().unwrap_or((0, 1));
        let rate = ok as f64 * 100.0 / total as f64;
        assert!(
            rate >= floor,
            "{tier} pass rate {rate:.1}% is under {floor}%"
        );
    }
}

#[test]
fn interpolation_corpus() {
    let path = common::corpus_file("bloblang-interp-corpus.jsonl");
    let all = std::fs::read_to_string(path).expect("interpolation corpus readable");
    let (mut ok, mut total) = (0, 0);
    for line in all.lines().filter(|l| !l.trim().is_empty()) {
        let case = json::parse(line.as_bytes()).expect("corpus line is JSON");
        total += 1;
        let template = text(&case, "template").unwrap_or("");
        let (batch, index) = batch_of(&case);
        let got = bloblang::Interpolation::compile(template)
            .map_err(|e| e.to_string())
            .and_then(|i| i.render_in_batch(&batch, index).map_err(|e| e.to_string()));
        let want_error = matches!(get(&case, "error"), Some(Value::Bool(true)));
        match (got, want_error) {
            (Err(_), true) => ok += 1,
            (Ok(s), false) if Some(s.as_str()) == text(&case, "output") => ok += 1,
            (g, _) => eprintln!("interp miss: {template:?} -> {g:?}"),
        }
    }
    eprintln!("interpolation: {ok}/{total}");
    assert_eq!(ok, total, "interpolation cases failed");
}

/// The variable naming the case a child process runs with its own environment.
const ENV_CASE: &str = "BLOBLANG_CORPUS_ENV_CASE";

/// The corpus's `env` cases (`env("FOO")`): each runs in a child process of
/// this test binary with exactly the case's variables set, since changing the
/// environment of a threaded test process is unsound.
#[test]
fn environment_cases_in_child_processes() {
    let path = common::corpus_file("bloblang-corpus.jsonl");
    let all = std::fs::read_to_string(path).expect("corpus readable");
    let cases: Vec<Value> = all
        .lines()
        .filter_map(|l| json::parse(l.as_bytes()).ok())
        .filter(|c| get(c, "env").is_some())
        .collect();
    let names: Vec<String> = cases
        .iter()
        .filter_map(|c| match get(c, "env") {
            Some(Value::Object(vars)) => {
                Some(vars.keys().map(|k| k.to_string()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    let mut failed = Vec::new();
    for case in &cases {
        let id = text(case, "id").unwrap_or("?");
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"));
        child.args([
            "--ignored",
            "--exact",
            "environment_case_child",
            "--nocapture",
        ]);
        for name in &names {
            child.env_remove(name);
        }
        if let Some(Value::Object(vars)) = get(case, "env") {
            for (k, v) in vars {
                child.env(k, bloblang::json::to_go_string(v));
            }
        }
        let status = child.env(ENV_CASE, id).status().expect("child runs");
        if !status.success() {
            failed.push(format!("{id} ({})", text(case, "tier").unwrap_or("?")));
        }
    }
    eprintln!("env cases: {}/{}", cases.len() - failed.len(), cases.len());
    assert!(!cases.is_empty(), "the corpus has env cases");
    assert!(failed.is_empty(), "env cases failed: {}", failed.join(" "));
}

/// Runs the one env case named by [`ENV_CASE`]; started only by
/// [`environment_cases_in_child_processes`].
#[test]
#[ignore = "run by environment_cases_in_child_processes in a child process"]
fn environment_case_child() {
    let id = std::env::var(ENV_CASE).expect("started with a case id");
    let path = common::corpus_file("bloblang-corpus.jsonl");
    let all = std::fs::read_to_string(path).expect("corpus readable");
    let case = all
        .lines()
        .filter_map(|l| json::parse(l.as_bytes()).ok())
        .find(|c| text(c, "id") == Some(id.as_str()))
        .expect("the case exists");
    let (ok, got) = outcome(&case, &mut Groups::new());
    assert!(ok, "{id}: got {got:?}");
}
