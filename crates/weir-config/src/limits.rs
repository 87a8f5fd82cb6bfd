//! Request size limits and enforced (hard) timeouts, read from either form.
//!
//! Classic: `version_data.versions.<v>.global_size_limit` (+ `_disabled`),
//! `global_enforce_timeout` (+ `_disabled`), and the `extended_paths` lists `size_limits` and
//! `hard_timeouts`. OAS: `middleware.global.requestSizeLimit`, `upstream.enforceTimeout`, and
//! the operations' `requestSizeLimit` and `enforceTimeout`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::endpoints::{
    EndpointKey, EndpointRules, Operations, classic_extended_paths, enabled, error_sink,
};
use crate::errors::ConfigError;

/// One `size_limits` entry (OAS: an operation's `requestSizeLimit`).
#[derive(Debug, Clone, PartialEq)]
pub struct SizeLimit {
    /// Where it applies.
    pub key: EndpointKey,
    /// Largest request body, in bytes.
    pub limit: u64,
}

/// One `hard_timeouts` entry (OAS: an operation's `enforceTimeout`).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointTimeout {
    /// Where it applies.
    pub key: EndpointKey,
    /// The time allowed for the upstream's response head; zero falls back to the API's
    /// enforced timeout, as in Tyk (an entry of 0 still shadows later entries).
    pub timeout: Duration,
}

/// API-wide limits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiLimits {
    /// `global_size_limit` (OAS `middleware.global.requestSizeLimit`): largest request body
    /// of every endpoint, in bytes; `None` when off.
    pub global_size_limit: Option<u64>,
    /// `global_enforce_timeout` (OAS `upstream.enforceTimeout`): the time allowed for the
    /// upstream's response head on endpoints without their own; `None` when off.
    pub enforce_timeout: Option<Duration>,
}

/// The version whose settings apply (the only one, else `Default`, `default` or ``), with
/// its field path.
fn classic_version(doc: &Value) -> Option<(String, &Value)> {
    let (name, v) = crate::endpoints::classic_version(doc)?;
    Some((format!("version_data.versions.{name}"), v))
}

/// Reads a classic definition's limits: the per-endpoint lists into `endpoints`, the
/// API-wide ones returned.
pub(crate) fn classic(
    doc: &Value,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) -> ApiLimits {
    let mut limits = ApiLimits::default();
    let mut err = error_sink(file, errors);
    if let Some((base, v)) = classic_version(doc) {
        let off = |k: &str| v.get(k).and_then(Value::as_bool) == Some(true);
        if let Some(n) = v.get("global_size_limit").filter(|n| !n.is_null()) {
            match bytes(n) {
                Ok(0) => {}
                Ok(n) if !off("global_size_limit_disabled") => limits.global_size_limit = Some(n),
                Ok(_) => {}
                Err(why) => err(format!("{base}.global_size_limit"), why),
            }
        }
        if let Some(t) = v.get("global_enforce_timeout").filter(|n| !n.is_null()) {
            match go_duration(t) {
                Ok(d) if !d.is_zero() && !off("global_enforce_timeout_disabled") => {
                    limits.enforce_timeout = Some(d);
                }
                Ok(_) => {}
                Err(why) => err(format!("{base}.global_enforce_timeout"), why),
            }
        }
    }
    let Some((base, paths)) = classic_extended_paths(doc) else {
        return limits;
    };
    for (i, e) in entries(paths, "size_limits") {
        let field = format!("{base}.size_limits[{i}]");
        let Some(key) = classic_key(e, &field, &mut err) else {
            continue;
        };
        match e.get("size_limit").map_or(Ok(0), bytes) {
            Ok(limit) => endpoints.size_limits.push(SizeLimit { key, limit }),
            Err(why) => err(format!("{field}.size_limit"), why),
        }
    }
    for (i, e) in entries(paths, "hard_timeouts") {
        let field = format!("{base}.hard_timeouts[{i}]");
        let Some(key) = classic_key(e, &field, &mut err) else {
            continue;
        };
        // `duration` (Go's form) wins over the older whole seconds of `timeout`, as in Tyk.
        let duration = e.get("duration").map_or(Ok(Duration::ZERO), go_duration);
        let timeout = match (duration, seconds(e.get("timeout"))) {
            (Err(why), _) => {
                err(format!("{field}.duration"), why);
                continue;
            }
            (_, Err(why)) => {
                err(format!("{field}.timeout"), why);
                continue;
            }
            (Ok(d), Ok(t)) => {
                if d.is_zero() {
                    t
                } else {
                    d
                }
            }
        };
        endpoints
            .hard_timeouts
            .push(EndpointTimeout { key, timeout });
    }
    limits
}

/// Reads an OAS definition's limits.
pub(crate) fn oas(
    doc: &Value,
    ops: &Operations,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) -> ApiLimits {
    const ROOT: &str = "x-tyk-api-gateway";
    let mut limits = ApiLimits::default();
    let mut err = error_sink(file, errors);
    let gw = doc.get(ROOT);
    let global = gw.and_then(|g| g.pointer("/middleware/global/requestSizeLimit"));
    if let Some(g) = global.filter(|g| enabled(g)) {
        match g.get("value").map_or(Ok(0), bytes) {
            Ok(0) => {}
            Ok(n) => limits.global_size_limit = Some(n),
            Err(why) => err(
                format!("{ROOT}.middleware.global.requestSizeLimit.value"),
                why,
            ),
        }
    }
    let upstream = gw.and_then(|g| g.pointer("/upstream/enforceTimeout"));
    if let Some(t) = upstream.filter(|t| enabled(t)) {
        match t.get("duration").map_or(Ok(Duration::ZERO), go_duration) {
            Ok(d) if !d.is_zero() => limits.enforce_timeout = Some(d),
            Ok(_) => {}
            Err(why) => err(format!("{ROOT}.upstream.enforceTimeout.duration"), why),
        }
    }
    let (found, _unknown) = ops.middleware(doc);
    for (id, key, block) in found {
        let field = format!("{ROOT}.middleware.operations.{id}");
        if let Some(s) = block.get("requestSizeLimit").filter(|s| enabled(s)) {
            match s.get("value").map_or(Ok(0), bytes) {
                Ok(limit) => endpoints.size_limits.push(SizeLimit {
                    key: key.clone(),
                    limit,
                }),
                Err(why) => err(format!("{field}.requestSizeLimit.value"), why),
            }
        }
        if let Some(t) = block.get("enforceTimeout").filter(|t| enabled(t)) {
            let duration = t.get("duration").map_or(Ok(Duration::ZERO), go_duration);
            match (duration, seconds(t.get("value"))) {
                (Err(why), _) => err(format!("{field}.enforceTimeout.duration"), why),
                (_, Err(why)) => err(format!("{field}.enforceTimeout.value"), why),
                (Ok(d), Ok(v)) => endpoints.hard_timeouts.push(EndpointTimeout {
                    key,
                    timeout: if d.is_zero() { v } else { d },
                }),
            }
        }
    }
    limits
}

/// The entries of `extended_paths.<list>` that are not `disabled`, with their index.
pub(crate) fn entries<'v>(paths: &'v Value, list: &str) -> Vec<(usize, &'v Value)> {
    paths
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, e)| e.get("disabled").and_then(Value::as_bool) != Some(true))
        .collect()
}

/// A classic entry's `path`, `method` and `ignore_case`; `None` (with an error) without a path.
pub(crate) fn classic_key(
    e: &Value,
    field: &str,
    err: &mut impl FnMut(String, String),
) -> Option<EndpointKey> {
    let path = e.get("path").and_then(Value::as_str).unwrap_or("");
    if path.is_empty() {
        err(format!("{field}.path"), "is required".into());
        return None;
    }
    Some(EndpointKey {
        path: path.to_string(),
        method: e
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase(),
        ignore_case: e.get("ignore_case").and_then(Value::as_bool) == Some(true),
    })
}

/// A byte count: a whole number that is not negative.
fn bytes(v: &Value) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("expected a number of bytes that is not negative, found {v}"))
}

/// Whole or fractional seconds that are not negative (absent = 0).
fn seconds(v: Option<&Value>) -> Result<Duration, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Duration::ZERO);
    };
    v.as_f64()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("expected a number of seconds that is not negative, found {v}"))
}

/// Go's duration form (`"1m30s"`, `"500ms"`, `"1.5h"`), as Tyk's readable durations are
/// written; an empty string is 0.
pub(crate) fn go_duration(v: &Value) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as \"5s\" or \"500ms\", found {v}");
    if v.is_null() {
        return Ok(Duration::ZERO);
    }
    let s = v.as_str().ok_or_else(bad)?.trim();
    if s.is_empty() || s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classic_of(version: Value) -> (EndpointRules, ApiLimits, Vec<ConfigError>) {
        let doc = json!({"version_data": {"versions": {"Default": version}}});
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        let limits = classic(&doc, Path::new("a.json"), &mut rules, &mut errors);
        (rules, limits, errors)
    }

    #[test]
    fn go_durations_parse() {
        let d = |s: &str| go_duration(&json!(s));
        assert_eq!(d("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(d("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(d("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(d("").unwrap(), Duration::ZERO);
        assert!(d("5").is_err());
        assert!(d("5 parsecs").is_err());
        assert!(go_duration(&json!(5)).is_err());
    }

    #[test]
    fn classic_limits_and_timeouts_are_read() {
        let (rules, limits, errors) = classic_of(json!({
            "use_extended_paths": true,
            "global_size_limit": 100,
            "global_enforce_timeout": "2s",
            "extended_paths": {
                "size_limits": [
                    {"path": "/up", "method": "post", "size_limit": 10},
                    {"path": "/off", "method": "POST", "size_limit": 1, "disabled": true}
                ],
                "hard_timeouts": [
                    {"path": "/a/{id}", "method": "GET", "timeout": 3},
                    {"path": "/b", "method": "GET", "timeout": 9, "duration": "250ms"}
                ]
            }
        }));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(limits.global_size_limit, Some(100));
        assert_eq!(limits.enforce_timeout, Some(Duration::from_secs(2)));
        assert_eq!(rules.size_limits.len(), 1);
        assert_eq!(rules.size_limits[0].key.method, "POST");
        assert_eq!(rules.hard_timeouts[0].timeout, Duration::from_secs(3));
        assert_eq!(rules.hard_timeouts[1].timeout, Duration::from_millis(250));
    }

    #[test]
    fn disabled_globals_are_off() {
        let (_, limits, errors) = classic_of(json!({
            "global_size_limit": 100, "global_size_limit_disabled": true,
            "global_enforce_timeout": "2s", "global_enforce_timeout_disabled": true
        }));
        assert!(errors.is_empty());
        assert_eq!(limits, ApiLimits::default());
    }

    #[test]
    fn bad_values_name_their_field() {
        let (_, _, errors) = classic_of(json!({
            "use_extended_paths": true,
            "global_enforce_timeout": 5,
            "extended_paths": {"size_limits": [{"path": "/x", "size_limit": -1}],
                               "hard_timeouts": [{"method": "GET", "timeout": 1}]}
        }));
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "version_data.versions.Default.global_enforce_timeout",
                "version_data.versions.Default.extended_paths.size_limits[0].size_limit",
                "version_data.versions.Default.extended_paths.hard_timeouts[0].path",
            ]
        );
    }

    #[test]
    fn oas_limits_come_from_operations_and_globals() {
        let doc = json!({
            "paths": {"/items/{id}": {"put": {"operationId": "putItem"}}},
            "x-tyk-api-gateway": {
                "upstream": {"enforceTimeout": {"enabled": true, "duration": "1s"}},
                "middleware": {
                    "global": {"requestSizeLimit": {"enabled": true, "value": 50}},
                    "operations": {"putItem": {
                        "requestSizeLimit": {"enabled": true, "value": 5},
                        "enforceTimeout": {"enabled": true, "value": 2}
                    }}
                }
            }
        });
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        let ops = Operations::of(&doc);
        let limits = oas(&doc, &ops, Path::new("a.json"), &mut rules, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(limits.global_size_limit, Some(50));
        assert_eq!(limits.enforce_timeout, Some(Duration::from_secs(1)));
        assert_eq!(rules.size_limits[0].limit, 5);
        assert_eq!(rules.size_limits[0].key.path, "/items/{id}");
        assert_eq!(rules.hard_timeouts[0].timeout, Duration::from_secs(2));
    }
}
