//! How Tyk compares and merges limits and rights from several policies: the rate with the
//! shorter time between requests wins, -1 beats any quota, `allowed_urls` and per-endpoint
//! limits are unioned.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::session::AccessSpec;

/// Time between requests in nanoseconds, as Go's `RateLimit.Duration` truncates it; 0 when
/// the rate is unlimited or unset (so 0 never compares as longer than a real limit).
pub(super) fn duration(rate: f64, per: f64) -> i64 {
    if per <= 0.0 || rate <= 0.0 {
        return 0;
    }
    (1e9 * per / rate) as i64
}

/// `a > b` where -1 means unlimited, the largest value.
pub(super) fn greater(a: i64, b: i64) -> bool {
    if a == -1 {
        return true;
    }
    if b == -1 {
        return false;
    }
    a > b
}

/// Appends the items `dest` does not have yet, in order.
pub(super) fn append_missing(dest: &mut Vec<String>, items: &[String]) {
    for item in items {
        if !dest.contains(item) {
            dest.push(item.clone());
        }
    }
}

/// One list of `allowed_urls`: each url once, in first-seen order, its methods unioned.
pub(super) fn merge_allowed_urls(a: &[AccessSpec], b: &[AccessSpec]) -> Vec<AccessSpec> {
    let mut out: Vec<AccessSpec> = Vec::new();
    for spec in a.iter().chain(b) {
        match out.iter_mut().find(|s| s.url == spec.url) {
            Some(seen) => append_missing(&mut seen.methods, &spec.methods),
            None => out.push(spec.clone()),
        }
    }
    out
}

/// `endpoints` (`[{path, methods: [{name, limit: {rate, per}}]}]`) as (path, method) → limit.
fn endpoint_map(endpoints: Option<&Value>) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let Some(list) = endpoints.and_then(Value::as_array) else {
        return out;
    };
    for endpoint in list {
        let path = endpoint
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let methods = endpoint.get("methods").and_then(Value::as_array);
        for method in methods.into_iter().flatten() {
            let name = method
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let limit = method.get("limit").cloned().unwrap_or(Value::Null);
            out.insert((path.to_string(), name.to_string()), limit);
        }
    }
    out
}

fn rate_per(limit: &Value) -> (f64, f64) {
    let num = |k| limit.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    (num("rate"), num("per"))
}

/// Tyk's `ApplyEndpointLevelLimits`: per (path, method), the limit with the shorter time
/// between requests wins (unlimited beats any); on a tie, the higher rate. Paths come out
/// sorted (Tyk's order is a Go map's).
pub(super) fn merge_endpoints(policy: Option<&Value>, current: Option<&Value>) -> Option<Value> {
    let current = endpoint_map(current);
    if current.is_empty() {
        return policy.filter(|v| !v.is_null()).cloned();
    }
    let mut result = endpoint_map(policy);
    for (key, curr) in current {
        let Some(pol) = result.get(&key) else {
            result.insert(key, curr);
            continue;
        };
        let ((pr, pp), (cr, cp)) = (rate_per(pol), rate_per(&curr));
        let (pd, cd) = (duration(pr, pp), duration(cr, cp));
        if pd > cd || (pd == cd && cr > pr) {
            result.insert(key, curr);
        }
    }
    let mut by_path: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((path, name), limit) in result {
        by_path
            .entry(path)
            .or_default()
            .push(json!({"name": name, "limit": limit}));
    }
    let list: Vec<Value> = by_path
        .into_iter()
        .map(|(path, methods)| json!({"path": path, "methods": methods}))
        .collect();
    Some(Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_compare_time_between_requests_and_unlimited_is_zero() {
        assert_eq!(duration(10.0, 1.0), 100_000_000);
        assert_eq!(duration(10.0, 60.0), 6_000_000_000);
        assert_eq!(duration(-1.0, 1.0), 0);
        assert_eq!(duration(5.0, 0.0), 0);
        assert!(greater(-1, 1_000_000));
        assert!(!greater(1_000_000, -1));
        assert!(greater(3, 2));
        assert!(!greater(2, 2));
    }

    #[test]
    fn allowed_urls_keep_first_seen_order_and_union_methods() {
        let a = vec![
            spec("/user", &["GET"]),
            spec("/companies", &["GET", "POST"]),
        ];
        let b = vec![spec("/user", &["GET", "POST"]), spec("/", &["PUT"])];
        let merged = merge_allowed_urls(&a, &b);
        assert_eq!(
            merged,
            vec![
                spec("/user", &["GET", "POST"]),
                spec("/companies", &["GET", "POST"]),
                spec("/", &["PUT"])
            ]
        );
        assert!(merge_allowed_urls(&[], &[]).is_empty());
    }

    #[test]
    fn endpoint_limits_take_the_faster_rate_per_path_and_method() {
        let policy = json!([
            {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": 10, "per": 60}}]},
            {"path": "/post", "methods": [{"name": "POST", "limit": {"rate": 300, "per": 10}}]}
        ]);
        let current = json!([
            {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": -1}}]},
            {"path": "/post", "methods": [{"name": "POST", "limit": {"rate": 20, "per": 60}}]},
            {"path": "/put", "methods": [{"name": "PUT", "limit": {"rate": 5, "per": 1}}]}
        ]);
        let merged = merge_endpoints(Some(&policy), Some(&current)).unwrap();
        assert_eq!(
            merged,
            json!([
                {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": -1}}]},
                {"path": "/post", "methods": [{"name": "POST", "limit": {"rate": 300, "per": 10}}]},
                {"path": "/put", "methods": [{"name": "PUT", "limit": {"rate": 5, "per": 1}}]}
            ])
        );
        // Same time between requests: the higher rate wins.
        let a =
            json!([{"path": "/x", "methods": [{"name": "GET", "limit": {"rate": 5, "per": 30}}]}]);
        let b =
            json!([{"path": "/x", "methods": [{"name": "GET", "limit": {"rate": 10, "per": 60}}]}]);
        let merged = merge_endpoints(Some(&a), Some(&b)).unwrap();
        assert_eq!(merged[0]["methods"][0]["limit"]["rate"], 10);
        assert_eq!(merge_endpoints(Some(&a), None), Some(a.clone()));
        assert_eq!(merge_endpoints(None, None), None);
    }

    fn spec(url: &str, methods: &[&str]) -> AccessSpec {
        AccessSpec {
            url: url.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
        }
    }
}
