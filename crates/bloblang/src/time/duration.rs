//! Durations: Go's `time.ParseDuration` syntax (`1h30m`, `50us`) and ISO 8601
//! periods (`P1Y2M3DT4H5M6.5S`) with the rules and wording of the Go period
//! library Bento uses: only the last field may have a fraction, calendar
//! fields are added with Go's `AddDate`, and a period's approximate length
//! counts a year as 365.2425 days and a month as a twelfth of that.

use super::{CivilIn, Timestamp, from_civil};

/// Nanoseconds per unit of Go's duration syntax.
fn unit_nanos(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration string into nanoseconds (Go's `time.ParseDuration`).
pub fn parse_go(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for b in s[..int_len].bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|x| x.checked_add(u64::from(b - b'0')))
                .filter(|x| *x <= LIMIT)
                .ok_or_else(invalid)?;
        }
        s = &s[int_len..];
        let (mut frac, mut scale, mut frac_len) = (0u64, 1f64, 0);
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            // Digits past what fits are read but ignored, as Go does.
            for b in rest[..frac_len].bytes() {
                match frac.checked_mul(10).map(|x| x + u64::from(b - b'0')) {
                    Some(x) if x <= LIMIT && frac <= (LIMIT - 1) / 10 => {
                        frac = x;
                        scale *= 10.0;
                    }
                    _ => break,
                }
            }
            s = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit = unit_nanos(u)
            .ok_or_else(|| format!("time: unknown unit {u:?} in duration {orig:?}"))?;
        let mut v = whole
            .checked_mul(unit)
            .filter(|v| *v <= LIMIT)
            .ok_or_else(invalid)?;
        if frac > 0 {
            v = v.saturating_add((frac as f64 * (unit as f64 / scale)) as u64);
        }
        total = total.saturating_add(v);
        if v > LIMIT || total > LIMIT {
            return Err(invalid());
        }
    }
    match (neg, i64::try_from(total)) {
        (true, _) => Ok(0i64.wrapping_sub_unsigned(total)),
        (false, Ok(t)) => Ok(t),
        (false, Err(_)) => Err(invalid()),
    }
}

/// A decimal field: signed coefficient and digits after the point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Dec {
    coef: i128,
    scale: u32,
}

/// An ISO 8601 period: years, months, weeks, days, hours, minutes, seconds,
/// each already carrying the period's overall sign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    fields: [Dec; 7],
}

const DESIGNATORS: [u8; 7] = [b'Y', b'M', b'W', b'D', b'H', b'M', b'S'];

/// Parses an ISO 8601 period such as `P3Y6M4DT12H30M5S` (an optional sign
/// first; `,` works as the decimal point).
pub fn parse_period(orig: &str) -> Result<Period, String> {
    if orig.is_empty() {
        return Err("cannot parse a blank string as a period".into());
    }
    let (neg, rest) = match orig.as_bytes()[0] {
        b'-' => (true, &orig[1..]),
        b'+' => (false, &orig[1..]),
        _ => (false, orig),
    };
    if matches!(
        rest,
        "P0Y" | "P0M" | "P0W" | "P0D" | "PT0H" | "PT0M" | "PT0S"
    ) {
        return Ok(Period::default());
    }
    if rest.is_empty() {
        return Err("cannot parse a blank string as a period".into());
    }
    let Some(mut s) = rest.strip_prefix('P') else {
        return Err(format!("{orig}: expected 'P' period mark at the start"));
    };
    let mut p = Period::default();
    let mut seen = [false; 7];
    let (mut time_part, mut components) = (false, 0);
    let mut fraction_in: Option<u8> = None;
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('T') {
            if time_part {
                return Err(format!(
                    "{orig}: 'T' designator cannot occur more than once"
                ));
            }
            (time_part, s) = (true, r);
            continue;
        }
        let (num, des, r) = next_field(s, orig)?;
        s = r;
        let idx = match (des, time_part) {
            (b'Y', false) => 0,
            (b'M', false) => 1,
            (b'W', false) => 2,
            (b'D', false) => 3,
            (b'H', true) => 4,
            (b'M', true) => 5,
            (b'S', true) => 6,
            (d, _) => {
                return Err(format!(
                    "{orig}: '{}' designator cannot occur here",
                    d as char
                ));
            }
        };
        if let Some(prev) = fraction_in.filter(|_| num.coef != 0) {
            return Err(format!(
                "{orig}: '{}' & '{}' only the last field can have a fraction",
                prev as char, des as char
            ));
        }
        if seen[idx] {
            let d = DESIGNATORS[idx] as char;
            return Err(format!(
                "{orig}: '{d}' designator cannot occur more than once"
            ));
        }
        seen[idx] = true;
        p.fields[idx] = Dec {
            coef: if neg { -num.coef } else { num.coef },
            scale: num.scale,
        };
        components += 1;
        if num.scale > 0 {
            fraction_in = Some(des);
        }
    }
    if components == 0 {
        return Err(format!(
            "{orig}: expected 'Y', 'M', 'W', 'D', 'H', 'M', or 'S' designator"
        ));
    }
    Ok(p)
}

/// A number and its designator letter at the start of `s`.
fn next_field<'a>(s: &'a str, orig: &str) -> Result<(Dec, u8, &'a str), String> {
    let b = s.as_bytes();
    let n = b
        .iter()
        .enumerate()
        .take_while(|&(i, c)| {
            c.is_ascii_digit() || *c == b'.' || *c == b',' || (i == 0 && *c == b'-')
        })
        .count();
    if n == 0 {
        let c = s.chars().next().unwrap_or(' ');
        return Err(format!("{orig}: expected a number but found '{c}'"));
    }
    if n == b.len() {
        return Err(format!("{orig}: missing designator at the end"));
    }
    let text = s[..n].replace(',', ".");
    let dec = parse_dec(&text).ok_or_else(|| format!("{orig}: number invalid or out of range"))?;
    let des = b[n];
    if !matches!(des, b'Y' | b'M' | b'W' | b'D' | b'H' | b'S') {
        let c = s[n..].chars().next().unwrap_or(' ');
        return Err(format!(
            "{orig}: expected a designator Y, M, W, D, H, or S not '{c}'"
        ));
    }
    Ok((dec, des, &s[n + 1..]))
}

/// A decimal of at most 19 significant digits, like the Go decimal type used.
fn parse_dec(t: &str) -> Option<Dec> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let digits = format!("{int}{frac}");
    if digits.trim_start_matches('0').len() > 19 {
        return None;
    }
    let coef: i128 = digits.parse().ok()?;
    Some(Dec {
        coef: if neg { -coef } else { coef },
        scale: u32::try_from(frac.len()).ok()?,
    })
}

/// `coef × factor / 10^scale` in whole nanoseconds, as the Go library computes it.
fn field_nanos(d: Dec, factor: i128) -> i128 {
    let f = factor / 10_i128.checked_pow(d.scale).unwrap_or(i128::MAX);
    d.coef.saturating_mul(f)
}

impl Period {
    /// The period negated (for `ts_sub_iso8601`).
    pub fn negate(mut self) -> Period {
        for f in &mut self.fields {
            f.coef = -f.coef;
        }
        self
    }

    /// The approximate length in nanoseconds, `None` beyond `i64`.
    pub fn approx_nanos(&self) -> Option<i64> {
        const DAY_E9: i128 = 1_000_000_000;
        let [y, mo, w, d, ..] = self.fields;
        let days_e9 = field_nanos(d, DAY_E9)
            + field_nanos(w, 7 * DAY_E9)
            + field_nanos(mo, 30_436_875 * 1_000)
            + field_nanos(y, 365_242_500 * 1_000);
        let total = days_e9.checked_mul(86_400)? + self.clock_nanos();
        i64::try_from(total).ok()
    }

    fn clock_nanos(&self) -> i128 {
        let [.., h, mi, s] = self.fields;
        field_nanos(h, 3_600_000_000_000)
            + field_nanos(mi, 60_000_000_000)
            + field_nanos(s, 1_000_000_000)
    }

    /// Adds the period to a timestamp: whole calendar fields by date
    /// arithmetic in the timestamp's zone, otherwise by approximate length.
    pub fn add_to(&self, t: &Timestamp) -> Option<Timestamp> {
        let cal = &self.fields[..4];
        let calendar = cal.iter().any(|d| d.coef != 0);
        if calendar && cal.iter().all(|d| d.scale == 0) {
            let whole = |d: Dec| i64::try_from(d.coef).ok();
            let [y, mo, w, d, ..] = self.fields;
            let c = CivilIn::from(t.civil());
            let moved = CivilIn {
                year: c.year.checked_add(whole(y)?)?,
                month: c.month.checked_add(whole(mo)?)?,
                day: c
                    .day
                    .checked_add(whole(w)?.checked_mul(7)?)?
                    .checked_add(whole(d)?)?,
                ..c
            };
            return from_civil(moved, t.zone.clone())?.add_nanos(self.clock_nanos());
        }
        t.add_nanos(i128::from(self.approx_nanos()?))
    }
}
