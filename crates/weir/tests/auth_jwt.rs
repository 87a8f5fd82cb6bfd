//! JWT APIs end to end (classic definitions with `enable_jwt`): tokens signed here with HMAC,
//! RSA, RSA-PSS and ECDSA keys against a secret, a PEM public key or a JWK set served by the
//! test; Tyk's answers (status and `{"error": ...}`) for missing, forged, confused, expired and
//! not-yet-valid tokens; the policy named by the `pol` claim giving rights and a rate limit
//! shared by one identity; key rotation and a silent issuer; and refused requests that never
//! reach the upstream.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{bin, client};
use weir_testkit::{Gateway, HttpUpstream};

/// The HMAC secret of the `hs` APIs.
const HMAC_SECRET: &[u8] = b"an HMAC secret shared with the issuer";

/// A test key from weir-auth's data (generated with openssl for its own tests).
fn pem(name: &str) -> String {
    let path = format!(
        "{}/../weir-auth/tests/data/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A protected classic definition checking JWTs; `extra` is laid over it.
fn jwt_api(id: &str, target: &str, method: &str, source: &str, extra: Value) -> Value {
    let mut def = json!({
        "api_id": id, "name": id.to_uppercase(), "org_id": "org1", "active": true,
        "use_keyless": false, "enable_jwt": true,
        "jwt_signing_method": method, "jwt_source": source,
        "jwt_identity_base_field": "user_id", "jwt_policy_field_name": "pol",
        "jwt_default_policies": ["open"],
        "proxy": { "listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    });
    def.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    def
}

fn rights(apis: &[&str]) -> Value {
    let map: serde_json::Map<String, Value> = apis
        .iter()
        .map(|a| {
            let r = json!({ "api_id": a, "api_name": a, "versions": ["Default"] });
            (a.to_string(), r)
        })
        .collect();
    Value::Object(map)
}

/// Starts a gateway with policies from `policies.json`: `open` (no limits) to every API and
/// `gold` (2 requests a minute) to the first; writes the file and reloads so they apply.
async fn start(apis: &[Value]) -> Gateway {
    let files: Vec<(String, Value)> = apis
        .iter()
        .map(|a| (format!("{}.json", a["api_id"].as_str().unwrap()), a.clone()))
        .collect();
    let refs: Vec<(&str, Value)> = files.iter().map(|(f, a)| (f.as_str(), a.clone())).collect();
    let conf = json!({"policies": {"policy_source": "file", "policy_path": "policies.json"}});
    let gw = Gateway::start(bin(), &refs, conf);
    let ids: Vec<&str> = apis.iter().map(|a| a["api_id"].as_str().unwrap()).collect();
    let policies = json!({
        "open": {"id": "open", "org_id": "org1", "rate": 0, "per": 0, "quota_max": -1,
            "active": true, "access_rights": rights(&ids)},
        "gold": {"id": "gold", "org_id": "org1", "rate": 2, "per": 60, "quota_max": -1,
            "active": true, "access_rights": rights(&ids[..1])},
    });
    std::fs::write(gw.dir().join("policies.json"), policies.to_string()).unwrap();
    support::reload(&gw).await;
    gw
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, &hmac_key(HMAC_SECRET), None, claims)
}

/// Valid for five minutes, for `sub`, with extra claims laid over.
fn claims(sub: &str, extra: Value) -> Value {
    let mut c = json!({"sub": sub, "iat": now() - 5, "exp": now() + 300});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

async fn call(gw: &Gateway, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut req = client().get(gw.url(path));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

/// The status and the `error` of Tyk's JSON error body (the body must be JSON).
async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let error = body["error"].as_str().unwrap_or_default().to_string();
    (status, error)
}

async fn status(gw: &Gateway, path: &str, auth: &str) -> u16 {
    call(gw, path, Some(auth)).await.status().as_u16()
}

#[tokio::test]
async fn hmac_tokens_open_the_api_and_bad_ones_get_tyks_answers() {
    let up = HttpUpstream::start();
    let source = STANDARD.encode(HMAC_SECRET);
    let gw = start(&[jwt_api("hs", &up.url(), "hmac", &source, json!({}))]).await;
    let token = hs256(&claims("alice", json!({})));
    assert_eq!(status(&gw, "/hs/echo", &token).await, 200);
    assert_eq!(
        status(&gw, "/hs/echo", &format!("Bearer {token}")).await,
        200
    );
    let forged = sign(
        Algorithm::HS256,
        &hmac_key(b"not the secret"),
        None,
        &claims("alice", json!({})),
    );
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some(&forged)).await).await,
        (403, "Key not authorized".into())
    );
    assert_eq!(
        error_of(call(&gw, "/hs/echo", None).await).await,
        (400, "Authorization field missing".into())
    );
    // An unsigned token (`alg: none`) is never accepted, whatever its claims.
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        part(json!({"alg": "none", "typ": "JWT"})),
        part(claims("alice", json!({})))
    );
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some(&unsigned)).await).await,
        (403, "Key not authorized: Unexpected signing method".into())
    );
    assert_eq!(
        up.request_count(),
        2,
        "only the two good tokens got through"
    );
}

#[tokio::test]
async fn rsa_pss_and_ecdsa_tokens_verify_against_pem_sources() {
    let up = HttpUpstream::start();
    let rsa_pub = pem("rsa1.pub");
    let gw = start(&[
        jwt_api(
            "rs",
            &up.url(),
            "rsa",
            &STANDARD.encode(&rsa_pub),
            json!({}),
        ),
        jwt_api(
            "es",
            &up.url(),
            "ecdsa",
            &STANDARD.encode(pem("ec256.pub")),
            json!({}),
        ),
    ])
    .await;
    let rsa1 = EncodingKey::from_rsa_pem(pem("rsa1.key").as_bytes()).unwrap();
    let rsa2 = EncodingKey::from_rsa_pem(pem("rsa2.key").as_bytes()).unwrap();
    let ec = EncodingKey::from_ec_pem(pem("ec256.key").as_bytes()).unwrap();
    let c = claims("bob", json!({}));
    let rs256 = sign(Algorithm::RS256, &rsa1, None, &c);
    assert_eq!(status(&gw, "/rs/echo", &rs256).await, 200);
    assert_eq!(
        status(&gw, "/rs/echo", &sign(Algorithm::PS256, &rsa1, None, &c)).await,
        200
    );
    let es256 = sign(Algorithm::ES256, &ec, None, &c);
    assert_eq!(status(&gw, "/es/echo", &es256).await, 200);
    // Another RSA key's signature; an ECDSA token on the RSA API and the reverse.
    assert_eq!(
        error_of(
            call(
                &gw,
                "/rs/echo",
                Some(&sign(Algorithm::RS256, &rsa2, None, &c))
            )
            .await
        )
        .await,
        (403, "Key not authorized".into())
    );
    assert_eq!(
        error_of(call(&gw, "/rs/echo", Some(&es256)).await).await,
        (403, "Key not authorized: Unexpected signing method".into())
    );
    assert_eq!(
        error_of(call(&gw, "/es/echo", Some(&rs256)).await).await,
        (403, "Key not authorized: Unexpected signing method".into())
    );
    // Algorithm confusion: HMAC keyed with the public key the RSA API verifies with.
    let confused = sign(Algorithm::HS256, &hmac_key(rsa_pub.as_bytes()), None, &c);
    let (code, error) = error_of(call(&gw, "/rs/echo", Some(&confused)).await).await;
    assert_eq!(code, 403);
    assert!(error.contains("Unexpected signing method"), "{error}");
    assert_eq!(up.request_count(), 3);
}

#[tokio::test]
async fn time_claims_are_checked_with_the_apis_skew() {
    let up = HttpUpstream::start();
    let source = STANDARD.encode(HMAC_SECRET);
    let gw = start(&[
        jwt_api("hs", &up.url(), "hmac", &source, json!({})),
        jwt_api(
            "skew",
            &up.url(),
            "hmac",
            &source,
            json!({"jwt_expires_at_validation_skew": 60}),
        ),
    ])
    .await;
    let just_expired = hs256(&claims("carol", json!({"exp": now() - 10})));
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some(&just_expired)).await).await,
        (401, "Key not authorized: token has expired".into())
    );
    let early = hs256(&claims("carol", json!({"nbf": now() + 600})));
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some(&early)).await).await,
        (401, "Key not authorized: token is not valid yet".into())
    );
    // Within the skew the expired token passes; long expired it does not.
    assert_eq!(status(&gw, "/skew/echo", &just_expired).await, 200);
    let long_expired = hs256(&claims("carol", json!({"exp": now() - 600})));
    assert_eq!(
        error_of(call(&gw, "/skew/echo", Some(&long_expired)).await).await,
        (401, "Key not authorized: token has expired".into())
    );
}

#[tokio::test]
async fn the_policy_claim_sets_a_rate_limit_shared_by_one_identity() {
    let up = HttpUpstream::start();
    let source = STANDARD.encode(HMAC_SECRET);
    let gw = start(&[
        jwt_api("pl", &up.url(), "hmac", &source, json!({})),
        jwt_api("other", &up.url(), "hmac", &source, json!({})),
    ])
    .await;
    let gold = |sub: &str, extra: Value| {
        let mut c = claims(sub, extra);
        c["pol"] = json!("gold");
        hs256(&c)
    };
    // Two different tokens of one identity (no `user_id`, so `sub`) share gold's 2 a minute.
    let first = gold("dave", json!({"jti": "1"}));
    let second = gold("dave", json!({"jti": "2"}));
    assert_ne!(first, second);
    assert_eq!(status(&gw, "/pl/echo", &first).await, 200);
    assert_eq!(status(&gw, "/pl/echo", &second).await, 200);
    assert_eq!(
        error_of(call(&gw, "/pl/echo", Some(&first)).await).await,
        (429, "Rate Limit Exceeded".into())
    );
    assert_eq!(
        error_of(call(&gw, "/pl/echo", Some(&second)).await).await,
        (429, "Rate Limit Exceeded".into())
    );
    // The identity base field (`user_id`) wins over `sub`: another identity, its own limit.
    let erin = gold("dave", json!({"user_id": "erin"}));
    assert_eq!(status(&gw, "/pl/echo", &erin).await, 200);
    // Gold gives no rights to `other`.
    assert_eq!(status(&gw, "/other/echo", &erin).await, 403);
    // No policy claim: the default policy, without a limit.
    let plain = hs256(&claims("dave", json!({})));
    for _ in 0..4 {
        assert_eq!(status(&gw, "/pl/echo", &plain).await, 200);
    }
    let unknown = hs256(&claims("frank", json!({"pol": "no-such-policy"})));
    assert_eq!(
        error_of(call(&gw, "/pl/echo", Some(&unknown)).await).await,
        (403, "key not authorized: no matching policy".into())
    );
    assert_eq!(up.request_count(), 2 + 1 + 4);
}

#[tokio::test]
async fn refused_tokens_never_reach_the_upstream() {
    let up = HttpUpstream::start();
    let source = STANDARD.encode(HMAC_SECRET);
    let gw = start(&[jwt_api("hs", &up.url(), "hmac", &source, json!({}))]).await;
    let token = hs256(&claims("gina", json!({})));
    // Change the first signature character: every bit of it counts.
    let (input, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let broken = format!("{input}.{flipped}{}", &signature[1..]);
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some(&broken)).await).await,
        (403, "Key not authorized".into())
    );
    // Not a JWT at all.
    assert_eq!(
        error_of(call(&gw, "/hs/echo", Some("not.a.jwt")).await).await,
        (403, "Key not authorized".into())
    );
    // A 100 KB credential is refused with the request head, before any verification.
    let huge = format!("Bearer {}", "a".repeat(100 * 1024));
    assert_eq!(call(&gw, "/hs/echo", Some(&huge)).await.status(), 431);
    assert_eq!(up.request_count(), 0);
    // The gateway still serves good tokens afterwards.
    assert_eq!(status(&gw, "/hs/echo", &token).await, 200);
    assert_eq!(up.request_count(), 1);
}

/// An issuer serving a JWK set over HTTP/1.1 from a thread; `serve` swaps the set (rotation).
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

impl Issuer {
    fn start(keys: Vec<Value>) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = Issuer {
            url: format!(
                "http://{}/.well-known/jwks.json",
                listener.local_addr().unwrap()
            ),
            keys: Arc::new(Mutex::new(keys)),
            hits: Arc::default(),
        };
        let (keys, hits) = (issuer.keys.clone(), issuer.hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if read_head(&stream) {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = json!({ "keys": *keys.lock().unwrap() }).to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = (&stream).write_all(answer.as_bytes());
                }
            }
        });
        issuer
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads a request head; false if the client went away first.
fn read_head(mut stream: &TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// An issuer that accepts connections and never answers; its URL.
fn silent_issuer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// The public JWK of an RSA private key, named `kid`.
fn rsa_jwk(key: &EncodingKey, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    serde_json::to_value(jwk).unwrap()
}

#[tokio::test]
async fn jwks_keys_are_fetched_and_refetched_when_the_issuer_rotates() {
    let up = HttpUpstream::start();
    let rsa1 = EncodingKey::from_rsa_pem(pem("rsa1.key").as_bytes()).unwrap();
    let rsa2 = EncodingKey::from_rsa_pem(pem("rsa2.key").as_bytes()).unwrap();
    let issuer = Issuer::start(vec![rsa_jwk(&rsa1, "k1")]);
    // The URL plainly on one API, base64-encoded on the other (both are Tyk's forms).
    let gw = start(&[
        jwt_api("jw", &up.url(), "rsa", &issuer.url, json!({})),
        jwt_api(
            "jb",
            &up.url(),
            "rsa",
            &STANDARD.encode(&issuer.url),
            json!({}),
        ),
    ])
    .await;
    let c = claims("henry", json!({}));
    let k1 = sign(Algorithm::RS256, &rsa1, Some("k1"), &c);
    assert_eq!(status(&gw, "/jw/echo", &k1).await, 200);
    assert_eq!(status(&gw, "/jb/echo", &k1).await, 200);
    assert!(issuer.hits() >= 1);
    // A kid the set lacks, signed with a key it has: refused, not guessed.
    let stray = sign(Algorithm::RS256, &rsa1, Some("k9"), &c);
    let (code, _) = error_of(call(&gw, "/jw/echo", Some(&stray)).await).await;
    assert_eq!(code, 403);
    // The issuer rotates to k2; a k2 token makes the gateway fetch the set again (unknown
    // kids refetch at most once a second, so let that second pass as a real rotation would).
    issuer.serve(vec![rsa_jwk(&rsa2, "k2")]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = issuer.hits();
    let k2 = sign(Algorithm::RS256, &rsa2, Some("k2"), &c);
    assert_eq!(status(&gw, "/jw/echo", &k2).await, 200);
    assert!(issuer.hits() > before, "k2 was found without a fetch");
    // A k2 token signed by the old key is still a forgery.
    let forged = sign(
        Algorithm::RS256,
        &rsa1,
        Some("k2"),
        &claims("ivy", json!({})),
    );
    assert_eq!(
        error_of(call(&gw, "/jw/echo", Some(&forged)).await).await,
        (403, "Key not authorized".into())
    );
}

#[tokio::test]
async fn a_silent_jwks_issuer_gets_a_503_in_time_and_other_apis_keep_serving() {
    let up = HttpUpstream::start();
    let silent = silent_issuer();
    let source = STANDARD.encode(HMAC_SECRET);
    let gw = start(&[
        jwt_api(
            "hang",
            &up.url(),
            "rsa",
            &STANDARD.encode(&silent),
            json!({}),
        ),
        jwt_api("hs", &up.url(), "hmac", &source, json!({})),
    ])
    .await;
    let rsa1 = EncodingKey::from_rsa_pem(pem("rsa1.key").as_bytes()).unwrap();
    let waiting = sign(
        Algorithm::RS256,
        &rsa1,
        Some("k1"),
        &claims("jack", json!({})),
    );
    let meanwhile = hs256(&claims("jack", json!({})));
    let started = Instant::now();
    let hung = async {
        let resp = call(&gw, "/hang/echo", Some(&waiting)).await;
        (error_of(resp).await, started.elapsed())
    };
    let other = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at = Instant::now();
        (status(&gw, "/hs/echo", &meanwhile).await, at.elapsed())
    };
    let (((code, error), took), (other_status, other_took)) = tokio::join!(hung, other);
    assert_eq!(
        (code, error.as_str()),
        (503, "Key not authorized: signing keys unavailable")
    );
    assert!(took < Duration::from_secs(7), "answered after {took:?}");
    assert_eq!(other_status, 200);
    assert!(
        other_took < Duration::from_secs(2),
        "another API waited {other_took:?}"
    );
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn scopes_map_to_policies_that_join_the_base_policy() {
    let up = HttpUpstream::start();
    let source = STANDARD.encode(HMAC_SECRET);
    let scoped = jwt_api(
        "sc",
        &up.url(),
        "hmac",
        &source,
        json!({"scopes": {"jwt": {"scope_claim_name": "perms",
            "scope_to_policy": {"premium": "gold"}}}}),
    );
    let gw = start(&[scoped]).await;
    // `premium` maps to gold (2 a minute), which joins the default policy `open`.
    let premium = hs256(&claims("gina", json!({"perms": "read premium"})));
    assert_eq!(status(&gw, "/sc/echo", &premium).await, 200);
    assert_eq!(status(&gw, "/sc/echo", &premium).await, 200);
    assert_eq!(
        error_of(call(&gw, "/sc/echo", Some(&premium)).await).await,
        (429, "Rate Limit Exceeded".into())
    );
    // Scopes that map to nothing leave the base policy alone; a list works as a string does.
    let reader = hs256(&claims("hank", json!({"perms": ["read"]})));
    for _ in 0..4 {
        assert_eq!(status(&gw, "/sc/echo", &reader).await, 200);
    }
    let listed = hs256(&claims("ivy", json!({"perms": ["read", "premium"]})));
    for expected in [200, 200, 429] {
        assert_eq!(status(&gw, "/sc/echo", &listed).await, expected);
    }
}
