//! Parsing with a Go layout, following `time.Parse` step by step (its
//! defaults, ranges, zone rules and error wording). Works on bytes, as Go
//! does, so a mismatch inside a multi-byte character cannot split a `str`.

use super::golayout::{Chunk, LONG_DAYS, LONG_MONTHS, SHORT_DAYS, SHORT_MONTHS, Std, next_chunk};
use super::{CivilIn, Timestamp, Zone, days_from_civil, days_in_month, from_civil};

/// Why one element did not parse: Go's `errBad`, or a field out of range.
enum Fail {
    Bad,
    Range(&'static str),
}

/// What has been read so far; `-1` marks "not given", as in Go.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    pm: bool,
    am: bool,
    utc: bool,
    offset: Option<i32>,
    zone_name: Option<String>,
}

fn quote(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// Parses `value` with a Go layout (Go's `time.Parse`, with `Local` as UTC).
pub fn parse(layout: &str, value: &str) -> Result<Timestamp, String> {
    let whole = value.as_bytes();
    let head = |rest: &str| format!("parsing time {} as {:?}", quote(whole), layout) + rest;
    let cannot = |v: &[u8], elem: &str| head(&format!(": cannot parse {} as {elem:?}", quote(v)));
    let mut f = Fields {
        year: 0,
        month: -1,
        day: -1,
        yday: -1,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        pm: false,
        am: false,
        utc: false,
        offset: None,
        zone_name: None,
    };
    let (mut l, mut v) = (layout, whole);
    loop {
        let chunk = next_chunk(l);
        let prefix = chunk.as_ref().map_or(l, |c| c.prefix);
        v = skip(v, prefix.as_bytes()).map_err(|at| cannot(at, prefix))?;
        let Some(c) = chunk else { break };
        l = c.rest;
        match element(&c, &mut f, v) {
            Ok(rest) => v = rest,
            Err(Fail::Bad) => return Err(cannot(v, c.text)),
            Err(Fail::Range(what)) => {
                return Err(format!(
                    "parsing time {}: {what} out of range",
                    quote(whole)
                ));
            }
        }
    }
    let short = |msg: &str| format!("parsing time {}{msg}", quote(whole));
    if !v.is_empty() {
        return Err(short(&format!(": extra text: {}", quote(v))));
    }
    finish(f).map_err(|m| short(&m))
}

/// Go's `skip`: literal layout text must match, and a space in the layout
/// matches any run of spaces in the value. `Err` holds where it stopped.
fn skip<'a>(mut v: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    let cut = |s: &'a [u8]| &s[s.iter().take_while(|&&b| b == b' ').count()..];
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if v.first().is_some_and(|&b| b != b' ') {
                return Err(v);
            }
            prefix = &prefix[prefix.iter().take_while(|&&b| b == b' ').count()..];
            v = cut(v);
            continue;
        }
        if v.first() != Some(&p) {
            return Err(v);
        }
        prefix = &prefix[1..];
        v = &v[1..];
    }
    Ok(v)
}

/// One or two digits (exactly two when `fixed`), Go's `getnum`.
fn num2(v: &[u8], fixed: bool) -> Result<(i64, &[u8]), Fail> {
    let d = |i: usize| {
        v.get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| i64::from(b - b'0'))
    };
    match (d(0), d(1)) {
        (None, _) => Err(Fail::Bad),
        (Some(_), None) if fixed => Err(Fail::Bad),
        (Some(a), None) => Ok((a, &v[1..])),
        (Some(a), Some(b)) => Ok((a * 10 + b, &v[2..])),
    }
}

/// One to three digits (exactly three when `fixed`), Go's `getnum3`.
fn num3(v: &[u8], fixed: bool) -> Result<(i64, &[u8]), Fail> {
    let n = v.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || (fixed && n != 3) {
        return Err(Fail::Bad);
    }
    let val = v[..n]
        .iter()
        .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
    Ok((val, &v[n..]))
}

/// A signed decimal integer with only digits after the sign, Go's `atoi`.
fn atoi(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok().filter(|_| {
        let digits = s.strip_prefix(b"-").or(s.strip_prefix(b"+")).unwrap_or(s);
        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
    })
}

/// Case-insensitive match of one of `names` at the start; its index.
fn lookup<'a>(names: &[&str], v: &'a [u8]) -> Result<(usize, &'a [u8]), Fail> {
    for (i, n) in names.iter().enumerate() {
        if v.len() >= n.len() && v[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
            return Ok((i, &v[n.len()..]));
        }
    }
    Err(Fail::Bad)
}

/// Go's `parseNanoseconds`: separator then digits, scaled to nanoseconds.
fn nanos(v: &[u8], nbytes: usize) -> Result<i64, Fail> {
    if !matches!(v.first(), Some(b'.' | b',')) {
        return Err(Fail::Bad);
    }
    let n = nbytes.min(10).min(v.len());
    let ns = atoi(&v[1..n]).ok_or(Fail::Bad)?;
    if ns < 0 {
        return Err(Fail::Range("fractional second"));
    }
    Ok(ns * 10_i64.pow((10 - n) as u32))
}

fn in_range(x: i64, lo: i64, hi: i64, what: &'static str) -> Result<i64, Fail> {
    if (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(Fail::Range(what))
    }
}

/// Parses one layout element at the start of `v`; returns what follows it.
/// Date elements are here, the others in [`clock_element`].
fn element<'a>(c: &Chunk<'_>, f: &mut Fields, v: &'a [u8]) -> Result<&'a [u8], Fail> {
    let rest = match c.std {
        Std::LongYear => {
            if v.len() < 4 || !v[0].is_ascii_digit() {
                return Err(Fail::Bad);
            }
            f.year = atoi(&v[..4]).ok_or(Fail::Bad)?;
            &v[4..]
        }
        Std::Year => {
            let y = v.get(..2).and_then(atoi).ok_or(Fail::Bad)?;
            f.year = if y >= 69 { y + 1900 } else { y + 2000 };
            &v[2..]
        }
        Std::Month | Std::LongMonth => {
            let names = if c.std == Std::Month {
                &SHORT_MONTHS
            } else {
                &LONG_MONTHS
            };
            let (i, r) = lookup(names, v)?;
            f.month = i as i64 + 1;
            r
        }
        Std::NumMonth | Std::ZeroMonth => {
            let (m, r) = num2(v, c.std == Std::ZeroMonth)?;
            f.month = in_range(m, 1, 12, "month")?;
            r
        }
        Std::WeekDay => lookup(&SHORT_DAYS, v)?.1,
        Std::LongWeekDay => lookup(&LONG_DAYS, v)?.1,
        Std::Day | Std::UnderDay | Std::ZeroDay => {
            let v = match v {
                [b' ', r @ ..] if c.std == Std::UnderDay => r,
                _ => v,
            };
            let (d, r) = num2(v, c.std == Std::ZeroDay)?;
            f.day = d;
            r
        }
        Std::UnderYearDay | Std::ZeroYearDay => {
            let v = &v[v
                .iter()
                .take(2)
                .take_while(|&&b| b == b' ')
                .count()
                .min(if c.std == Std::UnderYearDay { 2 } else { 0 })..];
            let (d, r) = num3(v, c.std == Std::ZeroYearDay)?;
            f.yday = in_range(d, 0, 366, "day-of-year")?;
            r
        }
        _ => return clock_element(c, f, v),
    };
    Ok(rest)
}

/// The time-of-day, zone and fraction elements of [`element`].
fn clock_element<'a>(c: &Chunk<'_>, f: &mut Fields, v: &'a [u8]) -> Result<&'a [u8], Fail> {
    let rest = match c.std {
        Std::Hour => {
            let (h, r) = num2(v, false)?;
            f.hour = in_range(h, 0, 23, "hour")?;
            r
        }
        Std::Hour12 | Std::ZeroHour12 => {
            let (h, r) = num2(v, c.std == Std::ZeroHour12)?;
            f.hour = in_range(h, 0, 12, "hour")?;
            r
        }
        Std::Minute | Std::ZeroMinute => {
            let (m, r) = num2(v, c.std == Std::ZeroMinute)?;
            f.minute = in_range(m, 0, 59, "minute")?;
            r
        }
        Std::Second | Std::ZeroSecond => {
            let (s, r) = num2(v, c.std == Std::ZeroSecond)?;
            f.second = in_range(s, 0, 59, "second")?;
            seconds_fraction(c, f, r)?
        }
        Std::UpperPm | Std::LowerPm => {
            let p = v.get(..2).ok_or(Fail::Bad)?;
            let (am, pm): (&[u8], &[u8]) = if c.std == Std::UpperPm {
                (b"AM", b"PM")
            } else {
                (b"am", b"pm")
            };
            f.pm = p == pm;
            f.am = p == am;
            if !f.pm && !f.am {
                return Err(Fail::Bad);
            }
            &v[2..]
        }
        Std::ZoneName => zone_name(f, v)?,
        Std::Offset(style) => {
            if style.iso && v.first() == Some(&b'Z') {
                f.utc = true;
                return Ok(&v[1..]);
            }
            offset(style.colon, style.short, style.seconds, f, v)?
        }
        Std::Frac0(n, _) => {
            let nd = n + 1;
            if v.len() < nd {
                return Err(Fail::Bad);
            }
            f.nanos = nanos(v, nd)?;
            &v[nd..]
        }
        Std::Frac9(..) => {
            if v.len() < 2 || !matches!(v[0], b'.' | b',') || !v[1].is_ascii_digit() {
                return Ok(v);
            }
            let n = 1 + v[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            f.nanos = nanos(v, n)?;
            &v[n..]
        }
        _ => return Err(Fail::Bad),
    };
    Ok(rest)
}

/// Go accepts a fraction after seconds even when the layout has none, unless
/// the layout's next element is itself a fraction.
fn seconds_fraction<'a>(c: &Chunk<'_>, f: &mut Fields, v: &'a [u8]) -> Result<&'a [u8], Fail> {
    let frac_follows = v.len() >= 2 && matches!(v[0], b'.' | b',') && v[1].is_ascii_digit();
    let layout_has_frac =
        next_chunk(c.rest).is_some_and(|n| matches!(n.std, Std::Frac0(..) | Std::Frac9(..)));
    if !frac_follows || layout_has_frac {
        return Ok(v);
    }
    let n = 2 + v[2..].iter().take_while(|b| b.is_ascii_digit()).count();
    f.nanos = nanos(v, n)?;
    Ok(&v[n..])
}

/// A zone abbreviation (`MST`): `UTC`, or something that looks like a zone.
fn zone_name<'a>(f: &mut Fields, v: &'a [u8]) -> Result<&'a [u8], Fail> {
    if v.starts_with(b"UTC") {
        f.utc = true;
        return Ok(&v[3..]);
    }
    let n = zone_name_len(v).ok_or(Fail::Bad)?;
    f.zone_name = Some(String::from_utf8_lossy(&v[..n]).into_owned());
    Ok(&v[n..])
}

/// Go's `parseTimeZone`: how many bytes of `v` plausibly name a zone.
fn zone_name_len(v: &[u8]) -> Option<usize> {
    if v.len() < 3 {
        return None;
    }
    if v.starts_with(b"ChST") || v.starts_with(b"MeST") {
        return Some(4);
    }
    if v.starts_with(b"GMT") {
        return Some(3 + signed_offset_len(&v[3..]).unwrap_or(0));
    }
    if matches!(v[0], b'+' | b'-') {
        return signed_offset_len(v);
    }
    let upper = v
        .iter()
        .take(6)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if v[3] == b'T' || v.starts_with(b"WITA") => Some(4),
        5 if v[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: `+h` or `-hh` with the hour at most 23.
fn signed_offset_len(v: &[u8]) -> Option<usize> {
    if !matches!(v.first(), Some(b'+' | b'-')) {
        return None;
    }
    let n = v[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    let x = atoi(&v[1..1 + n])?;
    (n > 0 && x <= 23).then_some(1 + n)
}

/// A numeric offset such as `-0700` or `+07:00:00`.
fn offset<'a>(
    colon: bool,
    short: bool,
    secs: bool,
    f: &mut Fields,
    v: &'a [u8],
) -> Result<&'a [u8], Fail> {
    // Positions of the sign, hours, minutes and seconds, and the length.
    let (m, s, len) = match (short, colon, secs) {
        (true, _, _) => (None, None, 3),
        (false, true, false) => (Some(4), None, 6),
        (false, true, true) => (Some(4), Some(7), 9),
        (false, false, true) => (Some(3), Some(5), 7),
        (false, false, false) => (Some(3), None, 5),
    };
    if v.len() < len || (colon && v[3] != b':') || (colon && secs && v[6] != b':') {
        return Err(Fail::Bad);
    }
    let two = |at: Option<usize>| match at {
        Some(i) => num2(&v[i..i + 2], true).map(|(n, _)| n),
        None => Ok(0),
    };
    let (hr, mm, ss) = (two(Some(1))?, two(m)?, two(s)?);
    in_range(hr, 0, 24, "time zone offset hour")?;
    in_range(mm, 0, 60, "time zone offset minute")?;
    in_range(ss, 0, 60, "time zone offset second")?;
    let total = ((hr * 60 + mm) * 60 + ss) as i32;
    f.offset = Some(match v[0] {
        b'+' => total,
        b'-' => -total,
        _ => return Err(Fail::Bad),
    });
    Ok(&v[len..])
}

/// Applies Go's defaults and checks, then places the wall time in its zone.
fn finish(mut f: Fields) -> Result<Timestamp, String> {
    if f.pm && f.hour < 12 {
        f.hour += 12;
    } else if f.am && f.hour == 12 {
        f.hour = 0;
    }
    if f.yday >= 0 {
        let start = days_from_civil(f.year, 1, 1);
        let last = if days_in_month(f.year, 2) == 29 {
            366
        } else {
            365
        };
        if f.yday < 1 || f.yday > last {
            return Err(": day-of-year out of range".into());
        }
        let (_, m, d) = super::civil_from_days(start + f.yday - 1);
        if f.month >= 0 && f.month != i64::from(m) {
            return Err(": day-of-year does not match month".into());
        }
        if f.day >= 0 && f.day != i64::from(d) {
            return Err(": day-of-year does not match day".into());
        }
        (f.month, f.day) = (m.into(), d.into());
    }
    if f.month < 0 {
        f.month = 1;
    }
    if f.day < 0 {
        f.day = 1;
    }
    if f.day < 1 || f.day > i64::from(days_in_month(f.year, f.month as u32)) {
        return Err(": day out of range".into());
    }
    let wall = CivilIn {
        year: f.year,
        month: f.month,
        day: f.day,
        hour: f.hour,
        minute: f.minute,
        second: f.second,
        nanos: f.nanos,
    };
    let range = || ": time out of range".to_string();
    let utc = from_civil(wall, Zone::Utc).ok_or_else(range)?;
    if f.utc {
        return Ok(utc);
    }
    if let Some(off) = f.offset {
        let t = utc
            .add_nanos(-i128::from(off) * 1_000_000_000)
            .ok_or_else(range)?;
        let name = f.zone_name.unwrap_or_default();
        // An offset equal to the local zone's (UTC here) is the local zone.
        if off == 0 && (name.is_empty() || name == "UTC") {
            return Ok(t);
        }
        return Ok(t.in_zone(Zone::Fixed {
            offset: off,
            name: name.into(),
        }));
    }
    if let Some(name) = f.zone_name {
        // An unknown abbreviation keeps the wall time as UTC and only records
        // the name, except that `GMT+3` also records its offset.
        let offset = match name.strip_prefix("GMT") {
            Some(h) if !h.is_empty() => atoi(h.as_bytes()).unwrap_or(0) as i32 * 3600,
            _ => 0,
        };
        return Ok(utc.in_zone(Zone::Fixed {
            offset,
            name: name.into(),
        }));
    }
    Ok(utc)
}
