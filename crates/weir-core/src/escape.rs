//! String escaping shared by the gateway's templates.

/// Tyk's `jsonEscapeString`: `s` as the inside of a JSON (or Bloblang) double-quoted string —
/// quotes, backslashes and control characters escaped, everything else kept.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(
            json_string("a\"b\\\n\r\t\u{1}é"),
            "a\\\"b\\\\\\n\\r\\t\\u0001é"
        );
    }
}
