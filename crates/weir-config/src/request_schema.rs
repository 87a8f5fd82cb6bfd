//! Request validation, read from either form: classic `extended_paths.validate_json` (a JSON
//! Schema for the body) and OAS operations' `validateRequest` (the operation's own
//! parameters and `requestBody` from the OpenAPI document).
//!
//! Schemas stay JSON here; the proxy compiles each once per load and a schema that does not
//! compile refuses the API, naming [`SchemaSource::field`].

use std::path::Path;

use serde_json::{Map, Value};

use crate::endpoints::{
    EndpointKey, EndpointRules, Operations, classic_extended_paths, enabled, error_sink,
};
use crate::errors::ConfigError;
use crate::limits::{classic_key, entries};

/// Which JSON Schema dialect a schema is compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// As the schema's `$schema` says; draft 7 without one (closest to Tyk's gojsonschema,
    /// which mixes drafts 4 to 7).
    Declared,
    /// OpenAPI 3.0 schema objects: draft 4 (boolean `exclusiveMinimum`), `nullable` folded
    /// into `type` before compiling.
    Draft4,
    /// OpenAPI 3.1 schema objects: draft 2020-12.
    Draft202012,
}

/// A schema to compile, with the field it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaSource {
    /// The schema; an OAS schema carries the document's `components` beside it so that its
    /// `#/components/...` references resolve.
    pub schema: Value,
    /// How to compile it.
    pub dialect: Dialect,
    /// The definition field that holds it (named when it does not compile).
    pub field: String,
}

/// Where an OAS parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    /// A `{name}` segment of the path.
    Path,
    /// A query string parameter.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl ParamIn {
    /// The name OpenAPI (and Tyk's messages) use.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

/// One OpenAPI parameter of a validated operation.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRule {
    /// `name`.
    pub name: String,
    /// `in`.
    pub location: ParamIn,
    /// `required` (always true for path parameters).
    pub required: bool,
    /// `schema`; values are read as its `type` says (arrays comma-separated, or repeated
    /// query keys with `explode`), then validated. `None` checks presence only.
    pub schema: Option<SchemaSource>,
}

/// The `requestBody` of a validated operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyRule {
    /// `required`.
    pub required: bool,
    /// `content`: media type (as written, lower-case) → its schema, when it has one. Only
    /// JSON media types may carry a schema (others are refused at load).
    pub content: Vec<(String, Option<SchemaSource>)>,
}

/// What a validated endpoint checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationRules {
    /// Classic `validate_json`: the body is JSON matching the schema.
    JsonSchema(SchemaSource),
    /// OAS `validateRequest`: the operation's parameters and body.
    Operation {
        /// Its parameters (path item's and operation's, the operation's winning).
        params: Vec<ParamRule>,
        /// Its request body, when it declares one.
        body: Option<BodyRule>,
    },
}

/// One validated endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestValidation {
    /// Where it applies.
    pub key: EndpointKey,
    /// The status of a failed validation: 422 unless `error_response_code` /
    /// `errorResponseCode` says otherwise.
    pub error_code: u16,
    /// What is checked.
    pub rules: ValidationRules,
}

/// Reads classic `validate_json` entries into `endpoints.validate`.
pub(crate) fn classic(
    doc: &Value,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) {
    let Some((base, paths)) = classic_extended_paths(doc) else {
        return;
    };
    let mut err = error_sink(file, errors);
    for (i, e) in entries(paths, "validate_json") {
        let field = format!("{base}.validate_json[{i}]");
        let Some(key) = classic_key(e, &field, &mut err) else {
            continue;
        };
        let Some(code) = status(
            e.get("error_response_code"),
            &format!("{field}.error_response_code"),
            &mut err,
        ) else {
            continue;
        };
        let schema = match e.get("schema") {
            Some(s @ (Value::Object(_) | Value::Bool(_))) => s.clone(),
            _ => {
                err(
                    format!("{field}.schema"),
                    "a JSON Schema object is required".into(),
                );
                continue;
            }
        };
        endpoints.validate.push(RequestValidation {
            key,
            error_code: code,
            rules: ValidationRules::JsonSchema(SchemaSource {
                schema,
                dialect: Dialect::Declared,
                field: format!("{field}.schema"),
            }),
        });
    }
}

/// Reads OAS operations' `validateRequest` into `endpoints.validate`.
pub(crate) fn oas(
    doc: &Value,
    ops: &Operations,
    file: &Path,
    endpoints: &mut EndpointRules,
    errors: &mut Vec<ConfigError>,
) {
    let mut err = error_sink(file, errors);
    let oas31 = doc
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3.1"));
    let ctx = Ctx { doc, oas31 };
    let (found, _) = ops.middleware(doc);
    for (id, key, block) in found {
        let Some(v) = block.get("validateRequest") else {
            continue;
        };
        if !enabled(v) {
            continue;
        }
        let field = format!("x-tyk-api-gateway.middleware.operations.{id}.validateRequest");
        let Some(code) = status(
            v.get("errorResponseCode"),
            &format!("{field}.errorResponseCode"),
            &mut err,
        ) else {
            continue;
        };
        let op_path = format!("paths.{}.{}", key.path, key.method.to_ascii_lowercase());
        let item = doc.get("paths").and_then(|p| p.get(&key.path));
        let op = item.and_then(|i| i.get(key.method.to_ascii_lowercase()));
        let (Some(item), Some(op)) = (item, op) else {
            continue;
        };
        let params = ctx.params(item, op, &op_path, &mut err);
        let body = op
            .get("requestBody")
            .and_then(|b| ctx.body(b, &format!("{op_path}.requestBody"), &mut err));
        endpoints.validate.push(RequestValidation {
            key,
            error_code: code,
            rules: ValidationRules::Operation { params, body },
        });
    }
}

/// An error status: absent or 0 = 422; otherwise 100..=599.
fn status(v: Option<&Value>, field: &str, err: &mut impl FnMut(String, String)) -> Option<u16> {
    match v.filter(|v| !v.is_null()).map(Value::as_u64) {
        None | Some(Some(0)) => Some(422),
        Some(Some(n @ 100..=599)) => Some(n as u16),
        _ => {
            err(
                field.to_string(),
                "expected an HTTP status code (100 to 599)".into(),
            );
            None
        }
    }
}

struct Ctx<'d> {
    doc: &'d Value,
    oas31: bool,
}

impl<'d> Ctx<'d> {
    /// Follows a local `$ref` (`#/...`) chain.
    fn deref(&self, mut v: &'d Value) -> Option<&'d Value> {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Some(v);
            };
            let pointer = r.strip_prefix('#')?;
            v = self.doc.pointer(pointer)?;
        }
        None
    }

    fn params(
        &self,
        item: &'d Value,
        op: &'d Value,
        op_path: &str,
        err: &mut impl FnMut(String, String),
    ) -> Vec<ParamRule> {
        let mut out: Vec<ParamRule> = Vec::new();
        let lists = [
            (
                item.get("parameters"),
                op_path.rsplit_once('.').map_or("", |p| p.0).to_string(),
            ),
            (op.get("parameters"), op_path.to_string()),
        ];
        for (list, base) in lists {
            for (i, p) in list
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let field = format!("{base}.parameters[{i}]");
                let Some(p) = self.deref(p) else {
                    err(
                        format!("{field}.$ref"),
                        "does not resolve in this document".into(),
                    );
                    continue;
                };
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let location = match p.get("in").and_then(Value::as_str) {
                    Some("path") => ParamIn::Path,
                    Some("query") => ParamIn::Query,
                    Some("header") => ParamIn::Header,
                    Some("cookie") => ParamIn::Cookie,
                    _ => {
                        err(
                            format!("{field}.in"),
                            "expected path, query, header or cookie".into(),
                        );
                        continue;
                    }
                };
                let schema = p
                    .get("schema")
                    .map(|s| self.schema(s, format!("{field}.schema")));
                let rule = ParamRule {
                    required: location == ParamIn::Path
                        || p.get("required").and_then(Value::as_bool) == Some(true),
                    name,
                    location,
                    schema,
                };
                // An operation's parameter replaces the path item's of the same name and place.
                out.retain(|o| !(o.name == rule.name && o.location == rule.location));
                out.push(rule);
            }
        }
        out
    }

    fn body(
        &self,
        b: &'d Value,
        field: &str,
        err: &mut impl FnMut(String, String),
    ) -> Option<BodyRule> {
        let Some(b) = self.deref(b) else {
            err(
                format!("{field}.$ref"),
                "does not resolve in this document".into(),
            );
            return None;
        };
        let mut content = Vec::new();
        for (media, m) in b
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let media = media.to_ascii_lowercase();
            let schema = match m.get("schema") {
                Some(s) if is_json(&media) => {
                    Some(self.schema(s, format!("{field}.content.{media}.schema")))
                }
                Some(_) => {
                    err(
                        format!("{field}.content.{media}.schema"),
                        "Weir validates request bodies against JSON media types only; this operation has `validateRequest` enabled".into(),
                    );
                    None
                }
                None => None,
            };
            content.push((media, schema));
        }
        Some(BodyRule {
            required: b.get("required").and_then(Value::as_bool) == Some(true),
            content,
        })
    }

    /// The schema as a self-contained document: the document's `components` beside it.
    fn schema(&self, s: &Value, field: String) -> SchemaSource {
        let mut schema = s.clone();
        let mut components = self.doc.get("components").cloned();
        if !self.oas31 {
            fold_nullable(&mut schema);
            if let Some(c) = components.as_mut() {
                fold_nullable(c);
            }
        }
        if let (Value::Object(map), Some(c)) = (&mut schema, components) {
            map.entry("components").or_insert(c);
        }
        SchemaSource {
            schema,
            dialect: if self.oas31 {
                Dialect::Draft202012
            } else {
                Dialect::Draft4
            },
            field,
        }
    }
}

/// True for `application/json` and `*/*+json` media types (parameters after `;` ignored).
pub fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the `type`.
fn fold_nullable(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("nullable").and_then(Value::as_bool) == Some(true) {
                add_null(map);
            }
            map.values_mut().for_each(fold_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(fold_nullable),
        _ => {}
    }
}

fn add_null(map: &mut Map<String, Value>) {
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".into(), Value::from(vec![t, "null".to_string()]));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| t == "null") => ts.push("null".into()),
        _ => {}
    }
    if let Some(Value::Array(e)) = map.get_mut("enum")
        && !e.contains(&Value::Null)
    {
        e.push(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oas_of(doc: &Value) -> (EndpointRules, Vec<ConfigError>) {
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        oas(
            doc,
            &Operations::of(doc),
            Path::new("a.json"),
            &mut rules,
            &mut errors,
        );
        (rules, errors)
    }

    #[test]
    fn classic_entries_keep_their_schema_and_code() {
        let doc = json!({"version_data": {"versions": {"Default": {
        "use_extended_paths": true,
        "extended_paths": {"validate_json": [
            {"path": "/v", "method": "POST", "schema": {"type": "object"}, "error_response_code": 400},
            {"path": "/w", "method": "POST", "schema": "nope"}
        ]}}}}});
        let mut rules = EndpointRules::default();
        let mut errors = Vec::new();
        classic(&doc, Path::new("a.json"), &mut rules, &mut errors);
        assert_eq!(rules.validate.len(), 1);
        assert_eq!(rules.validate[0].error_code, 400);
        assert_eq!(
            errors[0].field,
            "version_data.versions.Default.extended_paths.validate_json[1].schema"
        );
    }

    #[test]
    fn oas_operations_bring_params_and_body_with_components() {
        let doc = json!({
            "openapi": "3.0.3",
            "components": {"schemas": {"Pet": {"type": "object", "properties": {
                "tag": {"type": "string", "nullable": true}}}}},
            "paths": {"/pets/{id}": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "integer"}}],
                "post": {
                    "operationId": "addPet",
                    "parameters": [{"name": "dry", "in": "query", "required": true}],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Pet"}}}}
                }
            }},
            "x-tyk-api-gateway": {"middleware": {"operations": {"addPet": {
                "validateRequest": {"enabled": true, "errorResponseCode": 400}}}}}
        });
        let (rules, errors) = oas_of(&doc);
        assert!(errors.is_empty(), "{errors:?}");
        let v = &rules.validate[0];
        assert_eq!(v.error_code, 400);
        let ValidationRules::Operation { params, body } = &v.rules else {
            panic!("an operation rule");
        };
        assert_eq!(params.len(), 2);
        assert!(params[0].required, "path parameters are required");
        let body = body.as_ref().unwrap();
        let schema = body.content[0].1.as_ref().unwrap();
        assert_eq!(schema.dialect, Dialect::Draft4);
        assert_eq!(
            schema
                .schema
                .pointer("/components/schemas/Pet/properties/tag/type"),
            Some(&json!(["string", "null"]))
        );
    }

    #[test]
    fn a_non_json_body_schema_is_refused() {
        let doc = json!({
            "paths": {"/x": {"post": {"operationId": "x", "requestBody": {"content": {
                "application/xml": {"schema": {"type": "string"}}}}}}},
            "x-tyk-api-gateway": {"middleware": {"operations": {"x": {
                "validateRequest": {"enabled": true}}}}}
        });
        let (_, errors) = oas_of(&doc);
        assert_eq!(
            errors[0].field,
            "paths./x.post.requestBody.content.application/xml.schema"
        );
    }
}
