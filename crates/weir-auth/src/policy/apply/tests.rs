//! Each of Tyk's policy rules, on Tyk-shaped policies and sessions.

use serde_json::json;

use super::*;
use crate::policy::{Limits, limits_for, trial_expiry};

const POLICIES: &str = r#"{
  "whole-a": {"name": "whole", "rate": 10, "per": 1, "quota_max": 100, "quota_renewal_rate": 3600,
      "throttle_interval": 2, "throttle_retry_limit": 3, "tags": ["gold"],
      "meta_data": {"tier": "gold"}, "hmac_enabled": true, "last_updated": "1700000000",
      "access_rights": {"a": {"api_id": "a", "api_name": "A", "versions": ["v1"],
          "allowed_urls": [{"url": "/users", "methods": ["GET"]}]}},
      "partitions": {"quota": false, "rate_limit": false, "acl": false, "per_api": false}},
  "whole-b": {"rate": 5, "per": 1, "quota_max": 50, "quota_renewal_rate": 60, "tags": ["silver"],
      "meta_data": {"tier": "silver", "region": "eu"},
      "access_rights": {
          "a": {"versions": ["v2"], "allowed_urls": [{"url": "/users", "methods": ["POST"]},
                                                    {"url": "/orders", "methods": ["GET"]}]},
          "b": {"versions": ["v1"]}},
      "partitions": {}},
  "quota-2": {"quota_max": 2, "access_rights": {"a": {}}, "partitions": {"acl": true, "quota": true}},
  "quota-3": {"quota_max": 3, "access_rights": {"a": {}}, "partitions": {"acl": true, "quota": true}},
  "quota-unlimited": {"quota_max": -1, "access_rights": {"a": {}},
      "partitions": {"acl": true, "quota": true}},
  "rate-3": {"rate": 3, "per": 1, "access_rights": {"a": {}},
      "partitions": {"acl": true, "rate_limit": true}},
  "rate-slow": {"rate": 100, "per": 60, "access_rights": {"a": {}},
      "partitions": {"acl": true, "rate_limit": true}},
  "rate-master": {"rate": 4, "per": 4, "partitions": {"acl": true, "rate_limit": true}},
  "acl-a": {"access_rights": {"a": {}}, "partitions": {"acl": true}},
  "acl-ab": {"access_rights": {"a": {}, "b": {}}, "partitions": {"acl": true}},
  "rate-ab": {"rate": 4, "per": 1, "access_rights": {"a": {}, "b": {}},
      "partitions": {"rate_limit": true}},
  "rate-b": {"rate": 2, "per": 1, "access_rights": {"b": {}}, "partitions": {"rate_limit": true}},
  "inactive": {"is_inactive": true, "access_rights": {"a": {}}, "partitions": {"acl": true}},
  "per-api": {"access_rights": {
      "c": {"limit": {"rate": 2000, "per": 60, "quota_max": -1}},
      "d": {"limit": {"rate": 20, "per": 1, "quota_max": 1000, "quota_renewal_rate": 3600}}},
      "partitions": {"per_api": true}},
  "per-api-d": {"access_rights": {
      "d": {"limit": {"rate": 200, "per": 10, "quota_max": 5000, "quota_renewal_rate": 3600}}},
      "partitions": {"per_api": true}},
  "per-api-d-slower": {"access_rights": {
      "d": {"limit": {"rate": 400, "per": 25, "quota_max": 5000, "quota_renewal_rate": 3600}}},
      "partitions": {"per_api": true}},
  "per-api-defaults": {"rate": 300, "per": 1, "quota_max": -1, "access_rights": {
      "e": {},
      "d": {"limit": {"rate": 200, "per": 10, "quota_max": 5000, "quota_renewal_rate": 3600}}},
      "partitions": {"per_api": true}},
  "per-api-and-quota": {"access_rights": {"d": {}}, "partitions": {"per_api": true, "quota": true}},
  "other-org": {"org_id": "org2", "access_rights": {"a": {}}, "partitions": {}},
  "master": {"rate": 7, "per": 1, "quota_max": 70, "quota_renewal_rate": 60, "partitions": {}},
  "expiring": {"key_expires_in": 3600, "access_rights": {"a": {}}, "partitions": {}},
  "ep-1": {"rate": 500, "per": 1, "access_rights": {"d": {"endpoints": [
      {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": 10, "per": 60}}]}]}}},
  "ep-2": {"rate": 500, "per": 1, "access_rights": {"d": {"endpoints": [
      {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": 20, "per": 60}}]},
      {"path": "/post", "methods": [{"name": "POST", "limit": {"rate": 5, "per": 1}}]}]}}}
}"#;

fn policies() -> Policies {
    Policies::from_json(POLICIES).unwrap()
}

fn session(v: serde_json::Value) -> Session {
    serde_json::from_value(v).unwrap()
}

fn with(ids: &[&str]) -> Session {
    session(json!({ "apply_policies": ids }))
}

/// Applies `ids` to a new session as an API of the policies' organisation ("") would.
fn applied(ids: &[&str]) -> Result<Session, PolicyError> {
    let mut s = with(ids);
    apply(&mut s, &policies(), Some("")).map(|()| s)
}

fn limit(s: &Session, api: &str) -> ApiLimit {
    s.access_rights[api].limit.clone().unwrap_or_default()
}

fn scope(s: &Session, api: &str) -> Option<String> {
    let v = s.access_rights[api].rest.get("allowance_scope")?;
    Some(v.as_str()?.to_string())
}

#[test]
fn a_whole_policy_sets_rights_limits_tags_and_metadata() {
    let s = applied(&["whole-a"]).unwrap();
    let a = &s.access_rights["a"];
    assert_eq!(a.versions, ["v1"]);
    assert_eq!(a.allowed_urls[0].methods, ["GET"]);
    let l = limit(&s, "a");
    assert_eq!(
        (l.rate, l.per, l.quota_max, l.quota_renewal_rate),
        (10.0, 1.0, 100, 3600)
    );
    assert_eq!((l.throttle_interval, l.throttle_retry_limit), (2.0, 3));
    // One API: the session's own values are that API's.
    assert_eq!(
        (s.rate, s.per, s.quota_max, s.quota_renewal_rate),
        (10.0, 1.0, 100, 3600)
    );
    assert_eq!(s.rest["throttle_interval"], 2.0);
    assert_eq!(s.rest["hmac_enabled"], true);
    assert_eq!(s.tags, ["gold"]);
    assert_eq!(s.meta_data["tier"], "gold");
    assert_eq!(s.last_updated, "1700000000");
    assert!(!s.is_inactive);
    assert_eq!(scope(&s, "a"), None);
    // Written back, the limit leaves out zeros as Tyk does.
    let written = serde_json::to_value(&s).unwrap();
    assert_eq!(
        written["access_rights"]["a"]["limit"],
        json!({"rate": 10.0, "per": 1.0, "quota_max": 100, "quota_renewal_rate": 3600,
               "throttle_interval": 2.0, "throttle_retry_limit": 3})
    );
}

#[test]
fn several_policies_union_rights_and_keep_the_larger_limits() {
    let s = applied(&["whole-a", "whole-b"]).unwrap();
    let a = &s.access_rights["a"];
    assert_eq!(a.versions, ["v1", "v2"]);
    let urls: Vec<(&str, Vec<&str>)> = a
        .allowed_urls
        .iter()
        .map(|u| {
            (
                u.url.as_str(),
                u.methods.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        urls,
        [("/users", vec!["GET", "POST"]), ("/orders", vec!["GET"])]
    );
    let (la, lb) = (limit(&s, "a"), limit(&s, "b"));
    // 10 per second beats 5 per second; 100 beats 50.
    assert_eq!(
        (la.rate, la.per, la.quota_max, la.quota_renewal_rate),
        (10.0, 1.0, 100, 3600)
    );
    assert_eq!(
        (lb.rate, lb.quota_max, lb.quota_renewal_rate),
        (5.0, 50, 60)
    );
    assert_eq!((s.rate, s.quota_max), (10.0, 100));
    assert_eq!(s.tags, ["gold", "silver"]);
    assert_eq!(
        (&s.meta_data["tier"], &s.meta_data["region"]),
        (&json!("silver"), &json!("eu"))
    );
    // The last ACL for both APIs came from whole-b: they share the key's counters.
    assert_eq!((scope(&s, "a"), scope(&s, "b")), (None, None));
    assert_eq!(limits_for(&s, "a").scope, "");
    // The other way round each API carries a different policy: each counts on its own.
    let s = applied(&["whole-b", "whole-a"]).unwrap();
    assert_eq!(scope(&s, "a").as_deref(), Some("whole-a"));
    assert_eq!(scope(&s, "b").as_deref(), Some("whole-b"));
    assert_eq!(limits_for(&s, "b").scope, "whole-b");
}

#[test]
fn the_largest_quota_wins_and_minus_one_is_largest() {
    assert_eq!(applied(&["quota-2", "quota-3"]).unwrap().quota_max, 3);
    assert_eq!(applied(&["quota-3", "quota-2"]).unwrap().quota_max, 3);
    assert_eq!(
        applied(&["quota-2", "quota-unlimited"]).unwrap().quota_max,
        -1
    );
    assert_eq!(
        applied(&["quota-unlimited", "quota-3"]).unwrap().quota_max,
        -1
    );
    let s = applied(&["quota-unlimited", "quota-3"]).unwrap();
    assert_eq!(limit(&s, "a").quota_max, -1);
}

#[test]
fn the_rate_with_less_time_between_requests_wins() {
    // 3 per second (0.33 s apart) beats 100 per minute (0.6 s apart).
    for ids in [["rate-3", "rate-slow"], ["rate-slow", "rate-3"]] {
        let s = applied(&ids).unwrap();
        assert_eq!((s.rate, s.per), (3.0, 1.0), "{ids:?}");
        assert_eq!(limit(&s, "a").rate, 3.0);
    }
}

#[test]
fn partitions_take_only_their_part_and_the_rest_comes_from_the_session() {
    // Quota from one policy, rate from a policy without rights.
    for ids in [["quota-2", "rate-master"], ["rate-master", "quota-2"]] {
        let s = applied(&ids).unwrap();
        assert_eq!((s.quota_max, s.rate, s.per), (2, 4.0, 4.0), "{ids:?}");
        let l = limit(&s, "a");
        assert_eq!((l.quota_max, l.rate, l.per), (2, 4.0, 4.0), "{ids:?}");
    }
    // A rate partition for a and b but an ACL only for a: b is not granted.
    let s = applied(&["acl-a", "rate-ab"]).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!((limit(&s, "a").rate, limit(&s, "a").per), (4.0, 1.0));
    let s = applied(&["acl-ab", "rate-ab", "rate-b"]).unwrap();
    assert_eq!((limit(&s, "a").rate, limit(&s, "b").rate), (4.0, 4.0));
    // An ACL-only policy replaces the session's own rights.
    let mut s = session(json!({"apply_policies": ["acl-ab"], "access_rights": {"c": {}}}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(s.access_rights["a"].limit.is_none());
    // A policy setting no throttle leaves the session's JSON without one.
    assert!(!s.rest.contains_key("throttle_interval"));
}

#[test]
fn an_inactive_policy_makes_the_key_inactive_and_only_policies_decide() {
    assert!(applied(&["acl-a", "inactive"]).unwrap().is_inactive);
    let mut s = session(json!({"is_inactive": true, "apply_policies": ["acl-a"]}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert!(!s.is_inactive);
    let mut s = session(json!({"is_inactive": true}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert!(s.is_inactive);
}

#[test]
fn an_unknown_policy_is_an_error_alone_and_skipped_among_several() {
    let mut s = with(&["nope"]);
    let before = s.clone();
    let err = apply(&mut s, &policies(), Some("")).unwrap_err();
    assert!(
        matches!(&err, PolicyError::NotFound { id } if id == "nope"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "policy not found: \"nope\"");
    assert_eq!(s, before);
    let s = applied(&["acl-a", "nope"]).unwrap();
    assert!(s.access_rights.contains_key("a"));
}

#[test]
fn policies_of_another_organisation_are_refused() {
    let p = policies();
    // Found only in the key's own organisation (the API's when the key has none).
    let mut s = with(&["other-org"]);
    let err = apply(&mut s, &p, Some("")).unwrap_err();
    assert!(matches!(err, PolicyError::NotFound { .. }), "{err:?}");
    let mut s = with(&["other-org"]);
    apply(&mut s, &p, Some("org2")).unwrap();
    assert!(s.access_rights.contains_key("a"));
    // The key's organisation has it, but the API belongs to another.
    let mut s = session(json!({"org_id": "org2", "apply_policies": ["other-org"]}));
    let err = apply(&mut s, &p, Some("org1")).unwrap_err();
    assert!(
        matches!(&err, PolicyError::OtherOrg { id } if id == "other-org"),
        "{err:?}"
    );
    // The control API has no API organisation to compare with.
    let mut s = session(json!({"org_id": "org2", "apply_policies": ["other-org"]}));
    apply(&mut s, &p, None).unwrap();
}

#[test]
fn per_api_policies_put_each_apis_limit_on_its_access_right() {
    let s = applied(&["per-api"]).unwrap();
    let (c, d) = (limit(&s, "c"), limit(&s, "d"));
    assert_eq!((c.rate, c.per, c.quota_max), (2000.0, 60.0, -1));
    assert_eq!(
        (d.rate, d.per, d.quota_max, d.quota_renewal_rate),
        (20.0, 1.0, 1000, 3600)
    );
    assert_eq!(
        (scope(&s, "c").unwrap(), scope(&s, "d").unwrap()),
        ("c".into(), "d".into())
    );
    // A later per-API policy for d replaces it (same time between requests, larger quota).
    let s = applied(&["per-api", "per-api-d"]).unwrap();
    let d = limit(&s, "d");
    assert_eq!((d.rate, d.per, d.quota_max), (200.0, 10.0, 5000));
    // An API without its own limit takes the policy's, counted under the policy's id; a
    // slower later policy does not lower d's rate.
    let s = applied(&["per-api-defaults", "per-api-d", "per-api-d-slower"]).unwrap();
    let (d, e) = (limit(&s, "d"), limit(&s, "e"));
    assert_eq!((e.rate, e.per, e.quota_max), (300.0, 1.0, -1));
    assert_eq!(scope(&s, "e").as_deref(), Some("per-api-defaults"));
    assert_eq!(
        (d.rate, d.per, d.quota_max, d.quota_renewal_rate),
        (200.0, 10.0, 5000, 3600)
    );
    assert_eq!(scope(&s, "d").as_deref(), Some("d"));
    let l = limits_for(&s, "d");
    assert_eq!(
        l,
        Limits {
            rate: 200.0,
            per: 10.0,
            quota_max: 5000,
            quota_renewal_rate: 3600,
            throttle_interval: 0.0,
            throttle_retry_limit: 0,
            scope: "d".into()
        }
    );
    assert_eq!(limits_for(&s, "e").scope, "per-api-defaults");
}

#[test]
fn per_api_does_not_mix_with_partitions() {
    let err = applied(&["per-api-and-quota"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot apply policy per-api-and-quota which has per_api and any of partitions set"
    );
    for ids in [["per-api-d", "quota-2"], ["rate-3", "per-api-d"]] {
        let err = applied(&ids).unwrap_err();
        assert!(
            matches!(err, PolicyError::MixedPerApiAndPartitions),
            "{ids:?}: {err:?}"
        );
    }
    // Whole (unpartitioned) policies do mix with per-API ones.
    applied(&["per-api-d", "whole-a"]).unwrap();
}

#[test]
fn tags_and_metadata_merge_with_the_keys_own() {
    let mut s = session(json!({
        "apply_policies": ["whole-a", "whole-b"], "tags": ["key-tag", "gold"],
        "meta_data": {"own": 1, "tier": "bronze"}
    }));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert_eq!(s.tags, ["key-tag", "gold", "silver"]);
    assert_eq!(s.meta_data["own"], 1);
    assert_eq!(s.meta_data["tier"], "silver");
}

#[test]
fn a_policy_without_rights_sets_the_keys_limits_but_cannot_stand_alone() {
    let mut s = with(&["master"]);
    let err = apply(&mut s, &policies(), Some("")).unwrap_err();
    assert!(matches!(err, PolicyError::NoValidPolicies), "{err:?}");
    // As in Tyk the session is updated all the same (a created key is stored so).
    assert_eq!((s.rate, s.quota_max), (7.0, 70));
    let s = applied(&["master", "acl-a"]).unwrap();
    let a = limit(&s, "a");
    assert_eq!(
        (a.rate, a.per, a.quota_max, a.quota_renewal_rate),
        (7.0, 1.0, 70, 60)
    );
}

#[test]
fn without_policies_an_api_limit_counts_under_the_api() {
    let mut s = session(json!({"rate": 1, "per": 1,
        "access_rights": {"a": {"limit": {"rate": 5, "per": 1}}, "b": {}}}));
    assert_eq!(limits_for(&s, "a").scope, "a");
    apply(&mut s, &policies(), Some("")).unwrap();
    assert_eq!(scope(&s, "a").as_deref(), Some("a"));
    assert_eq!(scope(&s, "b"), None);
    assert_eq!(
        (limits_for(&s, "a").rate, limits_for(&s, "a").scope.as_str()),
        (5.0, "a")
    );
    let b = limits_for(&s, "b");
    assert_eq!((b.rate, b.scope.as_str()), (1.0, ""));
    let none = session(json!({"rate": 9, "per": 2, "quota_max": 3, "quota_renewal_rate": 4}));
    let l = limits_for(&none, "x");
    assert_eq!(
        (l.rate, l.per, l.quota_max, l.quota_renewal_rate),
        (9.0, 2.0, 3, 4)
    );
    assert_eq!(l.scope, "");
}

#[test]
fn applying_again_changes_nothing() {
    for ids in [
        &["whole-b", "whole-a"][..],
        &["per-api-defaults", "per-api-d"],
        &["quota-2", "rate-master"],
    ] {
        let once = applied(ids).unwrap();
        let mut twice = once.clone();
        apply(&mut twice, &policies(), Some("")).unwrap();
        assert_eq!(twice, once, "{ids:?}");
    }
}

#[test]
fn a_running_quota_period_is_kept() {
    let mut s = session(json!({"apply_policies": ["per-api-d"],
        "access_rights": {"d": {"limit": {"quota_max": 10, "quota_renews": 12345}}}}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert_eq!(limit(&s, "d").quota_renews, 12345);
    let mut s = session(json!({"apply_policies": ["quota-2"],
        "access_rights": {"a": {"limit": {"quota_max": 5, "quota_renews": 999}}}}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert_eq!(limit(&s, "a").quota_renews, 999);
}

#[test]
fn endpoint_limits_merge_per_path_and_method() {
    let s = applied(&["ep-1", "ep-2"]).unwrap();
    assert_eq!(
        s.access_rights["d"].rest["endpoints"],
        json!([
            {"path": "/get", "methods": [{"name": "GET", "limit": {"rate": 20, "per": 60}}]},
            {"path": "/post", "methods": [{"name": "POST", "limit": {"rate": 5, "per": 1}}]}
        ])
    );
}

#[test]
fn policies_in_metadata_and_the_deprecated_single_id_apply() {
    let mut s = session(json!({"meta_data": {"policies": [
        {"id": "inline", "rate": 9, "per": 1, "access_rights": {"z": {}}}]}}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert!(s.access_rights.contains_key("z"));
    assert_eq!(s.rate, 9.0);
    // Older Tyk writes unset lists and maps as null.
    let mut s = session(json!({"apply_policy_id": "acl-a", "apply_policies": null,
        "tags": null, "meta_data": null, "access_rights": null}));
    apply(&mut s, &policies(), Some("")).unwrap();
    assert!(s.access_rights.contains_key("a"));
}

#[test]
fn a_new_key_expires_as_its_policy_says() {
    let p = policies();
    assert_eq!(
        trial_expiry(&with(&["acl-a", "expiring"]), &p, 1000),
        Some(4600)
    );
    assert_eq!(trial_expiry(&with(&["acl-a"]), &p, 1000), None);
    assert_eq!(trial_expiry(&Session::default(), &p, 1000), None);
}
