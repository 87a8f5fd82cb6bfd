//! Tyk's endpoint matching, compiled once per load and shared by every per-path feature
//! (endpoint lists, rewrites, transforms, limits, timeouts, virtual endpoints).
//!
//! An endpoint's `path` is a regular expression over the path after the listen path, with
//! `{name}` (or `{name:regex}`) segments matching one path segment. It is found anywhere in
//! the path unless the gateway's `enable_path_prefix_matching` / `enable_path_suffix_matching`
//! anchor it; `ignore_endpoint_case` (gateway) or the entry's own `ignore_case` fold case.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use weir_config::plugin_settings::EndpointMatching;

static PARAM: LazyLock<Regex> = LazyLock::new(|| {
    // `{name}` or `{name:regex}`: one path segment either way, as Tyk rewrites both.
    Regex::new(r"\{[^}/]*\}").expect("the segment pattern is valid")
});

/// Tyk's endpoint path as a regular expression source.
pub fn pattern_source(path: &str, ignore_case: bool, matching: EndpointMatching) -> String {
    let mut pattern = PARAM.replace_all(path, "([^/]+)").into_owned();
    if matching.prefix && !pattern.starts_with('^') {
        pattern.insert(0, '^');
    }
    if matching.suffix && !pattern.ends_with('$') {
        pattern.push('$');
    }
    if matching.ignore_case || ignore_case {
        pattern.insert_str(0, "(?i)");
    }
    pattern
}

/// One endpoint: a compiled path pattern and a method.
#[derive(Debug, Clone)]
pub struct EndpointMatcher {
    pattern: Regex,
    /// Upper-case; empty matches any method.
    method: String,
}

impl EndpointMatcher {
    /// Compiles `path` (Tyk's pattern) for `method` ("" = any).
    pub fn compile(
        path: &str,
        method: &str,
        ignore_case: bool,
        matching: EndpointMatching,
    ) -> Result<Self, String> {
        let source = pattern_source(path, ignore_case, matching);
        let pattern = Regex::new(&source)
            .map_err(|e| format!("path `{path}` is not a valid pattern: {e}"))?;
        Ok(EndpointMatcher {
            pattern,
            method: method.trim().to_ascii_uppercase(),
        })
    }

    /// True when `path` (after the listen path) and `method` match.
    pub fn matches(&self, path: &str, method: &str) -> bool {
        (self.method.is_empty() || self.method == method) && self.pattern.is_match(path)
    }

    /// The pattern's capture groups over `path`, when it matches (method not checked).
    pub fn captures<'p>(&self, path: &'p str) -> Option<regex::Captures<'p>> {
        self.pattern.captures(path)
    }
}

/// A list of endpoints with a value each; the first entry (in declaration order) whose path
/// and method match wins. One [`RegexSet`] pass finds the candidates, so a long list costs
/// one scan of the path, not one per entry.
#[derive(Debug, Clone)]
pub struct EndpointList<T> {
    set: RegexSet,
    entries: Vec<(EndpointMatcher, T)>,
}

impl<T> Default for EndpointList<T> {
    fn default() -> Self {
        EndpointList {
            set: RegexSet::empty(),
            entries: Vec::new(),
        }
    }
}

/// One entry to compile: its path pattern, method ("" = any), own `ignore_case`, value.
pub struct EndpointEntry<T> {
    /// Tyk's path pattern.
    pub path: String,
    /// Method; empty = any.
    pub method: String,
    /// The entry's own `ignore_case`.
    pub ignore_case: bool,
    /// What the entry carries.
    pub value: T,
}

impl<T> EndpointEntry<T> {
    /// The entry for a configured endpoint `key`, carrying `value`.
    pub fn new(key: &weir_config::endpoints::EndpointKey, value: T) -> Self {
        EndpointEntry {
            path: key.path.clone(),
            method: key.method.clone(),
            ignore_case: key.ignore_case,
            value,
        }
    }
}

impl<T> EndpointList<T> {
    /// Compiles the entries; an error names the index of the bad entry and why.
    pub fn compile(
        entries: Vec<EndpointEntry<T>>,
        matching: EndpointMatching,
    ) -> Result<Self, (usize, String)> {
        let mut sources = Vec::with_capacity(entries.len());
        let mut compiled = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let m = EndpointMatcher::compile(&e.path, &e.method, e.ignore_case, matching)
                .map_err(|reason| (i, reason))?;
            sources.push(m.pattern.as_str().to_string());
            compiled.push((m, e.value));
        }
        let set = RegexSet::new(&sources).map_err(|e| (0, e.to_string()))?;
        Ok(EndpointList {
            set,
            entries: compiled,
        })
    }

    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry matching `path` (after the listen path) and `method`, with its matcher.
    pub fn find(&self, path: &str, method: &str) -> Option<(&EndpointMatcher, &T)> {
        if self.entries.is_empty() {
            return None;
        }
        self.set
            .matches(path)
            .into_iter()
            .map(|i| &self.entries[i])
            .find(|(m, _)| m.method.is_empty() || m.method == method)
            .map(|(m, v)| (m, v))
    }

    /// The entries, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&EndpointMatcher, &T)> {
        self.entries.iter().map(|(m, v)| (m, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(paths: &[(&str, &str)], matching: EndpointMatching) -> EndpointList<usize> {
        let entries = paths
            .iter()
            .enumerate()
            .map(|(i, (p, m))| EndpointEntry {
                path: p.to_string(),
                method: m.to_string(),
                ignore_case: false,
                value: i,
            })
            .collect();
        EndpointList::compile(entries, matching).unwrap()
    }

    #[test]
    fn patterns_are_found_anywhere_unless_anchored() {
        let loose = list(&[("/users/{id}", "GET")], EndpointMatching::default());
        assert!(loose.find("/users/7", "GET").is_some());
        assert!(loose.find("/v1/users/7/x", "GET").is_some());
        assert!(loose.find("/users/7", "POST").is_none());
        let anchored = EndpointMatching {
            prefix: true,
            suffix: true,
            ignore_case: false,
        };
        let strict = list(&[("/users/{id}", "")], anchored);
        assert!(strict.find("/users/7", "DELETE").is_some());
        assert!(strict.find("/v1/users/7", "GET").is_none());
        assert!(strict.find("/users/7/x", "GET").is_none());
    }

    #[test]
    fn the_first_declared_match_wins_and_methods_filter() {
        let l = list(
            &[("/a", "POST"), ("/a/b", "GET"), ("/a", "GET")],
            EndpointMatching::default(),
        );
        assert_eq!(l.find("/a/b", "GET").map(|(_, v)| *v), Some(1));
        assert_eq!(l.find("/a/c", "GET").map(|(_, v)| *v), Some(2));
        assert_eq!(l.find("/a/c", "POST").map(|(_, v)| *v), Some(0));
        assert!(l.find("/z", "GET").is_none());
    }

    #[test]
    fn case_folds_per_entry_or_for_the_gateway() {
        let m = EndpointMatcher::compile("/Users", "", true, EndpointMatching::default()).unwrap();
        assert!(m.matches("/users", "GET"));
        let m = EndpointMatcher::compile("/Users", "", false, EndpointMatching::default()).unwrap();
        assert!(!m.matches("/users", "GET"));
    }

    #[test]
    fn a_bad_pattern_names_its_entry() {
        let entries = vec![
            EndpointEntry {
                path: "/ok".into(),
                method: String::new(),
                ignore_case: false,
                value: (),
            },
            EndpointEntry {
                path: "/bad(".into(),
                method: String::new(),
                ignore_case: false,
                value: (),
            },
        ];
        let (i, why) = EndpointList::compile(entries, EndpointMatching::default()).unwrap_err();
        assert_eq!(i, 1);
        assert!(why.contains("/bad("), "{why}");
    }
}
