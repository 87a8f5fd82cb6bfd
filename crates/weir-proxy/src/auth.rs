//! An API's authentication compiled for the request path: the key service, the method with
//! what it needs built once (a JWT verifier, a password cache), and the limits' counters.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use weir_auth::basic::PasswordCheck;
use weir_auth::checks::CheckedSession;
use weir_auth::jwt::{JwtSettings, JwtVerifier};
use weir_auth::limits::Decision;
use weir_auth::policy::Limits;
use weir_auth::redis_connect::{RedisTarget, Tls, Topology};
use weir_auth::service::{Hashing, KeyService, LocalFirst};
use weir_auth::token::HashAlgorithm;
use weir_config::auth::{AuthMethod, CredentialLocation};
use weir_config::keys::{KeySettings, RedisSettings};
use weir_config::{ApiDefinition, ConfigError};

/// How long a JWKS fetch may take before the request is answered 503.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// The method, ready to check credentials.
pub enum Method {
    /// Open.
    Keyless,
    /// Keys made through the control API.
    Token,
    /// Username and password; the user is a key.
    Basic(Arc<PasswordCheck>),
    /// Signed tokens.
    Jwt(Box<JwtMethod>),
    /// A custom-auth plugin makes the session.
    Plugin,
}

/// A JWT API: the verifier, and the scopes that map to policies.
pub struct JwtMethod {
    /// Checks signatures and time claims, and names the identity and base policies.
    pub verifier: JwtVerifier,
    /// The claim holding the token's scopes.
    pub scope_claim: String,
    /// Scope → policy id (empty: scopes are not read).
    pub scope_to_policy: std::collections::BTreeMap<String, String>,
}

impl JwtMethod {
    /// The base policies followed by those the token's scopes map to, each once (Tyk's order).
    pub fn policies(&self, verified: &weir_auth::jwt::VerifiedJwt) -> Vec<String> {
        let mut out = verified.policies.clone();
        if self.scope_to_policy.is_empty() {
            return out;
        }
        let mut claim = verified
            .claims
            .get(self.scope_claim.split('.').next().unwrap_or(""));
        for part in self.scope_claim.split('.').skip(1) {
            claim = claim.and_then(|c| c.get(part));
        }
        let mut scopes = Vec::new();
        collect_scopes(claim, &mut scopes);
        for scope in scopes {
            if let Some(policy) = self.scope_to_policy.get(scope)
                && !out.contains(policy)
            {
                out.push(policy.clone());
            }
        }
        out
    }
}

/// A scope claim's values: a space-separated string, or a list of them.
fn collect_scopes<'a>(claim: Option<&'a serde_json::Value>, out: &mut Vec<&'a str>) {
    match claim {
        Some(serde_json::Value::String(s)) => out.extend(s.split(' ').filter(|s| !s.is_empty())),
        Some(serde_json::Value::Array(items)) => {
            items.iter().for_each(|i| collect_scopes(Some(i), out))
        }
        _ => {}
    }
}

/// An API's authentication and limits.
pub struct CompiledAuth {
    /// Where keys, policies and counters live.
    pub keys: Arc<KeyService>,
    /// The method.
    pub method: Method,
    /// Where the credential is read.
    pub location: CredentialLocation,
    /// `strip_auth_data`.
    pub strip: bool,
    /// `global_rate_limit`: its counter name, rate and window.
    pub global: Option<(String, f64, f64)>,
    /// `disable_rate_limit`.
    pub disable_rate_limit: bool,
    /// `disable_quota`.
    pub disable_quota: bool,
    /// `WWW-Authenticate` for basic auth's 401s.
    pub realm: HeaderValue,
    /// X-RateLimit-* describe the rate limit, not the quota.
    pub headers_from_rate: bool,
    /// The organisation (JWT sessions belong to it).
    pub org_id: String,
}

impl CompiledAuth {
    /// Compiles the API's authentication; errors name the field.
    pub fn compile(
        def: &ApiDefinition,
        keys: &Arc<KeyService>,
        headers_from_rate: bool,
    ) -> Result<Self, ConfigError> {
        let auth = &def.auth;
        let method = match &auth.method {
            AuthMethod::Keyless => Method::Keyless,
            AuthMethod::Token => Method::Token,
            AuthMethod::Plugin => Method::Plugin,
            AuthMethod::Basic(b) => {
                let ttl = if b.cache_ttl == 0 { 60 } else { b.cache_ttl };
                let capacity = if b.disable_caching { 0 } else { 10_000 };
                Method::Basic(Arc::new(PasswordCheck::new(
                    capacity,
                    Duration::from_secs(ttl),
                )))
            }
            AuthMethod::Jwt(j) => {
                let settings = JwtSettings {
                    signing_method: j.signing_method.clone(),
                    source: j.source.clone(),
                    identity_base_field: j.identity_base_field.clone(),
                    client_base_field: j.client_base_field.clone(),
                    policy_field_name: j.policy_field_name.clone(),
                    default_policies: j.default_policies.clone(),
                    issued_at_skew: j.issued_at_skew,
                    expires_at_skew: j.expires_at_skew,
                    not_before_skew: j.not_before_skew,
                    skip_kid: j.skip_kid,
                    ..JwtSettings::default()
                };
                let verifier = JwtVerifier::new(settings, JWKS_TIMEOUT)
                    .map_err(|reason| ConfigError::new(&def.file, "jwt_source", reason))?;
                Method::Jwt(Box::new(JwtMethod {
                    verifier,
                    scope_claim: j.scope_claim_name.clone(),
                    scope_to_policy: j.scope_to_policy.clone(),
                }))
            }
        };
        let realm = HeaderValue::from_str(&format!(
            "Basic realm=\"{}\"",
            def.name.replace(['"', '\\'], "")
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"\""));
        Ok(CompiledAuth {
            keys: keys.clone(),
            method,
            location: auth.location.clone(),
            strip: auth.strip_auth_data,
            global: auth.global_rate_limit.map(|l| {
                (
                    format!("apilimiter-{}{}", def.org_id, def.api_id),
                    l.rate,
                    l.per,
                )
            }),
            disable_rate_limit: auth.disable_rate_limit,
            disable_quota: auth.disable_quota,
            realm,
            headers_from_rate,
            org_id: def.org_id.clone(),
        })
    }

    /// True when requests carry a credential this API checks itself.
    pub fn built_in(&self) -> bool {
        matches!(
            self.method,
            Method::Token | Method::Basic(_) | Method::Jwt(_)
        )
    }
}

/// The node's key service, as tyk.conf asks: Redis when it has a `storage` block, else memory.
pub fn key_service(settings: &KeySettings) -> Result<KeyService, crate::tls::TlsError> {
    let function = HashAlgorithm::from_name(&settings.hash_key_function).unwrap_or_else(|f| f);
    let hashing = Hashing {
        hash_keys: settings.hash_keys,
        function,
        listing: settings.enable_hashed_keys_listing,
    };
    let Some(redis) = &settings.storage else {
        return Ok(KeyService::memory(hashing));
    };
    let local_first = settings
        .local_first
        .map(|(batch, lease)| LocalFirst { batch, lease });
    KeyService::redis(hashing, &redis_target(redis)?, local_first)
        .map_err(crate::tls::TlsError::Storage)
}

/// tyk.conf `storage` as the key service reaches it: Sentinel when `master_name` is set
/// (first, as in Tyk), else a cluster with `enable_cluster`, else the first address.
fn redis_target(redis: &RedisSettings) -> Result<RedisTarget, crate::tls::TlsError> {
    let topology = if !redis.master_name.is_empty() {
        Topology::Sentinel {
            sentinels: redis.addrs.clone(),
            master_name: redis.master_name.clone(),
            password: redis.sentinel_password.clone(),
        }
    } else if redis.enable_cluster {
        Topology::Cluster(redis.addrs.clone())
    } else {
        let addr = redis.addrs.first().map_or("localhost:6379", String::as_str);
        Topology::Single(addr.to_string())
    };
    let tls = if redis.use_ssl {
        let read = |field: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| {
                crate::tls::TlsError::Storage(format!("{field}: {}: {e}", path.display()))
            })
        };
        let client = match &redis.client_cert {
            Some((cert, key)) => Some((
                read("storage.cert_file", cert)?,
                read("storage.key_file", key)?,
            )),
            None => None,
        };
        Some(Tls {
            insecure: redis.ssl_insecure_skip_verify,
            ca_pem: match &redis.ca_file {
                Some(ca) => Some(read("storage.ca_file", ca)?),
                None => None,
            },
            client,
        })
    } else {
        None
    };
    Ok(RedisTarget {
        topology,
        username: redis.username.clone(),
        password: redis.password.clone(),
        database: redis.database,
        tls,
        timeout: redis.timeout,
    })
}

/// The caller a request was authenticated as.
pub struct Caller {
    /// The name its counters use (the key's stored name).
    pub name: String,
    /// Its session, policies applied.
    pub session: Arc<CheckedSession>,
    /// The quota decision, for X-RateLimit-* on the answer.
    pub quota: Option<Decision>,
    /// The rate decision, for X-RateLimit-* when they follow the rate.
    pub rate: Option<Decision>,
    /// A JWT's claims.
    pub claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// The limits the key checks counted this request against.
    pub limits: Option<Limits>,
}

impl Caller {
    /// A caller whose limits are not checked yet.
    pub fn new(name: String, session: Arc<CheckedSession>) -> Self {
        Caller {
            name,
            session,
            quota: None,
            rate: None,
            claims: None,
            limits: None,
        }
    }
}
