//! The session object Tyk keeps per key (`user/session.go`), with its JSON field names. Fields
//! Weir does not read yet are kept as they came (`rest`), so a session written through the
//! control API reads back unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One key's session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// Requests allowed per `per` seconds (0 or less: no limit).
    pub rate: f64,
    /// The rate window, in seconds.
    pub per: f64,
    /// Tyk's remaining allowance (reported, not used by Weir's limiter).
    pub allowance: f64,
    /// Requests allowed per quota period (-1: no quota).
    pub quota_max: i64,
    /// When the quota renews (Unix seconds).
    pub quota_renews: i64,
    /// Requests left in the quota period.
    pub quota_remaining: i64,
    /// The quota period, in seconds.
    pub quota_renewal_rate: i64,
    /// When the key expires (Unix seconds; 0 or -1: never).
    pub expires: i64,
    /// A key marked inactive is refused.
    pub is_inactive: bool,
    /// The organisation.
    pub org_id: String,
    /// Per API: what the key may reach.
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// Policies merged into the session (older Tyk writes an empty list as `null`).
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub apply_policies: Vec<String>,
    /// Free-form metadata (`$tyk_meta`).
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub meta_data: BTreeMap<String, Value>,
    /// Tags (analytics, policies).
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub tags: Vec<String>,
    /// A display name for the key.
    pub alias: String,
    /// When the session was last changed (Unix seconds, as a string in Tyk's JSON).
    pub last_updated: String,
    /// When the key was created (RFC 3339).
    pub date_created: Value,
    /// A basic-auth user's password (left out when empty, as Tyk writes it).
    #[serde(skip_serializing_if = "crate::basic::BasicAuthData::is_empty")]
    pub basic_auth_data: crate::basic::BasicAuthData,
    /// Every other field, as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `access_rights.<api_id>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDefinition {
    /// The API's name.
    pub api_name: String,
    /// The API's id.
    pub api_id: String,
    /// Versions the key may use.
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub versions: Vec<String>,
    /// Paths (regular expressions) and methods the key may use; empty: all.
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub allowed_urls: Vec<AccessSpec>,
    /// Per-API limits (from policies), overriding the session's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<crate::policy::ApiLimit>,
    /// Every other field, as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `allowed_urls[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessSpec {
    /// A regular expression on the path.
    pub url: String,
    /// Methods allowed on it.
    #[serde(deserialize_with = "crate::policy::null_as_default")]
    pub methods: Vec<String>,
}

impl Session {
    /// The first setting of the session (policies applied) that Weir does not build, with
    /// what it is, so the key is refused rather than served without it.
    pub fn unbuilt(&self) -> Option<(String, &'static str)> {
        let on = |v: Option<&Value>| {
            v.is_some_and(|v| match v {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n > 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => o.get("enabled").is_some_and(|e| e == true),
                Value::Null => false,
            })
        };
        let root: [(&str, &'static str); 4] = [
            (
                "throttle_retry_limit",
                "throttling (retrying instead of answering 429)",
            ),
            ("smoothing", "rate limit smoothing"),
            ("hmac_enabled", "HMAC request signatures"),
            ("certificate", "keys bound to a client certificate"),
        ];
        for (field, what) in root {
            if on(self.rest.get(field)) {
                return Some((field.to_string(), what));
            }
        }
        if self
            .rest
            .get("monitor")
            .and_then(|m| m.get("trigger_limits"))
            .is_some_and(|t| on(Some(t)))
        {
            return Some(("monitor.trigger_limits".into(), "quota monitors"));
        }
        for (api, rights) in &self.access_rights {
            if on(rights.rest.get("endpoints")) {
                return Some((
                    format!("access_rights.{api}.endpoints"),
                    "per-endpoint rate limits",
                ));
            }
            if let Some(limit) = &rights.limit {
                if limit.throttle_retry_limit > 0 {
                    return Some((
                        format!("access_rights.{api}.limit.throttle_retry_limit"),
                        "throttling (retrying instead of answering 429)",
                    ));
                }
                if on(limit.smoothing.as_ref()) {
                    return Some((
                        format!("access_rights.{api}.limit.smoothing"),
                        "rate limit smoothing",
                    ));
                }
            }
        }
        None
    }

    /// True when the key has expired at `now` (Unix seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires > 0 && self.expires < now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tyk_session_reads_and_writes_back_unchanged() {
        let v = json!({
            "rate": 10.0, "per": 1.0, "quota_max": 1000, "quota_renewal_rate": 3600,
            "expires": 0, "org_id": "default",
            "access_rights": {"api1": {"api_id": "api1", "api_name": "x", "versions": ["Default"],
                               "allowed_urls": [{"url": "/users.*", "methods": ["GET"]}],
                               "allowance_scope": "api1"}},
            "meta_data": {"tier": "gold"}, "tags": ["t"], "hmac_enabled": false,
            "smoothing": {"enabled": false}
        });
        let s: Session = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.rate, 10.0);
        assert_eq!(s.access_rights["api1"].allowed_urls[0].methods, ["GET"]);
        assert_eq!(s.rest["hmac_enabled"], false);
        assert_eq!(s.access_rights["api1"].rest["allowance_scope"], "api1");
        let back = serde_json::to_value(&s).unwrap();
        for (k, want) in v.as_object().unwrap() {
            assert_eq!(&back[k], want, "{k}");
        }
    }

    #[test]
    fn settings_weir_does_not_build_are_named() {
        let s: Session = serde_json::from_value(json!({"throttle_retry_limit": 0,
            "smoothing": {"enabled": false}, "hmac_enabled": false}))
        .unwrap();
        assert_eq!(s.unbuilt(), None);
        let s: Session = serde_json::from_value(json!({"throttle_retry_limit": 3})).unwrap();
        assert_eq!(s.unbuilt().unwrap().0, "throttle_retry_limit");
        let s: Session = serde_json::from_value(json!({"access_rights": {"a": {
            "endpoints": [{"path": "/x", "methods": [{"name": "GET", "limit": {"rate": 1, "per": 1}}]}]}}}))
        .unwrap();
        assert_eq!(s.unbuilt().unwrap().0, "access_rights.a.endpoints");
    }

    #[test]
    fn expiry_zero_and_negative_mean_never() {
        let mut s = Session::default();
        assert!(!s.expired_at(i64::MAX));
        s.expires = -1;
        assert!(!s.expired_at(i64::MAX));
        s.expires = 100;
        assert!(s.expired_at(101));
        assert!(!s.expired_at(100));
    }
}
