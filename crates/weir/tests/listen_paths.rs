//! Listen paths with `{name}` and `{name:regex}` segments (Tyk's mux patterns), classic and
//! OAS, against the real binary and a recording upstream: routing at a segment boundary,
//! `strip_listen_path` on and off, static listen paths before patterns, and a pattern that does
//! not compile refused at load naming the field.

mod common;

use common::{api, assert_refused, get, h1, json_body, merge, oas_api, start_apis};
use serde_json::{Value, json};
use weir_testkit::{Gateway, HttpUpstream};

/// The path the upstream received for `GET path` (which must answer 200).
async fn upstream_path(gw: &Gateway, path: &str) -> String {
    let resp = get(&gw.url(path)).await;
    assert_eq!(resp.status(), 200, "GET {path}");
    let echo: Value = json_body(resp).await;
    echo["path"].as_str().expect("echoed path").to_string()
}

async fn status(gw: &Gateway, path: &str) -> u16 {
    h1().get(gw.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_pattern_listen_path_routes_and_strips_what_it_matched() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        api("stripped", "/users/{id}/", &format!("{u}/base"), true),
        api("kept", "/accounts/{id}/", &u, false),
    ]);
    assert_eq!(upstream_path(&gw, "/users/42/orders").await, "/base/orders");
    assert_eq!(upstream_path(&gw, "/users/42").await, "/base");
    assert_eq!(
        upstream_path(&gw, "/accounts/42/orders").await,
        "/accounts/42/orders"
    );
    // `{id}` is one whole segment: nothing to match, or a missing segment, is no route.
    let before = up.request_count();
    assert_eq!(status(&gw, "/users/").await, 404);
    assert_eq!(status(&gw, "/users").await, 404);
    assert_eq!(status(&gw, "/accounts//orders").await, 404);
    assert_eq!(up.request_count(), before, "the upstream is not called");
    // The `/<api_id>/` route keeps the whole path.
    assert_eq!(
        upstream_path(&gw, "/stripped/users/42/x").await,
        "/base/stripped/users/42/x"
    );
}

#[tokio::test]
async fn a_regex_segment_must_match_its_whole_segment() {
    let up = HttpUpstream::start();
    let gw = start_apis(&[api("numeric", "/users/{id:[0-9]+}/", &up.url(), true)]);
    assert_eq!(upstream_path(&gw, "/users/42/orders").await, "/orders");
    let before = up.request_count();
    assert_eq!(status(&gw, "/users/abc/").await, 404);
    assert_eq!(status(&gw, "/users/42abc/orders").await, 404);
    assert_eq!(up.request_count(), before, "the upstream is not called");
}

#[tokio::test]
async fn static_listen_paths_win_over_patterns_and_longer_patterns_first() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        api("a_pattern", "/users/{id}/", &format!("{u}/pattern"), true),
        api(
            "b_deeper",
            "/users/{id}/orders/{order}/",
            &format!("{u}/deeper"),
            true,
        ),
        api("c_static", "/users/me/", &format!("{u}/static"), true),
    ]);
    assert_eq!(
        upstream_path(&gw, "/users/me/orders").await,
        "/static/orders"
    );
    assert_eq!(
        upstream_path(&gw, "/users/42/orders").await,
        "/pattern/orders"
    );
    assert_eq!(
        upstream_path(&gw, "/users/42/orders/7/items").await,
        "/deeper/items"
    );
}

#[tokio::test]
async fn endpoint_rules_see_the_path_after_a_pattern_listen_path() {
    let up = HttpUpstream::start();
    let mut def = api("listed", "/shops/{shop}/", &up.url(), true);
    merge(
        &mut def,
        json!({"version_data": {"versions": {"Default": {
            "use_extended_paths": true,
            "extended_paths": {"white_list": [{"path": "^/items$", "method": "GET"}]}
        }}}}),
    );
    let gw = start_apis(&[def]);
    assert_eq!(upstream_path(&gw, "/shops/s1/items").await, "/items");
    assert_eq!(status(&gw, "/shops/s1/other").await, 403);
}

#[tokio::test]
async fn an_oas_api_takes_a_pattern_listen_path() {
    let up = HttpUpstream::start();
    let u = up.url();
    let kept = json!({"server": {"listenPath": {"strip": false}}});
    let gw = start_apis(&[
        oas_api("oas_strip", "/tenants/{tenant}/api/", &u, json!({})),
        oas_api("oas_keep", "/regions/{region:eu|us}/", &u, kept),
    ]);
    assert_eq!(
        upstream_path(&gw, "/tenants/acme/api/things").await,
        "/things"
    );
    assert_eq!(upstream_path(&gw, "/regions/eu/x").await, "/regions/eu/x");
    assert_eq!(status(&gw, "/regions/asia/x").await, 404);
    assert_eq!(status(&gw, "/tenants/acme/other/things").await, 404);
}

#[tokio::test]
async fn a_pattern_that_does_not_compile_refuses_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start_apis(&[
        api("bad_classic", "/bad/{id:[0-9}/", &u, true),
        oas_api("bad_oas", "/bad-oas/{id:(}/", &u, json!({})),
        api("unbalanced", "/unbalanced/{id/", &u, true),
        api("fine", "/fine/{id}/", &u, true),
    ]);
    assert_refused(
        &gw,
        &["bad_classic", "bad_oas", "unbalanced"],
        "/",
        &[
            "proxy.listen_path",
            "x-tyk-api-gateway.server.listenPath.value",
            "bad regex",
            "unbalanced braces",
        ],
    )
    .await;
    assert_eq!(status(&gw, "/bad/1/").await, 404);
    assert_eq!(upstream_path(&gw, "/fine/1/x").await, "/x");
}
