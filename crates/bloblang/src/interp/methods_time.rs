//! Time methods: `ts_*`, duration parsing, and the deprecated
//! `parse_timestamp*` / `format_timestamp*` aliases. Targets that are not
//! timestamps are coerced as Bento does: numbers are unix seconds (UTC, our
//! local zone) and strings RFC 3339.

use super::eval::Scope;
use super::exec::Env;
use super::functions::{opt, req};
use super::methods::string_of;
use super::ops;
use crate::ast::Args;
use crate::time::{Timestamp, Zone, coerce, duration, golayout, strftime};
use crate::value::Value;

/// The methods [`call`] handles.
pub const NAMES: &[&str] = &[
    "ts_parse",
    "parse_timestamp",
    "ts_strptime",
    "parse_timestamp_strptime",
    "ts_format",
    "format_timestamp",
    "ts_strftime",
    "format_timestamp_strftime",
    "ts_unix",
    "format_timestamp_unix",
    "ts_unix_milli",
    "format_timestamp_unix_milli",
    "ts_unix_micro",
    "format_timestamp_unix_micro",
    "ts_unix_nano",
    "format_timestamp_unix_nano",
    "ts_tz",
    "ts_round",
    "ts_add_iso8601",
    "ts_sub_iso8601",
    "ts_sub",
    "parse_duration",
    "parse_duration_iso8601",
    "timestamp",
];

fn ts(t: Timestamp) -> Value {
    Value::Timestamp(Box::new(t))
}

/// A string argument, by position or name.
fn str_arg(args: &Args, pos: usize, name: &str, env: &Env, sc: &Scope) -> Result<String, String> {
    string_of(&req(args, pos, name, env, sc)?)
}

/// The optional `tz` argument as a zone, Bento's wording when unknown.
fn tz_arg(args: &Args, pos: usize, env: &Env, sc: &Scope) -> Result<Option<Zone>, String> {
    match opt(args, pos, "tz", env, sc)? {
        None => Ok(None),
        Some(v) => Zone::load(&string_of(&v)?)
            .map(Some)
            .map_err(|e| format!("failed to parse timezone location name: {e}")),
    }
}

/// Dispatches the methods listed in [`NAMES`].
pub fn call(t: Value, name: &str, args: &Args, env: &Env, sc: &Scope) -> Result<Value, String> {
    match name {
        "ts_parse" | "parse_timestamp" => {
            let layout = str_arg(args, 0, "format", env, sc)?;
            let parsed = golayout::parse(&layout, &string_of(&t)?)?;
            Ok(parsed_value(name, parsed))
        }
        "ts_strptime" | "parse_timestamp_strptime" => {
            let format = str_arg(args, 0, "format", env, sc)?;
            let parsed = strftime::parse(&string_of(&t)?, &format)?;
            Ok(parsed_value(name, parsed))
        }
        "ts_format" | "format_timestamp" | "ts_strftime" | "format_timestamp_strftime" => {
            let strf = name.contains("strftime");
            let layout = match opt(args, 0, "format", env, sc)? {
                Some(v) => string_of(&v)?,
                None if !strf => golayout::RFC3339_NANO.to_string(),
                None => return Err("missing parameter: format".into()),
            };
            let zone = tz_arg(args, 1, env, sc)?;
            let mut stamp = coerce(&t)?;
            if let Some(z) = zone {
                stamp = stamp.in_zone(z);
            }
            Ok(Value::String(if strf {
                strftime::format(&stamp, &layout)
            } else {
                golayout::format(&stamp, &layout)
            }))
        }
        "ts_tz" => {
            let zone = Zone::load(&str_arg(args, 0, "tz", env, sc)?)
                .map_err(|e| format!("failed to parse timezone location name: {e}"))?;
            Ok(ts(coerce(&t)?.in_zone(zone)))
        }
        "ts_round" => {
            let d = ops::number(&req(args, 0, "duration", env, sc)?)?.as_i64();
            Ok(ts(round(coerce(&t)?, d)))
        }
        "ts_add_iso8601" | "ts_sub_iso8601" => {
            let mut p = duration::parse_period(&str_arg(args, 0, "duration", env, sc)?)?;
            if name == "ts_sub_iso8601" {
                p = p.negate();
            }
            let stamp = coerce(&t)?;
            p.add_to(&stamp)
                .map(ts)
                .ok_or_else(|| "timestamp out of range".to_string())
        }
        "ts_sub" => {
            let other = coerce(&req(args, 0, "t2", env, sc)?)?;
            let diff = coerce(&t)?.unix_nanos() - other.unix_nanos();
            // Go's Sub saturates at the ends of its duration range.
            let clamped = diff.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            Ok(Value::Int(clamped as i64))
        }
        "parse_duration" => duration::parse_go(&string_of(&t)?).map(Value::Int),
        "parse_duration_iso8601" => duration::parse_period(&string_of(&t)?)?
            .approx_nanos()
            .map(Value::Int)
            .ok_or_else(|| "duration out of range".to_string()),
        "timestamp" => match (coerce(&t), opt(args, 0, "default", env, sc)?) {
            (Ok(stamp), _) => Ok(ts(stamp)),
            (Err(_), Some(d)) => Ok(d),
            (Err(e), None) => Err(e),
        },
        _ => unix(name, &coerce(&t)?),
    }
}

/// `ts_parse` gives a timestamp; its deprecated aliases give the RFC 3339 text.
fn parsed_value(name: &str, parsed: Timestamp) -> Value {
    if name.starts_with("parse_timestamp") {
        Value::String(parsed.to_rfc3339_nano())
    } else {
        ts(parsed)
    }
}

/// `ts_unix*`: whole units since the epoch, rounded down as Go's are.
fn unix(name: &str, t: &Timestamp) -> Result<Value, String> {
    let per_second: i128 = match name.rsplit('_').next() {
        Some("milli") => 1_000,
        Some("micro") => 1_000_000,
        Some("nano") => 1_000_000_000,
        _ => 1,
    };
    let n = t.unix_nanos().div_euclid(1_000_000_000 / per_second);
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| format!("timestamp {} out of range for {name}", t.to_rfc3339_nano()))
}

/// Go's `Time.Round`: to the nearest multiple of `d` since Go's zero time
/// (year 1), halves rounding up; `d <= 0` leaves the time as it is.
fn round(t: Timestamp, d: i64) -> Timestamp {
    if d <= 0 {
        return t;
    }
    const ZERO_TIME_TO_UNIX: i128 = 62_135_596_800 * 1_000_000_000;
    let d = i128::from(d);
    let r = (t.unix_nanos() + ZERO_TIME_TO_UNIX).rem_euclid(d);
    let delta = if r + r < d { -r } else { d - r };
    t.add_nanos(delta).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;

    #[test]
    fn timestamps_print_compare_and_convert_like_their_text() {
        let parsed = r#"this.t.ts_parse("2006-01-02 15:04 MST")"#;
        let input = r#"{"t":"2024-02-29 23:30 UTC"}"#;
        let out = |m: &str| run(&m.replace("@TS", parsed), input);
        assert_eq!(out("root = @TS"), Ok(r#""2024-02-29T23:30:00Z""#.into()));
        assert_eq!(out("root = @TS.type()"), Ok("timestamp".into()));
        assert_eq!(
            out(r#"root = @TS == "2024-02-29T23:30:00Z""#),
            Ok("true".into())
        );
        assert_eq!(out(r#"root = @TS < "2025""#), Ok("true".into()));
        assert_eq!(out(r#"root = [@TS].contains(@TS)"#), Ok("true".into()));
        assert_eq!(
            out(r#"root = @TS.ts_tz("Australia/Sydney").string()"#),
            Ok("2024-03-01T10:30:00+11:00".into())
        );
        assert_eq!(
            out("root = @TS.ts_add_iso8601(\"P1Y\").ts_unix()"),
            Ok("1740871800".into())
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = run(r#"root = "x".ts_tz("Nowhere/Town")"#, "{}").unwrap_err();
        assert!(e.contains("unknown time zone Nowhere/Town"), "{e}");
        let e = run("root = true.ts_unix()", "{}").unwrap_err();
        assert!(
            e.contains("expected number or string value, got bool"),
            "{e}"
        );
        let e = run(
            "root = -1.ts_unix_nano() + 9223372036854775807.ts_unix_nano()",
            "{}",
        );
        assert!(e.is_err());
    }
}
