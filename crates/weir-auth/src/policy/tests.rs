//! Reading Tyk's policy files, and the policy set's control-API operations.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("weir-policy-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_record_file_is_keyed_by_id_and_the_key_wins() {
    let dir = TempDir::new();
    let path = dir.write(
        "policies.json",
        r#"{
          "gold": {"id": "ignored", "name": "Gold", "rate": 100, "per": 60, "quota_max": -1,
                   "access_rights": {"api1": {"api_id": "api1", "versions": ["Default"]}},
                   "partitions": {"quota": false, "rate_limit": false, "acl": false}},
          "": {"id": "silver", "rate": 10, "per": 1}
        }"#,
    );
    let p = Policies::from_file(&path).unwrap();
    assert_eq!(p.ids().collect::<Vec<_>>(), ["gold", "silver"]);
    let gold = p.get("gold").unwrap();
    assert_eq!((gold.id.as_str(), gold.name.as_str()), ("gold", "Gold"));
    assert_eq!((gold.rate, gold.per, gold.quota_max), (100.0, 60.0, -1));
    assert_eq!(gold.access_rights["api1"].versions, ["Default"]);
    assert_eq!(p.get("silver").unwrap().rate, 10.0);
    assert!(p.get("ignored").is_none());
}

#[test]
fn a_directory_holds_one_policy_per_json_file() {
    let dir = TempDir::new();
    dir.write(
        "a.json",
        r#"{"id": "a", "org_id": "o1", "rate": 1, "per": 1}"#,
    );
    dir.write(
        "b.json",
        r#"{"id": "b", "access_rights": null, "tags": null, "meta_data": null,
            "partitions": null}"#,
    );
    dir.write("notes.txt", "not a policy");
    dir.write("c.json.bak", "{");
    std::fs::create_dir(dir.0.join("sub.json")).unwrap();
    let p = Policies::from_file(&dir.0).unwrap();
    assert_eq!(p.ids().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(p.len(), 2);
    assert!(p.get("b").unwrap().access_rights.is_empty());
    assert!(p.get_in_org("o1", "a").is_some());
    assert!(p.get_in_org("o2", "a").is_none());
    assert!(p.get_in_org("", "b").is_some());
}

#[test]
fn errors_name_the_file_the_policy_and_the_field() {
    let dir = TempDir::new();
    let path = dir.write(
        "policies.json",
        r#"{"ok": {}, "p1": {"access_rights": {"api1": {"versions": 5}}}}"#,
    );
    let err = Policies::from_file(&path).unwrap_err();
    let PolicyError::Parse { id, field, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(id.as_deref(), Some("p1"));
    assert_eq!(field, "access_rights.api1.versions");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: policy \"p1\": field", path.display())),
        "{text}"
    );

    let path = dir.write(
        "urls.json",
        r#"{"p2": {"access_rights": {"a": {"allowed_urls": [{"url": "/x", "methods": "GET"}]}}}}"#,
    );
    let err = Policies::from_file(&path).unwrap_err();
    let PolicyError::Parse { field, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "access_rights.a.allowed_urls[0].methods");

    let pdir = TempDir::new();
    pdir.write("one.json", r#"{"id": "one", "rate": "fast"}"#);
    let err = Policies::from_file(&pdir.0).unwrap_err();
    let PolicyError::Parse {
        path, id, field, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(path.ends_with("one.json"));
    assert_eq!((id.as_deref(), field.as_str()), (Some("one"), "rate"));

    let err = Policies::from_json("{\"a\": {}} trailing").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = Policies::from_file(&dir.0.join("missing.json")).unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }), "{err:?}");
}

#[test]
fn ids_must_exist_and_be_unique_in_a_directory() {
    let dir = TempDir::new();
    dir.write("x.json", r#"{"name": "no id"}"#);
    let err = Policies::from_file(&dir.0).unwrap_err();
    assert!(
        matches!(&err, PolicyError::MissingId { path } if path.ends_with("x.json")),
        "{err:?}"
    );

    let dir = TempDir::new();
    dir.write("1.json", r#"{"id": "same"}"#);
    dir.write("2.json", r#"{"id": "same"}"#);
    let err = Policies::from_file(&dir.0).unwrap_err();
    let PolicyError::DuplicateId { id, first, second } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(id, "same");
    assert!(first.ends_with("1.json") && second.ends_with("2.json"));

    // A Mongo _id stands in for a missing id, as in Tyk.
    let dir = TempDir::new();
    dir.write(
        "m.json",
        r#"{"_id": "5e9d9544a1dcd60001d0ed20", "rate": 3}"#,
    );
    let p = Policies::from_file(&dir.0).unwrap();
    assert_eq!(p.get("5e9d9544a1dcd60001d0ed20").unwrap().rate, 3.0);
}

#[test]
fn unknown_fields_survive_a_round_trip() {
    let v = json!({
        "_id": "5e9d9544a1dcd60001d0ed20", "id": "p", "name": "n", "org_id": "o",
        "rate": 5.0, "per": 1.0, "quota_max": 10, "quota_renewal_rate": 60,
        "throttle_interval": 1.5, "throttle_retry_limit": 2, "max_query_depth": 3,
        "access_rights": {"a": {"api_id": "a", "api_name": "A", "versions": ["v1"],
            "allowed_urls": [{"url": "/x", "methods": ["GET"]}],
            "limit": {"rate": 1.0, "per": 2.0, "quota_max": -1, "future": true},
            "allowance_scope": "a", "field_access_rights": []}},
        "hmac_enabled": true, "enable_http_signature_validation": false, "active": true,
        "is_inactive": false, "tags": ["t"], "key_expires_in": 60,
        "post_expiry_action": "retain", "post_expiry_grace_period": 5,
        "partitions": {"quota": true, "rate_limit": false, "complexity": false, "acl": true,
                       "per_api": false, "future_partition": true},
        "last_updated": "1700000000", "meta_data": {"k": "v"},
        "graphql_access_rights": {}, "smoothing": null
    });
    let p: Policy = serde_json::from_value(v.clone()).unwrap();
    assert!(p.partitions.enabled());
    assert_eq!(p.access_rights["a"].limit.as_ref().unwrap().quota_max, -1);
    assert_eq!(serde_json::to_value(&p).unwrap(), v);
}

#[test]
fn the_control_api_can_add_replace_list_and_remove() {
    let mut p = Policies::new();
    assert!(p.is_empty());
    let pol = |id: &str, rate: f64| Policy {
        id: id.into(),
        rate,
        ..Policy::default()
    };
    assert_eq!(p.insert(pol("b", 1.0)).unwrap(), "b");
    p.insert(pol("a", 2.0)).unwrap();
    p.insert(pol("b", 3.0)).unwrap();
    assert!(p.insert(pol("", 4.0)).is_err());
    assert_eq!(p.ids().collect::<Vec<_>>(), ["a", "b"]);
    let listed = p.to_json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["id"], "b");
    assert_eq!(listed[1]["rate"], 3.0);
    assert_eq!(p.remove("a").unwrap().rate, 2.0);
    assert!(p.remove("a").is_none());
    assert_eq!(p.len(), 1);
}
