//! Session conversion between Weir's [`Session`] (Tyk's REST JSON names) and the protobuf
//! `SessionState`.
//!
//! Fields the proto lacks (per-API `limit`, `endpoints`, `smoothing`, throttling, ...) are
//! lost across gRPC in Tyk. Weir keeps them: a returned session is merged over the one that
//! was sent, so only what the proto can express changes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use weir_core::plugin::Session;

use crate::pb;

/// Session metadata as the proto's string map: strings as they are, anything else
/// JSON-encoded (as Tyk's `coprocess_helpers.go` does).
pub(crate) fn metadata_to_strings(
    metadata: &BTreeMap<String, Value>,
) -> std::collections::HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// Builds the proto session from Weir's.
pub(crate) fn to_proto(s: &Session) -> pb::SessionState {
    let x = &s.extra;
    pb::SessionState {
        last_check: int(x, "last_check"),
        allowance: s.allowance,
        rate: s.rate,
        per: s.per,
        expires: s.expires,
        quota_max: s.quota_max,
        quota_renews: s.quota_renews,
        quota_remaining: s.quota_remaining,
        quota_renewal_rate: s.quota_renewal_rate,
        access_rights: access_rights_to_proto(x.get("access_rights")),
        org_id: s.org_id.clone(),
        oauth_client_id: string(x, "oauth_client_id"),
        oauth_keys: x
            .get("oauth_keys")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        basic_auth_data: x
            .get("basic_auth_data")
            .and_then(Value::as_object)
            .map(|b| pb::BasicAuthData {
                password: string(b, "password"),
                hash: string(b, "hash_type"),
            }),
        jwt_data: x
            .get("jwt_data")
            .and_then(Value::as_object)
            .map(|j| pb::JwtData {
                secret: string(j, "secret"),
            }),
        hmac_enabled: boolean(x, "hmac_enabled"),
        hmac_secret: string(x, "hmac_string"),
        is_inactive: boolean(x, "is_inactive"),
        apply_policy_id: string(x, "apply_policy_id"),
        data_expires: int(x, "data_expires"),
        monitor: x
            .get("monitor")
            .and_then(Value::as_object)
            .map(|m| pb::Monitor {
                trigger_limits: m
                    .get("trigger_limits")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default(),
            }),
        enable_detailed_recording: boolean(x, "enable_detailed_recording"),
        metadata: metadata_to_strings(&s.metadata),
        tags: s.tags.clone(),
        alias: s.alias.clone(),
        last_updated: string(x, "last_updated"),
        id_extractor_deadline: int(x, "id_extractor_deadline"),
        session_lifetime: int(x, "session_lifetime"),
        apply_policies: s.apply_policies.clone(),
        certificate: string(x, "certificate"),
        max_query_depth: int(x, "max_query_depth"),
        // KeyID is not part of the REST JSON (`json:"-"` in Tyk); the host sets it.
        key_id: String::new(),
        post_expiry_action: string(x, "post_expiry_action"),
        post_expiry_grace_period: int(x, "post_expiry_grace_period"),
    }
}

/// Builds Weir's session from the proto one, over `base` (the session that was sent, if any)
/// so that fields the proto cannot carry survive.
pub(crate) fn from_proto(p: &pb::SessionState, base: Option<&Session>) -> Session {
    let mut s = base.cloned().unwrap_or_default();
    s.rate = p.rate;
    s.per = p.per;
    s.allowance = p.allowance;
    s.expires = p.expires;
    s.quota_max = p.quota_max;
    s.quota_renews = p.quota_renews;
    s.quota_remaining = p.quota_remaining;
    s.quota_renewal_rate = p.quota_renewal_rate;
    s.org_id = p.org_id.clone();
    s.tags = p.tags.clone();
    s.alias = p.alias.clone();
    s.apply_policies = p.apply_policies.clone();

    // A value that comes back exactly as it was encoded keeps its JSON type.
    let old_meta = std::mem::take(&mut s.metadata);
    s.metadata = p
        .metadata
        .iter()
        .map(|(k, v)| {
            let value = match old_meta.get(k) {
                Some(old)
                    if !old.is_string()
                        && serde_json::from_str::<Value>(v).ok().as_ref() == Some(old) =>
                {
                    old.clone()
                }
                _ => Value::String(v.clone()),
            };
            (k.clone(), value)
        })
        .collect();

    let x = &mut s.extra;
    put(x, "last_check", json!(p.last_check));
    let rights = access_rights_from_proto(&p.access_rights, x.get("access_rights"));
    put(x, "access_rights", rights);
    put(x, "oauth_client_id", json!(p.oauth_client_id));
    put(x, "oauth_keys", json!(p.oauth_keys));
    if let Some(b) = &p.basic_auth_data {
        let mut obj = object_at(x, "basic_auth_data");
        obj.insert("password".into(), json!(b.password));
        obj.insert("hash_type".into(), json!(b.hash));
        x.insert("basic_auth_data".into(), Value::Object(obj));
    }
    if let Some(j) = &p.jwt_data {
        let mut obj = object_at(x, "jwt_data");
        obj.insert("secret".into(), json!(j.secret));
        x.insert("jwt_data".into(), Value::Object(obj));
    }
    put(x, "hmac_enabled", json!(p.hmac_enabled));
    put(x, "hmac_string", json!(p.hmac_secret));
    put(x, "is_inactive", json!(p.is_inactive));
    put(x, "apply_policy_id", json!(p.apply_policy_id));
    put(x, "data_expires", json!(p.data_expires));
    if let Some(m) = &p.monitor {
        let mut obj = object_at(x, "monitor");
        obj.insert("trigger_limits".into(), json!(m.trigger_limits));
        x.insert("monitor".into(), Value::Object(obj));
    }
    put(
        x,
        "enable_detailed_recording",
        json!(p.enable_detailed_recording),
    );
    put(x, "last_updated", json!(p.last_updated));
    put(x, "id_extractor_deadline", json!(p.id_extractor_deadline));
    put(x, "session_lifetime", json!(p.session_lifetime));
    put(x, "certificate", json!(p.certificate));
    put(x, "max_query_depth", json!(p.max_query_depth));
    put(x, "post_expiry_action", json!(p.post_expiry_action));
    put(
        x,
        "post_expiry_grace_period",
        json!(p.post_expiry_grace_period),
    );
    s
}

fn access_rights_to_proto(
    rights: Option<&Value>,
) -> std::collections::HashMap<String, pb::AccessDefinition> {
    let Some(rights) = rights.and_then(Value::as_object) else {
        return Default::default();
    };
    rights
        .iter()
        .map(|(id, def)| {
            let empty = Map::new();
            let def = def.as_object().unwrap_or(&empty);
            let ad = pb::AccessDefinition {
                api_name: string(def, "api_name"),
                api_id: string(def, "api_id"),
                versions: strings(def.get("versions")),
                allowed_urls: def
                    .get("allowed_urls")
                    .and_then(Value::as_array)
                    .map(|urls| {
                        urls.iter()
                            .filter_map(Value::as_object)
                            .map(|u| pb::AccessSpec {
                                url: string(u, "url"),
                                methods: strings(u.get("methods")),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            (id.clone(), ad)
        })
        .collect()
}

fn access_rights_from_proto(
    rights: &std::collections::HashMap<String, pb::AccessDefinition>,
    base: Option<&Value>,
) -> Value {
    let base = base.and_then(Value::as_object);
    let mut out = Map::new();
    for (id, ad) in rights {
        let mut obj = base
            .and_then(|b| b.get(id))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        obj.insert("api_name".into(), json!(ad.api_name));
        obj.insert("api_id".into(), json!(ad.api_id));
        obj.insert("versions".into(), json!(ad.versions));
        let urls: Vec<Value> = ad
            .allowed_urls
            .iter()
            .map(|u| json!({"url": u.url, "methods": u.methods}))
            .collect();
        obj.insert("allowed_urls".into(), Value::Array(urls));
        out.insert(id.clone(), Value::Object(obj));
    }
    Value::Object(out)
}

/// Stores a field unless it is the zero value of a field the session never had, so that
/// sessions stay as small as they came.
fn put(x: &mut Map<String, Value>, key: &str, value: Value) {
    let zero = match &value {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
    };
    if !zero || x.contains_key(key) {
        x.insert(key.to_string(), value);
    }
}

fn object_at(x: &Map<String, Value>, key: &str) -> Map<String, Value> {
    x.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

// Stored sessions are read leniently: a field of the wrong type reads as its zero value,
// as Go's JSON decoding into the proto's types would leave it.
fn int(x: &Map<String, Value>, key: &str) -> i64 {
    match x.get(key) {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
    .unwrap_or(0)
}

fn string(x: &Map<String, Value>, key: &str) -> String {
    x.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn boolean(x: &Map<String, Value>, key: &str) -> bool {
    x.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        serde_json::from_value(json!({
            "rate": 10.0, "per": 1.0, "quota_max": 100, "org_id": "o1",
            "meta_data": {"user": "ann", "level": 3, "flags": {"a": true}},
            "hmac_enabled": true, "hmac_string": "sec",
            "basic_auth_data": {"password": "pw", "hash_type": "bcrypt"},
            "access_rights": {"api1": {
                "api_id": "api1", "api_name": "One", "versions": ["Default"],
                "allowed_urls": [{"url": "/x", "methods": ["GET"]}],
                "limit": {"rate": 5, "per": 1}
            }},
            "smoothing": {"enabled": true},
            "throttle_interval": 2
        }))
        .unwrap()
    }

    #[test]
    fn to_proto_uses_rest_names() {
        let p = to_proto(&session());
        assert_eq!(p.rate, 10.0);
        assert_eq!(p.quota_max, 100);
        assert_eq!(p.org_id, "o1");
        assert_eq!(p.metadata["user"], "ann");
        assert_eq!(p.metadata["level"], "3");
        assert_eq!(p.metadata["flags"], r#"{"a":true}"#);
        assert!(p.hmac_enabled);
        assert_eq!(p.hmac_secret, "sec");
        assert_eq!(p.basic_auth_data.as_ref().unwrap().hash, "bcrypt");
        let ad = &p.access_rights["api1"];
        assert_eq!(ad.api_name, "One");
        assert_eq!(ad.allowed_urls[0].methods, vec!["GET".to_string()]);
    }

    #[test]
    fn round_trip_keeps_what_the_proto_cannot_carry() {
        let s = session();
        let back = from_proto(&to_proto(&s), Some(&s));
        assert_eq!(back, s);

        let mut p = to_proto(&s);
        p.rate = 99.0;
        p.metadata.insert("level".into(), "4".into());
        p.metadata.remove("user");
        p.hmac_secret = "new".into();
        let back = from_proto(&p, Some(&s));
        assert_eq!(back.rate, 99.0);
        assert_eq!(back.metadata["level"], json!("4"));
        assert_eq!(back.metadata["flags"], json!({"a": true}));
        assert!(!back.metadata.contains_key("user"));
        assert_eq!(back.extra["hmac_string"], json!("new"));
        assert_eq!(
            back.extra["access_rights"]["api1"]["limit"]["rate"],
            json!(5)
        );
        assert_eq!(back.extra["smoothing"], json!({"enabled": true}));
    }

    #[test]
    fn fresh_session_from_proto_is_small() {
        let p = pb::SessionState {
            rate: 5.0,
            per: 2.0,
            quota_max: 7,
            ..Default::default()
        };
        let s = from_proto(&p, None);
        assert_eq!((s.rate, s.per, s.quota_max), (5.0, 2.0, 7));
        assert!(s.extra.is_empty(), "{:?}", s.extra);
    }
}
