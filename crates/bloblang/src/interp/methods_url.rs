//! URL and path methods: `parse_url`, `parse_form_url_encoded`, `filepath_join`,
//! `filepath_split`. Bento hands these to Go's `net/url` and `path/filepath`, so
//! the parsing rules (and error texts) here follow Go's, not WHATWG's: no
//! normalisation, the host kept as written, `raw_*` set only when the escaped
//! text differs from Go's canonical escaping.

use super::methods::{expected, string_of};
use super::methods_p1::go_quote;
use crate::value::{Object, Value};

/// The methods [`call`] handles.
pub const NAMES: [&str; 4] = [
    "parse_url",
    "parse_form_url_encoded",
    "filepath_join",
    "filepath_split",
];

/// Dispatches the methods listed in [`NAMES`]; none takes arguments.
pub fn call(t: Value, name: &str) -> Result<Value, String> {
    match name {
        "parse_url" => parse_url(&string_of(&t)?),
        "parse_form_url_encoded" => parse_form(&string_of(&t)?),
        "filepath_join" => {
            let items = t.into_array().map_err(|v| expected("array", &v))?;
            let parts = items.iter().map(string_of).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::String(join_paths(&parts)))
        }
        _ => {
            let s = string_of(&t)?;
            let cut = s.rfind('/').map_or(0, |i| i + 1);
            Ok(Value::Array(vec![
                Value::from(&s[..cut]),
                Value::from(&s[cut..]),
            ]))
        }
    }
}

/// Which component is being (un)escaped: Go's rules differ per component.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Path,
    Segment,
    User,
    Query,
    Fragment,
}

/// Go's `shouldEscape` for the components this module escapes.
fn should_escape(c: u8, part: Part) -> bool {
    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    match c {
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match part {
            Part::Path => c == b'?',
            Part::Segment => matches!(c, b'/' | b';' | b',' | b'?'),
            Part::User => matches!(c, b'@' | b'/' | b'?' | b':'),
            Part::Query => true,
            Part::Fragment => false,
        },
        b'!' | b'(' | b')' | b'*' => part != Part::Fragment,
        _ => true,
    }
}

/// Percent-escapes `s` the way Go writes the component back out.
fn escape(s: &str, part: Part) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b' ' && part == Part::Query {
            out.push('+');
        } else if should_escape(b, part) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Go's `unescape`: `%XX` decoded, `+` a space only in queries; a bad escape is
/// reported with up to three characters from the `%`.
fn unescape(s: &str, part: Part) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    let end = (i + 3).min(bytes.len());
                    let bad = String::from_utf8_lossy(&bytes[i..end]);
                    return Err(format!("invalid URL escape {}", go_quote(&bad)));
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if part == Part::Query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.QueryEscape`.
pub(super) fn query_escape(s: &str) -> String {
    escape(s, Part::Query)
}

/// Go's `url.PathEscape` (one path segment: `/` is escaped).
pub(super) fn path_escape(s: &str) -> String {
    escape(s, Part::Segment)
}

/// Go's `url.QueryUnescape` (`+` is a space).
pub(super) fn query_unescape(s: &str) -> Result<String, String> {
    unescape(s, Part::Query)
}

/// Go's `url.PathUnescape` (`+` stays).
pub(super) fn path_unescape(s: &str) -> Result<String, String> {
    unescape(s, Part::Segment)
}

/// The fields of a parsed URL, named as Bento names them.
#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_path: String,
    raw_query: String,
    fragment: String,
    raw_fragment: String,
}

/// `parse_url`: Go's `url.Parse`, as an object.
fn parse_url(raw: &str) -> Result<Value, String> {
    let (before, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let fail = |whole: &str, e: String| format!("parse {}: {e}", go_quote(whole));
    let mut u = parse_reference(before).map_err(|e| fail(before, e))?;
    if let Some(f) = frag {
        u.fragment = unescape(f, Part::Fragment).map_err(|e| fail(raw, e))?;
        if escape(&u.fragment, Part::Fragment) != f {
            u.raw_fragment = f.to_string();
        }
    }
    let mut m = Object::new();
    for (k, v) in [
        ("scheme", u.scheme),
        ("opaque", u.opaque),
        ("host", u.host),
        ("path", u.path),
        ("raw_path", u.raw_path),
        ("raw_query", u.raw_query),
        ("fragment", u.fragment),
        ("raw_fragment", u.raw_fragment),
    ] {
        m.insert(k.to_string(), Value::String(v));
    }
    if let Some((name, password)) = u.user {
        let mut user = Object::new();
        user.insert("name", Value::String(name));
        if let Some(p) = password {
            user.insert("password", Value::String(p));
        }
        m.insert("user", Value::Object(user));
    }
    Ok(Value::Object(m))
}

/// Go's `getScheme`: letters first, then letters, digits, `+`, `-`, `.` up to `:`.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Everything of `url.Parse` before the fragment.
fn parse_reference(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut u = Url::default();
    if raw == "*" {
        u.path = "*".into();
        return Ok(u);
    }
    let (scheme, mut rest) = split_scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        u.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_string();
            return Ok(u);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let auth = &rest[2..];
        let (auth, path) = match auth.find('/') {
            Some(i) => (&auth[..i], &auth[i..]),
            None => (auth, ""),
        };
        parse_authority(auth, &mut u)?;
        rest = path;
    }
    u.path = unescape(rest, Part::Path)?;
    if escape(&u.path, Part::Path) != rest {
        u.raw_path = rest.to_string();
    }
    Ok(u)
}

/// `user:password@host:port`; the host is validated (brackets, port digits) but
/// kept as written.
fn parse_authority(auth: &str, u: &mut Url) -> Result<(), String> {
    let host = match auth.rfind('@') {
        Some(i) => {
            let info = &auth[..i];
            let (name, password) = match info.split_once(':') {
                Some((n, p)) => (n, Some(unescape(p, Part::User)?)),
                None => (info, None),
            };
            u.user = Some((unescape(name, Part::User)?, password));
            &auth[i + 1..]
        }
        None => auth,
    };
    let port = if host.starts_with('[') {
        let close = host
            .find(']')
            .ok_or_else(|| "missing ']' in host".to_string())?;
        &host[close + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    if let Some(digits) = port.strip_prefix(':') {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
    } else if !port.is_empty() {
        return Err(format!("invalid port {} after host", go_quote(port)));
    }
    u.host = host.to_string();
    Ok(())
}

/// Go's `url.ParseQuery`: `&`-separated pairs, both sides query-unescaped; a key
/// seen once maps to a string, a repeated key to an array of its values.
fn parse_form(s: &str) -> Result<Value, String> {
    let mut m = Object::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        if pair.contains(';') {
            return Err("invalid semicolon separator in query".into());
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (unescape(k, Part::Query)?, unescape(v, Part::Query)?);
        match m.get_mut(&k) {
            Some(Value::Array(a)) => a.push(Value::String(v)),
            Some(first) => {
                let prev = std::mem::replace(first, Value::Null);
                *first = Value::Array(vec![prev, Value::String(v)]);
            }
            None => {
                m.insert(k, Value::String(v));
            }
        }
    }
    Ok(Value::Object(m))
}

/// Go's `filepath.Join` (Unix): non-empty parts joined by `/`, then cleaned.
fn join_paths(parts: &[String]) -> String {
    let kept: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    clean(&kept.join("/"))
}

/// Go's `path.Clean`: collapses `//`, `.` and `..` lexically.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            ".." if rooted => {}
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: &Value, k: &str) -> Value {
        super::super::eval::field(v, k)
    }

    #[test]
    fn urls_parse_like_go() {
        let u =
            parse_url("postgres://al%20ice:s3cret@db.local:5432/app%2Fdb?sslmode=off#top").unwrap();
        assert_eq!(field(&u, "scheme"), Value::from("postgres"));
        assert_eq!(field(&u, "host"), Value::from("db.local:5432"));
        assert_eq!(field(&u, "path"), Value::from("/app/db"));
        assert_eq!(field(&u, "raw_path"), Value::from("/app%2Fdb"));
        assert_eq!(field(&u, "raw_query"), Value::from("sslmode=off"));
        assert_eq!(field(&u, "fragment"), Value::from("top"));
        let user = field(&u, "user");
        assert_eq!(field(&user, "name"), Value::from("al ice"));
        assert_eq!(field(&user, "password"), Value::from("s3cret"));
        let opaque = parse_url("mailto:bob@example.org").unwrap();
        assert_eq!(field(&opaque, "opaque"), Value::from("bob@example.org"));
        assert_eq!(
            parse_url("a b%zq").unwrap_err(),
            "parse \"a b%zq\": invalid URL escape \"%zq\""
        );
        assert!(parse_url("://x").is_err());
        assert!(parse_url("http://h:port/").is_err());
        assert!(parse_url("a:b/c").is_ok());
        assert!(parse_url("/a:b").is_ok());
    }

    #[test]
    fn forms_group_repeated_keys() {
        let v = parse_form("a=1&b=x+y&a=2&a=3&c").unwrap();
        assert_eq!(
            field(&v, "a"),
            Value::Array(vec!["1".into(), "2".into(), "3".into()])
        );
        assert_eq!(field(&v, "b"), Value::from("x y"));
        assert_eq!(field(&v, "c"), Value::from(""));
        assert!(parse_form("a=1;b=2").is_err());
    }

    #[test]
    fn file_paths() {
        let j = |p: &[&str]| join_paths(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(j(&["a", "b/../c", "", "d.txt"]), "a/c/d.txt");
        assert_eq!(j(&["/", "..", "x"]), "/x");
        assert_eq!(j(&["", ""]), "");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(
            call(Value::from("dir/sub/"), "filepath_split").unwrap(),
            Value::Array(vec!["dir/sub/".into(), "".into()])
        );
    }
}
