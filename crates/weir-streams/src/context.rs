//! `$tyk_context.*` placeholders in a stream's config, substituted per request as Tyk does,
//! and `${VAR:default}` environment references, substituted once at load as Bento does.

use std::collections::HashMap;
use std::net::IpAddr;

use regex::Regex;
use serde_json::Value;

use crate::error::StreamError;

const CONTEXT_PREFIX: &str = "$tyk_context.";

/// Keys whose value is Bloblang source: a substituted value is escaped as the inside of a
/// Bloblang string literal there, so a query parameter cannot inject code into a mapping.
const BLOBLANG_KEYS: &[&str] = &["mapping", "mutation", "bloblang", "check"];

/// The request data a stream config's `$tyk_context.*` placeholders may name.
#[derive(Debug, Default, Clone)]
pub struct RequestContext {
    vars: HashMap<String, String>,
}

impl RequestContext {
    /// Collects Tyk's context variables from a request: `request_data_<param>` (query
    /// parameters), `headers_<Header_Name>` (dashes as underscores), `cookies_<name>`,
    /// `path`, `path_parts`, `remote_addr`, `request_id`, `request_method`.
    pub fn from_request(parts: &http::request::Parts, remote: IpAddr, request_id: &str) -> Self {
        let mut vars = HashMap::new();
        let mut data = serde_json::Map::new();
        if let Some(q) = parts.uri.query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                let key = format!("request_data_{k}");
                vars.entry(key).or_insert_with(|| v.to_string());
                if let Some(values) = data
                    .entry(k.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                {
                    values.push(Value::String(v.to_string()));
                }
            }
        }
        vars.insert("request_data".into(), Value::Object(data).to_string());
        for (name, value) in &parts.headers {
            let Ok(value) = value.to_str() else { continue };
            let key = format!("headers_{}", canonical_underscored(name.as_str()));
            vars.entry(key).or_insert_with(|| value.to_string());
            if name == http::header::COOKIE {
                for pair in value.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=') {
                        vars.entry(format!("cookies_{k}"))
                            .or_insert_with(|| v.to_string());
                    }
                }
            }
        }
        let path = parts.uri.path();
        vars.insert("path".into(), path.to_string());
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        vars.insert("path_parts".into(), format!("[{}]", segments.join(" ")));
        vars.insert("remote_addr".into(), remote.to_string());
        vars.insert("request_id".into(), request_id.to_string());
        vars.insert("request_method".into(), parts.method.to_string());
        RequestContext { vars }
    }

    /// Adds or replaces one variable (for claims and other data later phases supply).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// A variable's value; a missing variable is empty, as in Tyk.
    pub fn get(&self, name: &str) -> &str {
        self.vars.get(name).map(String::as_str).unwrap_or("")
    }
}

/// `Content-Type` → `Content_Type`, as Tyk names header variables (the canonical name with
/// `-` replaced).
fn canonical_underscored(name: &str) -> String {
    weir_core::headers::canonical(name).replace('-', "_")
}

/// True when any string in `value` holds a `$tyk_context.` placeholder.
pub fn is_templated(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains(CONTEXT_PREFIX),
        Value::Array(a) => a.iter().any(is_templated),
        Value::Object(m) => m.values().any(is_templated),
        _ => false,
    }
}

fn placeholder() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\$tyk_context\.([A-Za-z0-9_\-.]+)").expect("static regex"))
}

/// A copy of `value` with every `$tyk_context.<name>` replaced from `ctx`.
pub fn substitute(value: &Value, ctx: &RequestContext) -> Value {
    substitute_in(value, ctx, false)
}

fn substitute_in(value: &Value, ctx: &RequestContext, bloblang: bool) -> Value {
    match value {
        Value::String(s) if s.contains(CONTEXT_PREFIX) => {
            let out = placeholder().replace_all(s, |caps: &regex::Captures<'_>| {
                // Tyk's variable names stop at a dot; a trailing '.' belongs to the text.
                let full = &caps[1];
                let name = full.trim_end_matches('.');
                let tail = &full[name.len()..];
                let v = ctx.get(name);
                let v = if bloblang {
                    escape_bloblang(v)
                } else {
                    v.to_string()
                };
                format!("{v}{tail}")
            });
            Value::String(out.into_owned())
        }
        Value::Array(a) => {
            Value::Array(a.iter().map(|v| substitute_in(v, ctx, bloblang)).collect())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let code = bloblang || BLOBLANG_KEYS.contains(&k.as_str());
                    (k.clone(), substitute_in(v, ctx, code))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The inside of a Bloblang double-quoted string holding `s` (escaped as in JSON).
fn escape_bloblang(s: &str) -> String {
    weir_core::escape::json_string(s)
}

fn env_reference() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}").expect("static regex")
    })
}

/// Replaces Bento's `${VAR}` / `${VAR:default}` environment references in every string of
/// `value` (`${! … }` interpolations are left alone). A variable that is unset and has no
/// default is an error naming it, rather than an empty value nobody asked for.
pub fn substitute_env(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), StreamError> {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut missing = None;
            let out = env_reference().replace_all(s, |caps: &regex::Captures<'_>| {
                match (env(&caps[1]), caps.get(2)) {
                    (Some(v), _) => v,
                    (None, Some(default)) => default.as_str().to_string(),
                    (None, None) => {
                        missing.get_or_insert_with(|| caps[1].to_string());
                        String::new()
                    }
                }
            });
            if let Some(name) = missing {
                return Err(StreamError::new(
                    path,
                    format!(
                        "environment variable `{name}` is not set and has no default (write `${{{name}:default}}`)"
                    ),
                ));
            }
            *s = out.into_owned();
            Ok(())
        }
        Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                substitute_env(v, &format!("{path}[{i}]"), env)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                substitute_env(v, &format!("{path}.{k}"), env)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(query: &str) -> RequestContext {
        let req = http::Request::get(format!("http://h/p?{query}"))
            .header("x-tenant-id", "t1")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        RequestContext::from_request(&parts, "127.0.0.1".parse().unwrap(), "rid")
    }

    #[test]
    fn placeholders_are_replaced_per_request() {
        let cfg = json!({"input": {"kafka": {"consumer_group": "$tyk_context.request_data_user"}},
            "x": "t=$tyk_context.headers_X_Tenant_Id."});
        let out = substitute(&cfg, &ctx("user=alice"));
        assert_eq!(out["input"]["kafka"]["consumer_group"], "alice");
        assert_eq!(out["x"], "t=t1.");
        let out = substitute(&cfg, &ctx("other=1"));
        assert_eq!(out["input"]["kafka"]["consumer_group"], "");
        assert!(is_templated(&cfg));
    }

    #[test]
    fn values_cannot_escape_a_bloblang_string() {
        let cfg = json!({"mapping": "root.u = \"$tyk_context.request_data_user\""});
        let out = substitute(&cfg, &ctx("user=a%22%20%2B%20env(%22HOME%22)%20%2B%20%22"));
        assert_eq!(
            out["mapping"],
            "root.u = \"a\\\" + env(\\\"HOME\\\") + \\\"\""
        );
    }

    #[test]
    fn env_references() {
        let mut v =
            json!({"a": "${BROKER:localhost:9092}", "b": "${! meta(\"x\") }", "c": "${SET}"});
        let env = |k: &str| (k == "SET").then(|| "yes".to_string());
        substitute_env(&mut v, "streams.s", &env).unwrap();
        assert_eq!(
            v,
            json!({"a": "localhost:9092", "b": "${! meta(\"x\") }", "c": "yes"})
        );
        let mut v = json!({"a": "${UNSET_X}"});
        let e = substitute_env(&mut v, "streams.s", &env).unwrap_err();
        assert_eq!(e.path, "streams.s.a");
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_default_is_used_when_unset() {
        let env = env_of(&[]);
        let mut v = json!({"addresses": ["${BROKER:localhost:9092}"], "group": "${GROUP:}"});
        substitute_env(&mut v, "s", &env).unwrap();
        assert_eq!(v, json!({"addresses": ["localhost:9092"], "group": ""}));
    }

    #[test]
    fn a_set_variable_wins_over_its_default() {
        let env = env_of(&[("BROKER", "kafka:9093"), ("TOPIC", "orders")]);
        let mut v = json!({"a": "${BROKER:localhost:9092}", "b": "t-${TOPIC}-${TOPIC}", "n": 5});
        substitute_env(&mut v, "s", &env).unwrap();
        assert_eq!(
            v,
            json!({"a": "kafka:9093", "b": "t-orders-orders", "n": 5})
        );
    }

    #[test]
    fn a_set_but_empty_variable_is_used_as_is() {
        let env = env_of(&[("EMPTY", "")]);
        let mut v = json!("[${EMPTY:fallback}]");
        substitute_env(&mut v, "s", &env).unwrap();
        assert_eq!(v, json!("[]"));
    }

    #[test]
    fn an_unset_variable_without_default_is_an_error_naming_the_path() {
        let env = env_of(&[("SET", "x")]);
        let mut v = json!({"input": {"kafka": {"addresses": ["${SET}", "${MISSING_BROKER}"]}}});
        let before = v.clone();
        let e = substitute_env(&mut v, "x-tyk-streaming.streams.S", &env).unwrap_err();
        assert_eq!(e.path, "x-tyk-streaming.streams.S.input.kafka.addresses[1]");
        assert!(e.reason.contains("`MISSING_BROKER`"), "{}", e.reason);
        assert!(
            e.reason.contains("${MISSING_BROKER:default}"),
            "{}",
            e.reason
        );
        assert_eq!(
            v["input"]["kafka"]["addresses"][1],
            before["input"]["kafka"]["addresses"][1]
        );
    }

    #[test]
    fn interpolations_and_non_references_are_left_alone() {
        let env = env_of(&[("X", "x")]);
        let mut v = json!({"a": "${! @topic }", "b": "$X and {X}", "c": "${1X}", "d": true});
        let before = v.clone();
        substitute_env(&mut v, "s", &env).unwrap();
        assert_eq!(v, before);
    }

    #[test]
    fn context_values_in_a_check_are_escaped_as_bloblang() {
        let cfg = json!({"output": {"switch": {"cases": [
            {"check": "this.user == \"$tyk_context.request_data_user\"", "output": {"drop": {}}},
        ]}}, "label": "$tyk_context.request_data_user"});
        let out = substitute(&cfg, &ctx("user=a%22b"));
        assert_eq!(
            out["output"]["switch"]["cases"][0]["check"],
            "this.user == \"a\\\"b\""
        );
        assert_eq!(out["label"], "a\"b", "outside Bloblang the value is raw");
    }
}
