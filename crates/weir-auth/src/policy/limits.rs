//! The limits one request is counted against, and when a new key expires: what the gateway
//! reads from a session after [`super::apply`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::apply::ALLOWANCE_SCOPE;
use super::{ApiLimit, Policies};
use crate::session::Session;

/// The limits one request to `api_id` is counted against, and the scope that names its
/// counters (`rate-limit-<scope>-<key hash>`, `quota-<scope>-<key hash>`; empty: the key's
/// own counters, shared by every API the key reaches without a scope).
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Requests allowed per `per` seconds (0 or less: no limit).
    pub rate: f64,
    /// The rate window, in seconds.
    pub per: f64,
    /// Requests allowed per quota period (0 or less: no quota).
    pub quota_max: i64,
    /// The quota period, in seconds.
    pub quota_renewal_rate: i64,
    /// Seconds between retries when throttling.
    pub throttle_interval: f64,
    /// How many times a throttled request is retried (0: refuse at once).
    pub throttle_retry_limit: i64,
    /// The counters' scope.
    pub scope: String,
}

/// Tyk's `GetAccessDefinitionByAPIIDOrSession`: the API's own limit when its access right has
/// one, else the session's; the scope is the access right's `allowance_scope` as [`super::apply`]
/// set it (policies applied as a whole share the key's counters, so an empty scope is right).
pub fn limits_for(session: &Session, api_id: &str) -> Limits {
    let ad = session.access_rights.get(api_id);
    let mut scope = ad
        .and_then(|a| a.rest.get(ALLOWANCE_SCOPE))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let own = ad.and_then(|a| a.limit.as_ref()).filter(|l| !l.is_empty());
    let lim = match own {
        Some(lim) => {
            // What apply() gives a key without policies, for a session it has not seen.
            if scope.is_empty() && policy_ids(session).is_none() {
                scope = api_id.to_string();
            }
            lim.clone()
        }
        None => read_root(session),
    };
    Limits {
        rate: lim.rate,
        per: lim.per,
        quota_max: lim.quota_max,
        quota_renewal_rate: lim.quota_renewal_rate,
        throttle_interval: lim.throttle_interval,
        throttle_retry_limit: lim.throttle_retry_limit,
        scope,
    }
}

/// When a new key with these policies expires: `now` plus the `key_expires_in` of the last
/// policy that sets one (Tyk's `checkAndApplyTrialPeriod`, run only when a key is created).
pub fn trial_expiry(session: &Session, policies: &Policies, now: i64) -> Option<i64> {
    policy_ids(session)?
        .iter()
        .filter_map(|id| policies.get_in_org(&session.org_id, id))
        .filter(|p| p.key_expires_in > 0)
        .map(|p| now + p.key_expires_in)
        .next_back()
}

/// `apply_policies`, else the deprecated `apply_policy_id`; `None` when the key names none.
pub(super) fn policy_ids(session: &Session) -> Option<Vec<String>> {
    if !session.apply_policies.is_empty() {
        return Some(session.apply_policies.clone());
    }
    let old = session
        .rest
        .get("apply_policy_id")
        .and_then(Value::as_str)?;
    (!old.is_empty()).then(|| vec![old.to_string()])
}

fn rest_f64(s: &Session, key: &str) -> f64 {
    s.rest.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn rest_i64(s: &Session, key: &str) -> i64 {
    let v = s.rest.get(key);
    v.and_then(Value::as_i64)
        .or_else(|| v.and_then(Value::as_f64).map(|f| f as i64))
        .unwrap_or(0)
}

pub(super) fn rest_bool(s: &Session, key: &str) -> bool {
    s.rest.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The session's own limits, some of them typed and some kept in `rest`.
pub(super) fn read_root(s: &Session) -> ApiLimit {
    ApiLimit {
        rate: s.rate,
        per: s.per,
        smoothing: s.rest.get("smoothing").filter(|v| !v.is_null()).cloned(),
        throttle_interval: rest_f64(s, "throttle_interval"),
        throttle_retry_limit: rest_i64(s, "throttle_retry_limit"),
        max_query_depth: rest_i64(s, "max_query_depth"),
        quota_max: s.quota_max,
        quota_renews: s.quota_renews,
        quota_remaining: s.quota_remaining,
        quota_renewal_rate: s.quota_renewal_rate,
        rest: BTreeMap::new(),
    }
}
