//! Request size limits, request validation and enforced timeouts in both definition forms,
//! against the real binary and a recording upstream (its request count shows whether a
//! request reached it): classic `size_limits` / `global_size_limit`, OAS `requestSizeLimit`;
//! classic `validate_json`, OAS `validateRequest` with `$ref` schemas; classic `hard_timeouts`
//! / `global_enforce_timeout`, OAS `enforceTimeout` / `upstream.enforceTimeout`; and bad input
//! refused naming the field.

mod common;

use bytes::Bytes;
use common::{assert_refused, bin, classic_version, h1, merge, oas_paths, start_apis};
use serde_json::{Value, json};
use weir_testkit::{Gateway, HttpUpstream};

const TOO_LARGE: &str = "Request is too large";
const NO_LENGTH: &str = "Content length is required for this request";
const HARD_TIMEOUT: &str = "Upstream service reached hard timeout.";

/// A classic keyless API at `/<id>/` using extended paths; `version` is merged into its default
/// version.
fn classic(id: &str, target: &str, version: Value) -> Value {
    let mut v = json!({"use_extended_paths": true});
    merge(&mut v, version);
    classic_version(id, target, v)
}

/// An OAS keyless API at `/<id>/`; `gateway` is merged into its `x-tyk-api-gateway`, except
/// `components`, which is the document's.
fn oas(id: &str, target: &str, paths: Value, mut gateway: Value) -> Value {
    let components = gateway.as_object_mut().unwrap().remove("components");
    let mut api = oas_paths(id, target, paths, gateway);
    if let Some(components) = components {
        api["components"] = components;
    }
    api
}

/// Sends `body` (chunked, without Content-Length, when `chunked`); returns the status and
/// the body text.
async fn send(gw: &Gateway, method: &str, path: &str, body: &[u8], chunked: bool) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = h1()
        .request(method, gw.url(path))
        .header("content-type", "application/json");
    if chunked {
        let parts: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(4)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        req = req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            parts,
        )));
    } else if !body.is_empty() {
        req = req.body(body.to_vec());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The `error` message of a gateway answer.
fn error_of(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {text}"))
        .to_string()
}

/// Asserts an error answer that never reached the upstream.
async fn refused(
    gw: &Gateway,
    up: &HttpUpstream,
    req: (&str, &str, &[u8], bool),
    status: u16,
    msg: &str,
) {
    let before = up.request_count();
    let (got, text) = send(gw, req.0, req.1, req.2, req.3).await;
    assert_eq!(got, status, "{} {}: {text}", req.0, req.1);
    assert_eq!(error_of(&text), msg, "{} {}", req.0, req.1);
    assert_eq!(
        up.request_count(),
        before,
        "{} {} reached the upstream",
        req.0,
        req.1
    );
}

/// Asserts a request that reached the upstream with its body intact.
async fn passed(
    gw: &Gateway,
    up: &HttpUpstream,
    method: &str,
    path: &str,
    body: &[u8],
    chunked: bool,
) {
    let before = up.request_count();
    let (got, text) = send(gw, method, path, body, chunked).await;
    assert_eq!(got, 200, "{method} {path}: {text}");
    assert_eq!(
        up.request_count(),
        before + 1,
        "{method} {path} did not reach the upstream"
    );
    let echo: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        echo["body"].as_str().unwrap().as_bytes(),
        body,
        "{method} {path}"
    );
}

#[tokio::test]
async fn size_limits_per_path_and_for_the_whole_api() {
    let up = HttpUpstream::start();
    let u = up.url();
    let limit = json!({"enabled": true, "value": 10});
    let gw = start_apis(&[
        classic(
            "c",
            &u,
            json!({"extended_paths": {"size_limits": [
                {"path": "/up/{id}", "method": "POST", "size_limit": 10},
                {"path": "/off", "method": "POST", "size_limit": 1, "disabled": true}
            ]}}),
        ),
        oas(
            "o",
            &u,
            json!({"/up/{id}": {"post": {"operationId": "up"}}}),
            json!({"middleware": {"operations": {"up": {"requestSizeLimit": limit}}}}),
        ),
        classic("cg", &u, json!({"global_size_limit": 20})),
        classic(
            "cgoff",
            &u,
            json!({"global_size_limit": 20, "global_size_limit_disabled": true}),
        ),
        oas(
            "og",
            &u,
            json!({}),
            json!({"middleware": {"global": {"requestSizeLimit": {"enabled": true, "value": 20}}}}),
        ),
    ]);
    for api in ["c", "o"] {
        let path = format!("/{api}/up/7");
        passed(&gw, &up, "POST", &path, b"0123456789", false).await;
        refused(
            &gw,
            &up,
            ("POST", &path, b"0123456789A", false),
            400,
            TOO_LARGE,
        )
        .await;
        // A body without Content-Length is refused before any of it is sent on, as in Tyk.
        refused(&gw, &up, ("POST", &path, b"0123", true), 411, NO_LENGTH).await;
        // Tyk does not check methods whose bodies are not expected.
        let (status, _) = send(&gw, "GET", &path, b"", false).await;
        assert_eq!(status, 200, "{api}");
        for chunked in [false, true] {
            let elsewhere = format!("/{api}/elsewhere");
            passed(&gw, &up, "POST", &elsewhere, &[b'x'; 100], chunked).await;
        }
    }
    passed(&gw, &up, "POST", "/c/off", b"0123456789", false).await;
    for api in ["cg", "og"] {
        let path = format!("/{api}/any/where");
        passed(&gw, &up, "PUT", &path, &[b'y'; 20], false).await;
        refused(&gw, &up, ("PUT", &path, &[b'y'; 21], false), 400, TOO_LARGE).await;
        refused(&gw, &up, ("PATCH", &path, b"{}", true), 411, NO_LENGTH).await;
    }
    passed(&gw, &up, "PUT", "/cgoff/x", &[b'y'; 21], false).await;
}

#[tokio::test]
async fn size_limits_run_before_authentication() {
    let up = HttpUpstream::start();
    let mut api = classic("k", &up.url(), json!({"global_size_limit": 5}));
    api["use_keyless"] = json!(false);
    let gw = start_apis(&[api]);
    // Tyk checks the size before the key: too large is 400 even without a key.
    refused(&gw, &up, ("POST", "/k/x", b"123456", false), 400, TOO_LARGE).await;
    let (status, _) = send(&gw, "POST", "/k/x", b"12345", false).await;
    assert_eq!(status, 401, "within the limit, the missing key is next");
    assert_eq!(up.request_count(), 0);
}

const PERSON: &str = r#"{
    "type": "object",
    "required": ["firstName", "lastName"],
    "properties": {
        "firstName": {"type": "string"}, "lastName": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "objs": {"enum": ["a", "b", "c"]}
    }
}"#;

#[tokio::test]
async fn validate_json_checks_the_body_and_passes_it_on_intact() {
    let up = HttpUpstream::start();
    let schema: Value = serde_json::from_str(PERSON).unwrap();
    let gw = start_apis(&[classic(
        "v",
        &up.url(),
        json!({"extended_paths": {"validate_json": [
            {"path": "/people/{id}", "method": "POST", "schema": schema},
            {"path": "/strict", "method": "POST", "schema": schema, "error_response_code": 400},
            {"path": "/off", "method": "POST", "schema": schema, "disabled": true}
        ]}}),
    )]);
    let good = br#"{"firstName": "Harry", "lastName": "Potter", "age": 23}"#;
    passed(&gw, &up, "POST", "/v/people/1", good, false).await;
    passed(&gw, &up, "POST", "/v/people/1", good, true).await;
    let required = "firstName: firstName is required; lastName: lastName is required";
    let invalid: [(&[u8], &str); 3] = [
        (br#"{"age": 23}"#, required),
        (
            br#"{"firstName": "H", "lastName": "P", "objs": "d"}"#,
            r#"objs: objs must be one of the following: "a", "b", "c""#,
        ),
        (
            b"[]",
            "(root): Invalid type. Expected: object, given: array",
        ),
    ];
    for (body, msg) in invalid {
        refused(&gw, &up, ("POST", "/v/people/1", body, false), 422, msg).await;
    }
    let before = up.request_count();
    let (status, text) = send(&gw, "POST", "/v/people/1", b"not_json", false).await;
    assert_eq!(status, 400);
    assert!(
        error_of(&text).starts_with("JSON parsing error: "),
        "{text}"
    );
    assert_eq!(up.request_count(), before);
    refused(&gw, &up, ("POST", "/v/strict", b"{}", false), 400, required).await;
    passed(&gw, &up, "POST", "/v/off", b"{}", false).await;
    // Other methods and paths are not validated.
    passed(&gw, &up, "PUT", "/v/people/1", b"not json", false).await;
}

#[tokio::test]
async fn oas_validate_request_uses_the_operations_schemas() {
    let up = HttpUpstream::start();
    let paths = json!({
        "/pets/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "post": {
                "operationId": "addPet",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10}}],
                "requestBody": {"$ref": "#/components/requestBodies/Pet"}
            },
            "put": {
                "operationId": "putPet",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}
            }
        }
    });
    let gw = start_apis(&[oas(
        "p",
        &up.url(),
        paths,
        json!({
            "components": {
                "schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "tag": {"type": "string", "nullable": true}}}},
                "requestBodies": {"Pet": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Pet"}}}}}
            },
            "middleware": {"operations": {
                "addPet": {"validateRequest": {"enabled": true}},
                "putPet": {"validateRequest": {"enabled": true, "errorResponseCode": 400}}
            }}
        }),
    )]);
    let good = br#"{"name": "rex", "tag": null}"#;
    passed(&gw, &up, "POST", "/p/pets/7?limit=3", good, false).await;
    passed(&gw, &up, "POST", "/p/pets/7", good, true).await;
    let prefix = "request validation error: ";
    let invalid: [(&str, &str, &[u8], u16, &str); 5] = [
        (
            "POST",
            "/p/pets/7",
            br#"{"tag": "x"}"#,
            422,
            "request body has an error: doesn't match schema: Error at \"/name\": property \"name\" is missing",
        ),
        (
            "POST",
            "/p/pets/seven",
            good,
            422,
            "parameter \"id\" in path has an error: value seven: an invalid integer: invalid syntax",
        ),
        (
            "POST",
            "/p/pets/7?limit=11",
            good,
            422,
            "parameter \"limit\" in query has an error: number must be at most 10",
        ),
        (
            "POST",
            "/p/pets/7",
            b"",
            422,
            "request body has an error: value is required but missing",
        ),
        (
            "PUT",
            "/p/pets/7",
            br#"{"name": 5}"#,
            400,
            "request body has an error: doesn't match schema: Error at \"/name\": value must be a string",
        ),
    ];
    for (method, path, body, status, msg) in invalid {
        let msg = format!("{prefix}{msg}");
        refused(&gw, &up, (method, path, body, false), status, &msg).await;
    }
    let before = up.request_count();
    let (status, text) = send(&gw, "PUT", "/p/pets/7", b"{oops", false).await;
    assert_eq!(status, 400);
    let msg = error_of(&text);
    assert!(
        msg.starts_with(&format!(
            "{prefix}request body has an error: failed to decode request body: "
        )),
        "{msg}"
    );
    assert_eq!(up.request_count(), before);
}

#[tokio::test]
async fn enforced_timeouts_match_tyks_paths_and_answer_504() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic(
            "ct",
            &u,
            json!({"extended_paths": {"hard_timeouts": [
                {"path": "/{op}", "method": "GET", "duration": "300ms"}
            ]}}),
        ),
        classic("cg", &u, json!({"global_enforce_timeout": "300ms"})),
        oas(
            "ot",
            &u,
            json!({"/{op}": {"get": {"operationId": "slow", "parameters": [
                {"name": "op", "in": "path", "required": true, "schema": {"type": "string"}}]}}}),
            json!({"middleware": {"operations": {"slow": {"enforceTimeout": {"enabled": true, "duration": "300ms"}}}}}),
        ),
        oas(
            "og",
            &u,
            json!({}),
            json!({"upstream": {"enforceTimeout": {"enabled": true, "duration": "300ms"}}}),
        ),
    ]);
    for api in ["ct", "cg", "ot", "og"] {
        let started = std::time::Instant::now();
        let (status, text) = send(&gw, "GET", &format!("/{api}/slow?ms=2000"), b"", false).await;
        assert_eq!(status, 504, "{api}: {text}");
        assert_eq!(error_of(&text), HARD_TIMEOUT);
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1500),
            "{api}"
        );
        // A fast enough upstream is answered.
        let (status, _) = send(&gw, "GET", &format!("/{api}/slow?ms=10"), b"", false).await;
        assert_eq!(status, 200, "{api}");
    }
    // The endpoint entries are for GET only; other methods keep the gateway's default.
    for api in ["ct", "ot"] {
        let (status, _) = send(&gw, "POST", &format!("/{api}/slow?ms=600"), b"{}", false).await;
        assert_eq!(status, 200, "{api}");
    }
}

#[tokio::test]
async fn bad_input_refuses_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic(
            "badschema",
            &u,
            json!({"extended_paths": {"validate_json": [
            {"path": "/v", "method": "POST", "schema": {"type": "no-such-type"}}]}}),
        ),
        classic(
            "badsize",
            &u,
            json!({"extended_paths": {"size_limits": [
            {"path": "/v", "method": "POST", "size_limit": "big"}]}}),
        ),
        classic("badglobal", &u, json!({"global_enforce_timeout": 5})),
        oas(
            "badoas",
            &u,
            json!({"/v": {"post": {"operationId": "v", "requestBody": {"content": {
                "application/json": {"schema": {"type": "object", "minProperties": "two"}}}}}}}),
            json!({"middleware": {"operations": {"v": {"validateRequest": {"enabled": true}}}}}),
        ),
        oas(
            "badtimeout",
            &u,
            json!({"/v": {"get": {"operationId": "v"}}}),
            json!({"middleware": {"operations": {"v": {"enforceTimeout": {"enabled": true, "duration": "5 parsecs"}}}}}),
        ),
        classic("fine", &u, json!({})),
    ]);
    let (status, _) = send(&gw, "GET", "/fine/v", b"", false).await;
    assert_eq!(status, 200);
    let fields = [
        "version_data.versions.Default.extended_paths.validate_json[0].schema",
        "version_data.versions.Default.extended_paths.size_limits[0].size_limit",
        "version_data.versions.Default.global_enforce_timeout",
        "paths./v.post.requestBody.content.application/json.schema",
        "x-tyk-api-gateway.middleware.operations.v.enforceTimeout.duration",
    ];
    let refused = ["badschema", "badsize", "badglobal", "badoas", "badtimeout"];
    assert_refused(&gw, &refused, "/v", &fields).await;
}

const STAMP: &str = r#"
var stamp = new TykJS.TykMiddleware.NewMiddleware({});
stamp.NewProcessRequest(function(request, session) {
  request.SetHeaders["X-Post"] = "yes";
  return stamp.ReturnData(request, {});
});
"#;

#[tokio::test]
async fn a_validated_body_still_reaches_post_plugins_and_the_upstream() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("stamp.js");
    std::fs::write(&script, STAMP).unwrap();
    let schema: Value = serde_json::from_str(PERSON).unwrap();
    let mut api = classic(
        "vp",
        &up.url(),
        json!({"extended_paths": {"validate_json": [{"path": "/p", "method": "POST", "schema": schema}]}}),
    );
    api["custom_middleware"] =
        json!({"driver": "otto", "post": [{"name": "stamp", "path": script}]});
    let gw = Gateway::start(
        bin(),
        &[("vp.json", api)],
        json!({"enable_jsvm": true, "jsvm_timeout": 1}),
    );
    let good = br#"{"firstName": "Harry", "lastName": "Potter"}"#;
    for chunked in [false, true] {
        let (status, text) = send(&gw, "POST", "/vp/p", good, chunked).await;
        assert_eq!(status, 200, "{text}");
        let echo: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(echo["body"].as_str().unwrap().as_bytes(), good);
        assert_eq!(echo["headers"]["x-post"][0], "yes");
    }
    refused(
        &gw,
        &up,
        ("POST", "/vp/p", b"{}", false),
        422,
        "firstName: firstName is required; lastName: lastName is required",
    )
    .await;
}
