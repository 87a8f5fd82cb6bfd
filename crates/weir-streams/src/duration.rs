//! Go's duration strings (`5s`, `1m30s`, `250ms`), as Bento configs write them.

use std::time::Duration;

/// Parses a Go duration with the Bloblang crate's exact parser (Go's own rules and errors);
/// `""` is zero, as an unset field. Negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    let nanos = bloblang::time::duration::parse_go(s).map_err(|e| {
        format!("`{text}` is not a duration (write it as Go does: 5s, 1m30s, 250ms): {e}")
    })?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("`{text}` is negative; a duration here must not be"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_go_duration("").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("1 week").is_err());
    }
}
