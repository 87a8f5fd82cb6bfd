//! An API's listen path, ready to match request paths: a plain prefix, or a Tyk mux pattern
//! with `{name}` and `{name:regex}` segments.
//!
//! Tyk routes listen paths with gorilla mux (`PathPrefix`, internal/httputil/mux.go): `{name}`
//! matches one path segment (`[^/]+`), `{name:regex}` matches the regex in its place, and the
//! text around the variables is literal. A pattern listen path matches only at a segment
//! boundary (what mux does for the usual `/users/{id}/` form, whose trailing '/' we trim); a
//! static one keeps its plain-prefix rule (see [`crate::router`]). The regex is compiled once,
//! at load; a static listen path never touches it.

use regex::Regex;

/// What mux puts in place of a `{name}` without its own regex: one path segment.
const SEGMENT: &str = "[^/]+";

/// A compiled listen path.
pub struct ListenPath {
    /// The listen path as written, without its trailing '/'.
    text: String,
    /// For a pattern: `^(<pattern>)(?:/|$)`, group 1 being the listen path's match.
    pattern: Option<Regex>,
}

impl ListenPath {
    /// Compiles a listen path as written in the definition. Errors say why, for the
    /// definition's listen path field.
    pub fn compile(listen_path: &str) -> Result<Self, String> {
        let text = listen_path.trim_end_matches('/').to_string();
        let pattern = match text.contains('{') || text.contains('}') {
            false => None,
            true => {
                let body = pattern_regex(&text)?;
                let anchored = format!("^({body})(?:/|$)");
                let regex = Regex::new(&anchored)
                    .map_err(|e| format!("listen path `{listen_path}`: bad regex: {e}"))?;
                Some(regex)
            }
        };
        Ok(ListenPath { text, pattern })
    }

    /// The listen path as written, without its trailing '/'.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the listen path has `{…}` segments.
    pub fn is_pattern(&self) -> bool {
        self.pattern.is_some()
    }

    /// The rest of `path` after the listen path ("" or starting with '/' for a pattern; any
    /// text for a static prefix, as a plain prefix), or `None` when `path` does not start with it.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        match &self.pattern {
            None => path.strip_prefix(self.text.as_str()),
            Some(regex) => {
                let matched = regex.captures(path)?.get(1)?;
                Some(&path[matched.end()..])
            }
        }
    }

    /// [`Self::strip`], or the whole path when it does not start with the listen path.
    pub fn strip_or_whole<'a>(&self, path: &'a str) -> &'a str {
        self.strip(path).unwrap_or(path)
    }
}

/// Turns a mux template into a regex body: literal text escaped, each `{name}` as one
/// segment, each `{name:regex}` as its regex in a non-capturing group.
fn pattern_regex(template: &str) -> Result<String, String> {
    let mut body = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("listen path `{template}`: unbalanced braces"));
        }
        body.push_str(&regex::escape(&rest[..open]));
        let close = matching_brace(&rest[open..])
            .ok_or_else(|| format!("listen path `{template}`: unbalanced braces"))?;
        let variable = &rest[open + 1..open + close];
        let (name, regex) = variable.split_once(':').unwrap_or((variable, SEGMENT));
        if name.is_empty() || regex.is_empty() {
            return Err(format!(
                "listen path `{template}`: missing name or pattern in `{{{variable}}}`"
            ));
        }
        body.push_str("(?:");
        body.push_str(regex);
        body.push(')');
        rest = &rest[open + close + 1..];
    }
    body.push_str(&regex::escape(rest));
    Ok(body)
}

/// The offset of the '}' closing the '{' that `text` starts with (mux counts nested braces,
/// so `{id:[0-9]{3}}` is one variable).
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(text: &str) -> ListenPath {
        ListenPath::compile(text).unwrap()
    }

    #[test]
    fn a_static_listen_path_is_a_plain_prefix() {
        let p = lp("/app/");
        assert!(!p.is_pattern());
        assert_eq!(p.as_str(), "/app");
        assert_eq!(p.strip("/app/x"), Some("/x"));
        assert_eq!(p.strip("/app"), Some(""));
        assert_eq!(p.strip("/apple"), Some("le"));
        assert_eq!(p.strip("/other"), None);
        assert_eq!(p.strip_or_whole("/other"), "/other");
    }

    #[test]
    fn a_name_matches_one_segment() {
        let p = lp("/users/{id}/");
        assert!(p.is_pattern());
        assert_eq!(p.as_str(), "/users/{id}");
        assert_eq!(p.strip("/users/42/orders"), Some("/orders"));
        assert_eq!(p.strip("/users/42/"), Some("/"));
        assert_eq!(p.strip("/users/42"), Some(""));
        assert_eq!(p.strip("/users/"), None);
        assert_eq!(p.strip("/users"), None);
        assert_eq!(p.strip("/people/42"), None);
        assert_eq!(p.strip_or_whole("/people/42"), "/people/42");
    }

    #[test]
    fn a_regex_must_match_its_whole_segment() {
        let p = lp("/users/{id:[0-9]+}/");
        assert_eq!(p.strip("/users/42/orders"), Some("/orders"));
        assert_eq!(p.strip("/users/abc/orders"), None);
        assert_eq!(p.strip("/users/42abc/orders"), None);
        // Alternatives are tried until one ends at a boundary.
        let p = lp("/v/{x:a|ab}");
        assert_eq!(p.strip("/v/ab/z"), Some("/z"));
    }

    #[test]
    fn literal_text_around_variables_is_not_a_regex() {
        let p = lp("/a.b/{id}/c+d");
        assert_eq!(p.strip("/a.b/1/c+d/e"), Some("/e"));
        assert_eq!(p.strip("/axb/1/c+d/e"), None);
        assert_eq!(p.strip("/a.b/1/ccd/e"), None);
    }

    #[test]
    fn a_regex_may_span_segments_and_nest_braces() {
        let p = lp("/files/{path:.+}/raw");
        assert_eq!(p.strip("/files/a/b/raw/x"), Some("/x"));
        let p = lp("/codes/{code:[0-9]{3}}");
        assert_eq!(p.strip("/codes/404/x"), Some("/x"));
        assert_eq!(p.strip("/codes/40/x"), None);
        let p = lp("/{tenant}/{region}/api");
        assert_eq!(p.strip("/acme/eu/api/v1"), Some("/v1"));
        assert_eq!(p.strip("/acme/api/v1"), None);
    }

    #[test]
    fn a_bad_pattern_is_refused_with_the_reason() {
        let err = |t: &str| ListenPath::compile(t).err().unwrap();
        assert!(err("/users/{id:[0-9}/").contains("bad regex"));
        assert!(err("/users/{id/").contains("unbalanced"));
        assert!(err("/users/id}/").contains("unbalanced"));
        assert!(err("/users/{}/").contains("missing name or pattern"));
        assert!(err("/users/{id:}/").contains("missing name or pattern"));
        assert!(err("/users/{:x}/").contains("missing name or pattern"));
    }
}
