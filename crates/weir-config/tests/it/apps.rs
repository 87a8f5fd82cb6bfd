//! The apps folder and checks across the set of APIs.

use weir_config::{check_api_set, load_app_dir};

use crate::{seed, write};

fn classic(id: &str, listen_path: &str) -> String {
    format!(
        r#"{{"api_id": "{id}", "name": "{id}", "proxy": {{"listen_path": "{listen_path}", "target_url": "http://up:80"}}}}"#
    )
}

#[test]
fn loads_definition_files_sorted_and_keeps_bad_ones_apart() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.json", &classic("b", "/b/"));
    write(dir.path(), "a.json", &classic("a", "/a/"));
    write(
        dir.path(),
        "c.yaml",
        &std::fs::read_to_string(seed("streams-demo.yaml")).unwrap(),
    );
    write(dir.path(), "d.json", "{ nope");
    write(dir.path(), "notes.txt", "not a definition");
    write(dir.path(), ".hidden.json", "{}");
    std::fs::create_dir(dir.path().join("sub.json")).unwrap();

    let loaded = load_app_dir(dir.path());
    let names: Vec<_> = loaded
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a.json", "b.json", "c.yaml", "d.json"]);
    // Seed 001 (YAML, with streams) loads; the stream engine checks it at compile time.
    assert!(loaded[0].1.is_ok() && loaded[1].1.is_ok() && loaded[2].1.is_ok());
    let errors = loaded[3].1.as_ref().unwrap_err();
    assert_eq!(errors[0].file, dir.path().join("d.json"));
    assert!(errors[0].reason.starts_with("invalid JSON at line 1"));
}

#[test]
fn oas_pair_written_by_tyk_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.json", &classic("x", "/x/"));
    write(
        dir.path(),
        "x-oas.json",
        r#"{"openapi": "3.0.3", "x-tyk-api-gateway": {"info": {"id": "x"},
            "upstream": {"url": "http://up"}, "server": {"listenPath": {"value": "/x/"}}}}"#,
    );
    let loaded = load_app_dir(dir.path());
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].0, dir.path().join("x-oas.json"));
}

#[test]
fn missing_folder_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("apps");
    let loaded = load_app_dir(&missing);
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].0, missing);
    let errors = loaded[0].1.as_ref().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, missing);
    assert!(errors[0].reason.contains("not found"));
}

#[test]
fn duplicates_are_reported_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1.json", &classic("one", "/same"));
    write(dir.path(), "2.json", &classic("two", "/same/"));
    write(dir.path(), "3.json", &classic("one", "/three/"));
    write(dir.path(), "4.json", &classic("four", "/other/"));
    // Same listen path on its own domain does not clash.
    write(
        dir.path(),
        "5.json",
        r#"{"api_id": "five", "domain": "a.example", "proxy": {"listen_path": "/same", "target_url": "http://u"}}"#,
    );
    // Inactive APIs are not routed, so their listen path is free.
    write(
        dir.path(),
        "6.json",
        r#"{"api_id": "six", "active": false, "proxy": {"listen_path": "/same", "target_url": "http://u"}}"#,
    );
    let apis: Vec<_> = load_app_dir(dir.path())
        .into_iter()
        .map(|(_, r)| r.unwrap())
        .collect();
    let errors = check_api_set(&apis);
    assert_eq!(errors.len(), 2, "{errors:#?}");

    let route = &errors[0];
    assert_eq!(route.file, dir.path().join("2.json"));
    assert_eq!(route.field, "proxy.listen_path");
    assert!(route.reason.contains("`one`"), "{}", route.reason);
    assert!(
        route
            .reason
            .contains(&dir.path().join("1.json").display().to_string())
    );

    let id = &errors[1];
    assert_eq!(id.file, dir.path().join("3.json"));
    assert_eq!(id.field, "api_id");
    assert!(
        id.reason.contains("duplicate api_id `one`"),
        "{}",
        id.reason
    );
    assert!(
        id.reason
            .contains(&dir.path().join("1.json").display().to_string())
    );
}
