//! Unit tests on inputs outside the conformance corpus.

use super::duration::{parse_go, parse_period};
use super::*;

fn utc(s: &str) -> Timestamp {
    golayout::parse(golayout::RFC3339_NANO, s).expect("valid RFC 3339")
}

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

#[test]
fn offsets_survive_a_round_trip() {
    let t = utc("2021-02-03T17:05:06.25+05:30");
    assert_eq!(t.to_rfc3339_nano(), "2021-02-03T17:05:06.25+05:30");
    assert_eq!(t.secs, utc("2021-02-03T11:35:06Z").secs);
    // +00:00 is the local zone (UTC here), so it prints as Z.
    assert_eq!(
        utc("2021-02-03T17:05:06+00:00").to_rfc3339_nano(),
        "2021-02-03T17:05:06Z"
    );
}

#[test]
fn go_layouts_format_every_element() {
    let t = utc("2024-02-29T15:04:05.120Z").in_zone(Zone::load("Asia/Kolkata").unwrap());
    let f = |l: &str| golayout::format(&t, l);
    assert_eq!(
        f("Monday Mon January Jan 1 01 2 02 _2"),
        "Thursday Thu February Feb 2 02 29 29 29"
    );
    assert_eq!(
        f("06 2006 3 03 15 4 04 5 05 PM pm"),
        "24 2024 8 08 20 34 34 5 05 PM pm"
    );
    assert_eq!(
        f("MST -0700 -07:00 -07 Z07:00 .000 .999 ,9"),
        "IST +0530 +05:30 +05 +05:30 .120 .12 ,1"
    );
    assert_eq!(f("002 __2"), "060  60");
}

#[test]
fn go_layouts_parse_like_go() {
    let p = |l: &str, v: &str| golayout::parse(l, v).map(|t| t.to_rfc3339_nano());
    assert_eq!(
        p("02/01/06 3:04PM", "29/02/24 1:07AM"),
        Ok("2024-02-29T01:07:00Z".into())
    );
    assert_eq!(
        p("Jan _2 15:04:05", "feb  3 10:00:00"),
        Ok("0000-02-03T10:00:00Z".into())
    );
    // A fraction after seconds is accepted even when the layout has none.
    assert_eq!(
        p("15:04:05", "10:00:00.5"),
        Ok("0000-01-01T10:00:00.5Z".into())
    );
    assert_eq!(
        p("2006-01-02 MST", "2024-06-01 EST").map(|s| s.len()),
        Ok(20)
    );
    assert_eq!(
        p("2006-01-02", "2023-02-29"),
        Err("parsing time \"2023-02-29\": day out of range".into())
    );
    assert_eq!(
        p("2006-01-02", "2024-13-01"),
        Err("parsing time \"2024-13-01\": month out of range".into())
    );
    assert_eq!(
        p("2006-01-02", "2024-01-01x"),
        Err("parsing time \"2024-01-01x\": extra text: \"x\"".into())
    );
    assert_eq!(
        p("2006-Jan-02", "2020-Foo-01"),
        Err(
            "parsing time \"2020-Foo-01\" as \"2006-Jan-02\": cannot parse \"Foo-01\" as \"Jan\""
                .into()
        )
    );
    assert!(p("2006", "2é").is_err());
}

#[test]
fn named_zone_abbreviation_keeps_the_wall_clock() {
    let t = golayout::parse("15:04 MST", "10:00 PST").unwrap();
    assert_eq!(golayout::format(&t, "15:04 MST Z07:00"), "10:00 PST Z");
}

#[test]
fn daylight_saving_zones_follow_the_bundled_database() {
    let ny = Zone::load("America/New_York").unwrap();
    let winter = utc("2021-01-15T12:00:00Z").in_zone(ny.clone());
    let summer = utc("2021-07-15T12:00:00Z").in_zone(ny.clone());
    assert_eq!(winter.to_rfc3339_nano(), "2021-01-15T07:00:00-05:00");
    assert_eq!(summer.to_rfc3339_nano(), "2021-07-15T08:00:00-04:00");
    assert_eq!(golayout::format(&summer, "MST"), "EDT");
    // 02:30 on the spring-forward day does not exist; Go lands on 01:30 EST.
    let gap = CivilIn {
        year: 2021,
        month: 3,
        day: 14,
        hour: 2,
        minute: 30,
        ..Default::default()
    };
    assert_eq!(
        from_civil(gap, ny).unwrap().to_rfc3339_nano(),
        "2021-03-14T01:30:00-05:00"
    );
    assert!(Zone::load("Mars/Olympus").is_err());
}

#[test]
fn strftime_codes_and_flags() {
    let t = utc("2020-01-05T09:03:07.000250Z");
    let f = |s: &str| strftime::format(&t, s);
    assert_eq!(
        f("%Y-%m-%d %H:%M:%S.%f %Z %z"),
        "2020-01-05 09:03:07.000250 UTC +0000"
    );
    assert_eq!(
        f("%a %A %b %B %e %-d %_H %I %p %P %j"),
        "Sun Sunday Jan January  5 5  9 09 AM am 005"
    );
    assert_eq!(
        f("%F %T %D %R %^a %s %%"),
        "2020-01-05 09:03:07 01/05/20 09:03 SUN 1578214987 %"
    );
    assert_eq!(f("%G-W%V-%u %U %W"), "2020-W01-7 01 00");
    assert_eq!(f("%Q"), "%Q");
}

#[test]
fn strptime_parses_and_explains() {
    let p = |s: &str, f: &str| strftime::parse(s, f).map(|t| t.to_rfc3339_nano());
    assert_eq!(
        p("29/02/2024 23:59:59.5", "%d/%m/%Y %H:%M:%S.%f"),
        Ok("2024-02-29T23:59:59.5Z".into())
    );
    assert_eq!(p("2024-060", "%Y-%j"), Ok("2024-02-29T00:00:00Z".into()));
    assert_eq!(
        p("1 PM +0200", "%I %p %z"),
        Ok("1900-01-01T13:00:00+02:00".into())
    );
    assert_eq!(
        p("x", "%Y"),
        Err("failed to parse \"x\" with \"%Y\": cannot parse \"%Y\"".into())
    );
    assert_eq!(
        p("2020", "%Y!"),
        Err("failed to parse \"2020\" with \"%Y!\": expected '!'".into())
    );
}

#[test]
fn go_durations_are_exact() {
    assert_eq!(parse_go("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_go("-1.5s"), Ok(-1_500_000_000));
    assert_eq!(parse_go("2562047h47m16.854775807s"), Ok(i64::MAX));
    assert_eq!(parse_go("-2562047h47m16.854775808s"), Ok(i64::MIN));
    assert!(parse_go("2562047h47m16.854775808s").is_err());
    assert_eq!(parse_go(".5µs"), Ok(500));
    assert_eq!(
        parse_go("1d"),
        Err("time: unknown unit \"d\" in duration \"1d\"".into())
    );
    assert_eq!(
        parse_go("10"),
        Err("time: missing unit in duration \"10\"".into())
    );
    assert!(parse_go("99999999999999999999h").is_err());
}

#[test]
fn iso_periods() {
    let n = |s: &str| parse_period(s).map(|p| p.approx_nanos());
    assert_eq!(n("PT1M30S"), Ok(Some(90_000_000_000)));
    assert_eq!(n("P1W"), Ok(Some(7 * 86_400_000_000_000)));
    assert_eq!(n("-PT1H"), Ok(Some(-3_600_000_000_000)));
    assert_eq!(n("P0D"), Ok(Some(0)));
    assert_eq!(n("P1000000Y"), Ok(None));
    assert_eq!(
        n("PT1H1H"),
        Err("PT1H1H: 'H' designator cannot occur more than once".into())
    );
    assert_eq!(n("P1"), Err("P1: missing designator at the end".into()));
    // Calendar arithmetic normalises like Go's AddDate: Jan 31 + 1 month.
    let p = parse_period("P1M").unwrap();
    let t = p.add_to(&utc("2023-01-31T00:00:00Z")).unwrap();
    assert_eq!(t.to_rfc3339_nano(), "2023-03-03T00:00:00Z");
    let leap = parse_period("P1Y")
        .unwrap()
        .add_to(&utc("2024-02-29T00:00:00Z"))
        .unwrap();
    assert_eq!(leap.to_rfc3339_nano(), "2025-03-01T00:00:00Z");
}

#[test]
fn numbers_coerce_as_unix_seconds() {
    let t = coerce(&Value::Float(-1.5)).unwrap();
    assert_eq!(t.to_rfc3339_nano(), "1969-12-31T23:59:58.5Z");
    let far = coerce(&Value::Int(i64::MAX)).unwrap();
    assert!(
        far.to_rfc3339_nano()
            .starts_with("292277026596-12-04T15:30:07")
    );
    assert!(coerce(&Value::Float(f64::NAN)).is_err());
    assert!(coerce(&Value::Bool(true)).is_err());
    let neg = coerce(&Value::Int(-86_400 * 365)).unwrap();
    assert_eq!(neg.to_rfc3339_nano(), "1969-01-01T00:00:00Z");
}
