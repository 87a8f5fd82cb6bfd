//! Civil time without a dependency: enough for `now()` and RFC 3339 output.
//! Timestamps as a value type (`ts_*` methods) will build on this.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the Unix epoch, now. A clock before 1970
/// reads as the epoch rather than failing.
pub fn now_unix() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (the well-known days-to-civil conversion over 400-year eras).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.RFC3339Nano` layout in UTC: `2006-01-02T15:04:05.999999999Z`,
/// with trailing zeros of the fraction (and an empty fraction) dropped.
pub fn rfc3339_nano_utc(secs: i64, nanos: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339_nano() {
        assert_eq!(rfc3339_nano_utc(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano_utc(1_710_505_200, 500_000_000),
            "2024-03-15T12:20:00.5Z"
        );
        assert_eq!(
            rfc3339_nano_utc(951_782_400, 1),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339_nano_utc(-1, 0), "1969-12-31T23:59:59Z");
    }
}
