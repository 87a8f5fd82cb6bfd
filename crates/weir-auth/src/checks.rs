//! The key checks Tyk runs after authentication, in its order and with its answers
//! (mw_key_expired_check.go, mw_access_rights.go, mw_granular_access.go): inactive, expired,
//! no rights to the API or version, a path outside `allowed_urls`.

use crate::session::Session;

/// Why a request is refused: the status and the message Tyk puts in `{"error": …}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Tyk's message.
    pub message: &'static str,
}

const fn refusal(status: u16, message: &'static str) -> Refusal {
    Refusal { status, message }
}

/// No credential in the request.
pub const MISSING: Refusal = refusal(401, "Authorization field missing");
/// An unknown key, or one without rights to the API or version.
pub const DISALLOWED: Refusal = refusal(403, "Access to this API has been disallowed");
/// A path or method outside the key's `allowed_urls`.
pub const RESOURCE_DISALLOWED: Refusal =
    refusal(403, "Access to this resource has been disallowed");
/// `is_inactive`.
pub const INACTIVE: Refusal = refusal(403, "Key is inactive, please renew");
/// `expires` in the past.
pub const EXPIRED: Refusal = refusal(401, "Key has expired, please renew");
/// The key's rate limit.
pub const RATE_LIMITED: Refusal = refusal(429, "Rate Limit Exceeded");
/// The API's `global_rate_limit`.
pub const API_RATE_LIMITED: Refusal = refusal(429, "API Rate Limit Exceeded");
/// The key's quota.
pub const QUOTA_EXCEEDED: Refusal = refusal(403, "Quota exceeded");
/// The key store (Redis) cannot be reached. Tyk answers 403 here, telling the client its key
/// is bad when the gateway is; Weir says what happened, with a 5xx.
pub const STORE_UNAVAILABLE: Refusal = refusal(
    503,
    "The key store is unavailable; the request could not be authorised",
);

/// What a request asks of a key.
pub struct Request<'a> {
    /// The API's id.
    pub api_id: &'a str,
    /// The API version the request resolved to; `None` when the API is not versioned (then
    /// the key's `versions` are not checked, as in Tyk).
    pub version: Option<&'a str>,
    /// The request method.
    pub method: &'a str,
    /// The request path as `allowed_urls` sees it.
    pub path: &'a str,
}

/// Runs the checks on a found key's session at `now` (Unix seconds), compiling its
/// `allowed_urls` on the way (the gateway keeps a [`CheckedSession`] instead).
pub fn check(session: &Session, req: &Request<'_>, now: i64) -> Result<(), Refusal> {
    run(session, req, now, |api, i| {
        let spec = &session.access_rights[api].allowed_urls[i];
        // Tyk matches unanchored, and a pattern that does not compile matches nothing.
        regex::Regex::new(&spec.url).is_ok_and(|re| re.is_match(req.path))
    })
}

/// A session with its `allowed_urls` patterns compiled once, for the request path.
#[derive(Debug)]
pub struct CheckedSession {
    /// The session, policies applied.
    pub session: Session,
    patterns: std::collections::HashMap<String, Vec<Option<regex::Regex>>>,
}

impl CheckedSession {
    /// Compiles the session's patterns (one that does not compile matches nothing, as in Tyk).
    pub fn new(session: Session) -> Self {
        let patterns = session
            .access_rights
            .iter()
            .filter(|(_, r)| !r.allowed_urls.is_empty())
            .map(|(api, r)| {
                let compiled = r
                    .allowed_urls
                    .iter()
                    .map(|s| regex::Regex::new(&s.url).ok())
                    .collect();
                (api.clone(), compiled)
            })
            .collect();
        CheckedSession { session, patterns }
    }

    /// The key checks, in Tyk's order.
    pub fn check(&self, req: &Request<'_>, now: i64) -> Result<(), Refusal> {
        run(&self.session, req, now, |api, i| {
            self.patterns
                .get(api)
                .and_then(|p| p.get(i))
                .and_then(Option::as_ref)
                .is_some_and(|re| re.is_match(req.path))
        })
    }
}

fn run(
    session: &Session,
    req: &Request<'_>,
    now: i64,
    path_matches: impl Fn(&str, usize) -> bool,
) -> Result<(), Refusal> {
    if session.is_inactive {
        return Err(INACTIVE);
    }
    if session.expired_at(now) {
        return Err(EXPIRED);
    }
    // A session without access rights may use every API (Tyk's rule for legacy keys).
    if session.access_rights.is_empty() {
        return Ok(());
    }
    let Some(rights) = session.access_rights.get(req.api_id) else {
        return Err(DISALLOWED);
    };
    if let Some(version) = req.version
        && !rights.versions.iter().any(|v| v == version)
    {
        return Err(DISALLOWED);
    }
    if rights.allowed_urls.is_empty() {
        return Ok(());
    }
    let allowed = rights.allowed_urls.iter().enumerate().any(|(i, spec)| {
        path_matches(req.api_id, i)
            && spec
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(req.method))
    });
    if allowed {
        Ok(())
    } else {
        Err(RESOURCE_DISALLOWED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(v: serde_json::Value) -> Session {
        serde_json::from_value(v).unwrap()
    }

    fn req<'a>(api: &'a str, method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            api_id: api,
            version: None,
            method,
            path,
        }
    }

    #[test]
    fn inactive_comes_before_expired_and_both_before_rights() {
        let s = session(json!({"is_inactive": true, "expires": 1, "access_rights": {"other": {}}}));
        assert_eq!(check(&s, &req("a", "GET", "/"), 100), Err(INACTIVE));
        let s = session(json!({"expires": 1, "access_rights": {"other": {}}}));
        assert_eq!(check(&s, &req("a", "GET", "/"), 100), Err(EXPIRED));
        let s = session(json!({"expires": 0}));
        assert_eq!(check(&s, &req("a", "GET", "/"), 100), Ok(()));
    }

    #[test]
    fn rights_name_the_api_and_for_a_versioned_api_its_versions() {
        let s = session(json!({"access_rights": {"a": {"api_id": "a", "versions": ["v1"]}}}));
        assert_eq!(check(&s, &req("b", "GET", "/"), 0), Err(DISALLOWED));
        // Not versioned: the key's versions are not looked at.
        assert_eq!(check(&s, &req("a", "GET", "/"), 0), Ok(()));
        let at = |v| Request {
            version: Some(v),
            ..req("a", "GET", "/")
        };
        assert_eq!(check(&s, &at("v1"), 0), Ok(()));
        assert_eq!(check(&s, &at("v2"), 0), Err(DISALLOWED));
        let none = session(json!({"access_rights": {"a": {"api_id": "a"}}}));
        assert_eq!(check(&none, &at("v1"), 0), Err(DISALLOWED));
    }

    #[test]
    fn allowed_urls_limit_paths_and_methods() {
        let s = session(
            json!({"access_rights": {"a": {"api_id": "a", "allowed_urls": [
                {"url": "/users/[0-9]+", "methods": ["GET", "put"]},
                {"url": "(", "methods": ["GET"]}
            ]}}}),
        );
        assert_eq!(check(&s, &req("a", "GET", "/users/7"), 0), Ok(()));
        assert_eq!(check(&s, &req("a", "PUT", "/v2/users/7/x"), 0), Ok(()));
        assert_eq!(
            check(&s, &req("a", "DELETE", "/users/7"), 0),
            Err(RESOURCE_DISALLOWED)
        );
        assert_eq!(
            check(&s, &req("a", "GET", "/orders"), 0),
            Err(RESOURCE_DISALLOWED)
        );
        let compiled = CheckedSession::new(s);
        assert_eq!(compiled.check(&req("a", "PUT", "/v2/users/7/x"), 0), Ok(()));
        assert_eq!(
            compiled.check(&req("a", "GET", "/orders"), 0),
            Err(RESOURCE_DISALLOWED)
        );
    }
}
