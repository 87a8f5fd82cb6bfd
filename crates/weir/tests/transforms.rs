//! Transforms without bodies in both definition forms, against the real binary and a recording
//! upstream: per-path request and response header rules (classic `transform_headers` /
//! `transform_response_headers`, OAS `transformRequestHeaders` / `transformResponseHeaders`),
//! method transforms (`method_transforms`, `transformRequestMethod`), context variables
//! (`enable_context_vars`, OAS `contextVariables`) and `$tyk_meta.` placeholders, and bad
//! entries refused naming the field.

mod common;
mod support;

use common::{assert_refused, classic_extended, h1, oas_paths, protect, start_apis};
use serde_json::{Value, json};
use support::create_key;
use weir_testkit::{Gateway, HttpUpstream};

/// Header values that read context variables.
fn context_headers() -> Value {
    json!({
        "X-Id-Copy": "id:$tyk_context.headers_X_Id",
        "X-Q": "$tyk_context.request_data_q",
        "X-Parts": "$tyk_context.path_parts",
        "X-Rid": "$tyk_context.request_id",
        "X-Tier": "tier:$tyk_meta.tier"
    })
}

/// A classic keyless API at `/<id>/` with these `extended_paths` and global headers.
fn classic(id: &str, target: &str, context_vars: bool, extended: Value) -> Value {
    let mut def = classic_extended(id, target, extended);
    def["enable_context_vars"] = json!(context_vars);
    def["version_data"]["versions"]["Default"]["global_headers"] =
        json!({"X-Global": "$tyk_context.path"});
    def
}

/// The classic rules every form test uses.
fn classic_rules() -> Value {
    json!({
        "transform_headers": [
            {"path": "/items/{id}", "method": "GET", "delete_headers": ["X-Drop"],
             "add_headers": context_headers()},
            {"path": "/form", "method": "POST", "add_headers": {"X-F": "$tyk_context.request_data_f"}}
        ],
        "transform_response_headers": [
            {"path": "/items/{id}", "method": "GET", "delete_headers": ["X-Upstream"],
             "add_headers": {"X-Resp": "item-$tyk_context.headers_X_Id"}},
            {"path": "/convert", "method": "GET", "add_headers": {"X-Was": "get"}}
        ],
        "method_transforms": [{"path": "/convert", "method": "GET", "to_method": "post"}]
    })
}

/// An OAS keyless API at `/<id>/` with the same rules as [`classic_rules`].
fn oas(id: &str, target: &str, context_vars: bool) -> Value {
    let add: Vec<Value> = context_headers()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let paths = json!({
        "/items/{id}": {"get": {"operationId": "getItem"}},
        "/form": {"post": {"operationId": "form"}},
        "/convert": {"get": {"operationId": "convert"}},
        "/other": {"get": {"operationId": "other"}}
    });
    oas_paths(
        id,
        target,
        paths,
        json!({
            "middleware": {
                "global": {
                    "contextVariables": {"enabled": context_vars},
                    "transformRequestHeaders": {"enabled": true,
                        "add": [{"name": "X-Global", "value": "$tyk_context.path"}]}
                },
                "operations": {
                    "getItem": {
                        "transformRequestHeaders": {"enabled": true, "add": add, "remove": ["X-Drop"]},
                        "transformResponseHeaders": {"enabled": true, "remove": ["X-Upstream"],
                            "add": [{"name": "X-Resp", "value": "item-$tyk_context.headers_X_Id"}]}
                    },
                    "form": {"transformRequestHeaders": {"enabled": true,
                        "add": [{"name": "X-F", "value": "$tyk_context.request_data_f"}]}},
                    "convert": {
                        "transformRequestMethod": {"enabled": true, "toMethod": "POST"},
                        "transformResponseHeaders": {"enabled": true,
                            "add": [{"name": "X-Was", "value": "get"}]}
                    }
                }
            }
        }),
    )
}

/// A gateway serving the same rules in both forms: classic API `ids[0]` and OAS API `ids[1]`.
fn start_both(target: &str, ids: [&str; 2], context_vars: bool) -> Gateway {
    start_apis(&[
        classic(ids[0], target, context_vars, classic_rules()),
        oas(ids[1], target, context_vars),
    ])
}

/// What the upstream saw and the answer's headers.
struct Seen {
    echo: Value,
    headers: reqwest::header::HeaderMap,
}

impl Seen {
    fn sent(&self, name: &str) -> Option<&str> {
        self.echo["headers"][name][0].as_str()
    }
    fn answered(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn call(gw: &Gateway, method: &str, path: &str, key: Option<&str>) -> Seen {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = h1()
        .request(method, gw.url(path))
        .header("X-Id", "abc")
        .header("X-Drop", "1");
    if let Some(k) = key {
        req = req.header("Authorization", k);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let headers = resp.headers().clone();
    let echo = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    Seen { echo, headers }
}

#[tokio::test]
async fn header_rules_fill_context_variables_in_both_forms() {
    let up = HttpUpstream::start();
    let gw = start_both(&up.url(), ["cc", "oc"], true);
    for api in ["cc", "oc"] {
        let seen = call(&gw, "GET", &format!("/{api}/items/7?q=hello"), None).await;
        assert_eq!(seen.sent("x-id-copy"), Some("id:abc"), "{api}");
        assert_eq!(seen.sent("x-q"), Some("hello"), "{api}");
        assert_eq!(seen.sent("x-parts").unwrap(), format!("{api},items,7"));
        // A keyless API has no session: `$tyk_meta.` prints as "".
        assert_eq!(seen.sent("x-tier"), Some("tier:"), "{api}");
        assert_eq!(seen.sent("x-drop"), None, "{api}: removed");
        assert_eq!(seen.sent("x-id"), Some("abc"), "{api}");
        // The API's rules apply everywhere, with placeholders too.
        assert_eq!(seen.sent("x-global").unwrap(), format!("/{api}/items/7"));
        assert_eq!(seen.answered("x-resp"), Some("item-abc"), "{api}");
        assert_eq!(seen.answered("x-upstream"), None, "{api}: removed");
        let first = seen.sent("x-rid").unwrap().to_string();
        let again = call(&gw, "GET", &format!("/{api}/items/8"), None).await;
        let second = again.sent("x-rid").unwrap();
        assert_eq!((first.len(), second.len()), (36, 36), "uuids");
        assert_ne!(first, second, "{api}: one request id per request");
        assert_eq!(again.sent("x-q"), Some(""), "{api}: no such parameter");

        // Another path: only the API's rules.
        let other = call(&gw, "GET", &format!("/{api}/other"), None).await;
        assert_eq!(other.sent("x-id-copy"), None, "{api}");
        assert_eq!(other.sent("x-drop"), Some("1"), "{api}");
        assert_eq!(other.sent("x-global").unwrap(), format!("/{api}/other"));
        assert_eq!(other.answered("x-resp"), None, "{api}");
        assert_eq!(other.answered("x-upstream"), Some("testkit"), "{api}");
    }
}

#[tokio::test]
async fn form_bodies_are_context_variables_and_still_go_upstream() {
    let up = HttpUpstream::start();
    let gw = start_both(&up.url(), ["cf", "of"], true);
    for api in ["cf", "of"] {
        let resp = h1()
            .post(gw.url(&format!("/{api}/form?f=query")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("f=from+body&g=2")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let echo: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        // Go's form: body values come before the query's.
        assert_eq!(echo["headers"]["x-f"][0], "from body", "{api}");
        assert_eq!(echo["body"], "f=from+body&g=2", "{api}");
    }
}

#[tokio::test]
async fn method_transforms_change_the_upstream_method_in_both_forms() {
    let up = HttpUpstream::start();
    let gw = start_both(&up.url(), ["cm", "om"], false);
    for api in ["cm", "om"] {
        let seen = call(&gw, "GET", &format!("/{api}/convert"), None).await;
        assert_eq!(seen.echo["method"], "POST", "{api}");
        // Response rules match the method the client used, as Tyk's do.
        assert_eq!(seen.answered("x-was"), Some("get"), "{api}");
        let other = call(&gw, "GET", &format!("/{api}/other"), None).await;
        assert_eq!(other.echo["method"], "GET", "{api}");
    }
}

#[tokio::test]
async fn context_variables_off_print_as_empty_as_in_tyk() {
    let up = HttpUpstream::start();
    let gw = start_both(&up.url(), ["cx", "ox"], false);
    for api in ["cx", "ox"] {
        let seen = call(&gw, "GET", &format!("/{api}/items/7?q=hello"), None).await;
        assert_eq!(seen.sent("x-id-copy"), Some("id:"), "{api}");
        assert_eq!(seen.sent("x-q"), Some(""), "{api}");
        assert_eq!(seen.sent("x-rid"), Some(""), "{api}");
        assert_eq!(seen.sent("x-global"), Some(""), "{api}");
        assert_eq!(seen.answered("x-resp"), Some("item-"), "{api}");
        // The rules themselves still apply.
        assert_eq!(seen.sent("x-drop"), None, "{api}");
    }
}

#[tokio::test]
async fn meta_placeholders_read_the_callers_session() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        protect(classic("ck", &u, false, classic_rules())),
        protect(oas("ok", &u, false)),
    ]);
    let key = create_key(&gw, &["ck", "ok"], json!({"tier": "gold"})).await;
    for api in ["ck", "ok"] {
        let seen = call(&gw, "GET", &format!("/{api}/items/1"), Some(&key)).await;
        assert_eq!(seen.sent("x-tier"), Some("tier:gold"), "{api}");
    }
}

#[tokio::test]
async fn bad_entries_refuse_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let mut bad_oas = oas("bo", &u, true);
    let ops = &mut bad_oas["x-tyk-api-gateway"]["middleware"]["operations"];
    ops["convert"]["transformRequestMethod"]["toMethod"] = json!("TRACE");
    ops["form"]["transformRequestHeaders"]["add"] = json!([{"value": "x"}]);
    let gw = start_apis(&[
        classic(
            "nomethod",
            &u,
            true,
            json!({"transform_headers": [{"path": "/a", "add_headers": {"X": "1"}}]}),
        ),
        classic(
            "tohead",
            &u,
            true,
            json!({"method_transforms": [{"path": "/a", "method": "GET", "to_method": "HEAD"}]}),
        ),
        classic(
            "badname",
            &u,
            true,
            json!({"transform_response_headers": [
                {"path": "/a", "method": "GET", "delete_headers": ["no spaces"]}]}),
        ),
        bad_oas,
        classic("fine", &u, true, classic_rules()),
    ]);
    let ok = h1().get(gw.url("/fine/other")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let base = "version_data.versions.Default.extended_paths";
    let op = "x-tyk-api-gateway.middleware.operations";
    let fields = [
        format!("{base}.transform_headers[0].method"),
        format!("{base}.method_transforms[0].to_method"),
        format!("{base}.transform_response_headers[0].delete_headers[0]"),
        format!("{op}.convert.transformRequestMethod.toMethod"),
        format!("{op}.form.transformRequestHeaders.add[0].name"),
    ];
    let refused = ["nomethod", "tohead", "badname", "bo"];
    assert_refused(&gw, &refused, "/a", &fields).await;
}
