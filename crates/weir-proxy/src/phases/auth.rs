//! Authentication and the key checks: who the caller is (an auth token, a username and
//! password, a JWT, or what a custom-auth plugin said), then, in Tyk's order, strip the
//! credential, expiry, access rights, `allowed_urls`, the key's rate limit and quota; the
//! API-wide `global_rate_limit`; and the X-RateLimit-* headers on the answer.

use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use weir_auth::checks::{
    API_RATE_LIMITED, DISALLOWED, MISSING, QUOTA_EXCEEDED, RATE_LIMITED, Refusal, STORE_UNAVAILABLE,
};
use weir_auth::jwt::{JWT_MISSING, NO_MATCHING_POLICY, NO_MATCHING_POLICY_FOUND};
use weir_auth::limits::Decision;
use weir_auth::service::{KeyError, unix_now};

use crate::auth::{Caller, CompiledAuth, Method};
use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::phases::plugins::for_client;
use crate::respond::error_response;

/// Tyk's answer to a basic-auth user that is unknown or gave the wrong password.
const USER_NOT_AUTHORISED: Refusal = Refusal {
    status: 401,
    message: "User not authorised",
};

/// The built-in authentication: finds the caller's session or answers why not.
pub async fn authenticate(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let auth = ex.api.auth.as_ref()?;
    let result = match &auth.method {
        Method::Token => token(ex, auth).await,
        Method::Basic(_) => basic(ex, auth).await,
        Method::Jwt(_) => jwt(ex, auth).await,
        Method::Keyless | Method::Plugin => return None,
    };
    match result {
        Ok(caller) => {
            ex.caller = Some(caller);
            None
        }
        Err(refusal) => {
            let id = matches!(auth.method, Method::Token)
                .then(|| crate::error_overrides::token_error_id(&refusal))
                .flatten();
            let mut resp = refuse(ex, auth, refusal);
            if let Some(id) = id {
                crate::error_overrides::tag_id(&mut resp, id);
            }
            Some(resp)
        }
    }
}

async fn token(ex: &mut Exchange<'_>, auth: &CompiledAuth) -> Result<Caller, Refusal> {
    let key = credential(ex, auth).ok_or(MISSING)?;
    let found = auth
        .keys
        .find(&key, &auth.org_id)
        .await
        .map_err(unavailable)?;
    let (name, session) = found.ok_or(DISALLOWED)?;
    Ok(Caller::new(name, session))
}

async fn basic(ex: &mut Exchange<'_>, auth: &CompiledAuth) -> Result<Caller, Refusal> {
    let Method::Basic(passwords) = &auth.method else {
        return Err(DISALLOWED);
    };
    let header_name = auth.location.header.as_deref().unwrap_or("Authorization");
    let value = ex
        .headers_mut()
        .get(header_name)
        .map(|v| v.as_bytes().to_vec())
        .filter(|v| !v.is_empty())
        .ok_or(MISSING)?;
    let (user, password) = weir_auth::basic::parse_basic_checked(&value).map_err(|m| Refusal {
        status: 400,
        message: m.message(),
    })?;
    // Tyk's names for a user: the token it makes of the name, the name, then the legacy
    // org + name.
    let mut found = auth
        .keys
        .find(&user, &auth.org_id)
        .await
        .map_err(unavailable)?;
    if found.is_none() {
        let legacy = auth.keys.name_of(&format!("{}{user}", auth.org_id));
        let session = auth
            .keys
            .session_named(&legacy)
            .await
            .map_err(unavailable)?;
        found = session.map(|s| (legacy, s));
    }
    let (name, session) = found.ok_or(USER_NOT_AUTHORISED)?;
    let right = match passwords.quick(&session.session, &password) {
        Some(answer) => answer,
        // bcrypt takes tens of milliseconds: off the executor, so a flood of wrong passwords
        // does not stall every other request.
        None => {
            let (passwords, checked) = (passwords.clone(), session.clone());
            tokio::task::spawn_blocking(move || passwords.verify(&checked.session, &password))
                .await
                .unwrap_or(false)
        }
    };
    if !right {
        return Err(USER_NOT_AUTHORISED);
    }
    Ok(Caller::new(name, session))
}

async fn jwt(ex: &mut Exchange<'_>, auth: &CompiledAuth) -> Result<Caller, Refusal> {
    let Method::Jwt(method) = &auth.method else {
        return Err(DISALLOWED);
    };
    let token = credential(ex, auth).ok_or(JWT_MISSING)?;
    let verified = method.verifier.verify(&token, unix_now()).await?;
    let policies = method.policies(&verified);
    // The verifier refuses a token without policies unless it names a client (refused at
    // load), so an empty list here has nothing to apply.
    if policies.is_empty() {
        return Err(NO_MATCHING_POLICY_FOUND);
    }
    // Every token of one identity shares one set of counters (Tyk's session per identity).
    let name = auth
        .keys
        .name_of(&format!("{}{}", auth.org_id, verified.identity));
    let session = auth
        .keys
        .policy_session(&auth.org_id, &policies)
        .map_err(|_| NO_MATCHING_POLICY)?;
    let mut caller = Caller::new(name, session);
    caller.claims = Some(verified.claims);
    Ok(caller)
}

/// The credential where the API reads it: the header, overridden by the query parameter,
/// overridden by the cookie (Tyk's order), without a `Bearer ` prefix.
fn credential(ex: &mut Exchange<'_>, auth: &CompiledAuth) -> Option<String> {
    let loc = &auth.location;
    let mut found = loc
        .header
        .as_deref()
        .and_then(|h| ex.headers_mut().get(h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(param) = &loc.param
        && let Some(v) = query_value(ex.parts.uri.query(), param).filter(|v| !v.is_empty())
    {
        found = Some(v);
    }
    if let Some(cookie) = &loc.cookie
        && let Some(v) = cookie_value(ex.headers_mut(), cookie).filter(|v| !v.is_empty())
    {
        found = Some(v);
    }
    let key = found?;
    let key = strip_bearer(key.trim());
    (!key.is_empty()).then(|| key.to_string())
}

fn strip_bearer(token: &str) -> &str {
    match token.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    }
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Takes a custom-auth plugin's session as the caller, for the key checks.
pub fn plugin_caller(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let auth = ex.api.auth.as_ref()?;
    let ctx = ex.hooks.as_ref()?;
    let session = ctx.session.as_ref()?;
    let token = ctx.metadata.get("token").cloned().unwrap_or_default();
    // Both are Tyk's session object; the plugin's form keeps every field it was given. A
    // session that does not read as one is refused: read as empty, it would open every API.
    let session = match serde_json::to_value(session).and_then(serde_json::from_value) {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(api_id = %ex.api.def.api_id, error = %e, "the auth plugin's session is not a Tyk session object; refusing the request");
            return Some(refuse(ex, auth, DISALLOWED));
        }
    };
    match auth.keys.checked(session) {
        Ok(checked) => {
            ex.caller = Some(Caller::new(auth.keys.name_of(&token), checked));
            None
        }
        Err(_) => Some(refuse(ex, auth, DISALLOWED)),
    }
}

/// Strips the credential, then the key checks and the key's rate limit and quota.
pub async fn key_checks(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let auth = ex.api.auth.as_ref()?;
    if auth.strip {
        strip_credential(ex, auth);
    }
    let caller = ex.caller.as_ref()?;
    let path = ex.parts.uri.path();
    let path = if ex.api.def.strip_listen_path {
        ex.api.listen_path.strip_or_whole(path)
    } else {
        path
    };
    let request = weir_auth::checks::Request {
        api_id: &ex.api.def.api_id,
        version: ex.api.version_name.as_deref(),
        method: ex.parts.method.as_str(),
        path,
    };
    if let Err(refusal) = caller.session.check(&request, unix_now()) {
        return Some(refuse(ex, auth, refusal));
    }
    let mut limits = weir_auth::policy::limits_for(&caller.session.session, &ex.api.def.api_id);
    if auth.disable_rate_limit {
        limits.rate = 0.0;
    }
    if auth.disable_quota {
        limits.quota_max = -1;
    }
    let (rate, quota) = match auth.keys.admit(&caller.name, &limits).await {
        Ok(d) => d,
        Err(e) => return Some(refuse(ex, auth, unavailable(e))),
    };
    let rate_limit = limits.rate;
    let caller = ex.caller.as_mut()?;
    caller.rate = Some(rate);
    caller.quota = Some(quota);
    caller.limits = Some(limits);
    let refusal = if !rate.allowed {
        RATE_LIMITED
    } else if !quota.allowed {
        QUOTA_EXCEEDED
    } else {
        return None;
    };
    let mut resp = refuse(ex, auth, refusal);
    if auth.headers_from_rate {
        set_limit_headers(resp.headers_mut(), rate_limit, rate);
    }
    Some(resp)
}

/// `global_rate_limit`: one limit for every caller of the API.
pub async fn global_rate_limit(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let auth = ex.api.auth.as_ref()?;
    let (key, rate, per) = auth.global.as_ref()?;
    match auth.keys.admit_api(key, *rate, *per).await {
        Ok(d) if d.allowed => None,
        Ok(_) => Some(refuse(ex, auth, API_RATE_LIMITED)),
        Err(e) => Some(refuse(ex, auth, unavailable(e))),
    }
}

/// X-RateLimit-Limit/Remaining/Reset on a proxied answer: the quota (Tyk's default) or the
/// rate limit (`rate_limit_response_headers: rate_limits`).
pub fn rate_limit_headers(
    ex: &mut Exchange<'_>,
    mut resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let (Some(auth), Some(caller)) = (ex.api.auth.as_ref(), ex.caller.as_ref()) else {
        return resp;
    };
    let Some(limits) = caller.limits.as_ref() else {
        return resp;
    };
    let h = resp.headers_mut();
    if auth.headers_from_rate {
        if let Some(rate) = caller.rate {
            set_limit_headers(h, limits.rate, rate);
        }
    } else {
        let max = limits.quota_max;
        let (remaining, renews) = match caller.quota {
            Some(q) if max > 0 => (
                q.remaining.min(i64::MAX as u64) as i64,
                unix_now() + q.reset.as_secs() as i64,
            ),
            _ => (max, 0),
        };
        set(h, "x-ratelimit-limit", max);
        set(h, "x-ratelimit-remaining", remaining);
        set(h, "x-ratelimit-reset", renews);
    }
    resp
}

fn set_limit_headers(h: &mut http::HeaderMap, rate: f64, d: Decision) {
    set(h, "x-ratelimit-limit", rate as i64);
    set(
        h,
        "x-ratelimit-remaining",
        d.remaining.min(i64::MAX as u64) as i64,
    );
    set(
        h,
        "x-ratelimit-reset",
        unix_now() + d.reset.as_secs() as i64,
    );
}

fn set(h: &mut http::HeaderMap, name: &'static str, value: i64) {
    h.insert(HeaderName::from_static(name), HeaderValue::from(value));
}

fn strip_credential(ex: &mut Exchange<'_>, auth: &CompiledAuth) {
    let loc = &auth.location;
    if let Some(name) = &loc.header {
        ex.headers_mut().remove(name.as_str());
    }
    if let Some(param) = &loc.param {
        ex.strip_query_param(param);
    }
    if let Some(cookie) = &loc.cookie {
        ex.strip_cookie(cookie);
    }
}

fn unavailable(e: KeyError) -> Refusal {
    match e {
        KeyError::NotFound => DISALLOWED,
        KeyError::Invalid(_) => DISALLOWED,
        KeyError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "the key store is unavailable");
            STORE_UNAVAILABLE
        }
    }
}

/// Tyk's error answer, in the client's protocol; basic auth's 401s name the realm.
fn refuse(ex: &Exchange<'_>, auth: &CompiledAuth, refusal: Refusal) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut resp = error_response(status, refusal.message);
    if status == StatusCode::UNAUTHORIZED && matches!(auth.method, Method::Basic(_)) {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, auth.realm.clone());
    }
    for_client(ex, resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_stripped_in_any_case() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bearer"), "Bearer");
    }

    #[test]
    fn query_and_cookie_values_are_found_by_name() {
        assert_eq!(
            query_value(Some("a=1&key=x%20y"), "key").as_deref(),
            Some("x y")
        );
        assert_eq!(query_value(None, "key"), None);
        let mut h = http::HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; sid=abc"));
        assert_eq!(cookie_value(&h, "sid").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "x"), None);
    }
}
