//! Unit tests of request validation (messages in Tyk's words).

use super::*;
use serde_json::json;
use weir_config::endpoints::EndpointKey;

fn classic_schema(schema: Value) -> Validator {
    super::schema(&SchemaSource {
        schema,
        dialect: Dialect::Declared,
        field: "f".into(),
    })
    .unwrap()
}

#[test]
fn gojsonschema_messages_as_tyk_writes_them() {
    let v = classic_schema(json!({
        "type": "object",
        "required": ["firstName", "lastName"],
        "properties": {"objs": {"enum": ["a", "b", "c"]}, "age": {"minimum": 0}}
    }));
    let s = StatusCode::UNPROCESSABLE_ENTITY;
    let (code, msg) = check_json(&v, s, br#"{"age": 23}"#).unwrap_err();
    assert_eq!(code, s);
    assert_eq!(
        msg,
        "firstName: firstName is required; lastName: lastName is required"
    );
    let (_, msg) = check_json(&v, s, b"[]").unwrap_err();
    assert_eq!(msg, "(root): Invalid type. Expected: object, given: array");
    let body = br#"{"firstName": "H", "lastName": "P", "objs": "d"}"#;
    let (_, msg) = check_json(&v, s, body).unwrap_err();
    assert_eq!(
        msg,
        r#"objs: objs must be one of the following: "a", "b", "c""#
    );
    let (code, msg) = check_json(&v, s, b"not_json").unwrap_err();
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(msg.starts_with("JSON parsing error: "), "{msg}");
    assert!(check_json(&v, s, br#"{"firstName": "H", "lastName": "P"}"#).is_ok());
}

#[test]
fn a_bad_schema_names_its_field() {
    let bad = SchemaSource {
        schema: json!({"type": "no-such-type"}),
        dialect: Dialect::Declared,
        field: "x.schema".into(),
    };
    let (field, why) = super::schema(&bad).err().unwrap();
    assert_eq!(field, "x.schema");
    assert!(why.contains("not a valid JSON Schema"), "{why}");
}

fn operation(doc_schema: Value, params: Vec<ParamRule>) -> EndpointList<EndpointCheck> {
    let src = |schema: Value| SchemaSource {
        schema,
        dialect: Dialect::Draft4,
        field: "f".into(),
    };
    let rules = vec![RequestValidation {
        key: EndpointKey {
            path: "/pets/{id}".into(),
            method: "POST".into(),
            ignore_case: false,
        },
        error_code: 422,
        rules: ValidationRules::Operation {
            params: params
                .into_iter()
                .map(|mut p| {
                    p.schema = p.schema.map(|s| src(s.schema));
                    p
                })
                .collect(),
            body: Some(BodyRule {
                required: true,
                content: vec![("application/json".into(), Some(src(doc_schema)))],
            }),
        },
    }];
    compile(&rules, EndpointMatching::default()).unwrap()
}

fn run(
    list: &EndpointList<EndpointCheck>,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let (m, c) = list.find(path, "POST").unwrap();
    let Rules::Operation {
        path_names,
        params,
        body: rule,
    } = &c.rules
    else {
        panic!("operation");
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    let view = RequestView {
        path,
        query,
        headers: &headers,
        body,
    };
    check_operation(path_names, m, params, rule.as_ref(), &view)
}

#[test]
fn operations_check_params_and_body_in_kin_openapis_words() {
    let schema = json!({
        "$ref": "#/components/schemas/Pet",
        "components": {"schemas": {"Pet": {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}}}}}
    });
    let id = ParamRule {
        name: "id".into(),
        location: ParamIn::Path,
        required: true,
        schema: Some(SchemaSource {
            schema: json!({"type": "integer"}),
            dialect: Dialect::Draft4,
            field: "p".into(),
        }),
    };
    let dry = ParamRule {
        name: "limit".into(),
        location: ParamIn::Query,
        required: true,
        schema: Some(SchemaSource {
            schema: json!({"type": "integer", "maximum": 10}),
            dialect: Dialect::Draft4,
            field: "q".into(),
        }),
    };
    let list = operation(schema, vec![id, dry]);
    assert!(run(&list, "/pets/7", Some("limit=3"), br#"{"name": "rex"}"#).is_ok());
    assert_eq!(
        run(&list, "/pets/7", Some("limit=3"), b"{}").unwrap_err(),
        "request validation error: request body has an error: doesn't match schema: Error at \"/name\": property \"name\" is missing"
    );
    assert_eq!(
        run(&list, "/pets/x", Some("limit=3"), b"{}").unwrap_err(),
        "request validation error: parameter \"id\" in path has an error: value x: an invalid integer: invalid syntax"
    );
    assert_eq!(
        run(&list, "/pets/7", None, b"{}").unwrap_err(),
        "request validation error: parameter \"limit\" in query has an error: value is required but missing"
    );
    assert_eq!(
        run(&list, "/pets/7", Some("limit=11"), b"{}").unwrap_err(),
        "request validation error: parameter \"limit\" in query has an error: number must be at most 10"
    );
    assert_eq!(
        run(&list, "/pets/7", Some("limit=1"), b"").unwrap_err(),
        "request validation error: request body has an error: value is required but missing"
    );
}
