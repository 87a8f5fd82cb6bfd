//! Query parameters of a `path?query` url, form-encoded as Go's `url.Values` writes them.
//! Pairs the plugin does not touch keep their original spelling and order.

/// The first value of `name`, decoded.
pub(crate) fn get(url: &str, name: &[u8]) -> Option<Vec<u8>> {
    let (_, query) = url.split_once('?')?;
    pairs(query).find_map(|(k, v)| (decode(k) == name).then(|| decode(v)))
}

/// `url` with every value of `name` replaced by `value` (appended last).
pub(crate) fn set(url: &str, name: &[u8], value: &[u8]) -> String {
    let mut out = delete(url, name);
    out.push(if out.contains('?') { '&' } else { '?' });
    encode_into(&mut out, name);
    out.push('=');
    encode_into(&mut out, value);
    out
}

/// `url` without any value of `name`; drops the `?` when nothing is left.
pub(crate) fn delete(url: &str, name: &[u8]) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && decode(key) != name
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; a malformed escape stays as written.
fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in bytes {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(c as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(c >> 4)] as char);
                out.push(HEX[usize::from(c & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_decodes_the_first_value() {
        assert_eq!(get("/p?a=1&b=x+y%21&a=2", b"b"), Some(b"x y!".to_vec()));
        assert_eq!(get("/p?a=1&a=2", b"a"), Some(b"1".to_vec()));
        assert_eq!(get("/p?flag", b"flag"), Some(Vec::new()));
        assert_eq!(get("/p?a=%zz%4", b"a"), Some(b"%zz%4".to_vec()));
        assert_eq!(get("/p", b"a"), None);
        assert_eq!(get("/p?x%20y=1", b"x y"), Some(b"1".to_vec()));
    }

    #[test]
    fn set_replaces_every_value_and_keeps_the_rest() {
        assert_eq!(set("/p?a=1&b=2&a=3", b"a", b"v w&"), "/p?b=2&a=v+w%26");
        assert_eq!(set("/p", b"k", b"v"), "/p?k=v");
    }

    #[test]
    fn delete_drops_the_question_mark_when_empty() {
        assert_eq!(delete("/p?a=1&b=2", b"a"), "/p?b=2");
        assert_eq!(delete("/p?a=1", b"a"), "/p");
        assert_eq!(delete("/p", b"a"), "/p");
    }
}
