//! The compatibility table: every Tyk setting Weir knows, and what Weir does with it.
//!
//! A setting is *honoured* (it has the effect it has in Tyk), has *no effect on the wire*
//! (analytics, dashboard bookkeeping, or a sub-field of something that is itself refused when
//! on), or is *refused when switched on*: the API (or the gateway config) is then refused at
//! load with an error naming the field, rather than served without it. Some honoured settings
//! are refused in part (a listen path with `{name}` segments): their row says when.
//!
//! The loaders call [`refusals`] on every document; `docs/tyk-compatibility.md` is generated
//! from the same rows by [`markdown`], and a test keeps the two equal.

mod classic_rows;
mod gateway_rows;
mod oas_rows;
mod predicates;

use std::path::Path;

use serde_json::Value;

use crate::errors::ConfigError;

/// Which document a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A Tyk classic API definition (paths from the document root).
    Classic,
    /// A Tyk OAS API definition: `x-tyk-api-gateway` (paths from the document root).
    Oas,
    /// `x-tyk-streaming` in an OAS definition.
    Streaming,
    /// The gateway config (tyk.conf).
    Gateway,
}

impl Form {
    /// Every form, in the order the docs list them.
    pub const ALL: [Form; 4] = [Form::Classic, Form::Oas, Form::Streaming, Form::Gateway];

    /// The rows of this form.
    pub fn rows(self) -> &'static [Row] {
        match self {
            Form::Classic => classic_rows::ROWS,
            Form::Oas => oas_rows::ROWS,
            Form::Streaming => oas_rows::STREAMING_ROWS,
            Form::Gateway => gateway_rows::ROWS,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Form::Classic => "Classic API definitions",
            Form::Oas => "Tyk OAS API definitions (`x-tyk-api-gateway`)",
            Form::Streaming => "Tyk Streams (`x-tyk-streaming`)",
            Form::Gateway => "Gateway config (tyk.conf)",
        }
    }
}

/// What Weir does with a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Behaves as in Tyk (possibly refused in part; see the row's `refuse`).
    Honoured,
    /// Changes nothing on the wire, in Tyk as in Weir for the APIs Weir serves.
    NoEffect,
    /// Not built yet: switching it on refuses the API.
    Refused,
}

/// When a row refuses the document.
#[derive(Clone, Copy)]
pub enum When {
    /// Never.
    Never,
    /// When the value is true, a non-empty string, list or object, or a number other than 0.
    Set,
    /// When the value is an object whose `enabled` is true (Tyk OAS blocks).
    Enabled,
    /// When the value is a list with an entry whose `disabled` is not true (classic
    /// `extended_paths` lists), or an object with `enabled: true` entries.
    ActiveEntries,
    /// A rule of its own, described in the row's note.
    Rule(fn(&Site<'_>) -> bool),
}

/// One setting: where it is, what Weir does with it, and when it refuses the document.
pub struct Row {
    /// Dotted path from the document root; `*` stands for any key of an object.
    pub path: &'static str,
    /// What Weir does with it.
    pub effect: Effect,
    /// When it refuses the document.
    pub refuse: When,
    /// What it is, and for refusals what "on" means; shown in errors and in the docs.
    pub note: &'static str,
}

/// A setting that is honoured and never refuses.
pub(crate) const fn honoured(path: &'static str, note: &'static str) -> Row {
    Row {
        path,
        effect: Effect::Honoured,
        refuse: When::Never,
        note,
    }
}

/// A setting that is honoured except in the case `refuse` describes.
pub(crate) const fn honoured_unless(path: &'static str, refuse: When, note: &'static str) -> Row {
    Row {
        path,
        effect: Effect::Honoured,
        refuse,
        note,
    }
}

/// A setting without effect on the wire.
pub(crate) const fn no_effect(path: &'static str, note: &'static str) -> Row {
    Row {
        path,
        effect: Effect::NoEffect,
        refuse: When::Never,
        note,
    }
}

/// A setting that refuses the document when `refuse` holds.
pub(crate) const fn refused(path: &'static str, refuse: When, note: &'static str) -> Row {
    Row {
        path,
        effect: Effect::Refused,
        refuse,
        note,
    }
}

/// Where a rule looks: the value at a concrete path, with the document around it.
pub struct Site<'a> {
    /// The value at the path.
    pub value: &'a Value,
    /// The document root.
    pub root: &'a Value,
    /// The values from the root down to the value's parent.
    chain: Vec<&'a Value>,
}

impl<'a> Site<'a> {
    /// The object `levels` steps above the value (1 = its parent); the root when past it.
    pub fn up(&self, levels: usize) -> &'a Value {
        let n = self.chain.len();
        if levels == 0 || levels > n {
            return self.root;
        }
        self.chain[n - levels]
    }

    /// A field of the value's parent object.
    pub fn sibling(&self, key: &str) -> Option<&'a Value> {
        self.up(1).get(key)
    }
}

/// True when a value counts as switched on (see [`When::Set`]).
pub fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// True when an object has `enabled: true`.
pub fn is_enabled(value: &Value) -> bool {
    value.get("enabled").and_then(Value::as_bool) == Some(true)
}

/// True when a list has an entry not marked `disabled: true`, or an object has an
/// `enabled: true` value.
pub fn has_active_entries(value: &Value) -> bool {
    match value {
        Value::Array(items) => items
            .iter()
            .any(|e| e.get("disabled").and_then(Value::as_bool) != Some(true)),
        Value::Object(map) => map.values().any(is_enabled),
        _ => false,
    }
}

impl When {
    fn holds(self, site: &Site<'_>) -> bool {
        match self {
            When::Never => false,
            When::Set => is_set(site.value),
            When::Enabled => is_enabled(site.value),
            When::ActiveEntries => has_active_entries(site.value),
            When::Rule(rule) => rule(site),
        }
    }
}

/// Every value in `root` at `pattern` (`*` = any key), with its concrete path.
fn sites<'a>(root: &'a Value, pattern: &str) -> Vec<(String, Site<'a>)> {
    let mut found = vec![(String::new(), root, Vec::new())];
    for segment in pattern.split('.') {
        let mut next = Vec::new();
        for (path, value, chain) in found {
            let Some(map) = value.as_object() else {
                continue;
            };
            let mut push = |key: &str, child: &'a Value| {
                let mut chain: Vec<&'a Value> = chain.clone();
                chain.push(value);
                let path = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                next.push((path, child, chain));
            };
            if segment == "*" {
                for (key, child) in map {
                    push(key, child);
                }
            } else if let Some(child) = map.get(segment) {
                push(segment, child);
            }
        }
        found = next;
    }
    found
        .into_iter()
        .filter(|(_, value, _)| !value.is_null())
        .map(|(path, value, chain)| (path, Site { value, root, chain }))
        .collect()
}

/// The refusals a document earns: one error per setting that is on and not built.
pub fn refusals(doc: &Value, form: Form, file: &Path) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for row in form.rows() {
        if matches!(row.refuse, When::Never) {
            continue;
        }
        for (path, site) in sites(doc, row.path) {
            if row.refuse.holds(&site) {
                errors.push(ConfigError::new(
                    file,
                    path,
                    format!(
                        "{} is not built in Weir yet; the {} is refused rather than served without it",
                        row.note,
                        if form == Form::Gateway {
                            "config"
                        } else {
                            "API"
                        }
                    ),
                ));
            }
        }
    }
    errors
}

/// Fields of a loaded definition that no row classifies; see [`unclassified`].
pub fn unknown_fields(api: &crate::model::ApiDefinition) -> Vec<String> {
    match api.format {
        crate::model::DefinitionFormat::Classic => unclassified(&api.document, Form::Classic),
        crate::model::DefinitionFormat::Oas => {
            let mut out = unclassified(&api.document, Form::Oas);
            out.extend(unclassified(&api.document, Form::Streaming));
            out
        }
    }
}

/// Fields present in `doc` that no row classifies (not Tyk fields Weir knows of).
///
/// Tyk ignores unknown fields too, so these are warnings: usually a typo or a newer Tyk's field.
pub fn unclassified(doc: &Value, form: Form) -> Vec<String> {
    let rows: Vec<Vec<&str>> = form
        .rows()
        .iter()
        .map(|r| r.path.split('.').collect())
        .collect();
    let start: Vec<String> = match form {
        Form::Oas => vec!["x-tyk-api-gateway".into()],
        Form::Streaming => vec!["x-tyk-streaming".into()],
        Form::Classic | Form::Gateway => Vec::new(),
    };
    let mut out = Vec::new();
    let mut value = doc;
    for key in &start {
        match value.get(key) {
            Some(v) => value = v,
            None => return out,
        }
    }
    walk_unclassified(value, &mut start.clone(), &rows, &mut out);
    out
}

fn walk_unclassified(
    value: &Value,
    path: &mut Vec<String>,
    rows: &[Vec<&str>],
    out: &mut Vec<String>,
) {
    let Some(map) = value.as_object() else {
        return;
    };
    for (key, child) in map {
        path.push(key.clone());
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        if rows.iter().any(|r| covers(r, &segs)) {
            // Classified here or above: its inside is the row's business.
        } else if rows.iter().any(|r| covers(&segs, r)) {
            walk_unclassified(child, path, rows, out);
        } else {
            out.push(path.join("."));
        }
        path.pop();
    }
}

/// True when a field path (dotted, `*` for any key) has a row: its own, an ancestor's, or
/// (for a container) one of its descendants'.
pub fn covers_field(form: Form, field: &str) -> bool {
    let field: Vec<&str> = field.split('.').collect();
    form.rows().iter().any(|row| {
        let row: Vec<&str> = row.path.split('.').collect();
        covers(&row, &field) || covers(&field, &row)
    })
}

/// True when `prefix` (a row path, `*` = any key) is `path` or one of its ancestors.
pub(crate) fn covers(prefix: &[&str], path: &[&str]) -> bool {
    prefix.len() <= path.len()
        && prefix
            .iter()
            .zip(path)
            .all(|(p, s)| *p == "*" || *s == "*" || p == s)
}

/// The compatibility table as Markdown: docs/tyk-compatibility.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Tyk compatibility\n\n\
         Generated from the table in `crates/weir-config/src/compat/` (a test keeps this page equal\n\
         to it: `WEIR_BLESS=1 cargo test -p weir-config --test it compat` rewrites it).\n\n\
         Every Tyk setting Weir knows is in one of three states:\n\n\
         - **honoured**: it does on the wire what it does in Tyk (where a part of it is not built,\n  \
         the row says when the API is refused);\n\
         - **no effect**: it changes nothing on the wire (analytics, dashboard bookkeeping, or a\n  \
         sub-setting of a feature that is itself refused when on);\n\
         - **refused when on**: the API (or, for tyk.conf, the gateway) is refused at load with an\n  \
         error naming the field; `weir check` lists them. Other APIs keep serving.\n\n\
         A field Weir does not know is ignored, as Tyk ignores unknown fields; `weir check` warns\n\
         about it. `*` stands for any key (a version name, an operation id, a stream name).\n",
    );
    for form in Form::ALL {
        out.push_str(&format!("\n## {}\n\n", form.title()));
        out.push_str("| field | status | notes |\n|---|---|---|\n");
        for row in form.rows() {
            let status = match (row.effect, row.refuse) {
                (Effect::Honoured, When::Never) => "honoured",
                (Effect::Honoured, _) => "honoured; refused in part",
                (Effect::NoEffect, _) => "no effect",
                (Effect::Refused, _) => "refused when on",
            };
            let when = match row.refuse {
                When::Set => " (on: set, true or non-empty)",
                When::Enabled => " (on: `enabled: true`)",
                When::ActiveEntries => " (on: an entry not disabled)",
                When::Never | When::Rule(_) => "",
            };
            out.push_str(&format!(
                "| `{}` | {status} | {}{when} |\n",
                row.path,
                row.note.replace('|', "\\|")
            ));
        }
    }
    out
}
