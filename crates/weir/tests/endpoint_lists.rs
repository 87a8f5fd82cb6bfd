//! Endpoint lists in both definition forms, against the real binary and a recording upstream:
//! allow lists (classic `white_list`, OAS `allow`), block lists (`black_list`, `block`),
//! endpoints served without a key (`ignored`, `ignoreAuthentication`), mock replies (classic
//! `method_actions` replies and `mock_response`, OAS `mockResponse`), `{id}` and regex paths,
//! `ignore_case`, and bad input refused naming the field.

mod common;
mod support;

use common::{assert_refused, classic_extended, h1, oas_operations, protect, start_apis};
use serde_json::{Value, json};
use support::create_key;
use weir_testkit::{Gateway, HttpUpstream};

const FORBIDDEN: &str = "Requested endpoint is forbidden";

async fn send(gw: &Gateway, method: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = h1().request(method, gw.url(path));
    if let Some(k) = key {
        req = req.header("Authorization", k);
    }
    req.send().await.unwrap()
}

/// Status and, for Tyk's errors, the message.
async fn outcome(gw: &Gateway, method: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let resp = send(gw, method, path, key).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, message)
}

fn ok() -> (u16, String) {
    (200, String::new())
}

fn forbidden() -> (u16, String) {
    (403, FORBIDDEN.to_string())
}

#[tokio::test]
async fn allow_lists_pass_listed_endpoints_and_forbid_the_rest() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic_extended(
            "wc",
            &u,
            json!({"white_list": [
                {"path": "/pets/{id}", "method": "GET"},
                {"path": "/status$", "method": ""},
                {"path": "/off", "method": "GET", "disabled": true}
            ]}),
        ),
        oas_operations(
            "wo",
            &u,
            json!({
                "/pets/{id}": {"get": {"operationId": "getPet"}, "delete": {"operationId": "delPet"}},
                "/other": {"get": {"operationId": "other"}}
            }),
            json!({"getPet": {"allow": {"enabled": true}}, "delPet": {"allow": {"enabled": false}}}),
        ),
    ]);
    for api in ["wc", "wo"] {
        let before = up.request_count();
        assert_eq!(
            outcome(&gw, "GET", &format!("/{api}/pets/7"), None).await,
            ok(),
            "{api}"
        );
        assert_eq!(
            up.request_count(),
            before + 1,
            "{api}: the upstream serves it"
        );
        for (method, path) in [("DELETE", "/pets/7"), ("GET", "/other"), ("GET", "/off")] {
            let path = format!("/{api}{path}");
            assert_eq!(
                outcome(&gw, method, &path, None).await,
                forbidden(),
                "{method} {path}"
            );
        }
        assert_eq!(
            up.request_count(),
            before + 1,
            "{api}: forbidden calls stay here"
        );
    }
    // Any method on an entry without one; `$` anchors the pattern's end.
    assert_eq!(outcome(&gw, "POST", "/wc/status", None).await, ok());
    assert_eq!(outcome(&gw, "GET", "/wc/status/x", None).await, forbidden());
}

#[tokio::test]
async fn block_lists_forbid_listed_endpoints_with_regex_paths_and_case_folding() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic_extended(
            "bc",
            &u,
            json!({"black_list": [
                {"path": "/admin/[0-9]+$", "method": "DELETE"},
                {"path": "/Secret", "method": "GET", "ignore_case": true},
                {"path": "/Loud", "method": "GET"}
            ]}),
        ),
        oas_operations(
            "bo",
            &u,
            json!({
                "/admin/{id}": {"delete": {"operationId": "delAdmin"}, "get": {"operationId": "getAdmin"}},
                "/Secret": {"get": {"operationId": "secret"}},
                "/Loud": {"get": {"operationId": "loud"}}
            }),
            json!({
                "delAdmin": {"block": {"enabled": true}},
                "secret": {"block": {"enabled": true, "ignoreCase": true}},
                "loud": {"block": {"enabled": true}}
            }),
        ),
    ]);
    for api in ["bc", "bo"] {
        let before = up.request_count();
        for (method, path) in [
            ("DELETE", "/admin/12"),
            ("GET", "/secret"),
            ("GET", "/Loud"),
        ] {
            let path = format!("/{api}{path}");
            assert_eq!(
                outcome(&gw, method, &path, None).await,
                forbidden(),
                "{method} {path}"
            );
        }
        assert_eq!(up.request_count(), before);
        // Another method, another case without `ignore_case`, an unlisted path: served.
        for (method, path) in [("GET", "/admin/12"), ("GET", "/loud"), ("GET", "/public")] {
            let path = format!("/{api}{path}");
            assert_eq!(
                outcome(&gw, method, &path, None).await,
                ok(),
                "{method} {path}"
            );
        }
        assert_eq!(up.request_count(), before + 3);
    }
    // The classic pattern is a regular expression: letters are not ids.
    assert_eq!(outcome(&gw, "DELETE", "/bc/admin/x", None).await, ok());
}

#[tokio::test]
async fn ignored_endpoints_are_served_without_a_key() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        protect(classic_extended(
            "ic",
            &u,
            json!({
                "ignored": [{"path": "/health", "method": "GET"}],
                "black_list": [{"path": "/health", "method": "GET"}]
            }),
        )),
        protect(oas_operations(
            "io",
            &u,
            json!({"/health": {"get": {"operationId": "health"}, "post": {"operationId": "poke"}},
                   "/data": {"get": {"operationId": "data"}}}),
            json!({"health": {"ignoreAuthentication": {"enabled": true}, "block": {"enabled": true}}}),
        )),
    ]);
    let key = create_key(&gw, &["ic", "io"], Value::Null).await;
    for api in ["ic", "io"] {
        let before = up.request_count();
        // Ignored wins over the block list (Tyk checks it first), and needs no key.
        assert_eq!(
            outcome(&gw, "GET", &format!("/{api}/health"), None).await,
            ok(),
            "{api}"
        );
        assert_eq!(up.request_count(), before + 1);
        let missing = (401, "Authorization field missing".to_string());
        assert_eq!(
            outcome(&gw, "POST", &format!("/{api}/health"), None).await,
            missing
        );
        assert_eq!(
            outcome(&gw, "GET", &format!("/{api}/data"), None).await,
            missing
        );
        let with_key = outcome(&gw, "GET", &format!("/{api}/data"), Some(&key)).await;
        assert_eq!(with_key, ok(), "{api}");
    }
}

#[tokio::test]
async fn mock_replies_answer_without_the_upstream() {
    let up = HttpUpstream::start();
    let u = up.url();
    let mut c = classic_extended(
        "mc",
        &u,
        json!({
            "white_list": [{"path": "/pets/{id}", "method_actions": {
                "GET": {"action": "reply", "code": 201, "data": "{\"pet\":1}",
                        "headers": {"X-Mock": "yes", "Content-Type": "application/json"}},
                "PUT": {"action": "no_action", "code": 200, "data": "", "headers": {}}}}],
            "mock_response": [{"path": "/hello", "method": "GET", "code": 203, "body": "hi",
                               "headers": {"X-Mock": "list"}}]
        }),
    );
    c["version_data"]["versions"]["Default"]["global_response_headers"] = json!({"X-Global": "g"});
    let mut o = protect(oas_operations(
        "mo",
        &u,
        json!({"/pets/{id}": {"get": {"operationId": "getPet"}}}),
        json!({"getPet": {
            "mockResponse": {"enabled": true, "code": 202, "body": "oas",
                             "headers": [{"name": "X-Mock", "value": "oas"}]},
            "ignoreAuthentication": {"enabled": true}
        }}),
    ));
    o["x-tyk-api-gateway"]["middleware"]["global"] = json!({"transformResponseHeaders": {
        "enabled": true, "add": [{"name": "X-Global", "value": "g"}]}});
    let gw = start_apis(&[c, o]);

    let resp = send(&gw, "GET", "/mc/pets/3", None).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-mock"], "yes");
    assert_eq!(resp.headers()["content-type"], "application/json");
    // Tyk writes classic replies itself: no global response headers.
    assert!(resp.headers().get("x-global").is_none());
    assert_eq!(resp.text().await.unwrap(), "{\"pet\":1}");
    let resp = send(&gw, "GET", "/mc/hello", None).await;
    assert_eq!(resp.status(), 203);
    assert_eq!(resp.headers()["x-mock"], "list");
    assert_eq!(resp.text().await.unwrap(), "hi");
    assert_eq!(up.request_count(), 0, "mocks do not call the upstream");
    // `no_action` proceeds; a method the table does not name is not on the allow list.
    assert_eq!(outcome(&gw, "PUT", "/mc/pets/3", None).await, ok());
    assert_eq!(up.request_count(), 1);
    assert_eq!(outcome(&gw, "POST", "/mc/pets/3", None).await, forbidden());

    // OAS mocks go through the response phases: the global response headers apply.
    let resp = send(&gw, "GET", "/mo/pets/3", None).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-mock"], "oas");
    assert_eq!(resp.headers()["x-global"], "g");
    assert_eq!(resp.text().await.unwrap(), "oas");
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn bad_entries_refuse_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic_extended(
            "badre",
            &u,
            json!({"white_list": [{"path": "/ok"}, {"path": "/pets/(", "method": "GET"}]}),
        ),
        classic_extended(
            "badcode",
            &u,
            json!({"ignored": [{"path": "/x", "method_actions": {"GET": {"action": "reply", "code": 0}}}]}),
        ),
        oas_operations(
            "badop",
            &u,
            json!({"/a": {"get": {"operationId": "a"}}}),
            json!({"a": {"allow": {"enabled": true}}, "ghost": {"block": {"enabled": true}}}),
        ),
        oas_operations(
            "badex",
            &u,
            json!({"/a": {"get": {"operationId": "a"}}}),
            json!({"a": {"mockResponse": {"enabled": true, "fromOASExamples": {"enabled": true}}}}),
        ),
        classic_extended(
            "fine",
            &u,
            json!({"white_list": [{"path": "/ok", "method": "GET"}]}),
        ),
    ]);
    assert_eq!(outcome(&gw, "GET", "/fine/ok", None).await, ok());
    let fields = [
        "version_data.versions.Default.extended_paths.white_list[1].path",
        "version_data.versions.Default.extended_paths.ignored[0].method_actions.GET.code",
        "x-tyk-api-gateway.middleware.operations.ghost",
        "x-tyk-api-gateway.middleware.operations.a.mockResponse",
    ];
    let refused = ["badre", "badcode", "badop", "badex"];
    assert_refused(&gw, &refused, "/a", &fields).await;
}

#[tokio::test]
async fn legacy_path_lists_apply_without_extended_paths() {
    let up = HttpUpstream::start();
    let mut legacy = classic_extended("lg", &up.url(), json!({"black_list": [{"path": "/open"}]}));
    let version = &mut legacy["version_data"]["versions"]["Default"];
    version["use_extended_paths"] = json!(false);
    version["paths"] = json!({"white_list": ["/open", "/items/{id}"], "black_list": ["/items/0"],
        "ignored": []});
    let gw = start_apis(&[legacy]);
    // `extended_paths` is off: its black list does not apply.
    assert_eq!(outcome(&gw, "GET", "/lg/open", None).await, ok());
    assert_eq!(outcome(&gw, "DELETE", "/lg/items/4", None).await, ok());
    assert_eq!(outcome(&gw, "GET", "/lg/items/0", None).await, forbidden());
    assert_eq!(outcome(&gw, "GET", "/lg/closed", None).await, forbidden());
    assert_eq!(up.request_count(), 2);
}
