//! A Tyk OAS streams API protected by a JWT scheme (`securitySchemes`): callers without a
//! token are refused before any stream starts, and the token's claims reach the stream's
//! config as `$tyk_context.jwt_claims_<claim>` (and seed 001's `jwt.claims.<claim>`), so each
//! user gets a stream of their own.

mod common;

use base64::Engine;
use common::streams::{start, streams_api};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"stream-secret";

fn token(sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    encode(
        &Header::default(),
        &json!({"sub": sub, "pol": "streams", "exp": exp}),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn protected(streams: Value) -> Value {
    let mut api = streams_api("mine", streams);
    api["security"] = json!([{"jwt": []}]);
    api["components"] = json!({"securitySchemes": {"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}});
    api["x-tyk-api-gateway"]["info"]["orgId"] = json!("org1");
    api["x-tyk-api-gateway"]["server"]["authentication"] = json!({
        "enabled": true,
        "securitySchemes": {"jwt": {
            "enabled": true,
            "header": {"enabled": true, "name": "Authorization"},
            "signingMethod": "hmac",
            "source": base64::engine::general_purpose::STANDARD.encode(SECRET),
            "policyFieldName": "pol"
        }}
    });
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_claims_choose_each_callers_stream() {
    let streams = json!({
        "echo": {
            "input": {"http_server": {"path": "/in"}},
            "pipeline": {"processors": [{"mapping":
                "root = \"for $tyk_context.jwt_claims_sub and $tyk_context.jwt.claims.sub\""}]},
            "output": {"sync_response": {}}
        }
    });
    let gw = start(
        &[("mine", protected(streams))],
        json!({"policies": {"policy_source": "file", "policy_path": "policies.json"}}),
    );
    let policy = json!({"streams": {"id": "streams", "org_id": "org1", "active": true,
        "rate": 0, "quota_max": -1,
        "access_rights": {"mine": {"api_id": "mine", "versions": ["Default"]}}}});
    std::fs::write(gw.dir().join("policies.json"), policy.to_string()).unwrap();
    let http = common::h1();
    let reload = http
        .get(gw.url("/tyk/reload?block=true"))
        .header("X-Tyk-Authorization", weir_testkit::SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);

    let anonymous = http
        .post(gw.url("/mine/in"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    let body: Value = serde_json::from_str(&anonymous.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "Authorization field missing");
    for user in ["ann", "ben"] {
        let r = http
            .post(gw.url("/mine/in"))
            .header("Authorization", format!("Bearer {}", token(user)))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), format!("for {user} and {user}"));
    }
    let listing = common::streams::listing(&gw).await;
    assert_eq!(
        listing[0]["instances"].as_array().unwrap().len(),
        2,
        "one instance per user: {listing}"
    );
}
