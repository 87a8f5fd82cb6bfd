//! Basic-auth APIs end to end (classic definitions with `use_basic_auth`): users made through
//! `/tyk/keys/<username>` with a password, Tyk's answers (status, `{"error": ...}` and the
//! `WWW-Authenticate` realm) for right, wrong, unknown, missing and malformed credentials, a
//! password that never leaves the gateway, bcrypt hashes at rest in Redis, and the cache that
//! keeps bcrypt off the path of repeated requests.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::{admin, bin, client};
use weir_testkit::{Gateway, HttpUpstream, RedisServer};

const PASSWORD: &str = "s3cret";

fn basic_api(id: &str, name: &str, target: &str) -> Value {
    json!({
        "api_id": id, "name": name, "org_id": "org1", "active": true,
        "use_keyless": false, "use_basic_auth": true,
        "proxy": { "listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

fn start(api: &Value, conf: Value) -> Gateway {
    let file = format!("{}.json", api["api_id"].as_str().unwrap());
    Gateway::start(bin(), &[(file.as_str(), api.clone())], conf)
}

/// Makes `user` with the password through the control API; returns the key and its hash.
async fn make_user(gw: &Gateway, api: &str, user: &str) -> (String, String) {
    let session = json!({
        "org_id": "org1",
        "access_rights": { api: { "api_id": api, "api_name": api, "versions": ["Default"] } },
        "basic_auth_data": { "password": PASSWORD }
    });
    let path = format!("/tyk/keys/{user}");
    let (status, body) = admin(gw, "POST", &path, Some(session.to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "added", "{body}");
    let key = body["key"].as_str().unwrap().to_string();
    // Tyk names a basic-auth user's key as the token it makes of the org and the username.
    let token: Value = serde_json::from_slice(&STANDARD.decode(&key).unwrap()).unwrap();
    assert_eq!(
        token,
        json!({"org": "org1", "id": user, "h": "murmur64"}),
        "{key}"
    );
    (key, body["key_hash"].as_str().unwrap().to_string())
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

async fn call(gw: &Gateway, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut req = client().get(gw.url(path));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

/// Status, `WWW-Authenticate` (empty when absent) and the `error` of Tyk's JSON body.
async fn refusal(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let realm = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, realm, body["error"].as_str().unwrap_or("").into())
}

#[tokio::test]
async fn users_open_the_api_with_their_password_and_others_get_tyks_answers() {
    let up = HttpUpstream::start();
    let gw = start(&basic_api("ba", "Basic API", &up.url()), json!({}));
    let (key, _) = make_user(&gw, "ba", "alice").await;
    let right = basic("alice", PASSWORD);
    assert_eq!(call(&gw, "/ba/echo", Some(&right)).await.status(), 200);
    let realm = "Basic realm=\"Basic API\"".to_string();
    let not_authorised = (401, realm.clone(), "User not authorised".to_string());
    // A wrong password, also after the right one was accepted (and cached).
    let wrong = call(&gw, "/ba/echo", Some(&basic("alice", "s3cret!"))).await;
    assert_eq!(refusal(wrong).await, not_authorised);
    let unknown = call(&gw, "/ba/echo", Some(&basic("mallory", PASSWORD))).await;
    assert_eq!(refusal(unknown).await, not_authorised);
    let missing = call(&gw, "/ba/echo", None).await;
    assert_eq!(
        refusal(missing).await,
        (401, realm.clone(), "Authorization field missing".into())
    );
    // Malformed values: Tyk's three 400s.
    let malformed = [
        ("Basic", "header not in basic auth format"),
        ("Basic !!!not-base64", "auth data not encoded correctly"),
        (
            &*format!("Basic {}", STANDARD.encode("no-colon")),
            "values not in basic auth format",
        ),
    ];
    for (value, why) in malformed {
        let (status, _, error) = refusal(call(&gw, "/ba/echo", Some(value)).await).await;
        assert_eq!(
            (status, error),
            (
                400,
                format!("Attempted access with malformed header, {why}")
            ),
            "{value}"
        );
    }
    assert_eq!(call(&gw, "/ba/echo", Some(&right)).await.status(), 200);
    assert_eq!(
        up.request_count(),
        2,
        "refused requests reached the upstream"
    );
    // The password (or its hash) never leaves the gateway.
    let (status, session) = admin(&gw, "GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200, "{session}");
    let shown = session["basic_auth_data"]["password"]
        .as_str()
        .unwrap_or("");
    assert_eq!(shown, "", "{session}");
    let text = session.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("$2"), "{text}");
}

#[tokio::test]
async fn passwords_are_stored_as_bcrypt_hashes() {
    let redis = RedisServer::start();
    let up = HttpUpstream::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // tyk.conf asking for bcrypt, and tyk.conf saying nothing (bcrypt is Tyk's default).
    for (user, function) in [("bob", Some("bcrypt")), ("carol", None)] {
        let mut conf = json!({"storage": {"type": "redis", "host": "127.0.0.1",
            "port": redis.port()}});
        if let Some(f) = function {
            conf["basic_auth_hash_key_function"] = json!(f);
        }
        let gw = start(&basic_api("ba", "Basic API", &up.url()), conf);
        let (key, hash) = make_user(&gw, "ba", user).await;
        let stored: Option<String> = redis::cmd("GET")
            .arg(format!("apikey-{hash}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        let stored = stored.unwrap_or_else(|| panic!("apikey-{hash} is not in Redis"));
        let session: Value = serde_json::from_str(&stored).unwrap();
        let password = session["basic_auth_data"]["password"].as_str().unwrap();
        assert!(
            password.starts_with("$2a$") || password.starts_with("$2b$"),
            "{function:?}: {stored}"
        );
        assert!(!stored.contains(PASSWORD), "{function:?}: {stored}");
        assert_eq!(session["basic_auth_data"]["hash_type"], "bcrypt");
        // The hash checks the password; the control API shows neither.
        let right = basic(user, PASSWORD);
        assert_eq!(call(&gw, "/ba/echo", Some(&right)).await.status(), 200);
        let wrong = call(&gw, "/ba/echo", Some(&basic(user, "nope"))).await;
        assert_eq!(wrong.status(), 401);
        let (_, shown) = admin(&gw, "GET", &format!("/tyk/keys/{key}"), None).await;
        assert!(!shown.to_string().contains("$2"), "{shown}");
    }
}

#[tokio::test]
async fn repeated_requests_do_not_pay_for_bcrypt_again() {
    let up = HttpUpstream::start();
    let gw = start(&basic_api("ba", "Basic API", &up.url()), json!({}));
    make_user(&gw, "ba", "dave").await;
    let right = basic("dave", PASSWORD);
    let first = Instant::now();
    assert_eq!(call(&gw, "/ba/echo", Some(&right)).await.status(), 200);
    let first = first.elapsed();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(call(&gw, "/ba/echo", Some(&right)).await.status(), 200);
    }
    let twenty = started.elapsed();
    // The first request ran bcrypt (cost 10, tens of milliseconds or more); twenty more that
    // each ran it would take about twenty times as long.
    let report = format!("first request {first:?}, the next 20 {twenty:?}");
    assert!(twenty < Duration::from_secs(2), "{report}");
    assert!(twenty < first * 5, "{report}");
}
