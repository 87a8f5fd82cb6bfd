//! A session takes its rights and limits from the policies it names, by Tyk's rules
//! (`internal/policy/apply.go`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::limits::{policy_ids, read_root, rest_bool};
use super::merge::{append_missing, duration, greater, merge_allowed_urls, merge_endpoints};
use super::{ApiLimit, Policies, Policy, PolicyError};
use crate::session::{AccessDefinition, Session};

pub(super) const ALLOWANCE_SCOPE: &str = "allowance_scope";
const ENDPOINTS: &str = "endpoints";
const DISABLE_INTROSPECTION: &str = "disable_introspection";

/// Which APIs each part of the policies reached so far (Tyk's `applyStatus`).
#[derive(Default)]
struct State {
    acl: BTreeSet<String>,
    quota: BTreeSet<String>,
    rate: BTreeSet<String>,
    complexity: BTreeSet<String>,
    per_api: bool,
    partitioned: bool,
    /// Per API: the policy (or per-API scope) its rights came from (Tyk's `Limit.SetBy`).
    set_by: BTreeMap<String, String>,
}

/// What the policies change outside `access_rights`, committed at the end.
struct Out {
    root: ApiLimit,
    hmac: bool,
    signatures: bool,
    inactive: bool,
    tags: Vec<String>,
    meta: BTreeMap<String, Value>,
    last_updated: String,
    post_expiry_action: Option<String>,
    post_expiry_grace_period: Option<i64>,
}

/// Applies the policies `session` names (`apply_policies`, else the deprecated
/// `apply_policy_id`; or policy objects in `meta_data.policies`, as Tyk allows), as Tyk does on
/// every request and when a key is written. `api_org` is the API's organisation (`None` on the
/// control API): a policy of another organisation is refused.
///
/// Policies are found in the session's organisation (the API's when the session has none).
/// An unknown id is an error when it is the key's only policy and skipped when the key names
/// several, as in Tyk. On [`PolicyError::NoValidPolicies`] the session has been updated (Tyk
/// stores it so when creating a key); on any other error it is left as it was.
pub fn apply(
    session: &mut Session,
    policies: &Policies,
    api_org: Option<&str>,
) -> Result<(), PolicyError> {
    let org = match (session.org_id.as_str(), api_org) {
        ("", Some(api)) => api.to_string(),
        (own, _) => own.to_string(),
    };
    let ids = policy_ids(session);
    let custom = custom_policies(session);
    let list: Vec<(&str, Option<&Policy>)> = match &custom {
        Some(custom) => custom.iter().map(|p| (p.id.as_str(), Some(p))).collect(),
        None => ids
            .iter()
            .flatten()
            .map(|id| (id.as_str(), policies.get_in_org(&org, id)))
            .collect(),
    };
    let mut out = Out {
        root: read_root(session),
        hmac: rest_bool(session, "hmac_enabled"),
        signatures: rest_bool(session, "enable_http_signature_validation"),
        // Only the policies decide whether a key with policies is active.
        inactive: session.is_inactive && list.is_empty(),
        tags: session.tags.clone(),
        meta: session.meta_data.clone(),
        last_updated: session.last_updated.clone(),
        post_expiry_action: None,
        post_expiry_grace_period: None,
    };
    let scoped: Vec<Option<&Policy>> = ids
        .iter()
        .flatten()
        .map(|id| policies.get_in_org(&org, id))
        .collect();
    clear(&mut out.root, &scoped);

    let mut rights = BTreeMap::new();
    let mut st = State::default();
    for &(id, policy) in &list {
        let Some(policy) = policy else {
            if list.len() > 1 {
                continue;
            }
            return Err(PolicyError::NotFound { id: id.to_string() });
        };
        apply_one(policy, session, api_org, &mut out, &mut rights, &mut st)?;
    }

    let mut current = session.access_rights.clone();
    if list.is_empty() {
        // A key without policies counts each API with its own limit separately.
        for (api, ad) in current.iter_mut() {
            if ad.limit.as_ref().is_some_and(|l| !l.is_empty()) {
                ad.rest
                    .insert(ALLOWANCE_SCOPE.into(), Value::from(api.as_str()));
            }
        }
    }
    finish_rights(&mut rights, &st, &out.root);
    update_root(&mut out.root, &rights, &st);
    let no_rights = rights.is_empty();
    if !st.acl.is_empty() {
        current = rights;
    }
    session.access_rights = current;
    commit(session, out);
    // Tyk's rule: policies that grant no API leave the key unusable.
    if no_rights && (ids.is_some() || custom.is_some()) {
        return Err(PolicyError::NoValidPolicies);
    }
    Ok(())
}

/// One policy's part of [`apply`].
fn apply_one(
    policy: &Policy,
    session: &Session,
    api_org: Option<&str>,
    out: &mut Out,
    rights: &mut BTreeMap<String, AccessDefinition>,
    st: &mut State,
) -> Result<(), PolicyError> {
    let id = || policy.id.clone();
    if api_org.is_some_and(|org| policy.org_id != org) {
        return Err(PolicyError::OtherOrg { id: id() });
    }
    if policy.partitions.per_api && policy.partitions.enabled() {
        return Err(PolicyError::PerApiWithPartitions { id: id() });
    }
    if policy.partitions.per_api {
        apply_per_api(policy, &session.access_rights, rights, st)?;
    } else {
        apply_partitions(policy, &session.access_rights, out, rights, st)?;
    }
    out.inactive |= policy.is_inactive;
    append_missing(&mut out.tags, &policy.tags);
    out.meta
        .extend(policy.meta_data.iter().map(|(k, v)| (k.clone(), v.clone())));
    if policy.last_updated > out.last_updated {
        out.last_updated = policy.last_updated.clone();
    }
    if !policy.post_expiry_action.is_empty() {
        out.post_expiry_action = Some(policy.post_expiry_action.clone());
    }
    if policy.post_expiry_grace_period != 0 {
        out.post_expiry_grace_period = Some(policy.post_expiry_grace_period);
    }
    Ok(())
}

/// Tyk's `ClearSession`: the parts the policies set start from zero, so a policy's value is
/// not lost to a higher one left from before. Like Tyk, it stops at the first unknown policy.
fn clear(root: &mut ApiLimit, policies: &[Option<&Policy>]) {
    for policy in policies {
        let Some(p) = policy else { return };
        let all = !p.partitions.enabled();
        if all || p.partitions.quota {
            root.quota_max = 0;
            root.quota_remaining = 0;
        }
        if all || p.partitions.rate_limit {
            root.rate = 0.0;
            root.per = 0.0;
            root.smoothing = None;
            root.throttle_retry_limit = 0;
            root.throttle_interval = 0.0;
        }
        if all || p.partitions.complexity {
            root.max_query_depth = 0;
        }
    }
}

/// A whole or partitioned policy: rights unioned, the larger quota and faster rate win.
fn apply_partitions(
    p: &Policy,
    current: &BTreeMap<String, AccessDefinition>,
    out: &mut Out,
    rights: &mut BTreeMap<String, AccessDefinition>,
    st: &mut State,
) -> Result<(), PolicyError> {
    let parts = &p.partitions;
    let partitioned = parts.enabled();
    if partitioned && st.per_api {
        return Err(PolicyError::MixedPerApiAndPartitions);
    }
    let all = !partitioned;
    let root = &mut out.root;
    for (api, v) in &p.access_rights {
        let mut ar = rights.get(api).cloned().unwrap_or_default();
        if all || parts.acl {
            st.acl.insert(api.clone());
            merge_acl(&mut ar, v);
            st.set_by.insert(api.clone(), p.id.clone());
        }
        let mut lim = ar.limit.take().unwrap_or_default();
        if all || parts.quota {
            st.quota.insert(api.clone());
            if greater(p.quota_max, lim.quota_max) {
                lim.quota_max = p.quota_max;
                if greater(p.quota_max, root.quota_max) {
                    root.quota_max = p.quota_max;
                }
            }
            if p.quota_renewal_rate > lim.quota_renewal_rate {
                lim.quota_renewal_rate = p.quota_renewal_rate;
                root.quota_renewal_rate = root.quota_renewal_rate.max(p.quota_renewal_rate);
            }
        }
        if all || parts.rate_limit {
            st.rate.insert(api.clone());
            apply_rate(root, p, &mut lim);
            let merged = merge_endpoints(v.rest.get(ENDPOINTS), ar.rest.get(ENDPOINTS));
            set_or_remove(&mut ar.rest, ENDPOINTS, merged);
            if p.throttle_retry_limit > lim.throttle_retry_limit {
                lim.throttle_retry_limit = p.throttle_retry_limit;
                root.throttle_retry_limit = root.throttle_retry_limit.max(p.throttle_retry_limit);
            }
            if p.throttle_interval > lim.throttle_interval {
                lim.throttle_interval = p.throttle_interval;
                root.throttle_interval = root.throttle_interval.max(p.throttle_interval);
            }
        }
        if all || parts.complexity {
            st.complexity.insert(api.clone());
            if greater(p.max_query_depth, lim.max_query_depth) {
                lim.max_query_depth = p.max_query_depth;
                if greater(p.max_query_depth, root.max_query_depth) {
                    root.max_query_depth = p.max_query_depth;
                }
            }
        }
        // The quota period already running for this API carries on.
        if let Some(renews) = running_renewal(current, api) {
            lim.quota_renews = renews;
        }
        ar.limit = Some(lim);
        rights.insert(api.clone(), ar);
    }
    if p.access_rights.is_empty() {
        apply_master(p, root);
    }
    out.hmac |= p.hmac_enabled;
    out.signatures |= p.enable_http_signature_validation;
    st.partitioned = partitioned;
    Ok(())
}

/// A policy without rights sets the session's own limits (its partitions' parts).
fn apply_master(p: &Policy, root: &mut ApiLimit) {
    let parts = &p.partitions;
    let all = !parts.enabled();
    if all || parts.rate_limit {
        root.rate = p.rate;
        root.per = p.per;
        root.smoothing = p.smoothing.clone();
        root.throttle_interval = p.throttle_interval;
        root.throttle_retry_limit = p.throttle_retry_limit;
    }
    if all || parts.complexity {
        root.max_query_depth = p.max_query_depth;
    }
    if all || parts.quota {
        root.quota_max = p.quota_max;
        root.quota_renewal_rate = p.quota_renewal_rate;
    }
}

/// The ACL part: versions and `allowed_urls` unioned. Other per-API fields (GraphQL, MCP)
/// come from the first policy that sets them; `disable_introspection` sticks once set.
fn merge_acl(into: &mut AccessDefinition, from: &AccessDefinition) {
    // Tyk leaves api_name/api_id out of merged rights; keeping them changes no decision.
    if into.api_id.is_empty() {
        into.api_id = from.api_id.clone();
    }
    if into.api_name.is_empty() {
        into.api_name = from.api_name.clone();
    }
    append_missing(&mut into.versions, &from.versions);
    into.allowed_urls = merge_allowed_urls(&into.allowed_urls, &from.allowed_urls);
    for (k, v) in &from.rest {
        match k.as_str() {
            ENDPOINTS | ALLOWANCE_SCOPE => {}
            DISABLE_INTROSPECTION if v == &Value::Bool(true) => {
                into.rest.insert(k.clone(), v.clone());
            }
            _ => {
                into.rest.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// Tyk's `ApplyRateLimits`: the policy's rate replaces the API's and the session's when they
/// are unset or slower (longer between requests).
fn apply_rate(root: &mut ApiLimit, p: &Policy, lim: &mut ApiLimit) {
    let unset = |rate: f64, per: f64| rate == 0.0 || per == 0.0;
    if unset(p.rate, p.per) {
        return;
    }
    let wanted = duration(p.rate, p.per);
    for l in [lim, root] {
        if unset(l.rate, l.per) || duration(l.rate, l.per) > wanted {
            l.rate = p.rate;
            l.per = p.per;
            l.smoothing = p.smoothing.clone();
        }
    }
}

/// A `per_api` policy: each API keeps its own limit (or the policy's, counted under the
/// policy's id) on its access right.
fn apply_per_api(
    p: &Policy,
    current: &BTreeMap<String, AccessDefinition>,
    rights: &mut BTreeMap<String, AccessDefinition>,
    st: &mut State,
) -> Result<(), PolicyError> {
    if st.partitioned {
        return Err(PolicyError::MixedPerApiAndPartitions);
    }
    for (api, ad) in &p.access_rights {
        let mut ad = ad.clone();
        let mut scope = api.clone();
        if ad.limit.as_ref().is_none_or(ApiLimit::is_empty) {
            scope = p.id.clone();
            ad.limit = Some(policy_limit(p));
        }
        ad.rest
            .insert(ALLOWANCE_SCOPE.into(), Value::from(scope.as_str()));
        if let (Some(renews), Some(lim)) = (running_renewal(current, api), ad.limit.as_mut()) {
            lim.quota_renews = renews;
        }
        if current
            .get(api)
            .is_some_and(|c| c.rest.get(DISABLE_INTROSPECTION) == Some(&Value::Bool(true)))
        {
            ad.rest
                .insert(DISABLE_INTROSPECTION.into(), Value::Bool(true));
        }
        if let Some(prev) = rights.get(api) {
            let prev_by = st.set_by.get(api).cloned().unwrap_or_default();
            if combine_api_limits(&mut ad, prev) {
                scope = prev_by;
            }
        }
        rights.insert(api.clone(), ad);
        st.set_by.insert(api.clone(), scope);
        for done in [&mut st.acl, &mut st.quota, &mut st.rate, &mut st.complexity] {
            done.insert(api.clone());
        }
    }
    if !p.access_rights.is_empty() {
        st.per_api = true;
    }
    Ok(())
}

/// Tyk's `applyAPILevelLimits`: two per-API policies on one API keep the faster rate and the
/// larger quota; true when the earlier one's rate or quota won (its counters then stay).
fn combine_api_limits(ad: &mut AccessDefinition, prev: &AccessDefinition) -> bool {
    let cur = prev.limit.clone().unwrap_or_default();
    let lim = ad.limit.get_or_insert_with(ApiLimit::default);
    let mut earlier_won = false;
    if duration(lim.rate, lim.per) > duration(cur.rate, cur.per) {
        lim.rate = cur.rate;
        lim.per = cur.per;
        lim.smoothing = cur.smoothing.clone();
        earlier_won = true;
    }
    if cur.quota_max != lim.quota_max && greater(cur.quota_max, lim.quota_max) {
        lim.quota_max = cur.quota_max;
        earlier_won = true;
    }
    if greater(cur.quota_renewal_rate, lim.quota_renewal_rate) {
        lim.quota_renewal_rate = cur.quota_renewal_rate;
    }
    if lim.quota_max == -1 {
        lim.quota_renewal_rate = 0;
    }
    if earlier_won {
        let scope = prev.rest.get(ALLOWANCE_SCOPE).cloned();
        set_or_remove(&mut ad.rest, ALLOWANCE_SCOPE, scope);
    }
    let merged = merge_endpoints(ad.rest.get(ENDPOINTS), prev.rest.get(ENDPOINTS));
    set_or_remove(&mut ad.rest, ENDPOINTS, merged);
    earlier_won
}

/// After all policies: rights no ACL granted go; parts no policy set on an API come from the
/// session; with rights from several policies each API counts under its policy's id.
fn finish_rights(rights: &mut BTreeMap<String, AccessDefinition>, st: &State, root: &ApiLimit) {
    rights.retain(|api, _| st.acl.contains(api));
    let distinct: BTreeSet<&String> = st.set_by.values().filter(|s| !s.is_empty()).collect();
    for (api, ad) in rights.iter_mut() {
        let lim = ad.limit.get_or_insert_with(ApiLimit::default);
        if !st.rate.contains(api) {
            lim.rate = root.rate;
            lim.per = root.per;
            lim.smoothing = root.smoothing.clone();
            lim.throttle_interval = root.throttle_interval;
            lim.throttle_retry_limit = root.throttle_retry_limit;
            ad.rest.remove(ENDPOINTS);
        }
        if !st.complexity.contains(api) {
            lim.max_query_depth = root.max_query_depth;
        }
        if !st.quota.contains(api) {
            lim.quota_max = root.quota_max;
            lim.quota_renewal_rate = root.quota_renewal_rate;
            lim.quota_renews = root.quota_renews;
        }
        if lim.is_empty() && lim.smoothing.is_none() && lim.rest.is_empty() {
            ad.limit = None;
        }
        let scoped = ad
            .rest
            .get(ALLOWANCE_SCOPE)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if distinct.len() > 1
            && !scoped
            && let Some(by) = st.set_by.get(api).filter(|s| !s.is_empty())
        {
            ad.rest
                .insert(ALLOWANCE_SCOPE.into(), Value::from(by.as_str()));
        }
    }
}

/// Tyk's legacy rule: when the policies set limits for exactly one API, the session's own
/// values are that API's.
fn update_root(root: &mut ApiLimit, rights: &BTreeMap<String, AccessDefinition>, st: &State) {
    if st.quota.len() != 1 || st.rate.len() != 1 || st.complexity.len() != 1 {
        return;
    }
    for ad in rights.values() {
        let lim = ad.limit.clone().unwrap_or_default();
        root.rate = lim.rate;
        root.per = lim.per;
        root.smoothing = lim.smoothing;
        root.quota_max = lim.quota_max;
        root.quota_renews = lim.quota_renews;
        root.quota_renewal_rate = lim.quota_renewal_rate;
        root.max_query_depth = lim.max_query_depth;
    }
}

/// `quota_renews` of a per-API limit the session already has.
fn running_renewal(current: &BTreeMap<String, AccessDefinition>, api: &str) -> Option<i64> {
    let lim = current.get(api)?.limit.as_ref()?;
    (!lim.is_empty()).then_some(lim.quota_renews)
}

/// A policy's own values as a per-API limit (Tyk's `Policy.APILimit`).
fn policy_limit(p: &Policy) -> ApiLimit {
    ApiLimit {
        rate: p.rate,
        per: p.per,
        smoothing: p.smoothing.clone(),
        throttle_interval: p.throttle_interval,
        throttle_retry_limit: p.throttle_retry_limit,
        max_query_depth: p.max_query_depth,
        quota_max: p.quota_max,
        quota_renewal_rate: p.quota_renewal_rate,
        ..ApiLimit::default()
    }
}

/// Policy objects carried in `meta_data.policies` (Tyk's custom policies), used instead of
/// the named ones when they read as policies.
fn custom_policies(session: &Session) -> Option<Vec<Policy>> {
    let list = session.meta_data.get("policies")?.as_array()?;
    serde_json::from_value(Value::Array(list.clone())).ok()
}

/// Writes a field kept in `rest`, leaving a zero out when the session did not have the field.
fn put(s: &mut Session, key: &str, value: Value, zero: bool) {
    if !zero || s.rest.contains_key(key) {
        s.rest.insert(key.into(), value);
    }
}

fn set_or_remove(map: &mut BTreeMap<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => map.insert(key.into(), v),
        None => map.remove(key),
    };
}

fn commit(s: &mut Session, out: Out) {
    let root = out.root;
    s.rate = root.rate;
    s.per = root.per;
    s.quota_max = root.quota_max;
    s.quota_renews = root.quota_renews;
    s.quota_remaining = root.quota_remaining;
    s.quota_renewal_rate = root.quota_renewal_rate;
    let ti = root.throttle_interval;
    put(s, "throttle_interval", Value::from(ti), ti == 0.0);
    let trl = root.throttle_retry_limit;
    put(s, "throttle_retry_limit", Value::from(trl), trl == 0);
    let depth = root.max_query_depth;
    put(s, "max_query_depth", Value::from(depth), depth == 0);
    set_or_remove(&mut s.rest, "smoothing", root.smoothing);
    put(s, "hmac_enabled", Value::Bool(out.hmac), !out.hmac);
    let sig = out.signatures;
    put(
        s,
        "enable_http_signature_validation",
        Value::Bool(sig),
        !sig,
    );
    if let Some(action) = out.post_expiry_action {
        put(s, "post_expiry_action", Value::from(action), false);
    }
    if let Some(grace) = out.post_expiry_grace_period {
        put(s, "post_expiry_grace_period", Value::from(grace), false);
    }
    s.is_inactive = out.inactive;
    s.tags = out.tags;
    s.meta_data = out.meta;
    s.last_updated = out.last_updated;
}

#[cfg(test)]
mod tests;
