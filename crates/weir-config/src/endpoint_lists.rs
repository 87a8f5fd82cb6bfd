//! Endpoint lists (Tyk's `VersionCheck`, gateway/api_definition.go `URLAllowedAndIgnored`):
//! allow lists, block lists, endpoints that skip authentication, and mock replies.
//!
//! Classic: `extended_paths.mock_response`, `ignored`, `black_list`, `white_list` (entries
//! `{path, method, ignore_case, disabled, method_actions}`), or, without `use_extended_paths`,
//! the legacy `paths.{ignored,black_list,white_list}` (plain paths). OAS: the operation blocks
//! `ignoreAuthentication`, `block`, `allow` and `mockResponse`.
//!
//! Tyk walks one list, mock replies first, then ignored, then blocked, then allowed entries,
//! and the first entry whose path and method match decides; [`EndpointRules::lists`] keeps
//! that order. OAS `mockResponse` is a separate middleware that runs after authentication, so
//! it has its own list ([`EndpointRules::mock_responses`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::endpoints::{EndpointKey, EndpointRules, Operations, classic_extended_paths};
use crate::errors::ConfigError;

/// What a list entry does to a request it matches, in the order Tyk checks the lists.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Classic `mock_response`: answered with its reply (the method must be named).
    Mock(MockReply),
    /// `ignored` / `ignoreAuthentication`: served without authentication or key checks.
    Ignored,
    /// `black_list` / `block`: 403 `Requested endpoint is forbidden`.
    Block,
    /// `white_list` / `allow`: allowed.
    Allow,
}

/// A classic `method_actions` action.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodAction {
    /// `no_action`: the entry's list decides.
    NoAction,
    /// `reply`: answered with `code`, `data` and `headers`; the upstream is not called.
    Reply(MockReply),
    /// Any other action: Tyk forbids the request.
    Forbid,
}

/// An answer the gateway gives itself.
#[derive(Debug, Clone, PartialEq)]
pub struct MockReply {
    /// HTTP status (100..=999).
    pub code: u16,
    /// Body, as written.
    pub body: String,
    /// Headers, in order (names and values checked when the API is compiled).
    pub headers: Vec<(String, String)>,
    /// The field that declares it, for errors about its headers.
    pub field: String,
}

/// One entry of the endpoint lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// Path pattern, method ("" = any) and own case folding.
    pub key: EndpointKey,
    /// Its list.
    pub kind: ListKind,
    /// Classic `method_actions` when given: Tyk then ignores `method` and matches only the
    /// methods listed here (an empty table matches none).
    pub method_actions: Option<BTreeMap<String, MethodAction>>,
    /// The field of its path, for errors about the pattern.
    pub field: String,
}

/// OAS `mockResponse` of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OasMock {
    /// The operation's path and method.
    pub key: EndpointKey,
    /// The answer.
    pub reply: MockReply,
}

/// Classic lists, in the order Tyk checks them, with the name of each.
const CLASSIC_LISTS: [&str; 4] = ["mock_response", "ignored", "black_list", "white_list"];

/// Reads the classic lists of the API's version into `rules`.
pub(crate) fn classic(
    doc: &Value,
    rules: &mut EndpointRules,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) {
    let mut r = Reader { file, errors };
    if let Some((base, paths)) = classic_extended_paths(doc) {
        for list in CLASSIC_LISTS {
            let field = format!("{base}.{list}");
            for (i, entry) in r.array(paths.get(list), &field).into_iter().enumerate() {
                let field = format!("{field}[{i}]");
                if let Some(e) = r.classic_entry(list, entry, &field) {
                    if e.kind == ListKind::Allow {
                        rules.allow_list = true;
                    }
                    rules.lists.push(e);
                }
            }
        }
    } else if let Some((base, paths)) = legacy_paths(doc) {
        for (list, kind) in [
            ("ignored", ListKind::Ignored),
            ("black_list", ListKind::Block),
            ("white_list", ListKind::Allow),
        ] {
            let field = format!("{base}.{list}");
            for (i, entry) in r.array(paths.get(list), &field).into_iter().enumerate() {
                let field = format!("{field}[{i}]");
                let Some(path) = r.string(Some(entry), &field) else {
                    continue;
                };
                if kind == ListKind::Allow {
                    rules.allow_list = true;
                }
                rules.lists.push(ListEntry {
                    key: EndpointKey {
                        path,
                        ..EndpointKey::default()
                    },
                    kind: kind.clone(),
                    method_actions: None,
                    field,
                });
            }
        }
    }
}

/// The legacy `paths` of the API's version (only without `use_extended_paths`), picked as
/// [`classic_extended_paths`] picks the version.
fn legacy_paths(doc: &Value) -> Option<(String, &Value)> {
    let versions = doc.pointer("/version_data/versions")?.as_object()?;
    let (name, version) = if versions.len() == 1 {
        versions.iter().next()?
    } else {
        let mut defaults = ["Default", "default", ""]
            .into_iter()
            .filter_map(|n| versions.get_key_value(n));
        match (defaults.next(), defaults.next()) {
            (Some(one), None) => one,
            _ => return None,
        }
    };
    if version.get("use_extended_paths").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    Some((
        format!("version_data.versions.{name}.paths"),
        version.get("paths")?,
    ))
}

/// Reads the OAS operation blocks into `rules`, in Tyk's list order.
pub(crate) fn oas(
    doc: &Value,
    operations: &Operations,
    rules: &mut EndpointRules,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) {
    let mut r = Reader { file, errors };
    let (found, _unknown) = operations.middleware(doc);
    let mut ignored = Vec::new();
    let mut blocked = Vec::new();
    let mut allowed = Vec::new();
    for (id, key, block) in &found {
        let base = format!("x-tyk-api-gateway.middleware.operations.{id}");
        for (name, out) in [
            ("ignoreAuthentication", &mut ignored),
            ("block", &mut blocked),
            ("allow", &mut allowed),
        ] {
            let field = format!("{base}.{name}");
            let Some(allowance) = r.object(block.get(name), &field) else {
                continue;
            };
            if !r.flag(allowance, "enabled", &field) {
                continue;
            }
            let mut key = key.clone();
            key.ignore_case = r.flag(allowance, "ignoreCase", &field);
            out.push((key, field));
        }
        let field = format!("{base}.mockResponse");
        if let Some(mock) = r.object(block.get("mockResponse"), &field)
            && r.flag(mock, "enabled", &field)
            && let Some(reply) = r.oas_mock(mock, &field)
        {
            rules.mock_responses.push(OasMock {
                key: key.clone(),
                reply,
            });
        }
    }
    rules.allow_list |= !allowed.is_empty();
    for (kind, entries) in [
        (ListKind::Ignored, ignored),
        (ListKind::Block, blocked),
        (ListKind::Allow, allowed),
    ] {
        for (key, field) in entries {
            rules.lists.push(ListEntry {
                key,
                kind: kind.clone(),
                method_actions: None,
                field,
            });
        }
    }
}

/// Reads values, pushing an error naming the field for each bad one.
struct Reader<'a> {
    file: &'a Path,
    errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    fn fail(&mut self, field: &str, reason: &str) {
        self.errors
            .push(ConfigError::new(self.file, field.to_string(), reason));
    }

    fn array<'v>(&mut self, v: Option<&'v Value>, field: &str) -> Vec<&'v Value> {
        match v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(_) => {
                self.fail(field, "must be a list");
                Vec::new()
            }
        }
    }

    fn object<'v>(&mut self, v: Option<&'v Value>, field: &str) -> Option<&'v Map<String, Value>> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.fail(field, "must be an object");
                None
            }
        }
    }

    fn string(&mut self, v: Option<&Value>, field: &str) -> Option<String> {
        match v {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn flag(&mut self, obj: &Map<String, Value>, name: &str, field: &str) -> bool {
        match obj.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(&format!("{field}.{name}"), "must be true or false");
                false
            }
        }
    }

    /// A status code; `zero` is what 0 or an absent code means (None: refused).
    fn code(&mut self, v: Option<&Value>, field: &str, zero: Option<u16>) -> Option<u16> {
        let n = match v {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(n) => n,
                None => {
                    self.fail(field, "must be an HTTP status code");
                    return None;
                }
            },
        };
        match (n, zero) {
            (0, Some(z)) => Some(z),
            (100..=999, _) => Some(n as u16),
            _ => {
                self.fail(
                    field,
                    "must be an HTTP status code from 100 to 999 (Tyk cannot answer with it)",
                );
                None
            }
        }
    }

    /// A classic entry of `list`; `None` when disabled or bad (errors pushed).
    fn classic_entry(&mut self, list: &str, entry: &Value, field: &str) -> Option<ListEntry> {
        let obj = self.object(Some(entry), field)?;
        if self.flag(obj, "disabled", field) {
            return None;
        }
        let path_field = format!("{field}.path");
        let path = self.string(obj.get("path"), &path_field)?;
        let method = self.string(obj.get("method"), &format!("{field}.method"))?;
        let ignore_case = self.flag(obj, "ignore_case", field);
        let key = EndpointKey {
            path,
            method: method.trim().to_ascii_uppercase(),
            ignore_case,
        };
        let kind = match list {
            "mock_response" => ListKind::Mock(self.reply(obj, field, "body")?),
            "ignored" => ListKind::Ignored,
            "black_list" => ListKind::Block,
            _ => ListKind::Allow,
        };
        let method_actions = match &kind {
            // Tyk reads no `method_actions` on mock_response entries.
            ListKind::Mock(_) => None,
            _ => self.method_actions(obj.get("method_actions"), field)?,
        };
        Some(ListEntry {
            key,
            kind,
            method_actions,
            field: path_field,
        })
    }

    fn method_actions(
        &mut self,
        v: Option<&Value>,
        field: &str,
    ) -> Option<Option<BTreeMap<String, MethodAction>>> {
        let field = format!("{field}.method_actions");
        let Some(table) = self.object(v, &field) else {
            return Some(None);
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (method, meta) in table {
            let field = format!("{field}.{method}");
            let Some(meta) = self.object(Some(meta), &field) else {
                ok = false;
                continue;
            };
            let action = match meta.get("action").and_then(Value::as_str) {
                Some("no_action") => MethodAction::NoAction,
                Some("reply") => match self.reply(meta, &field, "data") {
                    Some(reply) => MethodAction::Reply(reply),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                _ => MethodAction::Forbid,
            };
            out.insert(method.clone(), action);
        }
        ok.then_some(Some(out))
    }

    /// A classic reply: `code`, the body under `body_key`, `headers` as an object.
    fn reply(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        body_key: &str,
    ) -> Option<MockReply> {
        let code = self.code(obj.get("code"), &format!("{field}.code"), None);
        let body = self.string(obj.get(body_key), &format!("{field}.{body_key}"));
        let headers_field = format!("{field}.headers");
        let mut headers = Vec::new();
        for (name, value) in self
            .object(obj.get("headers"), &headers_field)
            .into_iter()
            .flatten()
        {
            match value.as_str() {
                Some(v) => headers.push((name.clone(), v.to_string())),
                None => self.fail(&format!("{headers_field}.{name}"), "must be a string"),
            }
        }
        Some(MockReply {
            code: code?,
            body: body?,
            headers,
            field: field.to_string(),
        })
    }

    /// OAS `mockResponse`: `code` (0 = 200), `body`, `headers: [{name, value}]`.
    fn oas_mock(&mut self, mock: &Map<String, Value>, field: &str) -> Option<MockReply> {
        // `fromOASExamples.enabled` is refused by the compatibility table before this runs.
        let code = self.code(mock.get("code"), &format!("{field}.code"), Some(200));
        let body = self.string(mock.get("body"), &format!("{field}.body"));
        let headers_field = format!("{field}.headers");
        let mut headers = Vec::new();
        for (i, h) in self
            .array(mock.get("headers"), &headers_field)
            .into_iter()
            .enumerate()
        {
            let f = format!("{headers_field}[{i}]");
            let name = h.get("name").and_then(Value::as_str);
            let value = h.get("value").and_then(Value::as_str);
            match (name, value) {
                (Some(n), Some(v)) => headers.push((n.to_string(), v.to_string())),
                _ => self.fail(&f, "must be {\"name\": <string>, \"value\": <string>}"),
            }
        }
        Some(MockReply {
            code: code?,
            body: body?,
            headers,
            field: field.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classic_rules(extended: Value) -> (EndpointRules, Vec<ConfigError>) {
        let doc = json!({"version_data": {"versions": {"Default": {
            "use_extended_paths": true, "extended_paths": extended}}}});
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        classic(&doc, &mut rules, Path::new("a.json"), &mut errors);
        (rules, errors)
    }

    #[test]
    fn classic_lists_come_in_tyks_order_without_disabled_entries() {
        let (rules, errors) = classic_rules(json!({
            "white_list": [{"path": "/w", "method": "get"}],
            "black_list": [{"path": "/b", "disabled": true}, {"path": "/b2"}],
            "ignored": [{"path": "/i", "ignore_case": true}],
            "mock_response": [{"path": "/m", "method": "GET", "code": 201, "body": "x",
                "headers": {"A": "1"}}]
        }));
        assert!(errors.is_empty(), "{errors:?}");
        let kinds: Vec<_> = rules.lists.iter().map(|e| e.key.path.as_str()).collect();
        assert_eq!(kinds, ["/m", "/i", "/b2", "/w"]);
        assert!(rules.allow_list);
        assert_eq!(rules.lists[3].key.method, "GET");
        assert!(rules.lists[1].key.ignore_case);
        let ListKind::Mock(reply) = &rules.lists[0].kind else {
            panic!("not a mock");
        };
        assert_eq!(reply.code, 201);
        assert_eq!(reply.headers, [("A".to_string(), "1".to_string())]);
    }

    #[test]
    fn method_actions_are_read_with_their_replies() {
        let (rules, errors) = classic_rules(json!({"white_list": [{"path": "/a",
        "method_actions": {
            "GET": {"action": "no_action", "code": 200, "data": "", "headers": {}},
            "POST": {"action": "reply", "code": 202, "data": "hi", "headers": {"X": "y"}},
            "PUT": {"action": "teapot"}
        }}]}));
        assert!(errors.is_empty(), "{errors:?}");
        let actions = rules.lists[0].method_actions.as_ref().unwrap();
        assert_eq!(actions["GET"], MethodAction::NoAction);
        assert_eq!(actions["PUT"], MethodAction::Forbid);
        let MethodAction::Reply(r) = &actions["POST"] else {
            panic!("not a reply");
        };
        assert_eq!((r.code, r.body.as_str()), (202, "hi"));
    }

    #[test]
    fn bad_entries_name_their_field() {
        let (_, errors) = classic_rules(json!({
            "white_list": [{"path": "/ok"}, {"path": 7}],
            "ignored": {"path": "/x"},
            "black_list": [{"path": "/r", "method_actions": {"GET": {"action": "reply", "code": 0}}}]
        }));
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "version_data.versions.Default.extended_paths.ignored",
                "version_data.versions.Default.extended_paths.black_list[0].method_actions.GET.code",
                "version_data.versions.Default.extended_paths.white_list[1].path",
            ]
        );
    }

    #[test]
    fn the_version_folds_case_and_legacy_paths_are_read_without_extended_paths() {
        let doc = json!({"version_data": {"versions": {"v1": {"ignore_endpoint_case": true,
            "use_extended_paths": true, "extended_paths": {"ignored": [{"path": "/A"}]}}}}});
        assert!(crate::endpoints::ignores_endpoint_case(&doc));

        let doc = json!({"version_data": {"versions": {"Default": {"paths": {
            "white_list": ["/w"], "ignored": ["/i"], "black_list": []}}}}});
        let mut rules = EndpointRules::default();
        classic(&doc, &mut rules, Path::new("a.json"), &mut Vec::new());
        let paths: Vec<_> = rules
            .lists
            .iter()
            .map(|e| (e.key.path.as_str(), &e.kind))
            .collect();
        assert_eq!(
            paths,
            [("/i", &ListKind::Ignored), ("/w", &ListKind::Allow)]
        );
        assert!(rules.allow_list);
        assert_eq!(
            rules.lists[1].field,
            "version_data.versions.Default.paths.white_list[0]"
        );
    }

    #[test]
    fn oas_operations_give_the_same_lists() {
        let doc = json!({
            "paths": {"/pets/{id}": {"get": {"operationId": "getPet"}, "delete": {"operationId": "delPet"}},
                      "/open": {"get": {"operationId": "open"}}},
            "x-tyk-api-gateway": {"middleware": {"operations": {
                "getPet": {"allow": {"enabled": true, "ignoreCase": true},
                           "mockResponse": {"enabled": true, "body": "{}",
                               "headers": [{"name": "X-Mock", "value": "1"}]}},
                "delPet": {"block": {"enabled": true}, "allow": {"enabled": false}},
                "open": {"ignoreAuthentication": {"enabled": true}}
            }}}
        });
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        oas(
            &doc,
            &Operations::of(&doc),
            &mut rules,
            Path::new("a.json"),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let kinds: Vec<_> = rules
            .lists
            .iter()
            .map(|e| (e.key.path.as_str(), e.key.method.as_str(), &e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("/open", "GET", &ListKind::Ignored),
                ("/pets/{id}", "DELETE", &ListKind::Block),
                ("/pets/{id}", "GET", &ListKind::Allow),
            ]
        );
        assert!(rules.lists[2].key.ignore_case);
        assert!(rules.allow_list);
        let mock = &rules.mock_responses[0];
        assert_eq!((mock.reply.code, mock.key.method.as_str()), (200, "GET"));
        assert_eq!(mock.reply.headers[0].0, "X-Mock");
    }
}
