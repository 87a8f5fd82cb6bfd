//! URL rewrites (Tyk's `extended_paths.url_rewrites`, OAS `operations.<id>.urlRewrite`), read
//! from either form into one model: the classic one, which Tyk converts OAS into
//! (apidef/oas/url_rewrite.go `ExtractTo`).
//!
//! Patterns are kept as written; the proxy compiles them once per load and refuses a bad one
//! naming the field recorded here.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::endpoints::{EndpointKey, Operations};
use crate::errors::ConfigError;

/// One URL rewrite: where it applies, the basic pattern and target, and the triggers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UrlRewrite {
    /// The endpoint (path pattern and method) the rewrite applies to.
    pub key: EndpointKey,
    /// `match_pattern` / `pattern`: a regular expression over the request's URL (path with
    /// the listen path, and query); `$1`… in the targets are its groups.
    pub match_pattern: String,
    /// `rewrite_to` / `rewriteTo`: the new URL when no trigger fires.
    pub rewrite_to: String,
    /// `triggers`, checked in order; the first that fires supplies the target.
    pub triggers: Vec<Trigger>,
    /// The entry's field path, for errors found when compiling
    /// (`…extended_paths.url_rewrites[0]`, `…operations.<id>.urlRewrite`).
    pub field: String,
    /// The names the fields have in this form (classic or OAS).
    pub names: FieldNames,
}

/// Field names as the definition's form spells them, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldNames {
    /// `match_pattern` or `pattern`.
    pub pattern: &'static str,
    /// `rewrite_to` or `rewriteTo`.
    pub rewrite_to: &'static str,
}

const CLASSIC_NAMES: FieldNames = FieldNames {
    pattern: "match_pattern",
    rewrite_to: "rewrite_to",
};
const OAS_NAMES: FieldNames = FieldNames {
    pattern: "pattern",
    rewrite_to: "rewriteTo",
};

/// How a trigger combines its options (`on` / `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerMode {
    /// `any`: one option kind matching is enough.
    Any,
    /// `all` (Tyk's reading of anything but `any`): every option kind must match.
    #[default]
    All,
}

/// An advanced trigger.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trigger {
    /// `on` / `condition`.
    pub mode: TriggerMode,
    /// The rules, by kind (Tyk's `options`).
    pub options: TriggerOptions,
    /// `rewrite_to` / `rewriteTo`: the target when the trigger fires.
    pub rewrite_to: String,
    /// The trigger's field path, for errors.
    pub field: String,
}

/// A trigger's rules, grouped by what they read, as Tyk's `RoutingTriggerOptions`. Each map
/// is keyed by the name the rule reads (header, query parameter, metadata key, …).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TriggerOptions {
    /// `header_matches` / `in: header`.
    pub header: BTreeMap<String, Rule>,
    /// `query_val_matches` / `in: query`.
    pub query: BTreeMap<String, Rule>,
    /// `path_part_matches` / `in: path`: matched against each segment of the path.
    pub path_part: BTreeMap<String, Rule>,
    /// `session_meta_matches` / `in: sessionMetadata`.
    pub session_meta: BTreeMap<String, Rule>,
    /// `request_context_matches` / `in: requestContext`.
    pub request_context: BTreeMap<String, Rule>,
    /// `payload_matches` / `in: requestBody`; Tyk checks it only when its pattern is not empty.
    pub payload: Option<Rule>,
}

/// One rule: a pattern and whether it is inverted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    /// `match_rx` / `pattern`.
    pub pattern: String,
    /// `reverse` / `negate`: the rule holds when the pattern does not match.
    pub reverse: bool,
    /// Field path of the pattern, for errors.
    pub field: String,
}

/// Reads the classic `url_rewrites` list under `extended_paths` (at `base`).
pub fn classic(
    extended_paths: &Value,
    base: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<UrlRewrite> {
    let field = format!("{base}.url_rewrites");
    let list = match extended_paths.get("url_rewrites") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            errors.push(ConfigError::new(file, field, "must be a list"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let mut r = Reader::new(file, errors);
        if r.bool(entry, &at, "disabled") {
            continue;
        }
        let path = r.string(entry, &at, "path");
        let method = r.string(entry, &at, "method").trim().to_ascii_uppercase();
        if path.trim().is_empty() {
            r.fail(format!("{at}.path"), "is required");
        }
        if method.is_empty() {
            // Tyk compares the method exactly, so an entry without one never applies.
            r.fail(
                format!("{at}.method"),
                "is required (Tyk never applies a rewrite without a method)",
            );
        }
        let rewrite = UrlRewrite {
            key: EndpointKey {
                path: path.trim().to_string(),
                method,
                ignore_case: false,
            },
            match_pattern: r.string(entry, &at, "match_pattern"),
            rewrite_to: r.string(entry, &at, "rewrite_to"),
            triggers: classic_triggers(entry, &at, &mut r),
            field: at,
            names: CLASSIC_NAMES,
        };
        out.push(rewrite);
    }
    out
}

fn classic_triggers(entry: &Value, at: &str, r: &mut Reader<'_>) -> Vec<Trigger> {
    let Some(list) = r.list(entry, at, "triggers") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (t, trigger) in list.iter().enumerate() {
        let at = format!("{at}.triggers[{t}]");
        let mode = match r.string(trigger, &at, "on").as_str() {
            "any" => TriggerMode::Any,
            "all" | "" => TriggerMode::All,
            other => {
                r.fail(
                    format!("{at}.on"),
                    format!("expected any or all, found `{other}`"),
                );
                continue;
            }
        };
        let opts_at = format!("{at}.options");
        let options = match trigger.get("options") {
            None | Some(Value::Null) => TriggerOptions::default(),
            Some(o @ Value::Object(_)) => classic_options(o, &opts_at, r),
            Some(_) => {
                r.fail(opts_at, "must be an object");
                continue;
            }
        };
        out.push(Trigger {
            mode,
            options,
            rewrite_to: r.string(trigger, &at, "rewrite_to"),
            field: at,
        });
    }
    out
}

fn classic_options(o: &Value, at: &str, r: &mut Reader<'_>) -> TriggerOptions {
    let map = |name: &str, r: &mut Reader<'_>| {
        let mut out = BTreeMap::new();
        let field = format!("{at}.{name}");
        match o.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (key, v) in m {
                    if let Some(rule) = r.rule(v, &format!("{field}.{key}")) {
                        out.insert(key.clone(), rule);
                    }
                }
            }
            Some(_) => r.fail(field, "must be an object of name → {match_rx, reverse}"),
        }
        out
    };
    let header = map("header_matches", r);
    let query = map("query_val_matches", r);
    let path_part = map("path_part_matches", r);
    let session_meta = map("session_meta_matches", r);
    let request_context = map("request_context_matches", r);
    let payload = match o.get("payload_matches") {
        None | Some(Value::Null) => None,
        Some(v) => r
            .rule(v, &format!("{at}.payload_matches"))
            .filter(|rule| !rule.pattern.is_empty()),
    };
    TriggerOptions {
        header,
        query,
        path_part,
        session_meta,
        request_context,
        payload,
    }
}

/// Reads `urlRewrite` from each OAS operation, in the order of `paths`' operations.
pub fn oas(doc: &Value, file: &Path, errors: &mut Vec<ConfigError>) -> Vec<UrlRewrite> {
    let ops = Operations::of(doc);
    let (found, _unknown) = ops.middleware(doc);
    let mut out = Vec::new();
    for (id, key, block) in found {
        let Some(rw) = block.get("urlRewrite") else {
            continue;
        };
        let at = format!("x-tyk-api-gateway.middleware.operations.{id}.urlRewrite");
        let mut r = Reader::new(file, errors);
        if !r.bool(rw, &at, "enabled") {
            continue;
        }
        let rewrite = UrlRewrite {
            key,
            match_pattern: r.string(rw, &at, "pattern"),
            rewrite_to: r.string(rw, &at, "rewriteTo"),
            triggers: oas_triggers(rw, &at, &mut r),
            field: at,
            names: OAS_NAMES,
        };
        out.push(rewrite);
    }
    out
}

fn oas_triggers(rw: &Value, at: &str, r: &mut Reader<'_>) -> Vec<Trigger> {
    let Some(list) = r.list(rw, at, "triggers") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (t, trigger) in list.iter().enumerate() {
        let at = format!("{at}.triggers[{t}]");
        let mode = match r.string(trigger, &at, "condition").as_str() {
            "any" => TriggerMode::Any,
            "all" => TriggerMode::All,
            other => {
                r.fail(
                    format!("{at}.condition"),
                    format!("expected any or all, found `{other}`"),
                );
                continue;
            }
        };
        let mut options = TriggerOptions::default();
        for (n, rule) in r
            .list(trigger, &at, "rules")
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            oas_rule(rule, &format!("{at}.rules[{n}]"), &mut options, r);
        }
        out.push(Trigger {
            mode,
            options,
            rewrite_to: r.string(trigger, &at, "rewriteTo"),
            field: at,
        });
    }
    out
}

/// Files one OAS rule under its kind; as Tyk's conversion to maps, a later rule with the
/// same kind and name replaces an earlier one.
fn oas_rule(rule: &Value, at: &str, options: &mut TriggerOptions, r: &mut Reader<'_>) {
    let name = r.string(rule, at, "name");
    let parsed = Rule {
        pattern: r.string(rule, at, "pattern"),
        reverse: r.bool(rule, at, "negate"),
        field: format!("{at}.pattern"),
    };
    let map = match r.string(rule, at, "in").as_str() {
        "header" => &mut options.header,
        "query" => &mut options.query,
        "path" => &mut options.path_part,
        "sessionMetadata" => &mut options.session_meta,
        "requestContext" => &mut options.request_context,
        "requestBody" => {
            // Tyk checks the body only when its pattern is set.
            options.payload = Some(parsed).filter(|p| !p.pattern.is_empty());
            return;
        }
        other => {
            r.fail(
                format!("{at}.in"),
                format!(
                    "expected header, query, path, sessionMetadata, requestContext or requestBody, found `{other}`"
                ),
            );
            return;
        }
    };
    map.insert(name, parsed);
}

/// Reads typed fields, pushing an error naming the field for a value of the wrong type.
struct Reader<'e> {
    file: &'e Path,
    errors: &'e mut Vec<ConfigError>,
}

impl<'e> Reader<'e> {
    fn new(file: &'e Path, errors: &'e mut Vec<ConfigError>) -> Self {
        Reader { file, errors }
    }

    fn fail(&mut self, field: String, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, field, reason));
    }

    fn string(&mut self, v: &Value, at: &str, name: &str) -> String {
        match v.get(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                self.fail(format!("{at}.{name}"), "must be a string");
                String::new()
            }
        }
    }

    fn bool(&mut self, v: &Value, at: &str, name: &str) -> bool {
        match v.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(format!("{at}.{name}"), "must be true or false");
                false
            }
        }
    }

    fn list(&mut self, v: &Value, at: &str, name: &str) -> Option<Vec<Value>> {
        match v.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(_) => {
                self.fail(format!("{at}.{name}"), "must be a list");
                None
            }
        }
    }

    /// A classic `{match_rx, reverse}`.
    fn rule(&mut self, v: &Value, at: &str) -> Option<Rule> {
        if !v.is_object() {
            self.fail(at.to_string(), "must be an object {match_rx, reverse}");
            return None;
        }
        Some(Rule {
            pattern: self.string(v, at, "match_rx"),
            reverse: self.bool(v, at, "reverse"),
            field: format!("{at}.match_rx"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file() -> &'static Path {
        Path::new("api.json")
    }

    #[test]
    fn classic_entries_and_triggers_are_read() {
        let ep = json!({"url_rewrites": [
            {"path": "/a/{id}", "method": "get", "match_pattern": "/a/(\\w+)",
             "rewrite_to": "/b/$1", "triggers": [
                {"on": "any", "rewrite_to": "/c", "options": {
                    "header_matches": {"X-Test": {"match_rx": "hi", "reverse": true}},
                    "payload_matches": {"match_rx": ""}}}]},
            {"path": "/off", "method": "GET", "disabled": true}
        ]});
        let mut errors = Vec::new();
        let got = classic(&ep, "x.extended_paths", file(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(got.len(), 1);
        let rw = &got[0];
        assert_eq!(rw.key.method, "GET");
        assert_eq!(rw.field, "x.extended_paths.url_rewrites[0]");
        let t = &rw.triggers[0];
        assert_eq!(t.mode, TriggerMode::Any);
        let h = &t.options.header["X-Test"];
        assert!(h.reverse);
        assert_eq!(
            h.field,
            "x.extended_paths.url_rewrites[0].triggers[0].options.header_matches.X-Test.match_rx"
        );
        // An empty body pattern is not checked, as in Tyk.
        assert!(t.options.payload.is_none());
    }

    #[test]
    fn classic_refusals_name_the_field() {
        let ep = json!({"url_rewrites": [
            {"path": "/a", "match_pattern": 3, "triggers": [{"on": "some"}]}
        ]});
        let mut errors = Vec::new();
        classic(&ep, "e", file(), &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"e.url_rewrites[0].method"), "{fields:?}");
        assert!(
            fields.contains(&"e.url_rewrites[0].match_pattern"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"e.url_rewrites[0].triggers[0].on"),
            "{fields:?}"
        );
    }

    #[test]
    fn oas_rules_become_classic_options() {
        let doc = json!({
            "paths": {"/pets/{id}": {"get": {"operationId": "getPet"}}},
            "x-tyk-api-gateway": {"middleware": {"operations": {"getPet": {"urlRewrite": {
                "enabled": true, "pattern": "pets/(.*)", "rewriteTo": "/animals/$1",
                "triggers": [{"condition": "all", "rewriteTo": "/x", "rules": [
                    {"in": "query", "name": "q", "pattern": "a"},
                    {"in": "query", "name": "q", "pattern": "b", "negate": true},
                    {"in": "requestBody", "pattern": "bar"}
                ]}]
            }}}}}
        });
        let mut errors = Vec::new();
        let got = oas(&doc, file(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let rw = &got[0];
        assert_eq!(rw.key.path, "/pets/{id}");
        assert_eq!(rw.key.method, "GET");
        let o = &rw.triggers[0].options;
        assert_eq!(o.query.len(), 1);
        assert_eq!(o.query["q"].pattern, "b");
        assert!(o.query["q"].reverse);
        assert_eq!(o.payload.as_ref().unwrap().pattern, "bar");
        assert_eq!(
            o.query["q"].field,
            "x-tyk-api-gateway.middleware.operations.getPet.urlRewrite.triggers[0].rules[1].pattern"
        );
    }

    #[test]
    fn oas_disabled_is_skipped_and_bad_inputs_refused() {
        let doc = json!({
            "paths": {"/a": {"get": {"operationId": "a"}, "post": {"operationId": "b"}}},
            "x-tyk-api-gateway": {"middleware": {"operations": {
                "a": {"urlRewrite": {"enabled": false, "pattern": "(", "rewriteTo": "/"}},
                "b": {"urlRewrite": {"enabled": true, "pattern": ".*", "rewriteTo": "/",
                    "triggers": [{"condition": "any", "rewriteTo": "/",
                        "rules": [{"in": "cookie", "name": "c", "pattern": "x"}]}]}}
            }}}
        });
        let mut errors = Vec::new();
        let got = oas(&doc, file(), &mut errors);
        assert_eq!(got.len(), 1);
        assert_eq!(
            errors[0].field,
            "x-tyk-api-gateway.middleware.operations.b.urlRewrite.triggers[0].rules[0].in"
        );
    }
}
