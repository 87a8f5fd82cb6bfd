//! Header names as Tyk (Go) spells them.

/// Go's `textproto.CanonicalMIMEHeaderKey` for valid token names: `content-type` →
/// `Content-Type`. Tyk hands plugins and context variables header names in this form.
pub fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}
