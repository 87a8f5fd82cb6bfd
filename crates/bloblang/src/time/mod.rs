//! Timestamps as Bento sees them: a Go `time.Time`, i.e. an instant plus the
//! location it is shown in.
//!
//! Decisions:
//! - The instant is kept as Go keeps it (whole seconds since the Unix epoch
//!   and nanoseconds), and civil dates are computed here, so the whole `i64`
//!   range of unix seconds works without a range error from a date library.
//! - IANA zones come from `jiff` with its **bundled** tz database
//!   (`tzdb-bundle-always`), so results do not depend on the machine's
//!   `/usr/share/zoneinfo`. Only offsets and abbreviations are asked of it.
//! - Go's `time.Local` is taken to be UTC: Weir runs with `TZ=UTC`, and a
//!   gateway's output should not change with the host's zone. So unix numbers
//!   become UTC timestamps, and `"Local"` names UTC.

pub mod duration;
pub mod golayout;
mod goparse;
pub mod strftime;
mod strptime;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::value::Value;

/// Seconds per day.
const DAY: i64 = 86_400;

/// Where a timestamp is shown: what Go's `*time.Location` is to a `time.Time`.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// UTC (also Go's `Local` here): offset 0, abbreviation `UTC`.
    Utc,
    /// A fixed offset in seconds east of UTC, as parsed from `+01:00`. An empty
    /// name prints as a numeric offset where Go's `MST` token asks for a name.
    Fixed {
        /// Seconds east of UTC.
        offset: i32,
        /// The zone abbreviation, empty when none was parsed.
        name: Box<str>,
    },
    /// A zone of the IANA database, such as `America/New_York`.
    Iana(jiff::tz::TimeZone),
}

impl Zone {
    /// Loads a zone by name as Go's `time.LoadLocation` does: `""` and `"UTC"`
    /// are UTC, `"Local"` is the local zone (UTC here), else an IANA name.
    pub fn load(name: &str) -> Result<Zone, String> {
        if name.is_empty() || name == "UTC" || name == "Local" {
            return Ok(Zone::Utc);
        }
        jiff::tz::TimeZone::get(name)
            .map(Zone::Iana)
            .map_err(|_| format!("unknown time zone {name}"))
    }

    /// The offset from UTC in seconds at the instant `secs`.
    pub fn offset_at(&self, secs: i64) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed { offset, .. } => *offset,
            Zone::Iana(tz) => tz.to_offset(jiff_instant(secs)).seconds(),
        }
    }

    /// The abbreviation Go prints for `MST`; empty when the zone has none.
    pub fn abbreviation_at(&self, secs: i64) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Fixed { name, .. } => name.to_string(),
            Zone::Iana(tz) => tz
                .to_offset_info(jiff_instant(secs))
                .abbreviation()
                .to_string(),
        }
    }
}

/// An instant for zone look-ups, clamped to the range the database covers
/// (rules at the ends of that range hold beyond it).
fn jiff_instant(secs: i64) -> jiff::Timestamp {
    let (lo, hi) = (jiff::Timestamp::MIN, jiff::Timestamp::MAX);
    let s = secs.clamp(lo.as_second(), hi.as_second());
    jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// A Bloblang timestamp value (Go's `time.Time`).
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1e9`.
    pub nanos: u32,
    /// The zone it is shown in.
    pub zone: Zone,
}

/// A timestamp's wall clock in its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Proleptic Gregorian year.
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Nanoseconds, 0..1e9.
    pub nanos: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
    /// Day of the year, 1..=366.
    pub yday: u32,
}

impl Timestamp {
    /// A UTC timestamp from seconds and nanoseconds that may be out of range
    /// (negative nanoseconds borrow from the seconds), as Go's `time.Unix`.
    pub fn from_unix(secs: i64, nanos: i64) -> Option<Timestamp> {
        let carry = nanos.div_euclid(1_000_000_000);
        Some(Timestamp {
            secs: secs.checked_add(carry)?,
            nanos: u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?,
            zone: Zone::Utc,
        })
    }

    /// The current time, in UTC.
    pub fn now() -> Timestamp {
        let (secs, nanos) = now_unix();
        Timestamp {
            secs,
            nanos,
            zone: Zone::Utc,
        }
    }

    /// The same instant shown in another zone (Go's `t.In(loc)`).
    pub fn in_zone(&self, zone: Zone) -> Timestamp {
        Timestamp {
            zone,
            ..self.clone()
        }
    }

    /// Seconds east of UTC of this timestamp's zone at its instant.
    pub fn offset(&self) -> i32 {
        self.zone.offset_at(self.secs)
    }

    /// The wall clock in the timestamp's own zone.
    pub fn civil(&self) -> Civil {
        let local = self.secs.saturating_add(i64::from(self.offset()));
        let (days, rem) = (local.div_euclid(DAY), local.rem_euclid(DAY));
        let (year, month, day) = civil_from_days(days);
        let yday = days - days_from_civil(year, 1, 1) + 1;
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            nanos: self.nanos,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday: yday as u32,
        }
    }

    /// Nanoseconds since the epoch as `i128`, which never overflows.
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// The timestamp `nanos` nanoseconds later (Go's `t.Add(d)`), `None` when
    /// the result leaves the representable range.
    pub fn add_nanos(&self, nanos: i128) -> Option<Timestamp> {
        let total = self.unix_nanos().checked_add(nanos)?;
        let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
        let nanos = u32::try_from(total.rem_euclid(1_000_000_000)).ok()?;
        Some(Timestamp {
            secs,
            nanos,
            zone: self.zone.clone(),
        })
    }

    /// Go's `time.RFC3339Nano` rendering, which Bento uses for JSON and strings.
    pub fn to_rfc3339_nano(&self) -> String {
        golayout::format(self, golayout::RFC3339_NANO)
    }
}

/// Builds a timestamp from a wall clock in `zone`, normalising out-of-range
/// fields as Go's `time.Date` does (month 13 is January of the next year,
/// day 0 the last day of the previous month, and so on).
pub fn from_civil(c: CivilIn, zone: Zone) -> Option<Timestamp> {
    let m0 = c.month.checked_sub(1)?;
    let year = c.year.checked_add(m0.div_euclid(12))?;
    let month = (m0.rem_euclid(12) + 1) as u32;
    if year.unsigned_abs() > 1 << 40 {
        return None;
    }
    let days = days_from_civil(year, month, 1).checked_add(c.day.checked_sub(1)?)?;
    let local = days
        .checked_mul(DAY)?
        .checked_add(c.hour.checked_mul(3600)?)?
        .checked_add(c.minute.checked_mul(60)?)?
        .checked_add(c.second)?;
    // Go's resolution: take the offset in force at the wall time read as
    // UTC, then correct it once if the instant that gives lies elsewhere.
    let first = zone.offset_at(local);
    let utc = local.checked_sub(i64::from(
        zone.offset_at(local.saturating_sub(i64::from(first))),
    ))?;
    let t = Timestamp::from_unix(utc, c.nanos)?;
    Some(t.in_zone(zone))
}

/// Wall-clock fields for [`from_civil`], any of which may be out of range.
#[derive(Debug, Clone, Copy, Default)]
pub struct CivilIn {
    /// Year.
    pub year: i64,
    /// Month, normally 1..=12.
    pub month: i64,
    /// Day of the month, normally 1..=31.
    pub day: i64,
    /// Hour.
    pub hour: i64,
    /// Minute.
    pub minute: i64,
    /// Second.
    pub second: i64,
    /// Nanoseconds.
    pub nanos: i64,
}

impl From<Civil> for CivilIn {
    fn from(c: Civil) -> Self {
        CivilIn {
            year: c.year,
            month: i64::from(c.month),
            day: i64::from(c.day),
            hour: i64::from(c.hour),
            minute: i64::from(c.minute),
            second: i64::from(c.second),
            nanos: i64::from(c.nanos),
        }
    }
}

/// Bento's `IGetTimestamp`: a timestamp as it is, a number as unix seconds
/// (a float's fraction as nanoseconds), a string or bytes as RFC 3339.
pub fn coerce(v: &Value) -> Result<Timestamp, String> {
    let out_of_range = || format!("timestamp out of range: {}", v.describe());
    match v {
        Value::Timestamp(t) => Ok((**t).clone()),
        Value::String(s) => golayout::parse(golayout::RFC3339_NANO, s),
        Value::Bytes(b) => golayout::parse(golayout::RFC3339_NANO, &String::from_utf8_lossy(b)),
        Value::Int(i) => Ok(Timestamp::from_unix(*i, 0).ok_or_else(out_of_range)?),
        // Go converts with int64(u), which wraps.
        Value::UInt(u) => Ok(Timestamp::from_unix(*u as i64, 0).ok_or_else(out_of_range)?),
        Value::Float(f) => from_float(*f).ok_or_else(out_of_range),
        Value::Number(_) => match v.as_num() {
            Some(crate::value::Num::Int(i)) => Timestamp::from_unix(i, 0).ok_or_else(out_of_range),
            Some(n) => from_float(n.as_f64()).ok_or_else(out_of_range),
            None => Err(format!(
                "failed to parse value '{}' as number",
                v.describe()
            )),
        },
        other => Err(format!(
            "expected number or string value, got {}",
            other.describe()
        )),
    }
}

/// Unix seconds with a fraction, split as Go does (truncate, then the
/// fraction times 1e9 truncated to nanoseconds).
fn from_float(f: f64) -> Option<Timestamp> {
    if !f.is_finite() || f.abs() >= 9.2e18 {
        return None;
    }
    let whole = f.trunc();
    let frac = ((f - whole) * 1e9) as i64;
    Timestamp::from_unix(whole as i64, frac)
}

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

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`]); `month` must be 1..=12, `day` may be any size.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in a month of a year, by the Gregorian leap rule.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `time.RFC3339Nano` layout in UTC: `2006-01-02T15:04:05.999999999Z`,
/// with trailing zeros of the fraction (and an empty fraction) dropped.
pub fn rfc3339_nano_utc(secs: i64, nanos: u32) -> String {
    Timestamp {
        secs,
        nanos,
        zone: Zone::Utc,
    }
    .to_rfc3339_nano()
}

#[cfg(test)]
mod tests;
