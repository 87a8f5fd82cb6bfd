use serde_json::json;

use super::*;

fn classic_of(top: Value, extended: Value) -> (EndpointRules, bool, Vec<ConfigError>) {
    let mut doc = json!({"version_data": {"versions": {"Default": {
        "use_extended_paths": true, "extended_paths": extended}}}});
    if let (Some(d), Some(t)) = (doc.as_object_mut(), top.as_object()) {
        d.extend(t.clone());
    }
    let mut rules = EndpointRules::default();
    let mut errors = Vec::new();
    let on = classic(&doc, Path::new("a.json"), &mut rules, &mut errors);
    (rules, on, errors)
}

fn oas_of(global: Value, op: Value) -> (EndpointRules, bool, Vec<ConfigError>) {
    let doc = json!({
        "paths": {"/items/{id}": {"get": {"operationId": "getItem"}}},
        "x-tyk-api-gateway": {"middleware": {"global": global, "operations": {"getItem": op}}}
    });
    let mut rules = EndpointRules::default();
    let mut errors = Vec::new();
    let on = oas(
        &doc,
        &Operations::of(&doc),
        Path::new("a.json"),
        &mut rules,
        &mut errors,
    );
    (rules, on, errors)
}

fn fields(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn classic_header_and_method_transforms_are_read() {
    let (rules, on, errors) = classic_of(
        json!({"enable_context_vars": true}),
        json!({
            "transform_headers": [
                {"path": "/a", "method": "get", "delete_headers": ["X-Drop"],
                 "add_headers": {"X-Id": "$tyk_context.headers_X_Id"}},
                {"path": "/off", "method": "GET", "disabled": true, "add_headers": {"X": "1"}}
            ],
            "transform_response_headers": [
                {"path": "/b", "method": "POST", "add_headers": {"X-Resp": "yes"}}
            ],
            "method_transforms": [{"path": "/m", "method": "GET", "to_method": "post"}]
        }),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(on);
    assert_eq!(rules.request_headers.len(), 1);
    let t = &rules.request_headers[0];
    assert_eq!((t.key.path.as_str(), t.key.method.as_str()), ("/a", "GET"));
    assert_eq!(t.remove, ["X-Drop"]);
    assert_eq!(
        t.set,
        [("X-Id".to_string(), "$tyk_context.headers_X_Id".to_string())]
    );
    assert_eq!(rules.response_headers[0].set[0].1, "yes");
    assert_eq!(rules.method_transforms[0].to_method, "POST");
}

#[test]
fn classic_bad_entries_name_their_field() {
    let (_, on, errors) = classic_of(
        json!({}),
        json!({
            "transform_headers": [
                {"path": "/a", "add_headers": {"X": "1"}},
                {"path": "/b", "method": "GET", "delete_headers": ["bad name"]},
                {"path": "/c", "method": "GET", "add_headers": {"X": 5}}
            ],
            "transform_response_headers": [{"method": "GET"}],
            "method_transforms": [{"path": "/m", "method": "GET", "to_method": "HEAD"}]
        }),
    );
    assert!(!on);
    let base = "version_data.versions.Default.extended_paths";
    assert_eq!(
        fields(&errors),
        [
            format!("{base}.transform_headers[0].method"),
            format!("{base}.transform_headers[1].delete_headers[0]"),
            format!("{base}.transform_headers[2].add_headers.X"),
            format!("{base}.transform_response_headers[0].path"),
            format!("{base}.method_transforms[0].to_method"),
        ]
    );
}

#[test]
fn oas_operations_are_read_when_enabled() {
    let (rules, on, errors) = oas_of(
        json!({"contextVariables": {"enabled": true}}),
        json!({
            "transformRequestHeaders": {"enabled": true, "add": [{"name": "X-A", "value": "1"}],
                                        "remove": ["X-B"]},
            "transformResponseHeaders": {"enabled": false, "add": [{"name": "X-C", "value": "2"}]},
            "transformRequestMethod": {"enabled": true, "toMethod": "put"}
        }),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(on);
    assert_eq!(rules.request_headers[0].key.path, "/items/{id}");
    assert_eq!(rules.request_headers[0].key.method, "GET");
    assert_eq!(rules.request_headers[0].remove, ["X-B"]);
    assert!(rules.response_headers.is_empty());
    assert_eq!(rules.method_transforms[0].to_method, "PUT");
}

#[test]
fn oas_bad_blocks_name_their_field() {
    let (_, on, errors) = oas_of(
        json!({"contextVariables": {"enabled": false}}),
        json!({
            "transformRequestHeaders": {"enabled": true, "add": [{"value": "1"}]},
            "transformResponseHeaders": {"enabled": true, "remove": "X"},
            "transformRequestMethod": {"enabled": true}
        }),
    );
    assert!(!on);
    let op = "x-tyk-api-gateway.middleware.operations.getItem";
    assert_eq!(
        fields(&errors),
        [
            format!("{op}.transformRequestHeaders.add[0].name"),
            format!("{op}.transformResponseHeaders.remove"),
            format!("{op}.transformRequestMethod.toMethod"),
        ]
    );
}
