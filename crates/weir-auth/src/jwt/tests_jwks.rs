//! Tokens against JWK sets served by a small HTTP server in the test.

use std::sync::atomic::{AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex};

use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::tests::*;
use super::*;

const ANSWER: u8 = 0;
const SILENT: u8 = 1;
const FAIL: u8 = 2;

/// An identity provider serving one JWK set, counting the requests it gets.
struct Idp {
    url: String,
    hits: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
    mode: Arc<AtomicU8>,
}

impl Idp {
    async fn start(keys: Vec<Value>) -> Idp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Idp {
            url: format!("http://{}/jwks", listener.local_addr().unwrap()),
            hits: Arc::default(),
            body: Arc::new(Mutex::new(json!({ "keys": keys }).to_string())),
            mode: Arc::default(),
        };
        let (hits, body, mode) = (idp.hits.clone(), idp.body.clone(), idp.mode.clone());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (hits, body, mode) = (hits.clone(), body.clone(), mode.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match mode.load(Ordering::SeqCst) {
                        SILENT => {
                            // Holds the connection and never answers.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        FAIL => ("500 Internal Server Error", "oops".to_owned()),
                        _ => ("200 OK", body.lock().unwrap().clone()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        idp
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.body.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

fn jwk(kid: &str, key: &EncodingKey, alg: Algorithm) -> Value {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(key, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

fn rsa1_jwk(kid: &str) -> Value {
    jwk(kid, &rsa(RSA1_KEY), Algorithm::RS256)
}

fn rs(key_pem: &str, kid: &str, sub: &str) -> String {
    let claims = json!({"sub": sub, "exp": NOW + 600});
    sign(Algorithm::RS256, &rsa(key_pem), Some(kid), &claims)
}

async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..100 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn keys_are_fetched_once_and_picked_by_kid() {
    let idp = Idp::start(vec![
        rsa1_jwk("k1"),
        jwk("e1", &ec(EC256_KEY), Algorithm::ES256),
    ])
    .await;
    // Tyk's usual form: base64 of the URL.
    let v = verifier(settings("rsa", b64(&idp.url)));
    let a = rs(RSA1_KEY, "k1", "alice");
    let b = rs(RSA1_KEY, "k1", "bob");
    assert_eq!(v.verify(&a, NOW).await.unwrap().identity, "alice");
    assert_eq!(v.verify(&b, NOW).await.unwrap().identity, "bob");
    assert_eq!(v.verify(&a, NOW).await.unwrap().identity, "alice");
    assert_eq!(idp.hits(), 1);
    assert_eq!(v.signature_checks(), 2);
    // A kid naming an EC key cannot verify an RSA signature.
    assert_eq!(
        v.verify(&rs(RSA1_KEY, "e1", "x"), NOW).await,
        Err(KEY_NOT_AUTHORIZED)
    );
    // JWK sets need the kid.
    let no_kid = sign(Algorithm::RS256, &rsa(RSA1_KEY), None, &claims());
    assert_eq!(v.verify(&no_kid, NOW).await, Err(KEY_NOT_AUTHORIZED));
    assert_eq!(idp.hits(), 1);
}

#[tokio::test]
async fn an_unknown_kid_fetches_again_at_most_once_a_second() {
    let idp = Idp::start(vec![rsa1_jwk("k1")]).await;
    let v = Arc::new(verifier(settings("rsa", idp.url.clone())));
    assert!(v.verify(&rs(RSA1_KEY, "k1", "u"), NOW).await.is_ok());
    assert_eq!(idp.hits(), 1);

    // The issuer rotates to a new key; within the second it is not fetched again.
    idp.serve(vec![
        rsa1_jwk("k1"),
        jwk("k2", &rsa(RSA2_KEY), Algorithm::RS256),
    ]);
    let rotated = rs(RSA2_KEY, "k2", "u");
    assert_eq!(v.verify(&rotated, NOW).await, Err(KEY_NOT_AUTHORIZED));
    assert_eq!(idp.hits(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(v.verify(&rotated, NOW).await.is_ok());
    assert_eq!(idp.hits(), 2);

    // A flood of unknown kids costs at most one fetch.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..50 {
        let v = Arc::clone(&v);
        flood.spawn(async move { v.verify(&rs(RSA2_KEY, &format!("bad-{i}"), "u"), NOW).await });
    }
    while let Some(answer) = flood.join_next().await {
        assert_eq!(answer.unwrap(), Err(KEY_NOT_AUTHORIZED));
    }
    assert_eq!(idp.hits(), 3);
}

#[tokio::test]
async fn an_issuer_that_never_answers_is_a_503_and_spoils_nothing() {
    let idp = Idp::start(vec![rsa1_jwk("k1")]).await;
    idp.set_mode(SILENT);
    let timeout = Duration::from_millis(800);
    let v = JwtVerifier::new(settings("rsa", b64(&idp.url)), timeout).unwrap();
    let token = rs(RSA1_KEY, "k1", "u");
    let started = Instant::now();
    assert_eq!(v.verify(&token, NOW).await, Err(JWKS_UNAVAILABLE));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(750), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Within the second: answered at once, no new fetch.
    let started = Instant::now();
    assert_eq!(v.verify(&token, NOW).await, Err(JWKS_UNAVAILABLE));
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(idp.hits(), 1);

    idp.set_mode(ANSWER);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(v.verify(&token, NOW).await.is_ok());
    assert_eq!(idp.hits(), 2);
}

#[tokio::test]
async fn stale_keys_keep_answering_while_the_issuer_fails() {
    let idp = Idp::start(vec![rsa1_jwk("k1")]).await;
    let stale_after_1s = JwtSettings {
        jwks_cache_timeout: 1,
        ..settings("rsa", idp.url.clone())
    };
    let v = JwtVerifier::new(stale_after_1s, Duration::from_millis(800)).unwrap();
    assert!(v.verify(&rs(RSA1_KEY, "k1", "a"), NOW).await.is_ok());
    idp.set_mode(SILENT);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The set is stale: the known key answers at once and a refresh runs behind.
    let started = Instant::now();
    assert!(v.verify(&rs(RSA1_KEY, "k1", "b"), NOW).await.is_ok());
    assert!(started.elapsed() < Duration::from_millis(400));
    wait_for(|| idp.hits() == 2).await;
    assert_eq!(idp.hits(), 2);
    // That refresh fails, so an unknown kid cannot be told apart from an unreachable one.
    assert_eq!(
        v.verify(&rs(RSA2_KEY, "k2", "c"), NOW).await,
        Err(JWKS_UNAVAILABLE)
    );
    // Cached tokens of a JWK set are verified again once the set is stale.
    let token = rs(RSA1_KEY, "k1", "d");
    assert!(v.verify(&token, NOW).await.is_ok());
    let checks = v.signature_checks();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(v.verify(&token, NOW).await.is_ok());
    assert_eq!(v.signature_checks(), checks + 1);
}

#[tokio::test]
async fn jwks_uris_are_searched_in_order() {
    let first = Idp::start(vec![rsa1_jwk("k1")]).await;
    let second = Idp::start(vec![jwk("k2", &rsa(RSA2_KEY), Algorithm::RS256)]).await;
    let v = verifier(JwtSettings {
        jwks_uris: vec![first.url.clone(), second.url.clone()],
        ..settings("rsa", String::new())
    });
    assert!(v.verify(&rs(RSA2_KEY, "k2", "u"), NOW).await.is_ok());
    assert!(v.verify(&rs(RSA1_KEY, "k1", "u"), NOW).await.is_ok());
    assert_eq!((first.hits(), second.hits()), (1, 1));
}

#[tokio::test]
async fn ec_and_certificate_jwks_verify() {
    let ec_idp = Idp::start(vec![
        jwk("p256", &ec(EC256_KEY), Algorithm::ES256),
        jwk("p384", &ec(EC384_KEY), Algorithm::ES384),
    ])
    .await;
    let v = verifier(settings("ecdsa", ec_idp.url.clone()));
    let claims = claims();
    let es256 = sign(Algorithm::ES256, &ec(EC256_KEY), Some("p256"), &claims);
    let es384 = sign(Algorithm::ES384, &ec(EC384_KEY), Some("p384"), &claims);
    assert!(v.verify(&es256, NOW).await.is_ok());
    assert!(v.verify(&es384, NOW).await.is_ok());

    // x5c only: a DER certificate, and Tyk's legacy base64-of-PEM form.
    let x5c_idp = Idp::start(vec![
        json!({"kty": "RSA", "kid": "der", "x5c": [pem_body(RSA1_CRT)]}),
        json!({"kty": "RSA", "kid": "pem", "x5c": [b64(RSA1_CRT)]}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "x5c": [pem_body(RSA1_CRT)]}),
        json!({"kty": "OKP", "kid": "odd", "crv": "Ed25519", "x": "AA"}),
    ])
    .await;
    let v = verifier(settings("rsa", x5c_idp.url.clone()));
    assert!(v.verify(&rs(RSA1_KEY, "der", "u"), NOW).await.is_ok());
    assert!(v.verify(&rs(RSA1_KEY, "pem", "u"), NOW).await.is_ok());
    assert_eq!(
        v.verify(&rs(RSA1_KEY, "enc", "u"), NOW).await,
        Err(KEY_NOT_AUTHORIZED)
    );
}

#[tokio::test]
async fn an_answer_that_is_not_a_jwk_set_is_a_failed_fetch() {
    let idp = Idp::start(Vec::new()).await;
    *idp.body.lock().unwrap() = "<html>login</html>".into();
    let v = verifier(settings("rsa", idp.url.clone()));
    assert_eq!(
        v.verify(&rs(RSA1_KEY, "k1", "u"), NOW).await,
        Err(JWKS_UNAVAILABLE)
    );
    idp.set_mode(FAIL);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        v.verify(&rs(RSA1_KEY, "k1", "u"), NOW).await,
        Err(JWKS_UNAVAILABLE)
    );
    assert_eq!(idp.hits(), 2);
}
