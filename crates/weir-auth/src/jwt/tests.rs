//! Tokens against static keys: algorithms, refusals, time claims, identity, policies, cache.
//! Keys are test-only ones generated with openssl under tests/data/jwt.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

pub(super) const RSA1_KEY: &str = include_str!("../../tests/data/jwt/rsa1.key");
pub(super) const RSA1_PUB: &str = include_str!("../../tests/data/jwt/rsa1.pub");
pub(super) const RSA1_CRT: &str = include_str!("../../tests/data/jwt/rsa1.crt");
pub(super) const RSA2_KEY: &str = include_str!("../../tests/data/jwt/rsa2.key");
pub(super) const EC256_KEY: &str = include_str!("../../tests/data/jwt/ec256.key");
pub(super) const EC256_PUB: &str = include_str!("../../tests/data/jwt/ec256.pub");
pub(super) const EC256_CRT: &str = include_str!("../../tests/data/jwt/ec256.crt");
pub(super) const EC384_KEY: &str = include_str!("../../tests/data/jwt/ec384.key");
pub(super) const EC384_PUB: &str = include_str!("../../tests/data/jwt/ec384.pub");

pub(super) const NOW: i64 = 1_700_000_000;
const SECRET: &[u8] = b"a shared secret of some length";

pub(super) fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// The base64 body of a PEM, i.e. base64 of its DER.
pub(super) fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

pub(super) fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

pub(super) fn ec(pem: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
}

pub(super) fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A token built by hand, for headers a signing library will not write.
fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{signature}", part(header), part(claims))
}

pub(super) fn claims() -> Value {
    json!({"sub": "user-1", "exp": NOW + 60, "iat": NOW - 10})
}

pub(super) fn settings(method: &str, source: String) -> JwtSettings {
    JwtSettings {
        signing_method: method.into(),
        source,
        default_policies: vec!["default".into()],
        ..JwtSettings::default()
    }
}

pub(super) fn verifier(settings: JwtSettings) -> JwtVerifier {
    JwtVerifier::new(settings, Duration::from_millis(300)).unwrap()
}

fn hmac_verifier() -> JwtVerifier {
    verifier(settings("hmac", b64(SECRET)))
}

fn hmac(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET).unwrap(),
        None,
        claims,
    )
}

#[tokio::test]
async fn hmac_round_trips_and_is_the_default_method() {
    let key = EncodingKey::from_secret(SECRET).unwrap();
    // "" and names Tyk does not know mean HMAC.
    for method in ["hmac", "", "HMAC"] {
        let v = verifier(settings(method, b64(SECRET)));
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let jwt = v
                .verify(&sign(alg, &key, None, &claims()), NOW)
                .await
                .unwrap();
            assert_eq!(jwt.identity, "user-1");
            assert_eq!(jwt.policies, ["default"]);
            assert_eq!(jwt.claims["exp"], json!(NOW + 60));
            assert_eq!(jwt.header["alg"], json!(format!("{alg:?}")));
        }
    }
}

#[tokio::test]
async fn rsa_round_trips_with_pkcs1_and_pss() {
    let v = verifier(settings("rsa", b64(RSA1_PUB)));
    let key = rsa(RSA1_KEY);
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let token = sign(alg, &key, None, &claims());
        assert_eq!(v.verify(&token, NOW).await.unwrap().identity, "user-1");
    }
}

#[tokio::test]
async fn ecdsa_round_trips_on_p256_and_p384() {
    let p256 = verifier(settings("ecdsa", b64(EC256_PUB)));
    let p384 = verifier(settings("ecdsa", b64(EC384_PUB)));
    let es256 = sign(Algorithm::ES256, &ec(EC256_KEY), None, &claims());
    let es384 = sign(Algorithm::ES384, &ec(EC384_KEY), None, &claims());
    assert!(p256.verify(&es256, NOW).await.is_ok());
    assert!(p384.verify(&es384, NOW).await.is_ok());
    // Same family, other curve: the signature does not check out.
    assert_eq!(p256.verify(&es384, NOW).await, Err(KEY_NOT_AUTHORIZED));
    assert_eq!(p384.verify(&es256, NOW).await, Err(KEY_NOT_AUTHORIZED));
}

#[tokio::test]
async fn public_keys_may_come_as_certificates_or_der() {
    let rs = sign(Algorithm::RS256, &rsa(RSA1_KEY), None, &claims());
    for source in [b64(RSA1_CRT), pem_body(RSA1_PUB), pem_body(RSA1_CRT)] {
        assert!(
            verifier(settings("rsa", source))
                .verify(&rs, NOW)
                .await
                .is_ok()
        );
    }
    let es = sign(Algorithm::ES256, &ec(EC256_KEY), None, &claims());
    for source in [b64(EC256_CRT), pem_body(EC256_PUB)] {
        assert!(
            verifier(settings("ecdsa", source))
                .verify(&es, NOW)
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn alg_none_is_an_unexpected_signing_method() {
    let none = raw(&json!({"alg": "none", "typ": "JWT"}), &claims(), "");
    let rsa_api = verifier(settings("rsa", b64(RSA1_PUB)));
    assert_eq!(
        hmac_verifier().verify(&none, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
    assert_eq!(
        rsa_api.verify(&none, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
    let eddsa = raw(&json!({"alg": "EdDSA"}), &claims(), "c2ln");
    assert_eq!(
        rsa_api.verify(&eddsa, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    // The classic attack: HS256 keyed with the RSA public key's PEM bytes.
    let forged = EncodingKey::from_secret(RSA1_PUB.as_bytes()).unwrap();
    let token = sign(Algorithm::HS256, &forged, None, &claims());
    let rsa_api = verifier(settings("rsa", b64(RSA1_PUB)));
    assert_eq!(
        rsa_api.verify(&token, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );

    let rs = sign(Algorithm::RS256, &rsa(RSA1_KEY), None, &claims());
    let es = sign(Algorithm::ES256, &ec(EC256_KEY), None, &claims());
    assert_eq!(
        hmac_verifier().verify(&rs, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
    assert_eq!(
        rsa_api.verify(&es, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
    let ec_api = verifier(settings("ecdsa", b64(EC256_PUB)));
    assert_eq!(
        ec_api.verify(&rs, NOW).await,
        Err(UNEXPECTED_SIGNING_METHOD)
    );
}

#[tokio::test]
async fn bad_signatures_and_malformed_tokens_are_not_authorized() {
    let v = verifier(settings("rsa", b64(RSA1_PUB)));
    let good = sign(Algorithm::RS256, &rsa(RSA1_KEY), None, &claims());
    let at = good.rfind('.').unwrap() + 10;
    let flipped = if &good[at..=at] == "A" { "B" } else { "A" };
    let broken = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    assert_eq!(v.verify(&broken, NOW).await, Err(KEY_NOT_AUTHORIZED));
    let other_key = sign(Algorithm::RS256, &rsa(RSA2_KEY), None, &claims());
    assert_eq!(v.verify(&other_key, NOW).await, Err(KEY_NOT_AUTHORIZED));
    // Claims changed under a valid signature.
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let other_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
    let swapped = format!("{head}.{other_claims}.{sig}");
    assert_eq!(v.verify(&swapped, NOW).await, Err(KEY_NOT_AUTHORIZED));

    let wrong_secret = EncodingKey::from_secret(b"another secret").unwrap();
    let token = sign(Algorithm::HS256, &wrong_secret, None, &claims());
    assert_eq!(
        hmac_verifier().verify(&token, NOW).await,
        Err(KEY_NOT_AUTHORIZED)
    );

    let malformed = [
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{good}.x"),
        "!!.e30.c2ln".to_owned(),
        raw(&json!({"alg": "HS256"}), &json!([1]), "c2ln"),
        raw(&json!({"alg": "XYZ"}), &claims(), "c2ln"),
        raw(&json!({"typ": "JWT"}), &claims(), "c2ln"),
    ];
    for token in malformed {
        assert_eq!(
            v.verify(&token, NOW).await,
            Err(KEY_NOT_AUTHORIZED),
            "{token}"
        );
    }
    assert_eq!(v.verify("", NOW).await, Err(JWT_MISSING));
}

async fn at(v: &JwtVerifier, claims: Value) -> Result<VerifiedJwt, Refusal> {
    v.verify(&hmac(&claims), NOW).await
}

fn skewed(exp: u64, iat: u64, nbf: u64) -> JwtVerifier {
    verifier(JwtSettings {
        expires_at_skew: exp,
        issued_at_skew: iat,
        not_before_skew: nbf,
        ..settings("hmac", b64(SECRET))
    })
}

#[tokio::test]
async fn expiry_follows_the_skew() {
    let plain = hmac_verifier();
    assert_eq!(
        at(&plain, json!({"sub": "u", "exp": NOW})).await,
        Err(TOKEN_EXPIRED)
    );
    assert!(
        at(&plain, json!({"sub": "u", "exp": NOW + 1}))
            .await
            .is_ok()
    );
    let past = json!({"sub": "u", "exp": NOW - 10});
    assert_eq!(at(&plain, past.clone()).await, Err(TOKEN_EXPIRED));
    assert_eq!(
        at(&skewed(10, 0, 0), past.clone()).await,
        Err(TOKEN_EXPIRED)
    );
    assert!(at(&skewed(11, 0, 0), past).await.is_ok());
    // As in Tyk's JWT library: 0 means no expiry, a non-number fails.
    assert!(at(&plain, json!({"sub": "u", "exp": 0})).await.is_ok());
    let text = json!({"sub": "u", "exp": "soon"});
    assert_eq!(at(&plain, text).await, Err(TOKEN_EXPIRED));
}

#[tokio::test]
async fn not_before_and_issued_at_follow_their_skews() {
    let nbf = json!({"sub": "u", "nbf": NOW + 10});
    assert_eq!(
        at(&hmac_verifier(), nbf.clone()).await,
        Err(TOKEN_NOT_VALID_YET)
    );
    assert_eq!(
        at(&skewed(0, 0, 9), nbf.clone()).await,
        Err(TOKEN_NOT_VALID_YET)
    );
    assert!(at(&skewed(0, 0, 10), nbf).await.is_ok());

    let iat = json!({"sub": "u", "iat": NOW + 5});
    assert_eq!(
        at(&hmac_verifier(), iat.clone()).await,
        Err(TOKEN_USED_BEFORE_ISSUED)
    );
    assert!(at(&skewed(0, 5, 0), iat).await.is_ok());

    // Tyk reports the last failing check: nbf over iat over exp.
    let all = json!({"sub": "u", "exp": NOW - 1, "iat": NOW + 5, "nbf": NOW + 5});
    assert_eq!(at(&hmac_verifier(), all).await, Err(TOKEN_NOT_VALID_YET));
    let two = json!({"sub": "u", "exp": NOW - 1, "iat": NOW + 5});
    assert_eq!(
        at(&hmac_verifier(), two).await,
        Err(TOKEN_USED_BEFORE_ISSUED)
    );
}

#[tokio::test]
async fn a_cached_token_skips_the_signature_but_not_the_clock() {
    let v = verifier(settings("rsa", b64(RSA1_PUB)));
    let token = sign(Algorithm::RS256, &rsa(RSA1_KEY), None, &claims());
    let first = v.verify(&token, NOW).await.unwrap();
    assert_eq!(v.verify(&token, NOW + 1).await.unwrap(), first);
    assert_eq!(v.signature_checks(), 1);
    assert_eq!(v.verify(&token, NOW + 60).await, Err(TOKEN_EXPIRED));
    assert_eq!(v.signature_checks(), 1);

    // Refusals are not cached: a token bad once is checked again.
    let other = sign(Algorithm::RS256, &rsa(RSA2_KEY), None, &claims());
    assert!(v.verify(&other, NOW).await.is_err());
    assert!(v.verify(&other, NOW).await.is_err());
    assert_eq!(v.signature_checks(), 3);
}

#[test]
fn the_token_cache_stays_bounded() {
    let cache = TokenCache::new(64);
    let entry = || {
        Arc::new(Verified {
            header: Arc::new(Map::new()),
            claims: Arc::new(Map::new()),
            times: Times::read(&Map::new()),
            identity: "u".into(),
            policies: Vec::new(),
            client_id: None,
            at: Instant::now(),
        })
    };
    for i in 0..5_000 {
        cache.insert(cache::digest(&format!("token-{i}")), entry());
        assert!(cache.len() <= cache.capacity());
    }
    assert!(cache.get(&cache::digest("token-4999")).is_some());
    assert!(cache.capacity() >= 64);
    assert_eq!(hmac_verifier().cache.capacity(), TOKEN_CACHE_CAPACITY);
}

#[tokio::test]
async fn policies_come_from_the_policy_claim_as_string_or_array() {
    let v = |field: &str, defaults: &[&str]| {
        verifier(JwtSettings {
            policy_field_name: field.into(),
            default_policies: defaults.iter().map(|p| p.to_string()).collect(),
            ..settings("hmac", b64(SECRET))
        })
    };
    let pols = |jwt: Result<VerifiedJwt, Refusal>| jwt.map(|j| j.policies);
    let with_pol = v("pol", &["default"]);
    let one = at(&with_pol, json!({"sub": "u", "pol": "gold"})).await;
    assert_eq!(pols(one), Ok(vec!["gold".to_owned()]));
    let many = json!({"sub": "u", "pol": ["gold", "", "silver", "gold", 7]});
    let many = at(&with_pol, many).await;
    assert_eq!(pols(many), Ok(vec!["gold".to_owned(), "silver".to_owned()]));
    for missing in [json!({"sub": "u"}), json!({"sub": "u", "pol": ""})] {
        let jwt = at(&with_pol, missing).await;
        assert_eq!(pols(jwt), Ok(vec!["default".to_owned()]));
    }
    let nested = at(
        &v("tyk.pol", &[]),
        json!({"sub": "u", "tyk": {"pol": "gold"}}),
    )
    .await;
    assert_eq!(pols(nested), Ok(vec!["gold".to_owned()]));
    let none = at(&v("pol", &[]), json!({"sub": "u"})).await;
    assert_eq!(none, Err(NO_MATCHING_POLICY_FOUND));
    // Without a policy field Tyk reads no policy from the token.
    let unread = at(&v("", &["default"]), json!({"sub": "u", "pol": "gold"})).await;
    assert_eq!(pols(unread), Ok(vec!["default".to_owned()]));
}

#[tokio::test]
async fn the_client_field_names_a_key_for_the_caller() {
    let v = verifier(JwtSettings {
        client_base_field: "azp".into(),
        default_policies: Vec::new(),
        ..settings("hmac", b64(SECRET))
    });
    let jwt = at(&v, json!({"sub": "u", "azp": "client-1"}))
        .await
        .unwrap();
    assert_eq!(jwt.client_id.as_deref(), Some("client-1"));
    assert!(jwt.policies.is_empty());
    assert_eq!(
        at(&v, json!({"sub": "u"})).await,
        Err(NO_MATCHING_POLICY_FOUND)
    );
}

#[tokio::test]
async fn identity_is_the_base_field_else_sub() {
    let v = |field: &str| {
        verifier(JwtSettings {
            identity_base_field: field.into(),
            ..settings("hmac", b64(SECRET))
        })
    };
    let id = |jwt: Result<VerifiedJwt, Refusal>| jwt.map(|j| j.identity);
    let email = v("email");
    let both = json!({"sub": "u", "email": "a@b.c"});
    assert_eq!(id(at(&email, both).await), Ok("a@b.c".to_owned()));
    assert_eq!(
        id(at(&email, json!({"sub": "u"})).await),
        Ok("u".to_owned())
    );
    let not_text = json!({"sub": "u", "email": 5});
    assert_eq!(id(at(&email, not_text).await), Ok("u".to_owned()));
    let empty = json!({"sub": "u", "email": ""});
    assert_eq!(at(&email, empty).await, Err(EMPTY_IDENTITY_FIELD));
    let nested = json!({"sub": "u", "user": {"id": "nested-id"}});
    assert_eq!(
        id(at(&v("user.id"), nested).await),
        Ok("nested-id".to_owned())
    );
    assert_eq!(at(&v(""), json!({"sub": ""})).await, Err(EMPTY_SUB));
    assert_eq!(at(&v(""), json!({"sub": 42})).await, Err(NO_IDENTITY));
    assert_eq!(at(&email, json!({"name": "x"})).await, Err(NO_IDENTITY));
}

#[test]
fn bad_sources_are_reported_at_load() {
    let err = |method: &str, source: String| {
        JwtVerifier::new(settings(method, source), Duration::from_secs(1))
            .err()
            .unwrap()
    };
    assert_eq!(err("hmac", "%%%".into()), "jwt_source is not valid base64");
    assert!(err("hmac", String::new()).starts_with("jwt_source is empty"));
    assert!(err("rsa", b64(RSA1_KEY)).contains("private key"));
    assert_eq!(
        err("rsa", b64(EC256_PUB)),
        "jwt_source holds an EC key but jwt_signing_method is rsa"
    );
    assert_eq!(
        err("ecdsa", b64(RSA1_PUB)),
        "jwt_source holds an RSA key but jwt_signing_method is ecdsa"
    );
    assert!(err("rsa", b64("not a key")).contains("not an RSA or EC public key"));
    let bad_uri = JwtSettings {
        jwks_uris: vec!["ftp://idp/keys".into()],
        ..JwtSettings::default()
    };
    let bad_uri = JwtVerifier::new(bad_uri, Duration::from_secs(1)).err();
    assert!(bad_uri.unwrap().starts_with("jwt_jwks_uris"));
}

#[test]
fn settings_do_not_print_secrets() {
    let printed = format!("{:?}", settings("hmac", b64(SECRET)));
    assert!(printed.contains("<redacted>"));
    assert!(!printed.contains(&b64(SECRET)));
    let url = format!("{:?}", settings("rsa", "https://idp/keys".into()));
    assert!(url.contains("https://idp/keys"));
}

#[test]
fn the_verifier_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let v = hmac_verifier();
    send_sync(&v);
    send(&v.verify("token", NOW));
}
