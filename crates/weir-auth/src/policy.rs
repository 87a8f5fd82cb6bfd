//! Tyk security policies (`user/policy.go`): the policy object with Tyk's JSON field names, the
//! set of policies a gateway holds, read from Tyk's two file formats, and how a key's session
//! takes its rights and limits from the policies it names ([`apply`], after Tyk's
//! `internal/policy/apply.go`).
//!
//! Files, as Tyk reads them with `policies.policy_source: "file"` (gateway/server.go
//! `syncPolicies`): with `policy_path` set, every `*.json` file in that directory holds one
//! policy object (the layout the control API writes, `<id>.json`); otherwise
//! `policy_record_name` names one file holding a JSON object keyed by policy id.
//! [`Policies::from_file`] reads either, by whether the path is a directory.

mod apply;
mod limits;
mod merge;

pub use apply::apply;
pub use limits::{Limits, limits_for, trial_expiry};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::session::AccessDefinition;

/// One policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// The id keys name in `apply_policies`.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The organisation; a policy applies only to keys of its own organisation.
    pub org_id: String,
    /// Requests allowed per `per` seconds (-1: unlimited).
    pub rate: f64,
    /// The rate window, in seconds.
    pub per: f64,
    /// Requests allowed per quota period (-1: unlimited).
    pub quota_max: i64,
    /// The quota period, in seconds.
    pub quota_renewal_rate: i64,
    /// Seconds between retries when throttling instead of refusing.
    pub throttle_interval: f64,
    /// How many times a throttled request is retried.
    pub throttle_retry_limit: i64,
    /// GraphQL query depth (-1: unlimited).
    pub max_query_depth: i64,
    /// Per API: what keys with this policy may reach, and per-API limits.
    #[serde(deserialize_with = "null_as_default")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// Keys with this policy sign requests with HMAC.
    pub hmac_enabled: bool,
    /// Keys with this policy need HTTP signatures.
    pub enable_http_signature_validation: bool,
    /// Shown as active in the dashboard (not read by the gateway).
    pub active: bool,
    /// Keys with this policy are refused as inactive.
    pub is_inactive: bool,
    /// Tags added to keys with this policy.
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Seconds a new key with this policy lives (0: no forced expiry).
    pub key_expires_in: i64,
    /// What happens to an expired key (`retain` or `delete`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub post_expiry_action: String,
    /// Seconds an expired key is kept.
    pub post_expiry_grace_period: i64,
    /// Which parts of the policy apply.
    #[serde(deserialize_with = "null_as_default")]
    pub partitions: Partitions,
    /// When the policy last changed.
    pub last_updated: String,
    /// Metadata merged into keys with this policy.
    #[serde(deserialize_with = "null_as_default")]
    pub meta_data: BTreeMap<String, Value>,
    /// Rate limit smoothing settings, as given.
    pub smoothing: Option<Value>,
    /// Every other field (`_id`, `graphql_access_rights`, …), as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `partitions`: which parts of a policy apply. None of quota, rate_limit, acl and complexity
/// set means the whole policy; `per_api` instead puts each API's limits on its access right.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Partitions {
    /// The quota.
    pub quota: bool,
    /// The rate limit and throttling.
    pub rate_limit: bool,
    /// GraphQL query depth.
    pub complexity: bool,
    /// Access rights.
    pub acl: bool,
    /// Per-API limits (exclusive with the others).
    pub per_api: bool,
    /// Every other field, as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl Partitions {
    /// True when the policy is partitioned (`per_api` does not count, as in Tyk).
    pub fn enabled(&self) -> bool {
        self.quota || self.rate_limit || self.acl || self.complexity
    }
}

/// `access_rights.<api>.limit`: an API's own limits, which override the session's.
/// Zero fields are left out when written, as Tyk writes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiLimit {
    /// Requests allowed per `per` seconds.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub rate: f64,
    /// The rate window, in seconds.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub per: f64,
    /// Rate limit smoothing settings, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Value>,
    /// Seconds between retries when throttling.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub throttle_interval: f64,
    /// How many times a throttled request is retried.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub throttle_retry_limit: i64,
    /// GraphQL query depth.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_query_depth: i64,
    /// Requests allowed per quota period (-1: unlimited).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_max: i64,
    /// When the quota renews (Unix seconds).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renews: i64,
    /// Requests left in the quota period.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_remaining: i64,
    /// The quota period, in seconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub quota_renewal_rate: i64,
    /// Every other field, as received.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl ApiLimit {
    /// Tyk's `IsEmpty`: no rate, throttle, depth or quota value set. An empty limit means "use
    /// the session's".
    pub fn is_empty(&self) -> bool {
        self.rate == 0.0
            && self.per == 0.0
            && self.throttle_interval == 0.0
            && self.throttle_retry_limit == 0
            && self.max_query_depth == 0
            && self.quota_max == 0
            && self.quota_renews == 0
            && self.quota_remaining == 0
            && self.quota_renewal_rate == 0
    }
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// Reads `null` as the type's default: Go writes nil lists and maps as `null`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why policies could not be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not valid policy JSON.
    #[error("{}: {}{}{message}", path.display(),
        id.as_ref().map(|i| format!("policy {i:?}: ")).unwrap_or_default(),
        if field.is_empty() { String::new() } else { format!("field {field}: ") })]
    Parse {
        /// The file.
        path: PathBuf,
        /// The policy, when known.
        id: Option<String>,
        /// Where in the policy (`access_rights.api1.versions`), empty at the top.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A policy without an id (nor a Mongo `_id`), so no key could name it.
    #[error("{}: a policy has no id", path.display())]
    MissingId {
        /// The file.
        path: PathBuf,
    },
    /// Two files in a policy directory hold the same id.
    #[error("policy {id:?} is in both {} and {}", first.display(), second.display())]
    DuplicateId {
        /// The id.
        id: String,
        /// The file read first.
        first: PathBuf,
        /// The file read second.
        second: PathBuf,
    },
    /// A session names a policy that does not exist in its organisation (Tyk's words).
    #[error("policy not found: {id:?}")]
    NotFound {
        /// The id.
        id: String,
    },
    /// The policy belongs to another organisation than the API's.
    #[error("attempting to apply policy {id:?} from different organisation to key")]
    OtherOrg {
        /// The id.
        id: String,
    },
    /// A policy sets `per_api` together with a partition (Tyk's words).
    #[error("cannot apply policy {id} which has per_api and any of partitions set")]
    PerApiWithPartitions {
        /// The id.
        id: String,
    },
    /// A session mixes per-API and partitioned policies (Tyk's words).
    #[error("cannot apply multiple policies when some have per_api set and some are partitioned")]
    MixedPerApiAndPartitions,
    /// The policies leave the key with no API to reach (Tyk's words).
    #[error("key has no valid policies to be applied")]
    NoValidPolicies,
}

/// The policies a gateway holds, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policies {
    by_id: BTreeMap<String, Policy>,
}

impl Policies {
    /// No policies.
    pub fn new() -> Policies {
        Policies::default()
    }

    /// Reads Tyk's file-based policies: a directory (`policy_path`) holds one policy per
    /// `*.json` file; a file (`policy_record_name`) holds an object keyed by id. Unlike Tyk,
    /// which logs a file it cannot read and goes on, any bad file is an error, so a typo does
    /// not silently leave keys without their policy.
    pub fn from_file(path: &Path) -> Result<Policies, PolicyError> {
        let io = |source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if std::fs::metadata(path).map_err(io)?.is_dir() {
            Policies::from_dir(path)
        } else {
            let text = std::fs::read_to_string(path).map_err(io)?;
            Policies::parse_record(&text, path)
        }
    }

    /// Reads a policy record: a JSON object keyed by policy id (the key wins over an `id`
    /// field, as in Tyk).
    pub fn from_json(text: &str) -> Result<Policies, PolicyError> {
        Policies::parse_record(text, Path::new("<json>"))
    }

    fn parse_record(text: &str, path: &Path) -> Result<Policies, PolicyError> {
        let map: BTreeMap<String, Policy> = parse(text, path, true)?;
        let mut out = Policies::new();
        for (key, mut policy) in map {
            if !key.is_empty() {
                policy.id = key;
            }
            out.insert(policy).map_err(|_| PolicyError::MissingId {
                path: path.to_path_buf(),
            })?;
        }
        Ok(out)
    }

    fn from_dir(dir: &Path) -> Result<Policies, PolicyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PolicyError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            // Tyk globs `*.json` (case-sensitive, any leading dot).
            let json = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json"));
            if json && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut out = Policies::new();
        let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let policy: Policy = parse(&text, &path, false)?;
            let id = out
                .insert(policy)
                .map_err(|_| PolicyError::MissingId { path: path.clone() })?;
            if let Some(first) = origin.insert(id.clone(), path.clone()) {
                return Err(PolicyError::DuplicateId {
                    id,
                    first,
                    second: path,
                });
            }
        }
        Ok(out)
    }

    /// The policy with this id, whatever its organisation (the control API's view).
    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.by_id.get(id)
    }

    /// The policy with this id in organisation `org`: how keys find their policies, so a key
    /// never picks up another organisation's policy.
    pub fn get_in_org(&self, org: &str, id: &str) -> Option<&Policy> {
        self.get(id).filter(|p| p.org_id == org)
    }

    /// Adds or replaces a policy, returning its id. A policy without `id` takes a Mongo `_id`
    /// (24 hex digits) when it has one, as Tyk does; with neither it is refused (`Err` gives
    /// it back).
    pub fn insert(&mut self, mut policy: Policy) -> Result<String, Box<Policy>> {
        if policy.id.is_empty() {
            match policy.rest.get("_id").and_then(Value::as_str) {
                Some(oid) if oid.len() == 24 && oid.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    policy.id = oid.to_string();
                }
                _ => return Err(Box::new(policy)),
            }
        }
        let id = policy.id.clone();
        self.by_id.insert(id.clone(), policy);
        Ok(id)
    }

    /// Removes a policy.
    pub fn remove(&mut self, id: &str) -> Option<Policy> {
        self.by_id.remove(id)
    }

    /// The ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every policy as a JSON array, as `GET /tyk/policies` lists them.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.by_id
                .values()
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .collect(),
        )
    }
}

/// Parses `text`, naming the field that fails; `keyed`: the first path segment is the policy
/// id (the record format).
fn parse<T: DeserializeOwned>(text: &str, path: &Path, keyed: bool) -> Result<T, PolicyError> {
    let fail = |id: Option<String>, field: String, message: String| PolicyError::Parse {
        path: path.to_path_buf(),
        id,
        field,
        message,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let mut segments: Vec<String> = err.path().iter().map(|s| s.to_string()).collect();
        let id = if keyed && !segments.is_empty() {
            Some(segments.remove(0))
        } else {
            // One policy per file: its id, if the file is JSON enough to say.
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_string))
        };
        let field = segments.join(".").replace(".[", "[");
        fail(id, field, err.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| fail(None, String::new(), e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests;
