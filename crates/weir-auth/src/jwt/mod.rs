//! JWT verification as Tyk's JWT middleware does it (gateway/mw_jwt.go), for APIs whose
//! tokens are checked against one central source: an HMAC secret, a PEM public key or
//! certificate, or JWK sets fetched from URLs.
//!
//! The order of checks and the answers follow Tyk: a malformed token or an unknown `alg` is
//! 403 `Key not authorized`; an `alg` outside the API's `jwt_signing_method` (`none`, or an
//! HMAC token on an RSA API) is 403 `Key not authorized: Unexpected signing method`; a bad
//! signature or an unknown `kid` is 403 `Key not authorized`; then the time claims (401), the
//! identity claim and the policy claim (403). Verified tokens are cached, so a token seen
//! again costs a hash lookup; the time claims are still checked on every use.

mod cache;
mod claims;
mod jwks;
mod keys;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jwks;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use crate::checks::Refusal;
use cache::TokenCache;
use claims::{Skews, Times};

const fn refusal(status: u16, message: &'static str) -> Refusal {
    Refusal { status, message }
}

/// An empty token (Tyk answers 400 for a missing JWT, not 401).
pub const JWT_MISSING: Refusal = refusal(400, "Authorization field missing");
/// A malformed token, an unknown `alg`, a bad signature or an unknown `kid`.
pub const KEY_NOT_AUTHORIZED: Refusal = refusal(403, "Key not authorized");
/// An `alg` the API's `jwt_signing_method` does not allow (`none` included).
pub const UNEXPECTED_SIGNING_METHOD: Refusal =
    refusal(403, "Key not authorized: Unexpected signing method");
/// `exp` is past (after `jwt_expires_at_validation_skew`).
pub const TOKEN_EXPIRED: Refusal = refusal(401, "Key not authorized: token has expired");
/// `iat` is in the future (after `jwt_issued_at_validation_skew`).
pub const TOKEN_USED_BEFORE_ISSUED: Refusal =
    refusal(401, "Key not authorized: token used before issued");
/// `nbf` is in the future (after `jwt_not_before_validation_skew`).
pub const TOKEN_NOT_VALID_YET: Refusal = refusal(401, "Key not authorized: token is not valid yet");
/// Neither the identity base field nor `sub` holds a string.
pub const NO_IDENTITY: Refusal = refusal(403, "no suitable claims for user ID were found");
/// `sub` is the empty string.
pub const EMPTY_SUB: Refusal = refusal(403, "found an empty user ID in sub claim");
/// The identity base field is the empty string (Tyk adds `, claim: <field>`).
pub const EMPTY_IDENTITY_FIELD: Refusal =
    refusal(403, "found an empty user ID in predefined base claim");
/// No policy in the token and no `jwt_default_policies`.
pub const NO_MATCHING_POLICY_FOUND: Refusal =
    refusal(403, "key not authorized: no matching policy found");
/// For the caller: the token names a policy that does not exist (or of another org).
pub const NO_MATCHING_POLICY: Refusal = refusal(403, "key not authorized: no matching policy");
/// The JWK set could not be fetched (or timed out) and no cached key answers the `kid`.
/// Tyk answers 403 here; a 503 tells clients and monitors the fault is not theirs.
pub const JWKS_UNAVAILABLE: Refusal = refusal(503, "Key not authorized: signing keys unavailable");

/// Tyk keeps fetched JWK sets this long unless told otherwise (its JWK cache default).
const DEFAULT_JWKS_CACHE_SECS: u64 = 240;
/// How many verified tokens a verifier remembers.
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// Tyk's JWT settings of one API, as read from its definition (classic field names in comments).
#[derive(Clone, Default)]
pub struct JwtSettings {
    /// `jwt_signing_method`: `hmac`, `rsa` (RS* and PS*) or `ecdsa`; anything else, `""`
    /// included, means HMAC as in Tyk.
    pub signing_method: String,
    /// `jwt_source`: an http(s) URL of a JWK set, or base64 of such a URL, of an HMAC secret,
    /// or of a PEM (or DER) public key or certificate.
    pub source: String,
    /// `jwt_jwks_uris[].url` (newer Tyk, OAS APIs): JWK set URLs; when not empty they are used
    /// instead of `source`, searched in order for the token's `kid`.
    pub jwks_uris: Vec<String>,
    /// `jwt_identity_base_field`: the claim naming the user (`a.b` looks into objects);
    /// `sub` when empty or absent from the token.
    pub identity_base_field: String,
    /// `jwt_client_base_field`: when no policy field is set, the claim naming a key whose
    /// policies the token gets (looked up by the caller, see [`VerifiedJwt::client_id`]).
    pub client_base_field: String,
    /// `jwt_policy_field_name`: the claim naming the policy; when empty Tyk reads no policy
    /// from the token (the client field or the default policies decide).
    pub policy_field_name: String,
    /// `jwt_default_policies`: used when the token names no policy.
    pub default_policies: Vec<String>,
    /// `jwt_issued_at_validation_skew`, seconds.
    pub issued_at_skew: u64,
    /// `jwt_expires_at_validation_skew`, seconds.
    pub expires_at_skew: u64,
    /// `jwt_not_before_validation_skew`, seconds.
    pub not_before_skew: u64,
    /// `jwt_skip_kid`: only matters when keys carry their own JWT secret (the `kid` then names
    /// the key), which this verifier does not do; JWK sets always need the `kid`, as in Tyk.
    pub skip_kid: bool,
    /// `jwt_jwks_uris[].cache_timeout`: seconds a fetched JWK set is used before it is fetched
    /// again; 0 means Tyk's 240.
    pub jwks_cache_timeout: u64,
}

impl fmt::Debug for JwtSettings {
    // By hand so that an HMAC secret in `source` stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = if self.source.is_empty() || keys::is_http_url(self.source.trim()) {
            self.source.as_str()
        } else {
            "<redacted>"
        };
        f.debug_struct("JwtSettings")
            .field("signing_method", &self.signing_method)
            .field("source", &source)
            .field("jwks_uris", &self.jwks_uris)
            .field("identity_base_field", &self.identity_base_field)
            .field("client_base_field", &self.client_base_field)
            .field("policy_field_name", &self.policy_field_name)
            .field("default_policies", &self.default_policies)
            .field("issued_at_skew", &self.issued_at_skew)
            .field("expires_at_skew", &self.expires_at_skew)
            .field("not_before_skew", &self.not_before_skew)
            .field("skip_kid", &self.skip_kid)
            .field("jwks_cache_timeout", &self.jwks_cache_timeout)
            .finish()
    }
}

/// A verified token.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedJwt {
    /// The token's claims (shared with the verifier's cache: a cached token costs no copy).
    pub claims: Arc<Map<String, Value>>,
    /// The token's header (Tyk also exposes these as `jwt_claims_<name>` context variables).
    pub header: Arc<Map<String, Value>>,
    /// The identity base field's value, else `sub`: Tyk names the token's session after it.
    pub identity: String,
    /// The policy claim (a string, or an array of strings), else `jwt_default_policies`.
    pub policies: Vec<String>,
    /// Set when `jwt_client_base_field` decides the policy (no policy field configured) and the
    /// token holds that claim: the caller applies the first policy of the key it names, and
    /// falls back to `policies` (the defaults), then to [`NO_MATCHING_POLICY_FOUND`].
    pub client_id: Option<String>,
}

/// Verifies the JWTs of one API. Built once per API load; shared by every request.
pub struct JwtVerifier {
    family: AlgorithmFamily,
    keys: Keys,
    skews: Skews,
    identity_field: String,
    policy_field: String,
    client_field: String,
    default_policies: Vec<String>,
    cache: TokenCache,
    /// Cached tokens are re-verified after this long, so keys dropped from a JWK set stop
    /// being honoured; static keys never change, so their tokens need no such limit.
    cache_max_age: Option<Duration>,
    signature_checks: AtomicU64,
}

enum Keys {
    Static(Arc<DecodingKey>),
    Jwks(jwks::Jwks),
}

/// A verified token as the cache keeps it.
struct Verified {
    header: Arc<Map<String, Value>>,
    claims: Arc<Map<String, Value>>,
    times: Times,
    identity: String,
    policies: Vec<String>,
    client_id: Option<String>,
    at: Instant,
}

impl Verified {
    fn to_jwt(&self) -> VerifiedJwt {
        VerifiedJwt {
            claims: self.claims.clone(),
            header: self.header.clone(),
            identity: self.identity.clone(),
            policies: self.policies.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

impl JwtVerifier {
    /// Errors are a reason string the caller puts next to the field name (e.g. "jwt_source is not valid base64").
    pub fn new(settings: JwtSettings, fetch_timeout: Duration) -> Result<Self, String> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err("JWT crypto provider is not available in this build".into());
        }
        let family = signing_family(&settings.signing_method);
        let ttl = Duration::from_secs(match settings.jwks_cache_timeout {
            0 => DEFAULT_JWKS_CACHE_SECS,
            secs => secs,
        });
        let keys = if !settings.jwks_uris.is_empty() {
            for url in &settings.jwks_uris {
                if !keys::is_http_url(url.trim()) {
                    return Err(format!("jwt_jwks_uris has {url:?}, not an http(s) URL"));
                }
            }
            let urls = settings.jwks_uris.iter().map(|u| u.trim().to_owned());
            Keys::Jwks(jwks::Jwks::new(urls.collect(), fetch_timeout, ttl)?)
        } else {
            match keys::decode_source(&settings.source)? {
                keys::Source::Url(url) => {
                    Keys::Jwks(jwks::Jwks::new(vec![url], fetch_timeout, ttl)?)
                }
                keys::Source::Material(bytes) => {
                    Keys::Static(Arc::new(keys::static_key(family, &bytes)?))
                }
            }
        };
        let cache_max_age = match keys {
            Keys::Static(_) => None,
            Keys::Jwks(_) => Some(ttl),
        };
        Ok(JwtVerifier {
            family,
            keys,
            skews: Skews::new(
                settings.expires_at_skew,
                settings.issued_at_skew,
                settings.not_before_skew,
            ),
            identity_field: settings.identity_base_field,
            policy_field: settings.policy_field_name,
            client_field: settings.client_base_field,
            default_policies: settings.default_policies,
            cache: TokenCache::new(TOKEN_CACHE_CAPACITY),
            cache_max_age,
            signature_checks: AtomicU64::new(0),
        })
    }

    /// Verifies a raw token (no "Bearer " prefix) at `now` (unix seconds).
    pub async fn verify(&self, token: &str, now: i64) -> Result<VerifiedJwt, Refusal> {
        if token.is_empty() {
            return Err(JWT_MISSING);
        }
        let digest = cache::digest(token);
        if let Some(hit) = self.cache.get(&digest)
            && self.cache_max_age.is_none_or(|age| hit.at.elapsed() < age)
        {
            hit.times.check(now, &self.skews)?;
            return Ok(hit.to_jwt());
        }
        let verified = Arc::new(self.verify_uncached(token, now).await?);
        let jwt = verified.to_jwt();
        self.cache.insert(digest, verified);
        Ok(jwt)
    }

    /// Fetches the JWK sets now (for example when the API loads) instead of on the first
    /// token; failures are logged and retried on demand.
    pub async fn prefetch_keys(&self) {
        if let Keys::Jwks(jwks) = &self.keys {
            jwks.prefetch().await;
        }
    }

    async fn verify_uncached(&self, token: &str, now: i64) -> Result<Verified, Refusal> {
        let parsed = Parsed::new(token)?;
        let alg = self.accept(&parsed.header)?;
        let key = match &self.keys {
            Keys::Static(key) => Arc::clone(key),
            Keys::Jwks(jwks) => {
                let kid = parsed.header.get("kid").and_then(Value::as_str);
                jwks.key(kid.ok_or(KEY_NOT_AUTHORIZED)?).await?
            }
        };
        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        let signed = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key,
            alg,
        );
        if !matches!(signed, Ok(true)) {
            return Err(KEY_NOT_AUTHORIZED);
        }
        let times = Times::read(&parsed.claims);
        times.check(now, &self.skews)?;
        let identity = claims::identity(&parsed.claims, &self.identity_field)?;
        let (policies, client_id) = claims::policies(
            &parsed.claims,
            &self.policy_field,
            &self.client_field,
            &self.default_policies,
        )?;
        Ok(Verified {
            header: Arc::new(parsed.header),
            claims: Arc::new(parsed.claims),
            times,
            identity,
            policies,
            client_id,
            at: Instant::now(),
        })
    }

    /// Tyk's assertSigningMethod: the token's `alg` must belong to the API's family. An `alg`
    /// Tyk's JWT library does not know is a plain refusal; ES512 it knows but we cannot verify.
    fn accept(&self, header: &Map<String, Value>) -> Result<Algorithm, Refusal> {
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(KEY_NOT_AUTHORIZED)?;
        let family = match alg {
            "HS256" | "HS384" | "HS512" => Some(AlgorithmFamily::Hmac),
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some(AlgorithmFamily::Rsa),
            "ES256" | "ES384" | "ES512" => Some(AlgorithmFamily::Ec),
            "none" | "EdDSA" => None,
            _ => return Err(KEY_NOT_AUTHORIZED),
        };
        if family != Some(self.family) {
            return Err(UNEXPECTED_SIGNING_METHOD);
        }
        alg.parse().map_err(|_| KEY_NOT_AUTHORIZED)
    }

    #[cfg(test)]
    fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }
}

/// `jwt_signing_method` as Tyk reads it: exact names, anything else is HMAC.
fn signing_family(method: &str) -> AlgorithmFamily {
    match method {
        "hmac" | "" => AlgorithmFamily::Hmac,
        "rsa" => AlgorithmFamily::Rsa,
        "ecdsa" => AlgorithmFamily::Ec,
        other => {
            tracing::warn!(
                jwt_signing_method = other,
                "unknown JWT signing method, using hmac as Tyk does"
            );
            AlgorithmFamily::Hmac
        }
    }
}

/// The parts of a compact JWS.
struct Parsed<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> Parsed<'a> {
    fn new(token: &'a str) -> Result<Self, Refusal> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(KEY_NOT_AUTHORIZED)?;
        let (header, claims) = signing_input.split_once('.').ok_or(KEY_NOT_AUTHORIZED)?;
        if claims.contains('.') {
            return Err(KEY_NOT_AUTHORIZED);
        }
        Ok(Parsed {
            header: json_object(header)?,
            claims: json_object(claims)?,
            signing_input,
            signature,
        })
    }
}

fn json_object(part: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| KEY_NOT_AUTHORIZED)?;
    serde_json::from_slice(&bytes).map_err(|_| KEY_NOT_AUTHORIZED)
}
