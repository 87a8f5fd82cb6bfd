//! Parsing with C-style `%` formats, as the Go library behind Bento's
//! `ts_strptime` does: fixed-width numbers with ranges, case-insensitive
//! names, `%f` as microseconds (up to six digits), and its error wording.

use super::golayout::{LONG_DAYS, LONG_MONTHS, SHORT_DAYS, SHORT_MONTHS};
use super::strftime::composition;
use super::{CivilIn, Timestamp, Zone, from_civil};

/// Fields read so far; year 1900, January and "no day" are the defaults.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    yday: i64,
    week: Option<(i64, i64)>,
    weekday: i64,
    century: Option<i64>,
    pm: bool,
    iso_year: bool,
    zone: Zone,
    unix: Option<i64>,
}

/// Parses `source` with a strftime-style format.
pub fn parse(source: &str, format: &str) -> Result<Timestamp, String> {
    parse_fields(source.as_bytes(), format.as_bytes())
        .and_then(finish)
        .map_err(|e| format!("failed to parse {source:?} with {format:?}: {e}"))
}

/// Reads up to `size` digits in `lo..=hi`; the error names the code.
fn number(s: &[u8], j: &mut usize, size: usize, lo: i64, hi: i64, code: u8) -> Result<i64, String> {
    let digits = s[*j..]
        .iter()
        .take(size)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let mut v: i64 = 0;
    for &b in &s[*j..*j + digits] {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if digits == 0 || v < lo || v > hi {
        return Err(format!("cannot parse \"%{}\"", char::from(code)));
    }
    *j += digits;
    Ok(v)
}

/// Matches one of `names` case-insensitively; its 1-based index.
fn name(s: &[u8], j: &mut usize, names: &[&str], code: u8) -> Result<i64, String> {
    for (i, n) in names.iter().enumerate() {
        let end = *j + n.len();
        if s.len() >= end && s[*j..end].eq_ignore_ascii_case(n.as_bytes()) {
            *j = end;
            return Ok(i as i64 + 1);
        }
    }
    Err(format!("cannot parse \"%{}\"", char::from(code)))
}

fn expected(b: u8) -> String {
    format!("expected '{}'", char::from(b))
}

fn parse_fields(s: &[u8], fmt: &[u8]) -> Result<Fields, String> {
    let mut f = Fields {
        year: 1900,
        month: 1,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        yday: 0,
        week: None,
        weekday: 0,
        century: None,
        pm: false,
        iso_year: false,
        zone: Zone::Utc,
        unix: None,
    };
    let mut j = 0;
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            if s.get(j) != Some(&fmt[i]) {
                return Err(expected(fmt[i]));
            }
            (i, j) = (i + 1, j + 1);
            continue;
        }
        let Some(&code) = fmt.get(i + 1) else {
            return Err("stray \"%\"".into());
        };
        i += 2;
        if code == b':' {
            let colons = 1 + fmt[i..].iter().take_while(|&&b| b == b':').count().min(1);
            if fmt.get(i + colons - 1) != Some(&b'z') {
                return Err(format!("expected 'z' after \"%{}\"", ":".repeat(colons)));
            }
            i += colons;
            zone_offset(s, &mut j, &mut f, colons)?;
            continue;
        }
        match composition(code) {
            Some(parts) => {
                for p in parts.bytes() {
                    if p.is_ascii_alphabetic() {
                        field(s, &mut j, &mut f, p)?;
                    } else if s.get(j) == Some(&p) {
                        j += 1;
                    } else {
                        return Err(expected(p));
                    }
                }
            }
            None => field(s, &mut j, &mut f, code)?,
        }
    }
    if j < s.len() {
        return Err(format!(
            "unparsed string {:?}",
            String::from_utf8_lossy(&s[j..])
        ));
    }
    Ok(f)
}

/// Reads one `%` code's field at `j`.
fn field(s: &[u8], j: &mut usize, f: &mut Fields, code: u8) -> Result<(), String> {
    let space = |j: &mut usize| {
        if s.get(*j) == Some(&b' ') {
            *j += 1;
        }
    };
    match code {
        b'Y' => f.year = number(s, j, 4, 0, 9999, code)?,
        b'y' => {
            let y = number(s, j, 2, 0, 99, code)?;
            f.year = if y < 69 { y + 2000 } else { y + 1900 };
        }
        b'C' => f.century = Some(number(s, j, 2, 0, 99, code)?),
        b'g' => (f.year, f.iso_year) = (number(s, j, 2, 0, 99, code)? + 2000, true),
        b'G' => (f.year, f.iso_year) = (number(s, j, 4, 0, 9999, code)?, true),
        b'm' => f.month = number(s, j, 2, 1, 12, code)?,
        b'B' => f.month = name(s, j, &LONG_MONTHS, code)?,
        b'b' | b'h' => f.month = name(s, j, &SHORT_MONTHS, code)?,
        b'A' => f.weekday = name(s, j, &LONG_DAYS, code)?,
        b'a' => f.weekday = name(s, j, &SHORT_DAYS, code)?,
        b'w' => f.weekday = number(s, j, 1, 0, 6, code)? + 1,
        b'u' => f.weekday = number(s, j, 1, 1, 7, code)? % 7 + 1,
        b'V' | b'U' | b'W' => {
            let lo = if code == b'V' { 1 } else { 0 };
            let week = number(s, j, 2, lo, 53, code)?;
            // Week starts: Thursday-anchored ISO weeks, Sunday, Monday.
            let start = match code {
                b'V' => 4,
                b'U' => 0,
                _ => 1,
            };
            f.week = Some((week, start));
            if f.weekday == 0 {
                f.weekday = if code == b'U' { 1 } else { 2 };
            }
        }
        b'e' | b'd' => {
            if code == b'e' {
                space(j);
            }
            f.day = number(s, j, 2, 1, 31, code)?;
        }
        b'j' => f.yday = number(s, j, 3, 1, 366, code)?,
        _ => return clock_field(s, j, f, code),
    }
    Ok(())
}

/// The time-of-day, zone and literal codes of [`field`].
fn clock_field(s: &[u8], j: &mut usize, f: &mut Fields, code: u8) -> Result<(), String> {
    let space = |j: &mut usize| {
        if s.get(*j) == Some(&b' ') {
            *j += 1;
        }
    };
    match code {
        b'k' | b'H' => {
            if code == b'k' {
                space(j);
            }
            f.hour = number(s, j, 2, 0, 23, code)?;
        }
        b'l' | b'I' => {
            if code == b'l' {
                space(j);
            }
            f.hour = number(s, j, 2, 1, 12, code)? % 12;
        }
        b'P' | b'p' => f.pm = name(s, j, &["AM", "PM"], code)? == 2,
        b'M' => f.minute = number(s, j, 2, 0, 59, code)?,
        b'S' => f.second = number(s, j, 2, 0, 60, code)?,
        b's' => f.unix = Some(number(s, j, 10, 0, i64::MAX, code)?),
        b'f' => {
            let at = *j;
            let usec = number(s, j, 6, 0, 999_999, code)?;
            f.nanos = usec * 10_i64.pow((6 - (*j - at)) as u32) * 1000;
        }
        b'Z' => zone_name(s, j, f)?,
        b'z' => zone_offset(s, j, f, 0)?,
        b't' | b'n' => {
            let n = s[*j..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            if n == 0 {
                return Err(format!("expected a space for \"%{}\"", char::from(code)));
            }
            *j += n;
        }
        b'%' => {
            if s.get(*j) != Some(&b'%') {
                return Err(expected(b'%'));
            }
            *j += 1;
        }
        _ => return Err(format!("unexpected format \"%{}\"", char::from(code))),
    }
    Ok(())
}

/// `%Z`: upper-case letters naming a zone; `UTC` is UTC, others are recorded
/// by name with the offset kept (local time here is UTC).
fn zone_name(s: &[u8], j: &mut usize, f: &mut Fields) -> Result<(), String> {
    let n = s[*j..]
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    let text = String::from_utf8_lossy(&s[*j..*j + n]).into_owned();
    let parsed = super::golayout::parse("MST", &text)
        .map_err(|_| format!("cannot parse {text:?} with \"%Z\""))?;
    *j += n;
    f.zone = match (&f.zone, parsed.zone) {
        (Zone::Fixed { offset, .. }, Zone::Fixed { name, .. }) => Zone::Fixed {
            offset: *offset,
            name,
        },
        (_, z) => z,
    };
    Ok(())
}

/// `%z`, `%:z` and `%::z`: `Z`, or a sign, hours and optional minutes/seconds.
fn zone_offset(s: &[u8], j: &mut usize, f: &mut Fields, colons: usize) -> Result<(), String> {
    let tag = ":".repeat(colons);
    let bad = || format!("cannot parse \"%{tag}z\"");
    let sign = match s.get(*j) {
        Some(b'Z') => {
            *j += 1;
            f.zone = Zone::Utc;
            return Ok(());
        }
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let two = |at: usize| -> Option<i64> {
        let d = s.get(at..at + 2)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
    };
    let hour = two(*j + 1).filter(|h| *h <= 23).ok_or_else(bad)?;
    *j += 3;
    let mut minute = 0;
    let has_colon = s.get(*j) == Some(&b':');
    if colons > 0 && !has_colon {
        return Err(format!("expected ':' for \"%{tag}z\""));
    }
    let at = *j + usize::from(has_colon);
    match two(at).filter(|m| *m <= 59) {
        Some(m) => (minute, *j) = (m, at + 2),
        None if colons > 0 => return Err(bad()),
        None => {}
    }
    let name = match &f.zone {
        Zone::Fixed { name, .. } => name.clone(),
        _ => "".into(),
    };
    let offset = (sign * (hour * 3600 + minute * 60)) as i32;
    f.zone = Zone::Fixed { offset, name };
    Ok(())
}

/// Applies the collected fields: century, AM/PM, day-of-year and week forms.
fn finish(f: Fields) -> Result<Timestamp, String> {
    let range = || "time out of range".to_string();
    if let Some(unix) = f.unix {
        return Timestamp::from_unix(unix, 0).ok_or_else(range);
    }
    let hour = if f.pm { f.hour + 12 } else { f.hour };
    let year = match f.century {
        Some(c) => c * 100 + f.year % 100,
        None => f.year,
    };
    let mut wall = CivilIn {
        year,
        month: f.month,
        day: f.day,
        hour,
        minute: f.minute,
        second: f.second,
        nanos: f.nanos,
    };
    if f.day == 0 {
        wall.day = 1;
        if f.yday > 0 {
            if f.iso_year {
                return Err("use \"%Y\" to parse non-ISO year for \"%j\"".into());
            }
            (wall.month, wall.day) = (1, f.yday);
        } else if let Some((week, start)) = f.week {
            if start == 4 && !f.iso_year {
                return Err("use \"%G\" to parse ISO year for \"%V\"".into());
            }
            if start != 4 && f.iso_year {
                return Err("use \"%Y\" to parse non-ISO year for \"%U\" or \"%W\"".into());
            }
            let week = if start > 0 && f.weekday == 1 {
                week + 1
            } else {
                week
            };
            let base = from_civil(
                CivilIn {
                    month: 1,
                    day: -start,
                    ..wall
                },
                Zone::Utc,
            )
            .ok_or_else(range)?;
            let base_wd = i64::from(base.civil().weekday);
            (wall.month, wall.day) = (1, -start + week * 7 - base_wd + f.weekday - 1);
        }
    }
    from_civil(wall, f.zone).ok_or_else(range)
}
