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
/// one scan of the path, not one per entry. Once linked to its API's [`EndpointIndex`], the
/// API's one scan serves every list (see [`EndpointList::find_matched`]).
#[derive(Debug, Clone)]
pub struct EndpointList<T> {
    set: RegexSet,
    entries: Vec<(EndpointMatcher, T)>,
    /// Each entry's pattern in the API's index; empty until linked.
    ids: Vec<usize>,
    /// The index it is linked to (0: none): a list is only ever read with its own index.
    index_id: u64,
}

impl<T> Default for EndpointList<T> {
    fn default() -> Self {
        EndpointList {
            set: RegexSet::empty(),
            entries: Vec::new(),
            ids: Vec::new(),
            index_id: 0,
        }
    }
}

/// Every endpoint pattern of an API's per-path rules in one [`RegexSet`]: a request's path is
/// scanned once for all its lists (white list, rewrites, transforms, limits…), not once per
/// list. Built at load from the lists linked to it.
#[derive(Debug)]
pub struct EndpointIndex {
    id: u64,
    set: RegexSet,
}

/// Gathers the distinct patterns of an API's lists while they are linked.
#[derive(Debug)]
pub struct IndexBuilder {
    id: u64,
    sources: Vec<String>,
    ids: std::collections::HashMap<String, usize>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        IndexBuilder {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            sources: Vec::new(),
            ids: std::collections::HashMap::new(),
        }
    }
}

impl IndexBuilder {
    fn intern(&mut self, source: &str) -> usize {
        if let Some(&id) = self.ids.get(source) {
            return id;
        }
        let id = self.sources.len();
        self.sources.push(source.to_string());
        self.ids.insert(source.to_string(), id);
        id
    }

    /// The index, or `None` when no list has entries or the union does not compile (each
    /// list then scans with its own set).
    pub fn build(self) -> Option<EndpointIndex> {
        if self.sources.is_empty() {
            return None;
        }
        let id = self.id;
        RegexSet::new(&self.sources)
            .ok()
            .map(|set| EndpointIndex { id, set })
    }
}

/// Which of an index's patterns match one path: what a request's lookups share.
#[derive(Debug)]
pub struct EndpointMatches {
    /// The id of the index it was scanned with.
    index_id: u64,
    /// Inline: most paths need no allocation.
    path: compact_str::CompactString,
    set: regex::SetMatches,
}

impl EndpointIndex {
    /// Scans `path` once for every pattern.
    pub fn scan(&self, path: &str) -> EndpointMatches {
        EndpointMatches {
            index_id: self.id,
            path: path.into(),
            set: self.set.matches(path),
        }
    }
}

impl EndpointMatches {
    /// True when these are `index`'s matches for `path`.
    pub fn are_for(&self, index: &EndpointIndex, path: &str) -> bool {
        self.index_id == index.id && self.path.as_str() == path
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
            ids: Vec::new(),
            index_id: 0,
        })
    }

    /// Adds the list's patterns to its API's index; lookups may then use the index's scan.
    pub fn link(&mut self, index: &mut IndexBuilder) {
        self.index_id = index.id;
        self.ids = self
            .entries
            .iter()
            .map(|(m, _)| index.intern(m.pattern.as_str()))
            .collect();
    }

    /// True when the list's patterns are in `index`.
    pub fn is_linked_to(&self, index: &EndpointIndex) -> bool {
        self.index_id == index.id && !self.entries.is_empty()
    }

    /// As [`EndpointList::find`], from the API index's `matches` for the path (the list must
    /// be linked to that index: see [`EndpointList::is_linked_to`]).
    pub fn find_matched(
        &self,
        matches: &EndpointMatches,
        method: &str,
    ) -> Option<(&EndpointMatcher, &T)> {
        if !matches.set.matched_any() {
            return None;
        }
        self.entries
            .iter()
            .zip(&self.ids)
            .find(|((m, _), id)| {
                matches.set.matched(**id) && (m.method.is_empty() || m.method == method)
            })
            .map(|((m, v), _)| (m, v))
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
    fn lists_linked_to_one_index_find_what_they_find_alone() {
        let any = EndpointMatching::default();
        let mut a = list(
            &[
                ("/a", "POST"),
                ("/a/b", "GET"),
                ("/a", "GET"),
                ("/c/{id}", ""),
            ],
            any,
        );
        let mut b = list(&[("/c/{id}", "PUT"), ("/a", ""), ("/z", "GET")], any);
        let alone = (a.clone(), b.clone());
        let mut builder = IndexBuilder::default();
        a.link(&mut builder);
        b.link(&mut builder);
        let index = builder.build().unwrap();
        assert!(a.is_linked_to(&index) && b.is_linked_to(&index));
        assert!(!alone.0.is_linked_to(&index));
        let other = {
            let mut builder = IndexBuilder::default();
            alone.0.clone().link(&mut builder);
            builder.build().unwrap()
        };
        assert!(!a.is_linked_to(&other));
        for path in ["/a/b", "/a/c", "/c/7", "/x/a", "/z", "/nothing", "/"] {
            let matches = index.scan(path);
            assert!(matches.are_for(&index, path) && !matches.are_for(&index, "/other"));
            for method in ["GET", "POST", "PUT", "DELETE"] {
                let value = |found: Option<(&EndpointMatcher, &usize)>| found.map(|(_, v)| *v);
                assert_eq!(
                    value(a.find_matched(&matches, method)),
                    value(alone.0.find(path, method)),
                    "list a, {method} {path}"
                );
                assert_eq!(
                    value(b.find_matched(&matches, method)),
                    value(alone.1.find(path, method)),
                    "list b, {method} {path}"
                );
            }
        }
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
