//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`): formatting as
//! `time.Time.Format` does and parsing as `time.Parse` does, with Go's error
//! wording, since Bento passes both through to users.

use super::Timestamp;

/// Go's `time.RFC3339Nano`, Bento's default rendering of a timestamp.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

pub(super) const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(super) const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
pub(super) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// How a numeric zone offset is written: `Z07:00` is `iso` + `colon`, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TzStyle {
    /// `Z` for UTC instead of `+00:00`.
    pub(super) iso: bool,
    pub(super) colon: bool,
    /// Hours only (`-07`).
    pub(super) short: bool,
    /// With seconds (`-07:00:00`).
    pub(super) seconds: bool,
}

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    UpperPm,
    LowerPm,
    ZoneName,
    Offset(TzStyle),
    /// Fraction with a fixed number of digits (`.000`), and its separator.
    Frac0(usize, u8),
    /// Fraction with trailing zeros trimmed (`.999`), and its separator.
    Frac9(usize, u8),
}

/// A layout element found: the literal text before it, the element, its
/// text in the layout, and the rest of the layout.
pub(super) struct Chunk<'a> {
    pub(super) prefix: &'a str,
    pub(super) std: Std,
    pub(super) text: &'a str,
    pub(super) rest: &'a str,
}

fn tz(iso: bool, colon: bool, short: bool, seconds: bool) -> Std {
    Std::Offset(TzStyle {
        iso,
        colon,
        short,
        seconds,
    })
}

/// The element starting at byte `i` of `l`, and its length.
fn std_at(l: &str, i: usize) -> Option<(Std, usize)> {
    let b = l.as_bytes();
    let rest = &l[i..];
    let lower_after = |n: usize| b.get(i + n).is_some_and(u8::is_ascii_lowercase);
    let digit_at = |n: usize| b.get(i + n).is_some_and(u8::is_ascii_digit);
    Some(match b[i] {
        b'J' if rest.starts_with("January") => (Std::LongMonth, 7),
        b'J' if rest.starts_with("Jan") && !lower_after(3) => (Std::Month, 3),
        b'M' if rest.starts_with("Monday") => (Std::LongWeekDay, 6),
        b'M' if rest.starts_with("Mon") && !lower_after(3) => (Std::WeekDay, 3),
        b'M' if rest.starts_with("MST") => (Std::ZoneName, 3),
        b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => (
            [
                Std::ZeroMonth,
                Std::ZeroDay,
                Std::ZeroHour12,
                Std::ZeroMinute,
                Std::ZeroSecond,
                Std::Year,
            ][usize::from(b[i + 1] - b'1')],
            2,
        ),
        b'0' if rest.starts_with("002") => (Std::ZeroYearDay, 3),
        b'1' if rest.starts_with("15") => (Std::Hour, 2),
        b'1' => (Std::NumMonth, 1),
        b'2' if rest.starts_with("2006") => (Std::LongYear, 4),
        b'2' => (Std::Day, 1),
        b'_' if rest.starts_with("_2") && !rest.starts_with("_2006") => (Std::UnderDay, 2),
        b'_' if rest.starts_with("__2") => (Std::UnderYearDay, 3),
        b'3' => (Std::Hour12, 1),
        b'4' => (Std::Minute, 1),
        b'5' => (Std::Second, 1),
        b'P' if rest.starts_with("PM") => (Std::UpperPm, 2),
        b'p' if rest.starts_with("pm") => (Std::LowerPm, 2),
        b'-' | b'Z' => {
            let iso = b[i] == b'Z';
            let body = &rest[1..];
            let forms: [(&str, Std); 5] = [
                ("070000", tz(iso, false, false, true)),
                ("07:00:00", tz(iso, true, false, true)),
                ("0700", tz(iso, false, false, false)),
                ("07:00", tz(iso, true, false, false)),
                ("07", tz(iso, false, true, false)),
            ];
            let (text, std) = forms.into_iter().find(|(t, _)| body.starts_with(t))?;
            (std, text.len() + 1)
        }
        sep @ (b'.' | b',') if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
            let ch = b[i + 1];
            let n = b[i + 1..].iter().take_while(|&&c| c == ch).count();
            if digit_at(n + 1) {
                return None;
            }
            if ch == b'0' {
                (Std::Frac0(n, sep), n + 1)
            } else {
                (Std::Frac9(n, sep), n + 1)
            }
        }
        _ => return None,
    })
}

/// Splits off the next element of a layout, or `None` when only literal text is left.
pub(super) fn next_chunk(l: &str) -> Option<Chunk<'_>> {
    for i in 0..l.len() {
        if !l.is_char_boundary(i) {
            continue;
        }
        if let Some((std, n)) = std_at(l, i) {
            return Some(Chunk {
                prefix: &l[..i],
                std,
                text: &l[i..i + n],
                rest: &l[i + n..],
            });
        }
    }
    None
}

/// Appends `n` zero-padded to `width` digits, Go's `appendInt`.
fn push_int(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", n.unsigned_abs()));
}

/// Formats a timestamp with a Go layout (Go's `Time.Format`).
pub fn format(t: &Timestamp, layout: &str) -> String {
    let c = t.civil();
    let mut out = String::with_capacity(layout.len() + 10);
    let mut l = layout;
    while let Some(ch) = next_chunk(l) {
        out.push_str(ch.prefix);
        l = ch.rest;
        let hour12 = match c.hour % 12 {
            0 => 12,
            h => h,
        };
        match ch.std {
            Std::LongYear => push_int(&mut out, c.year, 4),
            Std::Year => push_int(&mut out, c.year.rem_euclid(100), 2),
            Std::LongMonth => out.push_str(LONG_MONTHS[c.month as usize - 1]),
            Std::Month => out.push_str(SHORT_MONTHS[c.month as usize - 1]),
            Std::NumMonth => push_int(&mut out, c.month.into(), 0),
            Std::ZeroMonth => push_int(&mut out, c.month.into(), 2),
            Std::LongWeekDay => out.push_str(LONG_DAYS[c.weekday as usize]),
            Std::WeekDay => out.push_str(SHORT_DAYS[c.weekday as usize]),
            Std::Day => push_int(&mut out, c.day.into(), 0),
            Std::UnderDay => out.push_str(&format!("{:>2}", c.day)),
            Std::ZeroDay => push_int(&mut out, c.day.into(), 2),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", c.yday)),
            Std::ZeroYearDay => push_int(&mut out, c.yday.into(), 3),
            Std::Hour => push_int(&mut out, c.hour.into(), 2),
            Std::Hour12 => push_int(&mut out, hour12.into(), 0),
            Std::ZeroHour12 => push_int(&mut out, hour12.into(), 2),
            Std::Minute => push_int(&mut out, c.minute.into(), 0),
            Std::ZeroMinute => push_int(&mut out, c.minute.into(), 2),
            Std::Second => push_int(&mut out, c.second.into(), 0),
            Std::ZeroSecond => push_int(&mut out, c.second.into(), 2),
            Std::UpperPm => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::LowerPm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::ZoneName => {
                let name = t.zone.abbreviation_at(t.secs);
                if name.is_empty() {
                    push_offset(&mut out, t.offset(), TzStyle::NUMERIC);
                } else {
                    out.push_str(&name);
                }
            }
            Std::Offset(style) => push_offset(&mut out, t.offset(), style),
            Std::Frac0(n, sep) | Std::Frac9(n, sep) => {
                // Go prints at most nine digits, however long the layout's run.
                let digits = format!("{:09}", c.nanos);
                let mut d = &digits[..n.min(9)];
                if matches!(ch.std, Std::Frac9(..)) {
                    d = d.trim_end_matches('0');
                    if d.is_empty() {
                        continue;
                    }
                }
                out.push(char::from(sep));
                out.push_str(d);
            }
        }
    }
    out.push_str(l);
    out
}

impl TzStyle {
    /// `-0700`, what Go prints for `MST` when the zone has no name.
    const NUMERIC: TzStyle = TzStyle {
        iso: false,
        colon: false,
        short: false,
        seconds: false,
    };
}

fn push_offset(out: &mut String, offset: i32, s: TzStyle) {
    if s.iso && offset == 0 {
        out.push('Z');
        return;
    }
    let abs = offset.unsigned_abs();
    out.push(if offset < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", abs / 3600));
    if !s.short {
        if s.colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs / 60 % 60));
    }
    if s.seconds {
        if s.colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs % 60));
    }
}

pub use super::goparse::parse;
