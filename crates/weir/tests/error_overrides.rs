//! Error overrides (`error_overrides`, OAS `errorOverrides`, tyk.conf `error_overrides`),
//! `override_messages` and the `template_path` error templates, in both definition forms,
//! against the real binary and a recording upstream.

mod common;

use common::{
    assert_json_error, assert_refused, classic_api, closed_url, get, h1, json_body, oas_api,
    protect, start,
};
use serde_json::{Value, json};
use weir_testkit::HttpUpstream;

/// The OAS form of a classic `error_overrides` map (camelCase keys, `enabled`).
fn oas_overrides(classic: &Value) -> Value {
    let text = classic
        .to_string()
        .replace("\"status_code\"", "\"statusCode\"")
        .replace("\"message_pattern\"", "\"messagePattern\"")
        .replace("\"body_field\"", "\"bodyField\"")
        .replace("\"body_value\"", "\"bodyValue\"");
    json!({ "errorOverrides": { "enabled": true, "value": serde_json::from_str::<Value>(&text).unwrap() } })
}

async fn get_with(url: &str, header: &str, value: &str) -> reqwest::Response {
    h1().get(url).header(header, value).send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Both forms of each API: `<id>c` (classic) and `<id>o` (OAS).
fn both(id: &str, target: &str, classic_extra: Value, protected: bool) -> Vec<Value> {
    let overrides = classic_extra.get("error_overrides").cloned();
    let mut c = classic_api(&format!("{id}c"), target, classic_extra);
    let oas_id = format!("{id}o");
    let mut o = oas_api(
        &oas_id,
        &format!("/{oas_id}/"),
        target,
        overrides.map_or(json!({}), |v| oas_overrides(&v)),
    );
    if protected {
        c = protect(c);
        o = protect(o);
    }
    vec![c, o]
}

#[tokio::test]
async fn a_missing_key_is_overridden_with_status_body_and_headers() {
    let up = HttpUpstream::start();
    let rules = json!({"error_overrides": {"401": [{"response": {
        "status_code": 418,
        "body": "{\"oops\": \"{{.Message}}\", \"code\": {{.StatusCode}}}",
        "message": "who are you?",
        "headers": {"X-Override": "yes"}
    }}]}});
    let mut apis = both("miss", &up.url(), rules.clone(), true);
    let mut off = rules.clone();
    off["error_overrides_disabled"] = json!(true);
    apis.push(protect(classic_api("offc", &up.url(), off)));
    let gw = start(&apis, json!({}));
    for id in ["missc", "misso"] {
        let resp = get(&gw.url(&format!("/{id}/x"))).await;
        assert_eq!(resp.status(), 418, "{id}");
        assert_eq!(header(&resp, "x-override"), "yes", "{id}");
        assert_eq!(header(&resp, "content-type"), "application/json", "{id}");
        // Tyk escapes an override's message for JavaScript: `?` stays, `'` would not.
        assert_eq!(
            json_body(resp).await,
            json!({"oops": "who are you?", "code": 418}),
            "{id}"
        );
    }
    let resp = get(&gw.url("/offc/x")).await;
    assert_eq!(
        assert_json_error(resp, 401).await,
        "Authorization field missing"
    );
}

#[tokio::test]
async fn rules_match_the_message_and_upstream_errors() {
    let up = HttpUpstream::start();
    let rules = json!({"error_overrides": {
        "5xx": [
            {"match": {"message_pattern": "^never$"}, "response": {"status_code": 500}},
            {"match": {"message_pattern": "proxying"}, "response": {"status_code": 503, "message": "Upstream is down"}}
        ],
        "500": [{"match": {"message_pattern": "status 5\\d\\d"}, "response": {"status_code": 502, "body": "boom"}}],
        "409": [{"match": {"body_field": "error.code", "body_value": "E1"}, "response": {"message": "conflict"}}]
    }});
    let mut apis = both("down", &closed_url(), rules.clone(), false);
    apis.extend(both("up", &up.url(), rules, false));
    let gw = start(&apis, json!({}));
    for form in ["c", "o"] {
        let resp = get(&gw.url(&format!("/down{form}/x"))).await;
        assert_eq!(
            assert_json_error(resp, 503).await,
            "Upstream is down",
            "{form}"
        );
        // An upstream 500 whose body matches: Tyk's response-side override.
        let resp = get(&gw.url(&format!("/up{form}/status/500"))).await;
        assert_eq!(resp.status(), 502, "{form}");
        assert_eq!(resp.text().await.unwrap(), "boom");
        // No rule for 404: the upstream's answer passes untouched.
        let resp = get(&gw.url(&format!("/up{form}/status/404"))).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.text().await.unwrap(), "status 404");
        // body_field/body_value do not match a plain-text body.
        let resp = get(&gw.url(&format!("/up{form}/status/409"))).await;
        assert_eq!(resp.text().await.unwrap(), "status 409");
    }
}

#[tokio::test]
async fn override_messages_and_gateway_rules_change_the_auth_errors() {
    let up = HttpUpstream::start();
    let conf = json!({
        "override_messages": {
            "auth.auth_field_missing": {"code": 400, "message": "Give me a key"},
            "auth.key_not_found": {"message": "No such key"}
        },
        "error_overrides": {"403": [{"response": {"headers": {"X-Gateway-Rule": "1"}}}]}
    });
    let mut apis = both("auth", &up.url(), json!({}), true);
    let limit = json!({"global_rate_limit": {"rate": 1, "per": 60}});
    apis.push(classic_api("rl", &up.url(), limit));
    let gw = start(&apis, conf);
    for form in ["c", "o"] {
        let resp = get(&gw.url(&format!("/auth{form}/x"))).await;
        assert_eq!(
            assert_json_error(resp, 400).await,
            "Give me a key",
            "{form}"
        );
        let resp = get_with(&gw.url(&format!("/auth{form}/x")), "Authorization", "nope").await;
        assert_eq!(header(&resp, "x-gateway-rule"), "1", "{form}");
        assert_eq!(assert_json_error(resp, 403).await, "No such key", "{form}");
    }
    // A 429 has no id and no rule: Tyk's message.
    assert_eq!(get(&gw.url("/rl/x")).await.status(), 200);
    let resp = get(&gw.url("/rl/x")).await;
    assert_eq!(
        assert_json_error(resp, 429).await,
        "API Rate Limit Exceeded"
    );
    // An XML request gets Tyk's stock XML template.
    let resp = get_with(&gw.url("/authc/x"), "Content-Type", "text/xml").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "content-type"), "text/xml");
    let body = resp.text().await.unwrap();
    assert!(body.ends_with("<error>Give me a key</error>"), "{body}");
}

#[tokio::test]
async fn a_template_folder_answers_the_errors() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "error.json",
        r#"{"custom": "{{.Message}}", "status": {{ .StatusCode }}}"#,
    );
    write("error_401.json", r#"{"unauthorised": "{{.Message}}"}"#);
    write("error.xml", r#"<e code="{{.StatusCode}}">{{.Message}}</e>"#);
    write("error_upstream.json", r#"{"upstream": "{{.Message}}"}"#);
    write("notes.txt", "not a template: {{.Ignored}}");
    let rules = json!({"error_overrides": {"500": [{"response": {"template": "error_upstream", "message": "a<b"}}]}});
    let mut apis = both("tpl", &up.url(), json!({}), true);
    apis.extend(both("tpldown", &closed_url(), json!({}), false));
    apis.extend(both("tplup", &up.url(), rules, false));
    let conf = json!({"template_path": dir.path().to_str().unwrap()});
    let gw = start(&apis, conf);
    for form in ["c", "o"] {
        let resp = get(&gw.url(&format!("/tpl{form}/x"))).await;
        assert_eq!(resp.status(), 401);
        let body = json_body(resp).await;
        assert_eq!(
            body,
            json!({"unauthorised": "Authorization field missing"}),
            "{form}"
        );
        let resp = get(&gw.url(&format!("/tpldown{form}/x"))).await;
        assert_eq!(resp.status(), 502);
        let body = json_body(resp).await;
        let want = json!({"custom": "There was a problem proxying the request", "status": 502});
        assert_eq!(body, want, "{form}");
        let xml = get_with(
            &gw.url(&format!("/tpl{form}/x")),
            "Content-Type",
            "application/xml",
        )
        .await;
        assert_eq!(header(&xml, "content-type"), "application/xml");
        assert_eq!(
            xml.text().await.unwrap(),
            r#"<e code="401">Authorization field missing</e>"#
        );
        // An upstream 500 through the rule's template file, its message escaped for JSON.
        let resp = get(&gw.url(&format!("/tplup{form}/status/500"))).await;
        assert_eq!(resp.status(), 500);
        assert_eq!(json_body(resp).await, json!({"upstream": "a<b"}), "{form}");
    }
}

#[tokio::test]
async fn a_looped_apis_errors_get_its_overrides_then_the_callers_as_in_tyk() {
    let up = HttpUpstream::start();
    // The internal API allows one path; any other is its own 403 `Requested endpoint is
    // forbidden`, which its rule turns into a 418.
    let inner_rules = json!({"internal": true, "error_overrides": {"403": [{"response": {
        "status_code": 418, "body": "{\"by\": \"inner\"}", "headers": {"X-Override": "inner"}
    }}]}});
    let mut inner = classic_api("inner", &up.url(), inner_rules);
    let version = &mut inner["version_data"]["versions"]["Default"];
    version["use_extended_paths"] = json!(true);
    version["extended_paths"] = json!({"white_list": [
        {"path": "/open", "method_actions": {"GET": {"action": "no_action"}}}
    ]});
    // The looping APIs have rules for that 418 and for 500.
    let outer_rules = json!({"error_overrides": {
        "418": [{"response": {"status_code": 409, "body": "outer", "headers": {"X-Outer": "yes"}}}],
        "500": [{"response": {"status_code": 503, "message": "no loop target"}}]
    }});
    let mut rewrite = classic_api("rewrite", &up.url(), outer_rules.clone());
    let version = &mut rewrite["version_data"]["versions"]["Default"];
    version["use_extended_paths"] = json!(true);
    version["extended_paths"] = json!({"url_rewrites": [{"path": "/secret", "method": "GET",
        "match_pattern": "/secret", "rewrite_to": "tyk://inner/secret"}]});
    let apis = [
        inner,
        rewrite,
        classic_api("front", "tyk://inner/", outer_rules.clone()),
        classic_api("lost", "tyk://nobody/", outer_rules),
    ];
    let gw = start(&apis, json!({}));
    // A URL rewrite's loop: the looped API's handler writes the answer (Tyk's
    // DummyProxyHandler); the looping API's rules do not see it.
    let resp = get(&gw.url("/rewrite/secret")).await;
    assert_eq!(resp.status(), 418);
    assert_eq!(header(&resp, "x-override"), "inner");
    assert_eq!(header(&resp, "x-outer"), "");
    assert_eq!(json_body(resp).await, json!({"by": "inner"}));
    // A `target_url` loop: Tyk's reverse proxy gets the looped answer as an upstream's, so the
    // looping API's upstream rules apply after the looped API's.
    let resp = get(&gw.url("/front/secret")).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(header(&resp, "x-override"), "inner");
    assert_eq!(header(&resp, "x-outer"), "yes");
    assert_eq!(resp.text().await.unwrap(), "outer");
    let echo = json_body(get(&gw.url("/front/open")).await).await;
    assert_eq!(echo["path"], "/open");
    assert_eq!(up.request_count(), 1);
    // A loop that fails is the looping API's own error: its rules apply.
    let resp = get(&gw.url("/lost/x")).await;
    assert_eq!(assert_json_error(resp, 503).await, "no loop target");
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_field() {
    let up = HttpUpstream::start();
    let bad_regex =
        json!({"error_overrides": {"401": [{"match": {"message_pattern": "("}, "response": {}}]}});
    let bad_body = json!({"errorOverrides": {"enabled": true, "value": {"4xx": [{"response": {"body": "{{.Nope}}"}}]}}});
    let apis = [
        classic_api("badc", &up.url(), bad_regex),
        oas_api("bado", "/bado/", &up.url(), bad_body),
        classic_api("good", &up.url(), json!({})),
    ];
    let gw = start(&apis, json!({}));
    assert_eq!(get(&gw.url("/good/x")).await.status(), 200);
    let fields = [
        "error_overrides.401[0].match.message_pattern",
        "x-tyk-api-gateway.errorOverrides.value.4xx[0].response.body",
        "{{.Nope}}",
    ];
    assert_refused(&gw, &["badc", "bado"], "/x", &fields).await;
}

#[test]
fn a_template_with_other_fields_refuses_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("tpl");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("error.json"), r#"{"error": "{{.Message}}"}"#).unwrap();
    std::fs::write(templates.join("error_500.json"), r#"{"at": "{{.Time}}"}"#).unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let conf =
        json!({"listen_port": 8080, "secret": "s", "app_path": "apps", "template_path": "tpl"});
    let conf_path = dir.path().join("weir.json");
    std::fs::write(&conf_path, conf.to_string()).unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["check", "--conf", conf_path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("template_path") && text.contains("error_500.json"),
        "{text}"
    );
    assert!(text.contains("{{.Time}}"), "{text}");
}
