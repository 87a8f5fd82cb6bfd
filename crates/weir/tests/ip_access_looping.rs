//! IP allow and block lists, internal APIs, `/<api_id>/` routes and `tyk://` looping, in both
//! definition forms, against the real binary and a recording upstream.

mod common;

use common::{
    api, assert_json_error, assert_refused, classic_api, echoed, get, h1, json_body, oas_api, start,
};
use serde_json::json;
use weir_testkit::HttpUpstream;

const DISALLOWED: &str = "access from this IP has been disallowed";

#[tokio::test]
async fn ip_lists_allow_cidr_ranges_and_block_wins() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start(
        &[
            classic_api(
                "allowed",
                &u,
                json!({"enable_ip_whitelisting": true, "allowed_ips": ["10.0.0.1", "127.0.0.0/8"]}),
            ),
            classic_api(
                "elsewhere",
                &u,
                json!({"enable_ip_whitelisting": true, "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]}),
            ),
            classic_api(
                "denied",
                &u,
                json!({"enable_ip_blacklisting": true, "blacklisted_ips": ["::1", "127.0.0.1"]}),
            ),
            oas_api(
                "oas-allowed",
                "/oas-allowed/",
                &u,
                json!({"server": {"ipAccessControl": {"enabled": true, "allow": ["127.0.0.1/32", "fe80::/10"]}}}),
            ),
            oas_api(
                "oas-blocked",
                "/oas-blocked/",
                &u,
                json!({"server": {"ipAccessControl": {"enabled": true,
                    "allow": ["127.0.0.0/8"], "block": ["127.0.0.0/24"]}}}),
            ),
            oas_api(
                "oas-off",
                "/oas-off/",
                &u,
                json!({"server": {"ipAccessControl": {"enabled": false, "allow": ["10.0.0.0/8"]}}}),
            ),
        ],
        json!({}),
    );
    for open in ["/allowed/echo", "/oas-allowed/echo", "/oas-off/echo"] {
        assert_eq!(get(&gw.url(open)).await.status(), 200, "{open}");
    }
    assert_eq!(up.request_count(), 3);
    for shut in ["/elsewhere/echo", "/denied/echo", "/oas-blocked/echo"] {
        let msg = assert_json_error(get(&gw.url(shut)).await, 403).await;
        assert_eq!(msg, DISALLOWED, "{shut}");
    }
    // Without trust_x_forwarded_headers a client cannot claim another address.
    let claimed = h1()
        .get(gw.url("/elsewhere/echo"))
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-real-ip", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 403);
    assert_eq!(
        up.request_count(),
        3,
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn trusted_forwarded_headers_name_the_client() {
    let up = HttpUpstream::start();
    let gw = start(
        &[classic_api(
            "behind",
            &up.url(),
            json!({"allowed_ips": ["10.0.0.0/8"], "blacklisted_ips": ["10.9.9.9"]}),
        )],
        json!({"trust_x_forwarded_headers": true}),
    );
    let with = |name: &'static str, value: &'static str| {
        h1().get(gw.url("/behind/echo")).header(name, value).send()
    };
    assert_eq!(
        with("x-forwarded-for", "10.1.2.3, 127.0.0.1")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(with("x-real-ip", "10.4.4.4").await.unwrap().status(), 200);
    assert_eq!(with("x-real-ip", "10.9.9.9").await.unwrap().status(), 403);
    assert_eq!(
        with("x-forwarded-for", "192.0.2.1").await.unwrap().status(),
        403
    );
    // No header: the peer, 127.0.0.1, is not on the list.
    assert_eq!(get(&gw.url("/behind/echo")).await.status(), 403);
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn internal_apis_are_reached_only_by_loops() {
    let up = HttpUpstream::start();
    let u = up.url();
    let mut hidden = classic_api(
        "hidden",
        &u,
        json!({"name": "Hidden API", "internal": true}),
    );
    hidden["version_data"]["versions"]["Default"]["global_headers"] = json!({"x-via": "hidden"});
    let oas_hidden = oas_api(
        "oas-hidden",
        "/oas-hidden/",
        &u,
        json!({"info": {"state": {"internal": true}},
            "middleware": {"global": {"transformRequestHeaders": {"enabled": true,
                "add": [{"name": "x-via", "value": "oas-hidden"}]}}}}),
    );
    let gw = start(
        &[
            hidden,
            oas_hidden,
            // By name, slugged as Tyk does ("Hidden API" → "hidden-api").
            classic_api("front", "tyk://hidden-api/inner", json!({})),
            // By api_id, from an OAS definition, with Tyk's method control.
            oas_api(
                "oas-front",
                "/oas-front/",
                "tyk://oas-hidden/deep?method=POST",
                json!({}),
            ),
        ],
        json!({}),
    );
    for outside in ["/hidden/echo", "/oas-hidden/echo"] {
        let msg = assert_json_error(get(&gw.url(outside)).await, 404).await;
        assert!(!msg.is_empty(), "{outside}");
    }
    assert_eq!(up.request_count(), 0);

    let echo = json_body(get(&gw.url("/front/x?q=1")).await).await;
    assert_eq!(echo["path"], "/inner/x");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["method"], "GET");
    assert_eq!(
        echoed(&echo, "x-via"),
        Some("hidden"),
        "the internal API's rules ran"
    );

    let echo = json_body(get(&gw.url("/oas-front/y?a=b")).await).await;
    assert_eq!(echo["path"], "/deep/y");
    assert_eq!(echo["query"], "a=b", "the method control is not forwarded");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echoed(&echo, "x-via"), Some("oas-hidden"));
    assert_eq!(
        up.request_count(),
        2,
        "one upstream call per looped request"
    );
}

#[tokio::test]
async fn every_api_is_also_served_at_its_api_id() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start(
        &[
            api("c1", "/classic-listen/", &u, true),
            oas_api("o1", "/oas-listen/", &u, json!({})),
            classic_api("inner", &u, json!({"internal": true})),
        ],
        json!({}),
    );
    // Tyk strips only the listen path: the /<api_id>/ prefix reaches the upstream.
    let echo = json_body(get(&gw.url("/c1/x")).await).await;
    assert_eq!(echo["path"], "/c1/x");
    let echo = json_body(get(&gw.url("/o1/y")).await).await;
    assert_eq!(echo["path"], "/o1/y");
    let echo = json_body(get(&gw.url("/classic-listen/z")).await).await;
    assert_eq!(echo["path"], "/z");
    // `/<api_id>` without the slash is not the route, and internal APIs have none.
    assert_eq!(get(&gw.url("/c1")).await.status(), 404);
    assert_eq!(get(&gw.url("/inner/x")).await.status(), 404);
    assert_eq!(up.request_count(), 3);
}

#[tokio::test]
async fn loops_that_go_too_deep_or_nowhere_answer_500() {
    let up = HttpUpstream::start();
    let gw = start(
        &[
            classic_api("again", "tyk://self/again", json!({})),
            oas_api("oas-again", "/oas-again/", "tyk://self", json!({})),
            classic_api("lost", "tyk://nobody/x", json!({})),
            oas_api("oas-lost", "/oas-lost/", "tyk://no such api/", json!({})),
        ],
        json!({}),
    );
    for deep in ["/again/echo", "/oas-again/echo"] {
        let msg = assert_json_error(get(&gw.url(deep)).await, 500).await;
        assert_eq!(
            msg, "Loop level too deep. Found more than 5 loops in single request",
            "{deep}"
        );
    }
    for lost in ["/lost/echo", "/oas-lost/echo"] {
        let msg = assert_json_error(get(&gw.url(lost)).await, 500).await;
        assert_eq!(msg, "Can't detect loop target", "{lost}");
    }
    assert_eq!(up.request_count(), 0);
}

#[tokio::test]
async fn bad_ip_entries_refuse_the_api_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let gw = start(
        &[
            classic_api(
                "bad-classic",
                &u,
                json!({"enable_ip_whitelisting": true, "allowed_ips": ["10.0.0.1", "10.0.0.0/33"]}),
            ),
            oas_api(
                "bad-oas",
                "/bad-oas/",
                &u,
                json!({"server": {"ipAccessControl": {"enabled": true, "block": ["example.com"]}}}),
            ),
            classic_api("fine", &u, json!({})),
        ],
        json!({}),
    );
    assert_eq!(get(&gw.url("/fine/echo")).await.status(), 200);
    let fields = [
        "allowed_ips[1]",
        "x-tyk-api-gateway.server.ipAccessControl.block[0]",
    ];
    assert_refused(&gw, &["bad-classic", "bad-oas"], "/echo", &fields).await;
}

#[tokio::test]
async fn internal_endpoints_answer_only_loops() {
    let up = HttpUpstream::start();
    let u = up.url();
    let mut ep = classic_api("ep", &u, json!({}));
    ep["version_data"]["versions"]["Default"]["use_extended_paths"] = json!(true);
    ep["version_data"]["versions"]["Default"]["extended_paths"] =
        json!({"internal": [{"path": "/secret", "method": "GET"}]});
    let mut oas_ep = oas_api(
        "oas-ep",
        "/oas-ep/",
        &u,
        json!({"middleware": {"operations": {"getSecret": {"internal": {"enabled": true}}}}}),
    );
    oas_ep["paths"] = json!({"/secret": {"get": {"operationId": "getSecret"}}});
    let mut walled = classic_api("walled", &u, json!({}));
    walled["version_data"]["versions"]["Default"]["use_extended_paths"] = json!(true);
    walled["version_data"]["versions"]["Default"]["extended_paths"] = json!({
        "white_list": [{"path": "/open", "method_actions": {"GET": {"action": "no_action"}}}],
        "internal": [{"path": "/secret", "method": "GET"}]
    });
    let gw = start(
        &[
            ep,
            oas_ep,
            walled,
            classic_api("door", "tyk://ep/secret", json!({})),
            oas_api("oas-door", "/oas-door/", "tyk://oas-ep/secret", json!({})),
        ],
        json!({}),
    );
    for outside in ["/ep/secret", "/oas-ep/secret"] {
        let msg = assert_json_error(get(&gw.url(outside)).await, 403).await;
        assert_eq!(msg, "Requested endpoint is forbidden", "{outside}");
    }
    assert_eq!(up.request_count(), 0);
    assert_eq!(get(&gw.url("/ep/other")).await.status(), 200);
    for door in ["/door", "/oas-door"] {
        let echo = json_body(get(&gw.url(door)).await).await;
        assert_eq!(echo["path"], "/secret", "{door}");
    }
    assert_eq!(up.request_count(), 3);
    // Internal endpoints with an allow list are not built: the API is refused.
    assert_refused(&gw, &["walled"], "/open", &["extended_paths.internal[0]"]).await;
}
