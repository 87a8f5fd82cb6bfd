//! JSVM virtual endpoints (Tyk's `extended_paths.virtual`): a path and method that a
//! JavaScript function answers instead of the upstream.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::errors::ConfigError;

/// One virtual endpoint, as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualEndpointDecl {
    /// `path`, as Tyk matches it: a regular expression with `{name}` segments, against the
    /// path after the listen path.
    pub path: String,
    /// `method`, upper-case.
    pub method: String,
    /// `response_function_name`: the global JS function that answers.
    pub function: String,
    /// Where its code is.
    pub source: VirtualCode,
    /// `proxy_on_error`: when the function fails, send the request to the upstream instead.
    pub proxy_on_error: bool,
    /// `ignore_case`: match the path without regard to case.
    pub ignore_case: bool,
}

/// `function_source_type` with `function_source_uri`.
#[derive(Debug, Clone, PartialEq)]
pub enum VirtualCode {
    /// `file`: the path, resolved against the definition's folder.
    File(PathBuf),
    /// `blob`: the code, base64-encoded.
    Blob(String),
}

/// `extended_paths.virtual[i]` as written.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct RawVirtual {
    response_function_name: String,
    function_source_type: String,
    function_source_uri: String,
    path: String,
    method: String,
    use_session: bool,
    proxy_on_error: bool,
    ignore_case: bool,
    disabled: bool,
}

/// The virtual endpoints of a version's `extended_paths`; problems go to `errors`, naming
/// the field under `field` (`version_data.versions.<v>.extended_paths.virtual`).
pub(crate) fn declare(
    raw: &[RawVirtual],
    field: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<VirtualEndpointDecl> {
    let mut out = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        let at = |name: &str| format!("{field}[{i}].{name}");
        if v.disabled {
            continue;
        }
        let mut fail = |name: &str, reason: &str| {
            errors.push(ConfigError::new(file, at(name), reason));
        };
        if v.path.trim().is_empty() {
            fail("path", "is required");
            continue;
        }
        if v.response_function_name.trim().is_empty() {
            fail("response_function_name", "is required");
            continue;
        }
        if v.use_session {
            // Tyk writes the function's SessionMeta back into the key; Weir does not yet.
            fail(
                "use_session",
                "handing the session to a virtual endpoint is not built in this version",
            );
            continue;
        }
        let source = match v.function_source_type.trim() {
            "file" => {
                let base = file.parent().unwrap_or(Path::new(""));
                VirtualCode::File(base.join(v.function_source_uri.trim()))
            }
            "blob" => VirtualCode::Blob(v.function_source_uri.trim().to_string()),
            other => {
                fail(
                    "function_source_type",
                    &format!("expected file or blob, found `{other}`"),
                );
                continue;
            }
        };
        out.push(VirtualEndpointDecl {
            path: v.path.trim().to_string(),
            method: v.method.trim().to_ascii_uppercase(),
            function: v.response_function_name.trim().to_string(),
            source,
            proxy_on_error: v.proxy_on_error,
            ignore_case: v.ignore_case,
        });
    }
    out
}
