use super::*;
use serde_json::json;

fn classic_of(v: Value) -> (Option<ErrorOverrides>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let o = classic(&v, Path::new("a.json"), &mut errors);
    (o, errors)
}

#[test]
fn templates_take_only_message_and_status() {
    let t = ErrorTemplate::parse(r#"{"e": "{{.Message}}", "c": {{ .StatusCode }}}"#).unwrap();
    assert_eq!(t.render("m", 418), r#"{"e": "m", "c": 418}"#);
    let e = ErrorTemplate::parse("{{.Foo}}").unwrap_err();
    assert!(e.contains("{{.Foo}}"), "{e}");
    assert!(ErrorTemplate::parse("{{.Message").is_err());
}

#[test]
fn rules_are_indexed_by_code_and_class() {
    let (o, errors) = classic_of(json!({"error_overrides": {
        "401": [{"match": {"message_pattern": "missing"}, "response": {"status_code": 418, "body": "{\"m\": \"{{.Message}}\"}"}}],
        "5xx": [{"response": {"message": "down", "headers": {"X-A": "1"}}}]
    }}));
    assert!(errors.is_empty(), "{errors:?}");
    let o = o.unwrap();
    let r = &o.exact[&401][0];
    assert_eq!(r.response.status_code, Some(418));
    assert!(matches!(r.response.body, Some(ErrorBody::Template(_))));
    assert_eq!(
        o.class[&5][0].response.headers,
        vec![("X-A".into(), "1".into())]
    );
}

#[test]
fn disabled_overrides_are_off() {
    let (o, errors) = classic_of(json!({"error_overrides_disabled": true,
        "error_overrides": {"500": [{"response": {"status_code": 503}}]}}));
    assert!(o.is_none() && errors.is_empty());
}

#[test]
fn bad_rules_name_the_field() {
    let (_, errors) = classic_of(json!({"error_overrides": {
        "40x": [],
        "500": [{"match": {"message_pattern": "(", "flag": "UCF"}, "response": {"status_code": 99, "body": "{{.X}}"}}]
    }}));
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"error_overrides.40x"), "{fields:?}");
    assert!(fields.contains(&"error_overrides.500[0].match.message_pattern"));
    assert!(fields.contains(&"error_overrides.500[0].match.flag"));
    assert!(fields.contains(&"error_overrides.500[0].response.status_code"));
    assert!(fields.contains(&"error_overrides.500[0].response.body"));
}

#[test]
fn oas_uses_camel_case_and_enabled() {
    let doc = json!({"x-tyk-api-gateway": {"errorOverrides": {"enabled": true,
        "value": {"429": [{"match": {"messagePattern": "API"}, "response": {"statusCode": 503}}]}}}});
    let mut errors = Vec::new();
    let o = oas(&doc, Path::new("a.json"), &mut errors).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(o.exact[&429][0].response.status_code, Some(503));
    let off =
        json!({"x-tyk-api-gateway": {"errorOverrides": {"enabled": false, "value": {"429": []}}}});
    assert!(oas(&off, Path::new("a.json"), &mut errors).is_none());
}

#[test]
fn override_messages_know_tyks_ids() {
    let doc = json!({"override_messages": {"auth.auth_field_missing": {"code": 400, "message": "no"},
        "auth.nope": {"code": 1}}});
    let errors = gateway(&doc, Path::new("tyk.conf"), Path::new("/nonexistent")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "override_messages.auth.nope");
}
