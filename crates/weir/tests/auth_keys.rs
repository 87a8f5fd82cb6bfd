//! Auth tokens on one node (keys in memory): keys made through `/tyk/keys` with Tyk's session
//! object and answers, where the credential is read, the key checks in Tyk's order and words,
//! rate limits, quotas and the X-RateLimit headers, the API-wide `global_rate_limit`, policies
//! from a file, and bad input refused with nothing stored.

mod support;

use serde_json::{Value, json};
use support::{admin, bin, client};
use weir_testkit::{Gateway, HttpUpstream};

fn protected(id: &str, target: &str, extra: Value) -> Value {
    let mut def = json!({
        "api_id": id, "name": id.to_uppercase(), "org_id": "org1", "use_keyless": false,
        "active": true,
        "proxy": { "listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    });
    def.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    def
}

fn start(apis: &[Value], conf: Value) -> Gateway {
    let files: Vec<(String, Value)> = apis
        .iter()
        .map(|a| (format!("{}.json", a["api_id"].as_str().unwrap()), a.clone()))
        .collect();
    let refs: Vec<(&str, Value)> = files.iter().map(|(f, a)| (f.as_str(), a.clone())).collect();
    Gateway::start(bin(), &refs, conf)
}

fn rights(api: &str) -> Value {
    json!({ api: { "api_id": api, "api_name": api, "versions": ["Default"] } })
}

async fn create(gw: &Gateway, session: Value) -> String {
    let (status, body) = admin(gw, "POST", "/tyk/keys", Some(session.to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["action"], "added");
    assert!(body["key_hash"].as_str().is_some_and(|h| !h.is_empty()));
    body["key"].as_str().unwrap().to_string()
}

async fn call(gw: &Gateway, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = client().get(gw.url(path));
    if let Some(k) = key {
        req = req.header("Authorization", k);
    }
    req.send().await.unwrap()
}

async fn json_of(resp: reqwest::Response) -> Value {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = json_of(resp).await;
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn keys_made_through_the_control_api_open_the_api_at_once() {
    let up = HttpUpstream::start();
    let gw = start(
        &[
            protected("a", &up.url(), json!({})),
            protected("b", &up.url(), json!({})),
        ],
        json!({"enable_hashed_keys_listing": true}),
    );
    // No credential: 401; an unknown key: 403.
    assert_eq!(
        error_of(call(&gw, "/a/echo", None).await).await,
        (401, "Authorization field missing".into())
    );
    assert_eq!(
        error_of(call(&gw, "/a/echo", Some("nope")).await).await,
        (403, "Access to this API has been disallowed".into())
    );
    let key = create(
        &gw,
        json!({"org_id": "org1", "rate": 0, "quota_max": -1,
        "access_rights": rights("a"), "meta_data": {"tier": "gold"}, "tags": ["t1"]}),
    )
    .await;
    // The token names its org and hash function, as Tyk's do.
    assert!(key.starts_with("ey"), "{key}");
    assert_eq!(call(&gw, "/a/echo", Some(&key)).await.status(), 200);
    assert_eq!(
        call(&gw, "/a/echo", Some(&format!("Bearer {key}")))
            .await
            .status(),
        200
    );
    // Rights to `a` only.
    assert_eq!(
        error_of(call(&gw, "/b/echo", Some(&key)).await).await,
        (403, "Access to this API has been disallowed".into())
    );
    // Read back: the session as written, and its hash; listed by hash only.
    let (status, body) = admin(&gw, "GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["meta_data"]["tier"], "gold");
    let hash = body["key_hash"].as_str().unwrap().to_string();
    let (_, list) = admin(&gw, "GET", "/tyk/keys", None).await;
    let names: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(names, [hash.as_str()]);
    assert!(
        !list.to_string().contains(&key),
        "a plaintext key is listed"
    );
    let (status, by_hash) = admin(&gw, "GET", &format!("/tyk/keys/{hash}?hashed=true"), None).await;
    assert_eq!(status, 200);
    assert_eq!(by_hash["meta_data"]["tier"], "gold");

    // Changes take effect at once: inactive, then expired, then allowed_urls, then deleted.
    let mut session = body.clone();
    session["is_inactive"] = json!(true);
    let (status, put) = admin(
        &gw,
        "PUT",
        &format!("/tyk/keys/{key}"),
        Some(session.to_string()),
    )
    .await;
    assert_eq!((status, put["action"].as_str()), (200, Some("modified")));
    assert_eq!(
        error_of(call(&gw, "/a/echo", Some(&key)).await).await,
        (403, "Key is inactive, please renew".into())
    );
    session["is_inactive"] = json!(false);
    session["expires"] = json!(1_000_000);
    admin(
        &gw,
        "PUT",
        &format!("/tyk/keys/{key}"),
        Some(session.to_string()),
    )
    .await;
    assert_eq!(
        error_of(call(&gw, "/a/echo", Some(&key)).await).await,
        (401, "Key has expired, please renew".into())
    );
    session["expires"] = json!(0);
    session["access_rights"]["a"]["allowed_urls"] = json!([{"url": "^/echo", "methods": ["GET"]}]);
    admin(
        &gw,
        "PUT",
        &format!("/tyk/keys/{key}"),
        Some(session.to_string()),
    )
    .await;
    assert_eq!(call(&gw, "/a/echo", Some(&key)).await.status(), 200);
    let post = client()
        .post(gw.url("/a/echo"))
        .header("Authorization", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(post).await,
        (403, "Access to this resource has been disallowed".into())
    );
    assert_eq!(
        error_of(call(&gw, "/a/other", Some(&key)).await).await,
        (403, "Access to this resource has been disallowed".into())
    );
    let (status, del) = admin(&gw, "DELETE", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!((status, del["action"].as_str()), (200, Some("deleted")));
    assert_eq!(call(&gw, "/a/echo", Some(&key)).await.status(), 403);
    let (status, gone) = admin(&gw, "GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(
        (status, gone["message"].as_str()),
        (404, Some("Key not found"))
    );
}

#[tokio::test]
async fn the_credential_is_read_where_auth_configs_say_and_stripped() {
    let up = HttpUpstream::start();
    let api = protected(
        "p",
        &up.url(),
        json!({"strip_auth_data": true, "auth_configs": {"authToken": {
            "auth_header_name": "X-Api-Key", "use_param": true, "param_name": "k",
            "use_cookie": true, "cookie_name": "sid"}}}),
    );
    let gw = start(&[api], json!({}));
    let key = create(&gw, json!({"org_id": "org1", "access_rights": rights("p")})).await;
    let c = client();
    let by_header = c
        .get(gw.url("/p/echo"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    let echo: Value = json_of(by_header).await;
    assert!(echo["headers"].get("x-api-key").is_none(), "{echo}");
    // Authorization is not where this API reads keys.
    assert_eq!(call(&gw, "/p/echo", Some(&key)).await.status(), 401);
    let by_param = c
        .get(gw.url(&format!("/p/echo?a=1&k={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(by_param.status(), 200);
    let echo: Value = json_of(by_param).await;
    assert!(
        !echo.to_string().contains(&key),
        "the parameter reached the upstream: {echo}"
    );
    let by_cookie = c
        .get(gw.url("/p/echo"))
        .header("Cookie", format!("a=b; sid={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let echo: Value = json_of(by_cookie).await;
    assert!(
        !echo.to_string().contains(&key),
        "the cookie reached the upstream: {echo}"
    );
}

#[tokio::test]
async fn rate_limits_and_quotas_answer_as_tyk_with_headers() {
    let up = HttpUpstream::start();
    let gw = start(
        &[
            protected("r", &up.url(), json!({})),
            protected("q", &up.url(), json!({})),
        ],
        json!({}),
    );
    let limited = create(
        &gw,
        json!({"org_id": "org1", "rate": 3, "per": 60,
        "quota_max": -1, "access_rights": rights("r")}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(call(&gw, "/r/echo", Some(&limited)).await.status(), 200);
    }
    assert_eq!(
        error_of(call(&gw, "/r/echo", Some(&limited)).await).await,
        (429, "Rate Limit Exceeded".into())
    );
    let quota = create(
        &gw,
        json!({"org_id": "org1", "rate": 0, "quota_max": 2,
        "quota_renewal_rate": 3600, "access_rights": rights("q")}),
    )
    .await;
    let first = call(&gw, "/q/echo", Some(&quota)).await;
    assert_eq!(first.status(), 200);
    let h = first.headers();
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "1");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 3590..=now + 3601).contains(&reset),
        "{reset} vs {now}"
    );
    let second = call(&gw, "/q/echo", Some(&quota)).await;
    assert_eq!(second.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        error_of(call(&gw, "/q/echo", Some(&quota)).await).await,
        (403, "Quota exceeded".into())
    );
    assert_eq!(
        up.request_count(),
        3 + 2,
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn a_global_rate_limit_holds_for_every_caller_of_a_keyless_api() {
    let up = HttpUpstream::start();
    let mut api = protected(
        "g",
        &up.url(),
        json!({"global_rate_limit": {"rate": 3, "per": 60}}),
    );
    api["use_keyless"] = json!(true);
    let gw = start(&[api], json!({}));
    for _ in 0..3 {
        assert_eq!(call(&gw, "/g/echo", None).await.status(), 200);
    }
    assert_eq!(
        error_of(call(&gw, "/g/echo", None).await).await,
        (429, "API Rate Limit Exceeded".into())
    );
}

#[tokio::test]
async fn policies_from_a_file_give_keys_their_rights_and_limits() {
    let up = HttpUpstream::start();
    let gw = start(
        &[protected("pa", &up.url(), json!({}))],
        json!({"policies": {"policy_source": "file", "policy_path": "policies.json"}}),
    );
    let policies = json!({"gold": {"id": "gold", "org_id": "org1", "rate": 2, "per": 60,
        "quota_max": -1, "active": true, "access_rights": rights("pa")}});
    std::fs::write(gw.dir().join("policies.json"), policies.to_string()).unwrap();
    support::reload(&gw).await;
    let (_, listed) = admin(&gw, "GET", "/tyk/policies", None).await;
    assert!(listed.to_string().contains("gold"), "{listed}");
    let key = create(&gw, json!({"org_id": "org1", "apply_policies": ["gold"]})).await;
    assert_eq!(call(&gw, "/pa/echo", Some(&key)).await.status(), 200);
    assert_eq!(call(&gw, "/pa/echo", Some(&key)).await.status(), 200);
    assert_eq!(call(&gw, "/pa/echo", Some(&key)).await.status(), 429);
    // A policy id that does not exist: a clear error, nothing stored.
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/keys/custom-key-1",
        Some(json!({"org_id": "org1", "apply_policies": ["nope"]}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
    assert_eq!(
        admin(&gw, "GET", "/tyk/keys/custom-key-1", None).await.0,
        404
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let up = HttpUpstream::start();
    let gw = start(&[protected("x", &up.url(), json!({}))], json!({}));
    let (status, body) = admin(&gw, "POST", "/tyk/keys/k1", Some("{not json".into())).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Request malformed"))
    );
    let (status, _) = admin(&gw, "GET", "/tyk/keys/k1", None).await;
    assert_eq!(status, 404);
    // Keys without rights are master keys, refused unless tyk.conf allows them.
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/keys/k2",
        Some(json!({"org_id": "org1"}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A session asking for what Weir does not build is refused naming the field.
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/keys/k3",
        Some(
            json!({"org_id": "org1",
        "throttle_retry_limit": 3, "throttle_interval": 1, "access_rights": rights("x")})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("throttle_retry_limit"),
        "{body}"
    );
    assert_eq!(admin(&gw, "GET", "/tyk/keys/k3", None).await.0, 404);
    // Listing is off while keys are hashed and listing is not enabled.
    assert_eq!(admin(&gw, "GET", "/tyk/keys", None).await.0, 404);
    // A 100 KB credential is refused before any lookup.
    let huge = "k".repeat(100 * 1024);
    let resp = call(&gw, "/x/echo", Some(&huge)).await;
    assert_eq!(resp.status(), 431);
    assert_eq!(up.request_count(), 0);
}

#[tokio::test]
async fn policies_written_through_the_control_api_take_effect_at_once() {
    let up = HttpUpstream::start();
    let gw = start(
        &[protected("pc", &up.url(), json!({}))],
        json!({"policies": {"policy_source": "file", "policy_path": "policies"}}),
    );
    std::fs::create_dir(gw.dir().join("policies")).unwrap();
    let policy = json!({"org_id": "org1", "rate": 1, "per": 60, "quota_max": -1,
        "active": true, "access_rights": rights("pc")});
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/policies/silver",
        Some(policy.to_string()),
    )
    .await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("added")),
        "{body}"
    );
    assert!(gw.dir().join("policies/silver.json").is_file());
    let key = create(&gw, json!({"org_id": "org1", "apply_policies": ["silver"]})).await;
    assert_eq!(call(&gw, "/pc/echo", Some(&key)).await.status(), 200);
    assert_eq!(call(&gw, "/pc/echo", Some(&key)).await.status(), 429);
    let mut raised = policy.clone();
    raised["rate"] = json!(3);
    let (status, body) = admin(&gw, "PUT", "/tyk/policies/silver", Some(raised.to_string())).await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("modified")),
        "{body}"
    );
    assert_eq!(call(&gw, "/pc/echo", Some(&key)).await.status(), 200);
    let (status, _) = admin(&gw, "DELETE", "/tyk/policies/silver", None).await;
    assert_eq!(status, 200);
    // The key's only policy is gone: it is refused, never served without its limits.
    assert_eq!(call(&gw, "/pc/echo", Some(&key)).await.status(), 403);
    assert_eq!(
        admin(&gw, "PUT", "/tyk/policies/silver", Some(raised.to_string()))
            .await
            .0,
        404
    );
    assert_eq!(admin(&gw, "GET", "/tyk/policies/silver", None).await.0, 404);
}

#[tokio::test]
async fn custom_keys_are_named_as_tyk_names_them() {
    let up = HttpUpstream::start();
    let gw = start(&[protected("ck", &up.url(), json!({}))], json!({}));
    // POST /tyk/keys/{id}: stored as the token Tyk makes of the id for the session's org, and
    // the client presents the id itself.
    let session = json!({"org_id": "org1", "access_rights": rights("ck")});
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/keys/my-custom",
        Some(session.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["key"].as_str().unwrap();
    let decoded = base64_decode(token);
    assert_eq!(
        decoded,
        json!({"org": "org1", "id": "my-custom", "h": "murmur64"})
    );
    assert_eq!(call(&gw, "/ck/echo", Some("my-custom")).await.status(), 200);
    assert_eq!(call(&gw, "/ck/echo", Some(token)).await.status(), 200);
    // Created keys carry their creation date; a change keeps it.
    let (_, read) = admin(&gw, "GET", &format!("/tyk/keys/{token}"), None).await;
    let created = read["date_created"].as_str().unwrap().to_string();
    assert!(created.starts_with("20"), "{read}");
    let (status, _) = admin(
        &gw,
        "PUT",
        "/tyk/keys/my-custom?org_id=org1",
        Some(session.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let (_, read) = admin(&gw, "GET", "/tyk/keys/my-custom?org_id=org1", None).await;
    assert_eq!(read["date_created"].as_str(), Some(created.as_str()));
    // A key written where Tyk writes one (its token, by the token's own name) is found by id.
    let tyk_token = base64_encode(r#"{"org":"org1","id":"tyk_made_key","h":"murmur64"}"#);
    let (status, _) = admin(
        &gw,
        "POST",
        &format!("/tyk/keys/{tyk_token}"),
        Some(session.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&gw, "/ck/echo", Some("tyk_made_key")).await.status(),
        200
    );
    let (status, _) = admin(&gw, "DELETE", "/tyk/keys/my-custom?org_id=org1", None).await;
    assert_eq!(status, 200);
    assert_eq!(call(&gw, "/ck/echo", Some("my-custom")).await.status(), 403);
}

fn base64_decode(token: &str) -> Value {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
