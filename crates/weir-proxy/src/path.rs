//! Request paths with their dot segments removed (RFC 3986 §5.2.4), before routing and before
//! the path is joined with the upstream's, as nginx does: `/api/../secret` must neither route
//! by its raw prefix nor reach the upstream as `/base/../secret`.
//!
//! A segment counts as a dot segment in its percent-encoded forms too (`%2e`, `.%2E`, …);
//! other segments are kept byte for byte (an encoded slash stays encoded). A path that climbs
//! above the root is refused.

use std::borrow::Cow;

use http::Uri;
use http::uri::PathAndQuery;

/// Replaces `uri`'s path and query, keeping its scheme and authority.
pub fn replace_path_and_query(uri: &mut Uri, pq: PathAndQuery) {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    if let Ok(new) = Uri::from_parts(parts) {
        *uri = new;
    }
}

/// Sets `uri`'s path, and its query when there is one; a pair that is not a valid request
/// target (never the case for pieces of a valid URI) leaves `uri` as it is.
pub fn set_path_and_query(uri: &mut Uri, path: &str, query: Option<&str>) {
    let text = with_query(path.to_string(), query.filter(|q| !q.is_empty()));
    if let Ok(pq) = PathAndQuery::try_from(text) {
        replace_path_and_query(uri, pq);
    }
}

/// `path`, then `?` and `query` when there is one, in `path`'s own buffer.
pub fn with_query(mut path: String, query: Option<&str>) -> String {
    if let Some(q) = query {
        path.reserve_exact(1 + q.len());
        path.push('?');
        path.push_str(q);
    }
    path
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscapesRoot;

/// The path without dot segments, or [`EscapesRoot`] when `..` climbs above `/`.
///
/// ```
/// use weir_proxy::path::normalise;
/// assert_eq!(normalise("/a/./b/../c").unwrap(), "/a/c");
/// assert_eq!(normalise("/a/%2e%2E/b").unwrap(), "/b");
/// assert!(normalise("/a/../../etc").is_err());
/// ```
pub fn normalise(path: &str) -> Result<Cow<'_, str>, EscapesRoot> {
    if !path.split('/').any(|s| dot_segment(s).is_some()) {
        return Ok(Cow::Borrowed(path));
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match dot_segment(segment) {
            Some(Dots::One) => {}
            Some(Dots::Two) => {
                if out.pop().is_none() {
                    return Err(EscapesRoot);
                }
            }
            None => out.push(segment),
        }
        // A path ending in a dot segment names a folder: keep its trailing slash.
        if i == last && dot_segment(segment).is_some() {
            out.push("");
        }
    }
    Ok(Cow::Owned(format!("/{}", out.join("/"))))
}

enum Dots {
    One,
    Two,
}

/// `.` or `..`, written plainly or percent-encoded.
fn dot_segment(segment: &str) -> Option<Dots> {
    let mut dots = 0;
    let mut rest = segment.as_bytes();
    while !rest.is_empty() {
        match rest {
            [b'.', tail @ ..] => rest = tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => rest = tail,
            _ => return None,
        }
        dots += 1;
        if dots > 2 {
            return None;
        }
    }
    match dots {
        1 => Some(Dots::One),
        2 => Some(Dots::Two),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/a/b",
            "/a/b/",
            "/a//b",
            "/a/.hidden",
            "/a/..b",
            "/a/%2F/b",
            "/a/...",
            "/a/%2e%2e%2e",
        ] {
            assert!(
                matches!(normalise(p), Ok(Cow::Borrowed(q)) if q == p),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        let cases = [
            ("/api/../other/x", "/other/x"),
            ("/other/../api/x", "/api/x"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/.%2E/b", "/b"),
            ("/a/%2E/b", "/a/b"),
            ("/a/b/../../c", "/c"),
            ("/..a/../b", "/b"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for p in ["/..", "/../x", "/api/../../secret", "/a/%2e%2e/%2E%2e/x"] {
            assert_eq!(normalise(p), Err(EscapesRoot), "{p}");
        }
    }
}
