//! Request validation compiled for the request path: classic `validate_json` (Tyk's
//! `mw_validate_json.go`, gojsonschema's messages) and OAS `validateRequest` (Tyk's
//! `mw_oas_validate_request.go`, kin-openapi's messages). Each schema is compiled once per
//! load; a request only walks the compiled validators.

use http::{HeaderMap, StatusCode};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use serde_json::Value;
use weir_config::plugin_settings::EndpointMatching;
use weir_config::request_schema::{
    BodyRule, Dialect, ParamIn, ParamRule, RequestValidation, SchemaSource, ValidationRules,
};

use crate::endpoint::{EndpointEntry, EndpointList, EndpointMatcher};
use crate::validation_messages::{gojsonschema_message, kin_reason};

/// One validated endpoint, compiled.
pub struct EndpointCheck {
    /// The status of a failed validation.
    pub status: StatusCode,
    /// What is checked.
    pub rules: Rules,
}

/// The compiled checks of an endpoint.
pub enum Rules {
    /// `validate_json`: the body against one schema.
    Json(Validator),
    /// `validateRequest`: parameters and body of an OpenAPI operation.
    Operation {
        /// Names of the path's `{name}` segments, in order.
        path_names: Vec<String>,
        /// Parameters.
        params: Vec<Param>,
        /// The request body, when the operation declares one.
        body: Option<Body>,
    },
}

/// A compiled OpenAPI parameter.
pub struct Param {
    name: String,
    location: ParamIn,
    required: bool,
    schema: Option<(Validator, Shape)>,
}

/// How a parameter's text becomes JSON before validation.
#[derive(Clone, Copy)]
enum Shape {
    Scalar(Scalar),
    /// Comma-separated, or repeated query keys (`explode`, the default for query).
    Array(Scalar),
}

#[derive(Clone, Copy)]
enum Scalar {
    Text,
    Integer,
    Number,
    Boolean,
}

/// A compiled request body rule.
pub struct Body {
    required: bool,
    content: Vec<(String, Option<Validator>)>,
}

/// What a request needs to be validated.
pub struct RequestView<'a> {
    /// The path after the listen path.
    pub path: &'a str,
    /// The query string, if any.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// Compiles the endpoints' rules; an error names the field and why.
pub fn compile(
    rules: &[RequestValidation],
    matching: EndpointMatching,
) -> Result<EndpointList<EndpointCheck>, (String, String)> {
    let mut entries = Vec::with_capacity(rules.len());
    for r in rules {
        let checks = match &r.rules {
            ValidationRules::JsonSchema(s) => Rules::Json(schema(s)?),
            ValidationRules::Operation { params, body } => Rules::Operation {
                path_names: path_names(&r.key.path),
                params: params.iter().map(param).collect::<Result<_, _>>()?,
                body: body.as_ref().map(body_rule).transpose()?,
            },
        };
        entries.push(EndpointEntry {
            path: r.key.path.clone(),
            method: r.key.method.clone(),
            ignore_case: r.key.ignore_case,
            value: EndpointCheck {
                status: StatusCode::from_u16(r.error_code)
                    .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                rules: checks,
            },
        });
    }
    EndpointList::compile(entries, matching).map_err(|(i, why)| {
        let field = match &rules[i].rules {
            ValidationRules::JsonSchema(s) => {
                format!("{}.path", s.field.trim_end_matches(".schema"))
            }
            ValidationRules::Operation { .. } => format!("paths.{}", rules[i].key.path),
        };
        (field, why)
    })
}

fn schema(s: &SchemaSource) -> Result<Validator, (String, String)> {
    let mut o = jsonschema::options().should_validate_formats(true);
    o = match s.dialect {
        Dialect::Declared if s.schema.get("$schema").is_none() => o.with_draft(Draft::Draft7),
        Dialect::Declared => o,
        Dialect::Draft4 => o.with_draft(Draft::Draft4),
        Dialect::Draft202012 => o.with_draft(Draft::Draft202012),
    };
    o.build(&s.schema)
        .map_err(|e| (s.field.clone(), format!("is not a valid JSON Schema: {e}")))
}

fn param(p: &ParamRule) -> Result<Param, (String, String)> {
    let schema = match &p.schema {
        Some(s) => Some((schema(s)?, shape(&s.schema))),
        None => None,
    };
    Ok(Param {
        name: p.name.clone(),
        location: p.location,
        required: p.required,
        schema,
    })
}

fn body_rule(b: &BodyRule) -> Result<Body, (String, String)> {
    let content = b
        .content
        .iter()
        .map(|(media, s)| {
            Ok::<_, (String, String)>((media.clone(), s.as_ref().map(schema).transpose()?))
        })
        .collect::<Result<_, _>>()?;
    Ok(Body {
        required: b.required,
        content,
    })
}

fn scalar(t: Option<&Value>) -> Scalar {
    match t.and_then(Value::as_str) {
        Some("integer") => Scalar::Integer,
        Some("number") => Scalar::Number,
        Some("boolean") => Scalar::Boolean,
        _ => Scalar::Text,
    }
}

fn shape(s: &Value) -> Shape {
    match s.get("type").and_then(Value::as_str) {
        Some("array") => Shape::Array(scalar(s.pointer("/items/type"))),
        _ => Shape::Scalar(scalar(s.get("type"))),
    }
}

/// The names of a Tyk path's `{name}` / `{name:regex}` segments.
fn path_names(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next())
        .map(|s| s.split(':').next().unwrap_or("").to_string())
        .collect()
}

/// `validate_json`: `Err((status, message))` when the body is not JSON (400) or does not
/// match (the entry's status, gojsonschema's messages joined by "; ").
pub fn check_json(
    v: &Validator,
    status: StatusCode,
    body: &[u8],
) -> Result<(), (StatusCode, String)> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("JSON parsing error: {e}")))?;
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| gojsonschema_message(&e))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err((status, errors.join("; ")))
    }
}

/// `validateRequest`: `Err(message)` in Tyk's `request validation error: …` form (the first
/// problem, as kin-openapi reports it).
pub fn check_operation(
    path_names: &[String],
    matcher: &EndpointMatcher,
    params: &[Param],
    body: Option<&Body>,
    req: &RequestView<'_>,
) -> Result<(), String> {
    let fail = |m: String| format!("request validation error: {m}");
    let captures = matcher.captures(req.path);
    for p in params {
        let values = param_values(p, path_names, captures.as_ref(), req);
        if values.is_empty() {
            if p.required {
                return Err(fail(format!(
                    "parameter \"{}\" in {} has an error: value is required but missing",
                    p.name,
                    p.location.as_str()
                )));
            }
            continue;
        }
        if let Some((v, shape)) = &p.schema {
            let checked = coerce(*shape, &values).and_then(|value| {
                v.iter_errors(&value)
                    .next()
                    .map_or(Ok(()), |e| Err(kin_reason(&e)))
            });
            if let Err(why) = checked {
                return Err(fail(format!(
                    "parameter \"{}\" in {} has an error: {why}",
                    p.name,
                    p.location.as_str()
                )));
            }
        }
    }
    match body {
        Some(b) => check_body(b, req).map_err(|m| fail(format!("request body has an error: {m}"))),
        None => Ok(()),
    }
}

fn param_values(
    p: &Param,
    path_names: &[String],
    captures: Option<&regex::Captures<'_>>,
    req: &RequestView<'_>,
) -> Vec<String> {
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
    };
    match p.location {
        ParamIn::Path => path_names
            .iter()
            .position(|n| *n == p.name)
            .and_then(|i| captures?.get(i + 1))
            .map(|m| decode(m.as_str()))
            .into_iter()
            .collect(),
        ParamIn::Query => url::form_urlencoded::parse(req.query.unwrap_or("").as_bytes())
            .filter(|(k, _)| *k == p.name)
            .map(|(_, v)| v.into_owned())
            .collect(),
        ParamIn::Header => req
            .headers
            .get_all(p.name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect(),
        ParamIn::Cookie => req
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(k, _)| *k == p.name)
            .map(|(_, v)| v.to_string())
            .collect(),
    }
}

/// A parameter's text as the JSON its schema expects, or kin-openapi's parse error.
fn coerce(shape: Shape, values: &[String]) -> Result<Value, String> {
    let one = |kind: Scalar, s: &str| -> Result<Value, String> {
        let bad = |what: &str| format!("value {s}: an invalid {what}: invalid syntax");
        match kind {
            Scalar::Text => Ok(Value::String(s.to_string())),
            Scalar::Integer => s
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("integer")),
            Scalar::Number => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("number")),
            Scalar::Boolean => s
                .parse::<bool>()
                .map(Value::Bool)
                .map_err(|_| bad("boolean")),
        }
    };
    match shape {
        Shape::Scalar(kind) => one(kind, &values[0]),
        Shape::Array(kind) => {
            let items: Vec<&str> = if values.len() > 1 {
                values.iter().map(String::as_str).collect()
            } else {
                values[0].split(',').collect()
            };
            items
                .into_iter()
                .map(|s| one(kind, s))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
    }
}

fn check_body(b: &Body, req: &RequestView<'_>) -> Result<(), String> {
    if req.body.is_empty() {
        return if b.required {
            Err("value is required but missing".into())
        } else {
            Ok(())
        };
    }
    let ct = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim().to_string();
    let (major, _) = essence.split_once('/').unwrap_or((&essence, ""));
    let wildcard = format!("{major}/*");
    let found = [essence.as_str(), wildcard.as_str(), "*/*"]
        .into_iter()
        .find_map(|want| {
            b.content
                .iter()
                .find(|(m, _)| m.split(';').next().unwrap_or("").trim() == want)
        });
    let Some((_, schema)) = found else {
        return Err(format!("header Content-Type has unexpected value: {ct:?}"));
    };
    // Only JSON media types carry a schema (the loader refuses others).
    let Some(v) = schema else {
        return Ok(());
    };
    let doc: Value = serde_json::from_slice(req.body)
        .map_err(|e| format!("failed to decode request body: {e}"))?;
    match v.iter_errors(&doc).next() {
        None => Ok(()),
        Some(e) => {
            let pointer = e.instance_path().as_str().to_string();
            let pointer = match e.kind() {
                ValidationErrorKind::Required { property } => {
                    format!("{pointer}/{}", property.as_str().unwrap_or_default())
                }
                _ => pointer,
            };
            let at = if pointer.is_empty() {
                String::new()
            } else {
                format!("Error at {pointer:?}: ")
            };
            Err(format!("doesn't match schema: {at}{}", kin_reason(&e)))
        }
    }
}

#[cfg(test)]
#[path = "request_validation_tests.rs"]
mod tests;
