//! How an API authenticates its requests and the limits it sets for every caller: one parse of
//! the classic fields (`use_keyless`, `use_standard_auth`, `auth_configs`, `use_basic_auth`,
//! `enable_jwt` and the `jwt_*` fields, `global_rate_limit`, `strip_auth_data`, …).
//!
//! Tyk chains every authentication method switched on and lets `base_identity_provided_by`
//! pick the session; Weir serves one method per API and refuses a definition that switches on
//! several, naming them.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::document::{typed, without_nulls};
use crate::errors::ConfigError;

/// An API's authentication and caller-independent limits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiAuth {
    /// Who may call.
    pub method: AuthMethod,
    /// Where the credential is read from (token and JWT APIs).
    pub location: CredentialLocation,
    /// `strip_auth_data`: the credential is removed before the upstream sees the request.
    pub strip_auth_data: bool,
    /// `global_rate_limit` with a rate and not disabled: one limit for the whole API.
    pub global_rate_limit: Option<RateLimit>,
    /// `disable_rate_limit`: per-key rate limits are not checked.
    pub disable_rate_limit: bool,
    /// `disable_quota`: per-key quotas are not counted.
    pub disable_quota: bool,
}

/// The authentication method of an API.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AuthMethod {
    /// `use_keyless`: open.
    #[default]
    Keyless,
    /// Auth token: a key made through the control API (`use_standard_auth`, or no other
    /// method on a protected API, as in Tyk).
    Token,
    /// `use_basic_auth`: a username and password, the user being a key.
    Basic(BasicConfig),
    /// `enable_jwt`.
    Jwt(Box<JwtConfig>),
    /// A custom-authentication plugin (`auth_check`).
    Plugin,
}

/// Where a credential is looked for (`auth_configs.<method>` or the deprecated `auth`).
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialLocation {
    /// The header, unless `disable_header` (default `Authorization`).
    pub header: Option<String>,
    /// `use_param`: this query parameter (default: the header's name); wins over the header.
    pub param: Option<String>,
    /// `use_cookie`: this cookie (default: the header's name); wins over the parameter.
    pub cookie: Option<String>,
}

impl Default for CredentialLocation {
    fn default() -> Self {
        CredentialLocation {
            header: Some("Authorization".into()),
            param: None,
            cookie: None,
        }
    }
}

/// `rate` requests per `per` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per window.
    pub rate: f64,
    /// The window, in seconds.
    pub per: f64,
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicConfig {
    /// `basic_auth.disable_caching`: check the password on every request.
    pub disable_caching: bool,
    /// `basic_auth.cache_ttl`, seconds (0: Tyk's default of 60).
    pub cache_ttl: u64,
}

/// The `jwt_*` fields, as written; the gateway checks them when it builds the verifier.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JwtConfig {
    /// `jwt_signing_method`.
    pub signing_method: String,
    /// `jwt_source`.
    pub source: String,
    /// `jwt_identity_base_field`.
    pub identity_base_field: String,
    /// `jwt_client_base_field`.
    pub client_base_field: String,
    /// `jwt_policy_field_name`.
    pub policy_field_name: String,
    /// `jwt_default_policies`.
    pub default_policies: Vec<String>,
    /// `jwt_issued_at_validation_skew`, seconds.
    pub issued_at_skew: u64,
    /// `jwt_expires_at_validation_skew`, seconds.
    pub expires_at_skew: u64,
    /// `jwt_not_before_validation_skew`, seconds.
    pub not_before_skew: u64,
    /// `jwt_skip_kid`.
    pub skip_kid: bool,
    /// `scopes.jwt.scope_claim_name` (else `jwt_scope_claim_name`; Tyk's default `scope`): the
    /// claim holding the token's scopes (space-separated, or a list; `a.b` looks into objects).
    pub scope_claim_name: String,
    /// `scopes.jwt.scope_to_policy` (else `jwt_scope_to_policy_mapping`): scope → policy id;
    /// the policies a token's scopes map to join its base policy.
    pub scope_to_policy: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAuth {
    use_keyless: bool,
    use_standard_auth: bool,
    use_basic_auth: bool,
    enable_jwt: bool,
    auth: Option<RawAuthConfig>,
    auth_configs: std::collections::BTreeMap<String, RawAuthConfig>,
    strip_auth_data: bool,
    global_rate_limit: RawRateLimit,
    disable_rate_limit: bool,
    disable_quota: bool,
    basic_auth: RawBasic,
    jwt_signing_method: String,
    jwt_source: String,
    jwt_identity_base_field: String,
    jwt_client_base_field: String,
    jwt_policy_field_name: String,
    jwt_default_policies: Vec<String>,
    jwt_issued_at_validation_skew: u64,
    jwt_expires_at_validation_skew: u64,
    jwt_not_before_validation_skew: u64,
    jwt_skip_kid: bool,
    jwt_scope_claim_name: String,
    jwt_scope_to_policy_mapping: std::collections::BTreeMap<String, String>,
    scopes: RawScopes,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawScopes {
    jwt: RawScopeMapping,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawScopeMapping {
    scope_claim_name: String,
    scope_to_policy: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawAuthConfig {
    auth_header_name: String,
    use_param: bool,
    param_name: String,
    use_cookie: bool,
    cookie_name: String,
    disable_header: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRateLimit {
    rate: f64,
    per: f64,
    disabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawBasic {
    disable_caching: bool,
    cache_ttl: u64,
}

/// Reads a classic definition's authentication. `plugin_auth` is true when a custom-auth hook
/// is declared and on.
pub(crate) fn classic(
    doc: &Value,
    plugin_auth: bool,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> ApiAuth {
    let raw: RawAuth = match typed(&without_nulls(doc), file) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(e);
            return ApiAuth::default();
        }
    };
    let global_rate_limit = (!raw.global_rate_limit.disabled && raw.global_rate_limit.rate > 0.0)
        .then_some(RateLimit {
            rate: raw.global_rate_limit.rate,
            per: raw.global_rate_limit.per,
        });
    if let Some(limit) = global_rate_limit
        && limit.per <= 0.0
    {
        errors.push(ConfigError::new(
            file,
            "global_rate_limit.per",
            "must be a number of seconds above 0 when `rate` is set",
        ));
    }
    let mut auth = ApiAuth {
        method: AuthMethod::Keyless,
        location: CredentialLocation::default(),
        strip_auth_data: raw.strip_auth_data,
        global_rate_limit,
        disable_rate_limit: raw.disable_rate_limit,
        disable_quota: raw.disable_quota,
    };
    if raw.use_keyless {
        return auth;
    }
    let on: Vec<&str> = [
        (raw.use_basic_auth, "use_basic_auth"),
        (raw.enable_jwt, "enable_jwt"),
        (plugin_auth, "custom_middleware.auth_check"),
        (raw.use_standard_auth, "use_standard_auth"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if on.len() > 1 {
        errors.push(ConfigError::new(
            file,
            on[1],
            format!(
                "several authentication methods are on ({}); Weir serves one per API (Tyk chains them and picks the session by `base_identity_provided_by`)",
                on.join(", ")
            ),
        ));
    }
    auth.method = match on.first().copied() {
        Some("use_basic_auth") => AuthMethod::Basic(BasicConfig {
            disable_caching: raw.basic_auth.disable_caching,
            cache_ttl: raw.basic_auth.cache_ttl,
        }),
        Some("enable_jwt") => AuthMethod::Jwt(Box::new(jwt(&raw))),
        Some("custom_middleware.auth_check") => AuthMethod::Plugin,
        // As Tyk: a protected API with no other method uses auth tokens.
        _ => AuthMethod::Token,
    };
    let config_name = match auth.method {
        AuthMethod::Jwt(_) => "jwt",
        AuthMethod::Basic(_) => "basic",
        _ => "authToken",
    };
    // Tyk falls back to the deprecated `auth` block for tokens and JWTs only.
    let config = raw.auth_configs.get(config_name).cloned().or_else(|| {
        matches!(config_name, "authToken" | "jwt")
            .then(|| raw.auth.clone())
            .flatten()
    });
    auth.location = location(&config.unwrap_or_default());
    auth
}

fn location(c: &RawAuthConfig) -> CredentialLocation {
    let header = if c.auth_header_name.trim().is_empty() {
        "Authorization".to_string()
    } else {
        c.auth_header_name.trim().to_string()
    };
    let or_header = |name: &str| {
        if name.trim().is_empty() {
            header.clone()
        } else {
            name.trim().to_string()
        }
    };
    CredentialLocation {
        param: c.use_param.then(|| or_header(&c.param_name)),
        cookie: c.use_cookie.then(|| or_header(&c.cookie_name)),
        header: (!c.disable_header).then_some(header),
    }
}

fn jwt(raw: &RawAuth) -> JwtConfig {
    JwtConfig {
        signing_method: raw.jwt_signing_method.trim().to_string(),
        source: raw.jwt_source.trim().to_string(),
        identity_base_field: raw.jwt_identity_base_field.trim().to_string(),
        client_base_field: raw.jwt_client_base_field.trim().to_string(),
        policy_field_name: raw.jwt_policy_field_name.trim().to_string(),
        default_policies: raw.jwt_default_policies.clone(),
        issued_at_skew: raw.jwt_issued_at_validation_skew,
        expires_at_skew: raw.jwt_expires_at_validation_skew,
        not_before_skew: raw.jwt_not_before_validation_skew,
        skip_kid: raw.jwt_skip_kid,
        // Tyk reads the newer `scopes.jwt` block first, then the older flat fields.
        scope_claim_name: [&raw.scopes.jwt.scope_claim_name, &raw.jwt_scope_claim_name]
            .into_iter()
            .find(|n| !n.trim().is_empty())
            .map_or_else(|| "scope".to_string(), |n| n.trim().to_string()),
        scope_to_policy: if raw.scopes.jwt.scope_to_policy.is_empty() {
            raw.jwt_scope_to_policy_mapping.clone()
        } else {
            raw.scopes.jwt.scope_to_policy.clone()
        },
    }
}

/// Reads an OAS definition's authentication (`x-tyk-api-gateway.server.authentication` with the
/// OpenAPI `security` requirement and `components.securitySchemes`), as Tyk maps it to the
/// classic fields: a scheme acts when it is enabled in Tyk's block and named in the first
/// security requirement; `apiKey` is an auth token, `http`/`bearer`/`JWT` a JWT, `http`/`basic`
/// basic auth.
pub(crate) fn oas(
    doc: &Value,
    plugin_auth: bool,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> ApiAuth {
    const ROOT: &str = "x-tyk-api-gateway.server.authentication";
    let gw = doc.pointer("/x-tyk-api-gateway").unwrap_or(&Value::Null);
    let authn = gw.pointer("/server/authentication").unwrap_or(&Value::Null);
    let on = |v: &Value, key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
    let global_rate_limit = gw
        .pointer("/upstream/rateLimit")
        .filter(|r| on(r, "enabled"))
        .and_then(|r| {
            let rate = r.get("rate").and_then(Value::as_f64).unwrap_or(0.0);
            let per = duration_seconds(r.get("per"));
            if rate <= 0.0 || per <= 0.0 {
                errors.push(ConfigError::new(
                    file,
                    "x-tyk-api-gateway.upstream.rateLimit",
                    "needs a `rate` above 0 and a `per` duration (e.g. \"1s\", or seconds)",
                ));
                return None;
            }
            Some(RateLimit { rate, per })
        });
    let mut auth = ApiAuth {
        global_rate_limit,
        strip_auth_data: on(authn, "stripAuthorizationData"),
        ..ApiAuth::default()
    };
    if !on(authn, "enabled") {
        return auth;
    }
    let required: Vec<&str> = doc
        .pointer("/security/0")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut methods: Vec<(String, AuthMethod, CredentialLocation)> = Vec::new();
    if plugin_auth {
        methods.push((
            "custom".into(),
            AuthMethod::Plugin,
            CredentialLocation::default(),
        ));
    }
    let schemes = authn.get("securitySchemes").and_then(Value::as_object);
    for (name, tyk) in schemes.into_iter().flatten() {
        if !on(tyk, "enabled") || !required.contains(&name.as_str()) {
            continue;
        }
        let field = format!("{ROOT}.securitySchemes.{name}");
        let spec = doc
            .pointer(&format!(
                "/components/securitySchemes/{}",
                name.replace('~', "~0").replace('/', "~1")
            ))
            .unwrap_or(&Value::Null);
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or("");
        let scheme = spec.get("scheme").and_then(Value::as_str).unwrap_or("");
        let mut location = oas_sources(tyk);
        let method = match (kind, scheme.to_ascii_lowercase().as_str()) {
            ("apiKey", _) => {
                let key = spec
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match spec.get("in").and_then(Value::as_str) {
                    Some("header") => location.header = Some(key),
                    Some("query") => location.param = Some(key),
                    Some("cookie") => location.cookie = Some(key),
                    _ => {}
                }
                AuthMethod::Token
            }
            ("http", "bearer") => AuthMethod::Jwt(Box::new(oas_jwt(tyk))),
            ("http", "basic") => AuthMethod::Basic(BasicConfig {
                disable_caching: on(tyk, "disableCaching"),
                cache_ttl: tyk.get("cacheTTL").and_then(Value::as_u64).unwrap_or(0),
            }),
            _ => {
                errors.push(ConfigError::new(
                    file,
                    field,
                    format!(
                        "a `{kind}` security scheme is not built in Weir (token, JWT and basic are)"
                    ),
                ));
                continue;
            }
        };
        methods.push((field, method, location));
    }
    if methods.len() > 1 {
        let names: Vec<&str> = methods.iter().map(|(f, _, _)| f.as_str()).collect();
        errors.push(ConfigError::new(
            file,
            names[1],
            format!(
                "several authentication methods are on ({}); Weir serves one per API",
                names.join(", ")
            ),
        ));
    }
    match methods.into_iter().next() {
        Some((_, method, location)) => {
            auth.method = method;
            auth.location = location;
        }
        None => errors.push(ConfigError::new(
            file,
            ROOT,
            "authentication is enabled but no scheme is: enable one in `securitySchemes` that \
             the top-level `security` requirement names, or a custom auth plugin",
        )),
    }
    auth
}

/// Tyk's `header` / `query` / `cookie` sources of an OAS scheme; the header is off unless
/// enabled, as Tyk maps OAS to classic.
fn oas_sources(tyk: &Value) -> CredentialLocation {
    let source = |key: &str| {
        let s = tyk.get(key)?;
        s.get("enabled").and_then(Value::as_bool).filter(|e| *e)?;
        let name = s.get("name").and_then(Value::as_str).unwrap_or("").trim();
        Some(
            if name.is_empty() {
                "Authorization"
            } else {
                name
            }
            .to_string(),
        )
    };
    CredentialLocation {
        header: source("header"),
        param: source("query"),
        cookie: source("cookie"),
    }
}

fn oas_jwt(tyk: &Value) -> JwtConfig {
    let text = |k: &str| {
        tyk.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let secs = |k: &str| tyk.get(k).and_then(Value::as_u64).unwrap_or(0);
    JwtConfig {
        signing_method: text("signingMethod"),
        source: text("source"),
        identity_base_field: text("identityBaseField"),
        client_base_field: text("clientBaseField"),
        policy_field_name: text("policyFieldName"),
        default_policies: tyk
            .get("defaultPolicies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        issued_at_skew: secs("issuedAtValidationSkew"),
        expires_at_skew: secs("expiresAtValidationSkew"),
        not_before_skew: secs("notBeforeValidationSkew"),
        skip_kid: tyk.get("skipKid").and_then(Value::as_bool).unwrap_or(false),
        scope_claim_name: tyk
            .pointer("/scopes/claimName")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("scope")
            .to_string(),
        scope_to_policy: tyk
            .pointer("/scopes/scopeToPolicyMapping")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let scope = m.get("scope")?.as_str()?;
                let policy = m.get("policyId")?.as_str()?;
                Some((scope.to_string(), policy.to_string()))
            })
            .collect(),
    }
}

/// An OAS duration: seconds as a number, or Go's form (`"1s"`, `"500ms"`, `"1m30s"`).
fn duration_seconds(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => {
            let mut total = 0.0;
            let mut digits = String::new();
            let mut chars = s.trim().chars().peekable();
            while let Some(c) = chars.next() {
                if c.is_ascii_digit() || c == '.' {
                    digits.push(c);
                    continue;
                }
                let mut unit = c.to_string();
                while let Some(&n) = chars.peek().filter(|n| n.is_ascii_alphabetic()) {
                    unit.push(n);
                    chars.next();
                }
                let Ok(n) = digits.parse::<f64>() else {
                    return 0.0;
                };
                digits.clear();
                total += n * match unit.as_str() {
                    "ms" => 0.001,
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => return 0.0,
                };
            }
            if digits.is_empty() { total } else { 0.0 }
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(doc: Value) -> (ApiAuth, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let auth = classic(&doc, false, Path::new("a.json"), &mut errors);
        (auth, errors)
    }

    #[test]
    fn a_protected_api_without_a_method_uses_tokens_from_authorization() {
        let (auth, errors) = read(json!({"use_keyless": false}));
        assert!(errors.is_empty());
        assert_eq!(auth.method, AuthMethod::Token);
        assert_eq!(auth.location, CredentialLocation::default());
    }

    #[test]
    fn auth_configs_name_the_header_param_and_cookie() {
        let (auth, _) = read(
            json!({"use_standard_auth": true, "auth_configs": {"authToken": {
            "auth_header_name": "X-Api-Key", "use_param": true, "use_cookie": true, "cookie_name": "sid"}}}),
        );
        assert_eq!(auth.location.header.as_deref(), Some("X-Api-Key"));
        assert_eq!(auth.location.param.as_deref(), Some("X-Api-Key"));
        assert_eq!(auth.location.cookie.as_deref(), Some("sid"));
        // The deprecated `auth` block, when auth_configs has none.
        let (auth, _) = read(json!({"auth": {"auth_header_name": "k", "disable_header": true}}));
        assert_eq!(auth.location.header, None);
    }

    #[test]
    fn several_methods_are_refused_by_name() {
        let (_, errors) = read(json!({"use_basic_auth": true, "enable_jwt": true}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "enable_jwt");
        assert!(errors[0].reason.contains("use_basic_auth, enable_jwt"));
    }

    #[test]
    fn oas_schemes_named_by_the_security_requirement_act() {
        let doc = json!({
            "security": [{"jwt": []}],
            "components": {"securitySchemes": {
                "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"}}},
            "x-tyk-api-gateway": {
                "upstream": {"rateLimit": {"enabled": true, "rate": 5, "per": "1m"}},
                "server": {"authentication": {"enabled": true, "stripAuthorizationData": true,
                "securitySchemes": {
                    "jwt": {"enabled": true, "header": {"enabled": true, "name": "Authorization"},
                            "source": "c2VjcmV0", "policyFieldName": "pol"},
                    "key": {"enabled": true}}}}}
        });
        let mut errors = Vec::new();
        let auth = oas(&doc, false, Path::new("o.yaml"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let AuthMethod::Jwt(j) = &auth.method else {
            panic!("{:?}", auth.method)
        };
        assert_eq!(
            (j.source.as_str(), j.policy_field_name.as_str()),
            ("c2VjcmV0", "pol")
        );
        assert_eq!(auth.location.header.as_deref(), Some("Authorization"));
        assert!(auth.strip_auth_data);
        assert_eq!(
            auth.global_rate_limit,
            Some(RateLimit {
                rate: 5.0,
                per: 60.0
            })
        );
        // An API key in a query parameter; an OAuth scheme is refused by name.
        let doc = json!({"security": [{"k": [], "o": []}],
            "components": {"securitySchemes": {"k": {"type": "apiKey", "in": "query", "name": "api_key"},
                "o": {"type": "oauth2"}}},
            "x-tyk-api-gateway": {"server": {"authentication": {"enabled": true,
                "securitySchemes": {"k": {"enabled": true}, "o": {"enabled": true}}}}}});
        let mut errors = Vec::new();
        let auth = oas(&doc, false, Path::new("o.yaml"), &mut errors);
        assert_eq!(auth.method, AuthMethod::Token);
        assert_eq!(auth.location.param.as_deref(), Some("api_key"));
        assert_eq!(auth.location.header, None);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].field.ends_with("securitySchemes.o"), "{errors:?}");
        assert_eq!(duration_seconds(Some(&json!("1m30s"))), 90.0);
        assert_eq!(duration_seconds(Some(&json!("x"))), 0.0);
    }

    #[test]
    fn a_global_rate_limit_needs_a_window() {
        let (auth, errors) =
            read(json!({"use_keyless": true, "global_rate_limit": {"rate": 10, "per": 0}}));
        assert_eq!(auth.global_rate_limit.unwrap().rate, 10.0);
        assert_eq!(errors[0].field, "global_rate_limit.per");
        let (auth, _) =
            read(json!({"global_rate_limit": {"rate": 10, "per": 1, "disabled": true}}));
        assert!(auth.global_rate_limit.is_none());
    }
}
