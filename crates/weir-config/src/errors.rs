//! The one error type of this crate, and the wording of serde's errors for humans.
//!
//! Operators read these messages when a gateway refuses a file, so every error names the
//! file, the field (a dotted path such as `proxy.listen_path`) and why, in plain words.

use std::path::{Path, PathBuf};

/// A configuration problem: which file, which field, and why.
///
/// `field` is a dotted path (`http_server_options.certificates[0].cert_file`), an environment
/// variable name when the value came from the environment, or empty when the problem is with
/// the file as a whole (unreadable, not JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The dotted field path, or empty.
    pub field: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl ConfigError {
    /// Builds an error; `field` may be empty.
    pub fn new(file: &Path, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn render(&self) -> String {
        if self.field.is_empty() {
            format!("{}: {}", self.file.display(), self.reason)
        } else {
            format!("{}: {}: {}", self.file.display(), self.field, self.reason)
        }
    }
}

/// Turns a `serde_path_to_error` failure into a [`ConfigError`] naming the field.
pub(crate) fn from_path_error(
    file: &Path,
    err: serde_path_to_error::Error<serde_json::Error>,
) -> ConfigError {
    let path = err.path().to_string();
    // serde_path_to_error renders the root as "."; the root has no field name.
    let field = if path == "." { String::new() } else { path };
    ConfigError::new(file, field, humanize(&err.into_inner().to_string()))
}

/// Rewrites serde's "invalid type: integer `5`, expected a string" into
/// "expected a string, found a number", and drops "at line N column M" (reported separately).
pub(crate) fn humanize(message: &str) -> String {
    let message = strip_locations(message);
    for (prefix, is_type) in [("invalid type: ", true), ("invalid value: ", false)] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            let found = if is_type {
                found_kind(found)
            } else {
                found_value(found)
            };
            return format!("expected {}, found {found}", expected_kind(expected));
        }
    }
    message
}

/// Removes every " at line N column M" fragment (serde_json and serde_yaml_ng append them).
pub(crate) fn strip_locations(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find(" at line ") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + " at line ".len()..];
        match skip_line_column(tail) {
            Some(after) => rest = after,
            None => {
                out.push_str(" at line ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// After " at line ", skips "N column M" and returns the remainder, if that is what follows.
fn skip_line_column(tail: &str) -> Option<&str> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = digits(tail);
    let after = tail[n..].strip_prefix(" column ")?;
    let m = digits(after);
    (n > 0 && m > 0).then(|| &after[m..])
}

fn found_kind(found: &str) -> String {
    let word = found.split_whitespace().next().unwrap_or(found);
    match word {
        // "expected a whole number, found 80.5" says more than "found a number".
        "floating" => return found_value(found),
        "integer" => "a number",
        "string" => "a string",
        "boolean" => "a boolean",
        "sequence" => "a list",
        "map" => "an object",
        "null" | "unit" => "null",
        _ => return found.to_string(),
    }
    .to_string()
}

fn found_value(found: &str) -> String {
    // "integer `70000`" → "70000"; anything else is kept as serde wrote it.
    match (found.find('`'), found.rfind('`')) {
        (Some(a), Some(b)) if b > a => found[a + 1..b].to_string(),
        _ => found.to_string(),
    }
}

fn expected_kind(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number that is not negative".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "an object".into(),
        "a borrowed string" => "a string".into(),
        e if e.starts_with("struct ") || e.starts_with("a map ") => "an object".into(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_read_like_sentences() {
        assert_eq!(
            humanize("invalid type: integer `5`, expected a string"),
            "expected a string, found a number"
        );
        assert_eq!(
            humanize("invalid type: string \"x\", expected struct RawProxy at line 2 column 3"),
            "expected an object, found a string"
        );
        assert_eq!(
            humanize("invalid value: integer `-1`, expected u64"),
            "expected a whole number that is not negative, found -1"
        );
    }

    #[test]
    fn locations_are_stripped_everywhere() {
        assert_eq!(
            strip_locations("did not find key at line 3 column 1, while x at line 1 column 2"),
            "did not find key, while x"
        );
        assert_eq!(strip_locations("at line one"), "at line one");
    }

    #[test]
    fn display_omits_empty_field() {
        let e = ConfigError::new(Path::new("/a.json"), "", "bad");
        assert_eq!(e.to_string(), "/a.json: bad");
        let e = ConfigError::new(Path::new("/a.json"), "proxy.listen_path", "bad");
        assert_eq!(e.to_string(), "/a.json: proxy.listen_path: bad");
    }
}
