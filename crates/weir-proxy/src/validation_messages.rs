//! Validation errors in the words Tyk's validators use: gojsonschema's for classic
//! `validate_json`, kin-openapi's for OAS `validateRequest`.

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// gojsonschema's `field: description`.
pub(crate) fn gojsonschema_message(e: &ValidationError<'_>) -> String {
    let pointer = e.instance_path().as_str();
    let field = |extra: Option<&str>| {
        let mut parts: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        parts.extend(extra.map(str::to_string));
        if parts.is_empty() {
            "(root)".to_string()
        } else {
            parts.join(".")
        }
    };
    let f = field(None);
    let joined = |v: &Value| match v {
        Value::Array(items) => items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    let (f, d) = match e.kind() {
        ValidationErrorKind::Required { property } => {
            let p = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            (field(Some(&p)), format!("{p} is required"))
        }
        ValidationErrorKind::Type { kind } => (
            f,
            format!(
                "Invalid type. Expected: {}, given: {}",
                types(kind, ", "),
                type_of(e.instance())
            ),
        ),
        ValidationErrorKind::Enum { options } => {
            let d = format!("{f} must be one of the following: {}", joined(options));
            (f, d)
        }
        ValidationErrorKind::Constant { expected_value } => {
            let d = format!("{f} does not match: {expected_value}");
            (f, d)
        }
        ValidationErrorKind::Minimum { limit } => {
            (f, format!("Must be greater than or equal to {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => {
            (f, format!("Must be less than or equal to {limit}"))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            (f, format!("Must be greater than {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            (f, format!("Must be less than {limit}"))
        }
        ValidationErrorKind::MinLength { limit } => (
            f,
            format!("String length must be greater than or equal to {limit}"),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            f,
            format!("String length must be less than or equal to {limit}"),
        ),
        ValidationErrorKind::Pattern { pattern } => {
            (f, format!("Does not match pattern '{pattern}'"))
        }
        ValidationErrorKind::Format { format } => (f, format!("Does not match format '{format}'")),
        ValidationErrorKind::MinItems { limit } => {
            (f, format!("Array must have at least {limit} items"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            (f, format!("Array must have at most {limit} items"))
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let d = unexpected
                .iter()
                .map(|p| format!("Additional property {p} is not allowed"))
                .collect::<Vec<_>>()
                .join(", ");
            (f, d)
        }
        _ => (f, e.to_string()),
    };
    format!("{f}: {d}")
}

pub(crate) fn types(kind: &TypeKind, sep: &str) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(sep),
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// kin-openapi's reason for a schema error.
pub(crate) fn kin_reason(e: &ValidationError<'_>) -> String {
    let article = |t: &str| {
        if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        }
    };
    match e.kind() {
        ValidationErrorKind::Required { property } => {
            format!("property {} is missing", property)
        }
        ValidationErrorKind::Type {
            kind: TypeKind::Single(t),
        } => {
            let t = t.to_string();
            format!("value must be {} {t}", article(&t))
        }
        ValidationErrorKind::Type { kind } => format!("value must be one of {}", types(kind, ", ")),
        ValidationErrorKind::Enum { options } => {
            let items = match options.as_ref() {
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            format!("value is not one of the allowed values [{items}]")
        }
        ValidationErrorKind::Minimum { limit } => format!("number must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("number must be at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("number must be more than {limit}")
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("number must be less than {limit}")
        }
        ValidationErrorKind::MinLength { limit } => format!("minimum string length is {limit}"),
        ValidationErrorKind::MaxLength { limit } => format!("maximum string length is {limit}"),
        ValidationErrorKind::Pattern { pattern } => {
            format!("string doesn't match the regular expression {pattern:?}")
        }
        ValidationErrorKind::Format { format } => {
            format!("string doesn't match the format {format:?}")
        }
        ValidationErrorKind::MinItems { limit } => format!("minimum number of items is {limit}"),
        ValidationErrorKind::MaxItems { limit } => format!("maximum number of items is {limit}"),
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|p| format!("property {p:?} is unsupported"))
            .collect::<Vec<_>>()
            .join(", "),
        ValidationErrorKind::UniqueItems => "duplicate items found".into(),
        _ => e.to_string(),
    }
}
