//! URL rewrites in both definition forms (classic `extended_paths.url_rewrites`, OAS
//! `operations.<id>.urlRewrite`), against the real binary and recording upstreams: `$1`
//! groups over the URL (listen path and query included), the query dropped unless captured,
//! triggers on headers, query values, path parts and the body with `any`/`all` and `reverse`,
//! their matches in the target, a rewrite to another host, placeholders, and bad patterns
//! refused naming the field.

mod common;
mod support;

use common::{assert_refused, classic_extended, h1, oas_operations, protect, start_apis};
use serde_json::{Value, json};
use support::create_key;
use weir_testkit::{Gateway, HttpUpstream};

/// A classic keyless API at `/<id>/` whose default version has these `url_rewrites`.
fn classic(id: &str, target: &str, rewrites: Value) -> Value {
    classic_extended(id, target, json!({ "url_rewrites": rewrites }))
}

/// Sends a request and returns the upstream's echo (path, query, body, headers).
async fn echo(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = h1().request(method, gw.url(path)).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// The path and query the upstream received.
async fn upstream_url(gw: &Gateway, method: &str, path: &str) -> (String, String) {
    let e = echo(gw, method, path, &[], "").await;
    (
        e["path"].as_str().unwrap().into(),
        e["query"].as_str().unwrap().into(),
    )
}

fn url(path: &str, query: &str) -> (String, String) {
    (path.to_string(), query.to_string())
}

/// The basic rewrites, in either form, for API `id`: (path, method, pattern, target).
const BASIC: [(&str, &str, &str, &str); 3] = [
    ("/pets/{id}", "GET", "/pets/(\\w+)", "/animals/$1"),
    ("/keep", "GET", "/keep(.*)", "/kept$1"),
    ("/lp", "GET", "^/(\\w+)/lp$", "/$1/inner?from=lp"),
];

fn basic_classic(id: &str, target: &str) -> Value {
    let entries: Vec<Value> = BASIC
        .iter()
        .map(|(path, method, pattern, to)| {
            json!({"path": path, "method": method, "match_pattern": pattern, "rewrite_to": to})
        })
        .collect();
    classic(id, target, json!(entries))
}

fn basic_oas(id: &str, target: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut ops = serde_json::Map::new();
    for (i, (path, method, pattern, to)) in BASIC.iter().enumerate() {
        let op = format!("op{i}");
        paths.insert(
            path.to_string(),
            json!({ method.to_lowercase(): { "operationId": op }, "post": { "operationId": format!("{op}post") } }),
        );
        ops.insert(
            op,
            json!({"urlRewrite": {"enabled": true, "pattern": pattern, "rewriteTo": to}}),
        );
    }
    oas_operations(id, target, Value::Object(paths), Value::Object(ops))
}

#[tokio::test]
async fn groups_fill_the_target_and_a_plain_rewrite_drops_the_query() {
    let up = HttpUpstream::start();
    let gw = start_apis(&[basic_classic("rwc", &up.url()), basic_oas("rwo", &up.url())]);
    for id in ["rwc", "rwo"] {
        // The group comes from the path; the query is not captured, so it is dropped.
        let got = upstream_url(&gw, "GET", &format!("/{id}/pets/7?x=1")).await;
        assert_eq!(got, url("/animals/7", ""), "{id}");
        // A pattern that captures the query keeps it.
        let got = upstream_url(&gw, "GET", &format!("/{id}/keep?x=1&y=2")).await;
        assert_eq!(got, url("/kept", "x=1&y=2"), "{id}");
        // The pattern sees the listen path; a target under it loses it to strip_listen_path.
        let got = upstream_url(&gw, "GET", &format!("/{id}/lp")).await;
        assert_eq!(got, url("/inner", "from=lp"), "{id}");
        // Another method: the entry does not apply.
        let got = upstream_url(&gw, "POST", &format!("/{id}/pets/7?x=1")).await;
        assert_eq!(got, url("/pets/7", "x=1"), "{id}");
    }
}

/// Triggers, in order: a header (`any`), a query value with a reversed header (`all`), the
/// body, a path part. Each target uses what its trigger matched.
fn trigger_classic(id: &str, target: &str) -> Value {
    classic(
        id,
        target,
        json!([{
            "path": "/t", "method": "POST", "match_pattern": "/t", "rewrite_to": "/basic",
            "triggers": [
                {"on": "any", "rewrite_to": "/gold/$tyk_context.trigger-0-X-Tier-0-0",
                 "options": {"header_matches": {"x-tier": {"match_rx": "gold-(\\w+)"}}}},
                {"on": "all", "rewrite_to": "/all/$tyk_context.trigger-1-q-0",
                 "options": {
                    "query_val_matches": {"q": {"match_rx": "^a\\w+"}},
                    "header_matches": {"X-Block": {"match_rx": "yes", "reverse": true}}}},
                {"on": "any", "rewrite_to": "/pay/$tyk_context.trigger-2-payload-0-0",
                 "options": {"payload_matches": {"match_rx": "item=(\\d+)"}}},
                {"on": "any", "rewrite_to": "/path/$tyk_context.trigger-3-seg-0",
                 "options": {"path_part_matches": {"seg": {"match_rx": "^t$"}}}}
            ]
        }]),
    )
}

fn trigger_oas(id: &str, target: &str) -> Value {
    oas_operations(
        id,
        target,
        json!({"/t": {"post": {"operationId": "t"}}}),
        json!({"t": {"urlRewrite": {
            "enabled": true, "pattern": "/t", "rewriteTo": "/basic",
            "triggers": [
                {"condition": "any", "rewriteTo": "/gold/$tyk_context.trigger-0-X-Tier-0-0",
                 "rules": [{"in": "header", "name": "x-tier", "pattern": "gold-(\\w+)"}]},
                {"condition": "all", "rewriteTo": "/all/$tyk_context.trigger-1-q-0",
                 "rules": [
                    {"in": "query", "name": "q", "pattern": "^a\\w+"},
                    {"in": "header", "name": "X-Block", "pattern": "yes", "negate": true}]},
                {"condition": "any", "rewriteTo": "/pay/$tyk_context.trigger-2-payload-0-0",
                 "rules": [{"in": "requestBody", "pattern": "item=(\\d+)"}]},
                {"condition": "any", "rewriteTo": "/path/$tyk_context.trigger-3-seg-0",
                 "rules": [{"in": "path", "name": "seg", "pattern": "^t$"}]}
            ]
        }}}),
    )
}

#[tokio::test]
async fn triggers_pick_the_target_and_fill_it_with_their_matches() {
    let up = HttpUpstream::start();
    let gw = start_apis(&[
        trigger_classic("trc", &up.url()),
        trigger_oas("tro", &up.url()),
    ]);
    for id in ["trc", "tro"] {
        let path = format!("/{id}/t");
        let e = echo(&gw, "POST", &path, &[("X-Tier", "gold-vip")], "").await;
        assert_eq!(e["path"], "/gold/vip", "{id}: header trigger");

        let q = format!("{path}?q=abc");
        let e = echo(&gw, "POST", &q, &[("X-Block", "no")], "").await;
        assert_eq!(
            e["path"], "/all/abc",
            "{id}: all of query and reversed header"
        );

        // The reversed header matches: the `all` trigger fails; the body decides, and the
        // upstream still gets the body.
        let e = echo(&gw, "POST", &q, &[("X-Block", "yes")], "item=42").await;
        assert_eq!(e["path"], "/pay/42", "{id}: body trigger");
        assert_eq!(e["body"], "item=42", "{id}: body kept for the upstream");

        // A reversed rule needs the header to be there: without it, `all` fails too.
        let e = echo(&gw, "POST", &format!("{path}?q=abc"), &[], "nothing").await;
        assert_eq!(e["path"], "/path/t", "{id}: path part trigger");
        assert_eq!(e["body"], "nothing", "{id}");
    }
}

#[tokio::test]
async fn a_full_url_sends_the_request_to_another_host() {
    let up = HttpUpstream::start();
    let other = HttpUpstream::start();
    let to = format!("{}/elsewhere/$1?via=rewrite", other.url());
    let gw = start_apis(&[
        classic(
            "hostc",
            &up.url(),
            json!([{"path": "/go/{x}", "method": "GET", "match_pattern": "/go/(\\w+)", "rewrite_to": to}]),
        ),
        oas_operations(
            "hosto",
            &up.url(),
            json!({"/go/{x}": {"get": {"operationId": "go"}}}),
            json!({"go": {"urlRewrite": {"enabled": true, "pattern": "/go/(\\w+)", "rewriteTo": to}}}),
        ),
    ]);
    for (i, id) in ["hostc", "hosto"].into_iter().enumerate() {
        let e = echo(&gw, "GET", &format!("/{id}/go/abc"), &[], "").await;
        assert_eq!(e["path"], "/elsewhere/abc", "{id}");
        assert_eq!(e["query"], "via=rewrite", "{id}");
        // The Host header names the new host.
        assert_eq!(e["authority"], other.addr().to_string(), "{id}");
        assert_eq!(other.request_count(), i + 1, "{id}");
    }
    assert_eq!(
        up.request_count(),
        0,
        "the API's own upstream is not called"
    );
    // A request the rewrite does not match still goes to the API's upstream.
    let e = echo(&gw, "GET", "/hostc/plain", &[], "").await;
    assert_eq!(e["path"], "/plain");
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn context_variables_fill_the_target_and_trigger_rewrites() {
    let up = HttpUpstream::start();
    let target = "/c/$1/$tyk_context.headers_X_Name/end";
    let mut on = classic(
        "ctxon",
        &up.url(),
        json!([{"path": "/p/{x}", "method": "GET", "match_pattern": "/p/(\\w+)",
                "rewrite_to": target,
                "triggers": [{"on": "any", "rewrite_to": "/vip/$tyk_context.trigger-0-headers_X_Name-0",
                    "options": {"request_context_matches": {"headers_X_Name": {"match_rx": "^vip-(.*)"}}}}]}]),
    );
    on["enable_context_vars"] = json!(true);
    // Context variables off: `$tyk_context.*` (other than trigger matches) prints as "",
    // as in Tyk.
    let off = classic(
        "ctxoff",
        &up.url(),
        json!([{"path": "/p/{x}", "method": "GET", "match_pattern": "/p/(\\w+)", "rewrite_to": target}]),
    );
    let gw = start_apis(&[on, off]);
    let e = echo(&gw, "GET", "/ctxon/p/zz", &[("X-Name", "a b")], "").await;
    assert_eq!(e["path"], "/c/zz/a+b/end", "values are query-escaped");
    let e = echo(&gw, "GET", "/ctxon/p/zz", &[("X-Name", "vip-1")], "").await;
    assert_eq!(e["path"], "/vip/1", "request context trigger");
    let e = echo(&gw, "GET", "/ctxoff/p/zz", &[("X-Name", "a b")], "").await;
    assert_eq!(e["path"], "/c/zz//end");
}

#[tokio::test]
async fn bad_patterns_refuse_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic(
            "badpat",
            &u,
            json!([{"path": "/a", "method": "GET", "match_pattern": "/a(", "rewrite_to": "/b"}]),
        ),
        classic(
            "badrule",
            &u,
            json!([{"path": "/a", "method": "GET", "match_pattern": "/a", "rewrite_to": "/b",
                    "triggers": [{"on": "any", "rewrite_to": "/c",
                                  "options": {"query_val_matches": {"q": {"match_rx": "[z"}}}}]}]),
        ),
        classic(
            "nomethod",
            &u,
            json!([{"path": "/a", "match_pattern": "/a", "rewrite_to": "/b"}]),
        ),
        oas_operations(
            "badoas",
            &u,
            json!({"/a": {"get": {"operationId": "a"}}}),
            json!({"a": {"urlRewrite": {"enabled": true, "pattern": "/a", "rewriteTo": "/b",
                "triggers": [{"condition": "all", "rewriteTo": "/c",
                    "rules": [{"in": "header", "name": "X-A", "pattern": "(?<"}]}]}}}),
        ),
        basic_classic("fine", &u),
    ]);
    assert_eq!(
        upstream_url(&gw, "GET", "/fine/pets/1").await,
        url("/animals/1", "")
    );
    let fields = [
        "version_data.versions.Default.extended_paths.url_rewrites[0].match_pattern",
        "version_data.versions.Default.extended_paths.url_rewrites[0].triggers[0].options.query_val_matches.q.match_rx",
        "version_data.versions.Default.extended_paths.url_rewrites[0].method",
        "x-tyk-api-gateway.middleware.operations.a.urlRewrite.triggers[0].rules[0].pattern",
    ];
    let refused = ["badpat", "badrule", "nomethod", "badoas"];
    assert_refused(&gw, &refused, "/a", &fields).await;
}

#[tokio::test]
async fn a_tyk_url_loops_to_another_api() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        classic(
            "loopc",
            &u,
            json!([{"path": "/in/{x}", "method": "GET", "match_pattern": "/in/(\\w+)",
                    "rewrite_to": "tyk://inner/from/$1?a=b"}]),
        ),
        oas_operations(
            "loopo",
            &u,
            json!({"/in/{x}": {"get": {"operationId": "in"}}}),
            json!({"in": {"urlRewrite": {"enabled": true, "pattern": "/in/(\\w+)",
                "rewriteTo": "tyk://inner/from/$1?a=b"}}}),
        ),
        classic("inner", &format!("{u}/deep"), json!([])),
    ]);
    for id in ["loopc", "loopo"] {
        let got = upstream_url(&gw, "GET", &format!("/{id}/in/x1")).await;
        assert_eq!(got, url("/deep/from/x1", "a=b"), "{id}");
    }
}

#[tokio::test]
async fn session_meta_data_triggers_read_the_callers_string_values() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        protect(classic(
            "metac",
            &u,
            json!([{"path": "/m", "method": "GET", "match_pattern": "/m", "rewrite_to": "/plain",
            "triggers": [
                {"on": "any", "rewrite_to": "/number",
                 "options": {"session_meta_matches": {"n": {"match_rx": ".*"}}}},
                {"on": "all", "rewrite_to": "/tier/$tyk_context.trigger-1-tier-0/$tyk_meta.tier",
                 "options": {"session_meta_matches": {"tier": {"match_rx": "gold-(\\w+)"}}}}
            ]}]),
        )),
        protect(oas_operations(
            "metao",
            &u,
            json!({"/m": {"get": {"operationId": "m"}}}),
            json!({"m": {"urlRewrite": {"enabled": true, "pattern": "/m", "rewriteTo": "/plain",
            "triggers": [
                {"condition": "any", "rewriteTo": "/number",
                 "rules": [{"in": "sessionMetadata", "name": "n", "pattern": ".*"}]},
                {"condition": "all", "rewriteTo": "/tier/$tyk_context.trigger-1-tier-0/$tyk_meta.tier",
                 "rules": [{"in": "sessionMetadata", "name": "tier", "pattern": "gold-(\\w+)"}]}
            ]}}}),
        )),
    ]);
    let mut keys = Vec::new();
    for tier in ["gold-vip", "silver"] {
        let meta_data = json!({"tier": tier, "n": 5});
        let key = create_key(&gw, &["metac", "metao"], meta_data).await;
        keys.push(key);
    }
    for id in ["metac", "metao"] {
        let path = format!("/{id}/m");
        // `n` is a number: Tyk's rules read string values only, so the first trigger fails.
        let e = echo(&gw, "GET", &path, &[("Authorization", &keys[0])], "").await;
        assert_eq!(e["path"], "/tier/vip/gold-vip", "{id}");
        let e = echo(&gw, "GET", &path, &[("Authorization", &keys[1])], "").await;
        assert_eq!(e["path"], "/plain", "{id}");
    }
}
