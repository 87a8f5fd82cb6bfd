//! Classic versioning (`version_data.not_versioned: false`) against the real binary and
//! recording upstreams: the version read from a header, a query parameter or the URL, stripped
//! when asked; the default version and the fallback to it; each version's own global headers,
//! endpoint lists and `override_target`; `expires` (Tyk's 403 and `x-tyk-api-expires`); a key's
//! `versions`; and bad versioning refused at load naming the field.

mod common;
mod support;

use common::{assert_refused, classic_api, echoed, h1, json_body, merge, protect, start_apis};
use serde_json::{Value, json};
use weir_testkit::{Gateway, HttpUpstream};

const NOT_FOUND: &str = "Version information not found";
const DOES_NOT_EXIST: &str = "This API version does not seem to exist";
const EXPIRED: &str =
    "Api Version has expired, please check documentation or contact administrator";

/// A versioned keyless classic API at `/<id>/` with `definition` and these versions (each
/// merged over `{"name": <key>}`), `default` its default version.
fn versioned(id: &str, target: &str, definition: Value, default: &str, versions: Value) -> Value {
    let mut all = serde_json::Map::new();
    for (name, v) in versions.as_object().unwrap() {
        let mut version = json!({"name": name});
        merge(&mut version, v.clone());
        all.insert(name.clone(), version);
    }
    let mut api = classic_api(id, target, json!({"name": id, "org_id": "org1"}));
    api["definition"] = definition;
    api["version_data"] = json!({
        "not_versioned": false,
        "default_version": default,
        "versions": all
    });
    api
}

/// `GET path` with `headers`: status, the `error` message of Tyk's errors (else ""), the
/// upstream's echo (else null) and `x-tyk-api-expires`.
async fn call(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value, String) {
    let mut req = h1().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let expires = resp
        .headers()
        .get("x-tyk-api-expires")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = json_body(resp).await;
    let error = body["error"].as_str().unwrap_or("").to_string();
    let echo = if error.is_empty() { body } else { Value::Null };
    (status, error, echo, expires)
}

#[tokio::test]
async fn a_header_names_the_version_and_each_version_applies_its_own_rules() {
    let up = HttpUpstream::start();
    let other = HttpUpstream::start();
    let api = versioned(
        "vh",
        &up.url(),
        json!({"location": "header", "key": "x-api-version", "strip_versioning_data": true}),
        "v1",
        json!({
            "v1": {"global_headers": {"x-version": "v1"}},
            "v2": {
                "global_headers": {"x-version": "v2"},
                "override_target": other.url(),
                "use_extended_paths": true,
                "extended_paths": {"white_list": [{"path": "/pets", "method": "GET"}]}
            }
        }),
    );
    let gw = start_apis(&[api]);

    // No version: the default one; the version header never reaches the upstream.
    let (status, error, echo, _) = call(&gw, "/vh/anything", &[]).await;
    assert_eq!((status, error.as_str()), (200, ""));
    assert_eq!(echoed(&echo, "x-version"), Some("v1"));
    let (status, _, echo, _) = call(&gw, "/vh/anything", &[("x-api-version", "v1")]).await;
    assert_eq!(status, 200);
    assert_eq!(echoed(&echo, "x-version"), Some("v1"));
    assert_eq!(echoed(&echo, "x-api-version"), None, "stripped");

    // v2: its own upstream, headers and allow list.
    let before = (up.request_count(), other.request_count());
    let (status, _, echo, _) = call(&gw, "/vh/pets", &[("x-api-version", "v2")]).await;
    assert_eq!(status, 200);
    assert_eq!(echoed(&echo, "x-version"), Some("v2"));
    assert_eq!(echo["path"], "/pets");
    assert_eq!(
        (up.request_count(), other.request_count()),
        (before.0, before.1 + 1),
        "v2's override_target served it"
    );
    let (status, error, _, _) = call(&gw, "/vh/anything", &[("x-api-version", "v2")]).await;
    assert_eq!(
        (status, error.as_str()),
        (403, "Requested endpoint is forbidden")
    );
    // v1 has no allow list.
    assert_eq!(
        call(&gw, "/vh/anything", &[("x-api-version", "v1")])
            .await
            .0,
        200
    );

    let (status, error, _, _) = call(&gw, "/vh/anything", &[("x-api-version", "v3")]).await;
    assert_eq!((status, error.as_str()), (403, DOES_NOT_EXIST));
}

#[tokio::test]
async fn a_query_parameter_names_the_version_with_fallback_to_the_default() {
    let up = HttpUpstream::start();
    let definition = json!({"location": "url-param", "key": "v", "strip_versioning_data": true});
    let strict = versioned(
        "vq",
        &up.url(),
        definition.clone(),
        "",
        json!({"a": {"global_headers": {"x-version": "a"}}, "b": {"global_headers": {"x-version": "b"}}}),
    );
    let mut fallback = versioned(
        "vf",
        &up.url(),
        definition,
        "a",
        json!({"a": {"global_headers": {"x-version": "a"}}, "b": {}}),
    );
    fallback["definition"]["fallback_to_default"] = json!(true);
    fallback["definition"]["strip_versioning_data"] = json!(false);
    let gw = start_apis(&[strict, fallback]);

    let (status, _, echo, _) = call(&gw, "/vq/items?x=1&v=b&y=2", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(echoed(&echo, "x-version"), Some("b"));
    assert_eq!(
        echo["query"], "x=1&y=2",
        "the parameter is stripped: {echo}"
    );
    // No version and no default.
    let (status, error, _, _) = call(&gw, "/vq/items", &[]).await;
    assert_eq!((status, error.as_str()), (403, NOT_FOUND));
    let (status, error, _, _) = call(&gw, "/vq/items?v=zz", &[]).await;
    assert_eq!((status, error.as_str()), (403, DOES_NOT_EXIST));

    // An unknown version falls back to the default; the parameter stays (no strip).
    let (status, _, echo, _) = call(&gw, "/vf/items?v=zz", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(echoed(&echo, "x-version"), Some("a"));
    assert_eq!(echo["query"], "v=zz");
}

#[tokio::test]
async fn the_url_names_the_version_and_strip_path_takes_it_out() {
    let up = HttpUpstream::start();
    // The shape of tyk-demo's "Version by Path" API.
    let by_path = versioned(
        "vp",
        &up.url(),
        json!({"location": "url", "key": "x-api-version", "strip_path": true}),
        "",
        json!({"v1": {"global_headers": {"version": "v1"}}, "v2": {"global_headers": {"version": "v2"}}}),
    );
    let mut patterned = versioned(
        "vr",
        &up.url(),
        json!({"location": "url", "strip_versioning_data": true, "url_versioning_pattern": "^v[0-9]+$"}),
        "v1",
        json!({"v1": {"global_headers": {"version": "v1"}}, "latest": {}}),
    );
    patterned["definition"]["fallback_to_default"] = json!(true);
    let gw = start_apis(&[by_path, patterned]);

    for v in ["v1", "v2"] {
        let (status, _, echo, _) = call(&gw, &format!("/vp/{v}/anything/7"), &[]).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            echo["path"], "/anything/7",
            "{v}: the version segment is stripped"
        );
        assert_eq!(echoed(&echo, "version"), Some(v));
    }
    let (status, error, _, _) = call(&gw, "/vp/", &[]).await;
    assert_eq!((status, error.as_str()), (403, NOT_FOUND));
    let (status, error, _, _) = call(&gw, "/vp/v9/x", &[]).await;
    assert_eq!((status, error.as_str()), (403, DOES_NOT_EXIST));

    // A segment that does not match the pattern stays in the path.
    let (status, _, echo, _) = call(&gw, "/vr/latest/x", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(echo["path"], "/latest/x");
    let (status, _, echo, _) = call(&gw, "/vr/v7/x", &[]).await;
    assert_eq!(
        (status, echo["path"].as_str()),
        (200, Some("/x")),
        "fallback, stripped"
    );
    assert_eq!(echoed(&echo, "version"), Some("v1"));
}

#[tokio::test]
async fn an_expired_version_is_refused_and_a_live_one_says_when_it_expires() {
    let up = HttpUpstream::start();
    let api = versioned(
        "ve",
        &up.url(),
        json!({"location": "header", "key": "version"}),
        "live",
        json!({"live": {"expires": "2999-01-02 15:04"}, "old": {"expires": "2020-04-15 09:22"},
            "forever": {"expires": "-1"}}),
    );
    let gw = start_apis(&[api]);
    let before = up.request_count();
    let (status, error, _, expires) = call(&gw, "/ve/x", &[("version", "old")]).await;
    assert_eq!(
        (status, error.as_str(), expires.as_str()),
        (403, EXPIRED, "")
    );
    assert_eq!(up.request_count(), before, "not proxied");
    let (status, _, _, expires) = call(&gw, "/ve/x", &[]).await;
    assert_eq!(
        (status, expires.as_str()),
        (200, "Wed, 02 Jan 2999 15:04:00 UTC")
    );
    let (status, _, _, expires) = call(&gw, "/ve/x", &[("version", "forever")]).await;
    assert_eq!((status, expires.as_str()), (200, ""));
}

#[tokio::test]
async fn a_key_reaches_only_the_versions_it_lists() {
    let up = HttpUpstream::start();
    let api = protect(versioned(
        "vk",
        &up.url(),
        json!({"location": "header", "key": "x-api-version"}),
        "v1",
        json!({"v1": {}, "v2": {}}),
    ));
    let gw = start_apis(&[api]);
    let rights = json!({"vk": {"api_id": "vk", "api_name": "vk", "versions": ["v1"]}});
    let session = json!({"org_id": "org1", "rate": 0, "quota_max": -1, "access_rights": rights});
    let (status, body) = support::admin(&gw, "POST", "/tyk/keys", Some(session.to_string())).await;
    assert_eq!(status, 200, "{body}");
    let key = body["key"].as_str().unwrap();
    let auth = ("Authorization", key);
    assert_eq!(call(&gw, "/vk/x", &[auth]).await.0, 200, "the default, v1");
    assert_eq!(
        call(&gw, "/vk/x", &[auth, ("x-api-version", "v1")]).await.0,
        200
    );
    let (status, error, _, _) = call(&gw, "/vk/x", &[auth, ("x-api-version", "v2")]).await;
    assert_eq!(
        (status, error.as_str()),
        (403, "Access to this API has been disallowed")
    );
}

#[tokio::test]
async fn versioning_that_cannot_work_is_refused_naming_the_field() {
    let up = HttpUpstream::start();
    let u = up.url();
    let header = json!({"location": "header", "key": "v"});
    let gw = start_apis(&[
        versioned("bad-default", &u, header.clone(), "v9", json!({"v1": {}})),
        versioned(
            "bad-expiry",
            &u,
            header.clone(),
            "v1",
            json!({"v1": {"expires": "soon"}}),
        ),
        versioned(
            "bad-target",
            &u,
            header.clone(),
            "v1",
            json!({"v1": {"override_target": "ftp://x"}}),
        ),
        versioned(
            "bad-pattern",
            &u,
            json!({"location": "url", "url_versioning_pattern": "("}),
            "v1",
            json!({"v1": {}}),
        ),
        versioned(
            "bad-rules",
            &u,
            header,
            "v1",
            json!({"v1": {}, "v2": {"use_extended_paths": true,
                "extended_paths": {"url_rewrites": [{"path": "/a", "method": "GET", "match_pattern": "(", "rewrite_to": "/b"}]}}}),
        ),
        oas_base(
            "bad-apis",
            "/bad-apis/",
            &u,
            json!({"enabled": true, "name": "b", "default": "v9", "location": "header",
                "key": "v", "versions": [{"name": "v1", "id": "x"}]}),
        ),
    ]);
    assert_refused(
        &gw,
        &[
            "bad-default",
            "bad-expiry",
            "bad-target",
            "bad-pattern",
            "bad-rules",
            "bad-apis",
        ],
        "/x",
        &[
            "version_data.default_version",
            "version_data.versions.v1.expires",
            "version_data.versions.v1.override_target",
            "definition.url_versioning_pattern",
            "version_data.versions.v2.extended_paths.url_rewrites[0]",
            "x-tyk-api-gateway.info.versioning.default",
        ],
    )
    .await;
}

/// A keyless OAS API at `listen_path` (stripped) with `versioning` as its
/// `info.versioning`.
fn oas_base(id: &str, listen_path: &str, target: &str, versioning: Value) -> Value {
    common::oas_api(
        id,
        listen_path,
        target,
        json!({"info": {"versioning": versioning}}),
    )
}

#[tokio::test]
async fn versions_as_separate_apis_hand_the_request_to_the_versions_api() {
    let base_up = HttpUpstream::start();
    let v1_up = HttpUpstream::start();
    // Tyk 5's shape: the base names its versions' APIs; each version is an API of its own
    // (here an internal one, reached only through the base, and a public one).
    let base = oas_base(
        "base",
        "/default/",
        &base_up.url(),
        json!({"enabled": true, "name": "base-version", "default": "self",
            "location": "url-param", "key": "version", "stripVersioningData": true,
            "versions": [{"name": "v1", "id": "api-v1"}, {"name": "v2", "id": "api-v2"},
                {"name": "gone", "id": "not-loaded"}]}),
    );
    let mut v1 = common::oas_api("api-v1", "/v1-listen/", &v1_up.url(), json!({}));
    v1["x-tyk-api-gateway"]["info"]["state"]["internal"] = json!(true);
    let v2 = protect(common::oas_api(
        "api-v2",
        "/v2-listen/",
        &v1_up.url(),
        json!({}),
    ));
    let mut classic_base = versioned("cb", &base_up.url(), json!({}), "", json!({"Default": {}}));
    classic_base["version_data"]["not_versioned"] = json!(true);
    classic_base["definition"] = json!({"enabled": true, "name": "cb", "default": "v1",
        "location": "header", "key": "x-api-version", "fallback_to_default": true,
        "versions": {"v1": "api-v1"}});
    let gw = start_apis(&[base, v1, v2, classic_base]);

    // The base serves its own version, and requests naming none (default: self).
    let before = (base_up.request_count(), v1_up.request_count());
    assert_eq!(call(&gw, "/default/items", &[]).await.0, 200);
    assert_eq!(
        call(&gw, "/default/items?version=base-version", &[])
            .await
            .0,
        200
    );
    assert_eq!(base_up.request_count(), before.0 + 2);
    // v1: served by api-v1 (internal, so not from outside), the base's listen path stripped.
    let (status, _, echo, _) = call(&gw, "/default/items?version=v1&a=1", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(echo["path"], "/items");
    assert_eq!(echo["query"], "a=1", "stripVersioningData");
    assert_eq!(v1_up.request_count(), before.1 + 1);
    assert_eq!(call(&gw, "/v1-listen/items", &[]).await.0, 404, "internal");
    // v2's API runs its own lifecycle: it wants a key.
    assert_eq!(call(&gw, "/default/items?version=v2", &[]).await.0, 401);
    let (status, error, _, _) = call(&gw, "/default/items?version=v9", &[]).await;
    assert_eq!((status, error.as_str()), (404, DOES_NOT_EXIST));
    let (status, error, _, _) = call(&gw, "/default/items?version=gone", &[]).await;
    assert_eq!((status, error.as_str()), (404, DOES_NOT_EXIST));

    // Classic form: the default is another API's version; unknown ones fall back to it.
    for header in [None, Some("v1"), Some("v7")] {
        let headers: Vec<(&str, &str)> = header.map(|v| ("x-api-version", v)).into_iter().collect();
        let before = v1_up.request_count();
        let (status, _, echo, _) = call(&gw, "/cb/things", &headers).await;
        assert_eq!(status, 200, "{header:?}");
        assert_eq!(echo["path"], "/things", "{header:?}");
        assert_eq!(
            v1_up.request_count(),
            before + 1,
            "{header:?}: served by api-v1"
        );
    }
    assert_eq!(
        call(&gw, "/cb/things", &[("x-api-version", "cb")]).await.0,
        200
    );
}
