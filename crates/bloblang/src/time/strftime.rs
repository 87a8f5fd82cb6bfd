//! C-style `%` formats for `ts_strftime` and `ts_strptime`, with the codes,
//! flags (`-` `_` `0` `^` `#`, a width) and error wording of the Go library
//! Bento uses for them (itchyny/timefmt-go), including `%f` microseconds.

use super::golayout::{LONG_DAYS, LONG_MONTHS, SHORT_DAYS, SHORT_MONTHS};
use super::{Civil, Timestamp, days_from_civil};

/// Codes that stand for a sequence of other codes (shared with strptime).
pub(super) fn composition(c: u8) -> Option<&'static str> {
    Some(match c {
        b'c' => "a b e H:M:S Y",
        b'+' => "a b e H:M:S Z Y",
        b'F' => "Y-m-d",
        b'D' | b'x' => "m/d/y",
        b'v' => "e-b-Y",
        b'T' | b'X' => "H:M:S",
        b'r' => "I:M:S p",
        b'R' => "H:M",
        _ => return None,
    })
}

/// How one conversion pads: `None` for no padding (the `-` flag).
#[derive(Clone, Copy)]
struct Spec {
    width: usize,
    pad: Option<char>,
    /// Whether a flag chose the padding, which then beats a code's default.
    pad_set: bool,
    upper: bool,
    swap: bool,
}

impl Spec {
    /// Reads flags and a width at `b[*i..]`, leaving `i` on the code.
    fn read(b: &[u8], i: &mut usize) -> Spec {
        let mut s = Spec {
            width: 0,
            pad: Some('0'),
            pad_set: false,
            upper: false,
            swap: false,
        };
        while let Some(&f) = b.get(*i) {
            match f {
                b'-' => (s.pad, s.pad_set) = (None, true),
                b'_' => (s.pad, s.pad_set) = (Some(' '), true),
                b'0' => (s.pad, s.pad_set) = (Some('0'), true),
                b'^' => s.upper = true,
                b'#' => s.swap = true,
                _ => break,
            }
            *i += 1;
        }
        while let Some(d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
            s.width = (s.width * 10 + usize::from(d - b'0')).min(1024);
            *i += 1;
        }
        s
    }

    fn int(&self, out: &mut String, n: i64, min_width: usize) {
        let width = self.width.max(min_width);
        let digits = n.unsigned_abs().to_string();
        let sign = if n < 0 { "-" } else { "" };
        let len = digits.len() + sign.len();
        match self.pad {
            Some('0') => out.push_str(&format!(
                "{sign}{}{digits}",
                "0".repeat(width.saturating_sub(len))
            )),
            Some(p) => {
                out.extend(std::iter::repeat_n(p, width.saturating_sub(len)));
                out.push_str(sign);
                out.push_str(&digits);
            }
            None => {
                out.push_str(sign);
                out.push_str(&digits);
            }
        }
    }

    fn text(&self, out: &mut String, s: &str) {
        if let Some(p) = self.pad {
            let p = if self.pad_set { p } else { ' ' };
            out.extend(std::iter::repeat_n(p, self.width.saturating_sub(s.len())));
        }
        let lower_first = s.as_bytes().get(1).is_some_and(u8::is_ascii_lowercase);
        if self.swap && !lower_first {
            out.push_str(&s.to_ascii_lowercase());
        } else if self.swap || self.upper {
            out.push_str(&s.to_ascii_uppercase());
        } else {
            out.push_str(s);
        }
    }

    /// A code whose natural padding is spaces (`%e`, `%k`, `%l`, `%s`).
    fn spaced(mut self) -> Spec {
        if !self.pad_set {
            self.pad = Some(' ');
        }
        self
    }
}

/// ISO 8601 week-numbering year and week of a date.
fn iso_week(c: &Civil) -> (i64, i64) {
    let days = days_from_civil(c.year, c.month, c.day);
    let monday_based = (i64::from(c.weekday) + 6) % 7;
    let thursday = days - monday_based + 3;
    let (year, _, _) = super::civil_from_days(thursday);
    (year, (thursday - days_from_civil(year, 1, 1)) / 7 + 1)
}

/// Formats a timestamp with a strftime format.
pub fn format(t: &Timestamp, fmt: &str) -> String {
    let c = t.civil();
    let b = fmt.as_bytes();
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        out.push_str(&fmt[lit..i]);
        let start = i;
        i += 1;
        let s = Spec::read(b, &mut i);
        let Some(&code) = b.get(i) else {
            out.push_str(&fmt[start..]);
            lit = b.len();
            break;
        };
        i += 1;
        lit = i;
        if code == b':' {
            let colons = 1 + b[i..].iter().take_while(|&&x| x == b':').count();
            if b.get(i + colons - 1) == Some(&b'z') && colons <= 3 {
                push_zone(&mut out, t.offset(), colons);
                i += colons;
                lit = i;
            } else {
                out.push_str(&fmt[start..i]);
            }
            continue;
        }
        match composition(code) {
            Some(parts) => {
                for p in parts.bytes() {
                    let plain = Spec {
                        width: 0,
                        pad: Some('0'),
                        pad_set: false,
                        ..s
                    };
                    if p.is_ascii_alphabetic() {
                        conversion(&mut out, t, &c, p, plain);
                    } else {
                        out.push(char::from(p));
                    }
                }
            }
            None if !conversion(&mut out, t, &c, code, s) => {
                out.push_str(&fmt[start..i]);
            }
            None => {}
        }
    }
    out.push_str(&fmt[lit.min(b.len())..]);
    out
}

/// Writes one code; `false` if the code is unknown (written as it stands).
fn conversion(out: &mut String, t: &Timestamp, c: &Civil, code: u8, s: Spec) -> bool {
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    let yday = i64::from(c.yday);
    let wd = i64::from(c.weekday);
    match code {
        b'Y' => s.int(out, c.year, 4),
        b'y' => s.int(out, c.year.rem_euclid(100), 2),
        b'C' => s.int(out, c.year.div_euclid(100), 2),
        b'G' => s.int(out, iso_week(c).0, 4),
        b'g' => s.int(out, iso_week(c).0.rem_euclid(100), 2),
        b'V' => s.int(out, iso_week(c).1, 2),
        b'm' => s.int(out, c.month.into(), 2),
        b'B' => s.text(out, LONG_MONTHS[c.month as usize - 1]),
        b'b' | b'h' => s.text(out, SHORT_MONTHS[c.month as usize - 1]),
        b'A' => s.text(out, LONG_DAYS[c.weekday as usize]),
        b'a' => s.text(out, SHORT_DAYS[c.weekday as usize]),
        b'w' => s.int(out, wd, 0),
        b'u' => s.int(out, if wd == 0 { 7 } else { wd }, 0),
        b'U' => s.int(out, (yday + 6 - wd) / 7, 2),
        b'W' => s.int(out, (yday + 6 - (wd + 6) % 7) / 7, 2),
        b'e' => s.spaced().int(out, c.day.into(), 2),
        b'd' => s.int(out, c.day.into(), 2),
        b'j' => s.int(out, yday, 3),
        b'k' => s.spaced().int(out, c.hour.into(), 2),
        b'H' => s.int(out, c.hour.into(), 2),
        b'l' => s.spaced().int(out, hour12.into(), 2),
        b'I' => s.int(out, hour12.into(), 2),
        b'p' | b'P' => {
            let s = Spec {
                swap: if code == b'P' {
                    !(s.upper || s.swap)
                } else {
                    s.swap
                },
                ..s
            };
            s.text(out, if c.hour < 12 { "AM" } else { "PM" });
        }
        b'M' => s.int(out, c.minute.into(), 2),
        b'S' => s.int(out, c.second.into(), 2),
        b's' => s.spaced().int(out, t.secs, 0),
        b'f' => s.int(
            out,
            i64::from(c.nanos / 1000),
            if s.width == 0 { 6 } else { 0 },
        ),
        b'Z' => match t.zone.abbreviation_at(t.secs) {
            name if !name.is_empty() => s.text(out, &name),
            _ => push_zone(out, t.offset(), 0),
        },
        b'z' => push_zone(out, t.offset(), 0),
        b't' => s.text(out, "\t"),
        b'n' => s.text(out, "\n"),
        b'%' => s.text(out, "%"),
        _ => return false,
    }
    true
}

/// `+hhmm`, `+hh:mm` (`%:z`), `+hh:mm:ss` (`%::z`), or `%:::z`'s shortest form.
fn push_zone(out: &mut String, offset: i32, colons: usize) {
    let abs = offset.unsigned_abs();
    out.push(if offset < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", abs / 3600));
    let rest = abs % 3600;
    if colons <= 2 || rest != 0 {
        if colons != 0 {
            out.push(':');
        }
        out.push_str(&format!("{:02}", rest / 60));
        if colons == 2 || (colons == 3 && !rest.is_multiple_of(60)) {
            out.push_str(&format!(":{:02}", rest % 60));
        }
    }
}

pub use super::strptime::parse;
