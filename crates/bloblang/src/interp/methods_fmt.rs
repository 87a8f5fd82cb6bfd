//! `format(args…)`: Go `fmt.Sprintf` verbs over Bloblang values.
//!
//! Covered: `%v %s %d %f %e %g %q %x %X %t %%` with flags `-`, `0`, `+`, width and
//! precision. Go prints a verb that does not fit its argument as
//! `%!verb(type=value)`; we do the same for the common cases.

use crate::json::go_format_float;
use crate::value::{Num, Value};

/// One parsed `%…` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    zero: bool,
    plus: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Formats `template` with `args` as Go's `fmt.Sprintf` would.
pub fn sprintf(template: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut next = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let body = match args.get(next) {
            Some(arg) => verb_text(verb, arg, &spec),
            None => format!("%!{verb}(MISSING)"),
        };
        next += 1;
        out.push_str(&pad(body, &spec));
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), go_v(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(1 << 16),
        );
        chars.next();
    }
    n
}

fn pad(body: String, spec: &Spec) -> String {
    let len = body.chars().count();
    let Some(w) = spec.width.filter(|&w| w > len) else {
        return body;
    };
    let fill = w - len;
    if spec.minus {
        return body + &" ".repeat(fill);
    }
    if spec.zero {
        let (sign, digits) = match body.strip_prefix('-') {
            Some(rest) => ("-", rest.to_string()),
            None => ("", body),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    " ".repeat(fill) + &body
}

/// The Go type name shown in bad-verb output.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int64",
        Value::UInt(_) => "uint64",
        Value::Float(_) => "float64",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Bytes(_) => "[]uint8",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        _ => "<nil>",
    }
}

/// Go's `%v`: floats with `%g` but exponent only from 1e21, maps as `map[k:v]`.
fn go_v(v: &Value) -> String {
    match v {
        Value::Null | Value::Delete | Value::Nothing => "<nil>".into(),
        Value::Float(f) => {
            let a = f.abs();
            if a == 0.0 || (1e-4..1e21).contains(&a) {
                format!("{f}")
            } else {
                go_format_float(*f)
            }
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(go_v).collect::<Vec<_>>().join(" "))
        }
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_v(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Bytes(b) => format!(
            "[{}]",
            b.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
        ),
        other => crate::json::to_go_string(other),
    }
}

fn bad(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", go_type(v), go_v(v))
}

fn verb_text(verb: char, v: &Value, spec: &Spec) -> String {
    let sign = |s: String| {
        if spec.plus && !s.starts_with('-') {
            format!("+{s}")
        } else {
            s
        }
    };
    match (verb, v) {
        ('v', _) => go_v(v),
        ('s', Value::String(s)) => truncate(s, spec.prec),
        ('s', Value::Bytes(b)) => truncate(&String::from_utf8_lossy(b), spec.prec),
        ('q', Value::String(s)) => format!("{s:?}"),
        ('t', Value::Bool(b)) => b.to_string(),
        ('d', _) => match v.as_num() {
            Some(Num::Int(i)) => sign(i.to_string()),
            Some(Num::UInt(u)) => sign(u.to_string()),
            _ => bad(verb, v),
        },
        ('f' | 'F' | 'e' | 'g', _) => match v.as_num() {
            Some(n) => sign(float_verb(verb, n.as_f64(), spec.prec)),
            None => bad(verb, v),
        },
        ('x' | 'X', Value::String(s)) => hex(s.as_bytes(), verb == 'X'),
        ('x' | 'X', Value::Bytes(b)) => hex(b, verb == 'X'),
        ('x' | 'X', Value::Int(i)) => {
            let h = if *i < 0 {
                format!("-{:x}", i.unsigned_abs())
            } else {
                format!("{i:x}")
            };
            if verb == 'X' { h.to_uppercase() } else { h }
        }
        _ => bad(verb, v),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn hex(b: &[u8], upper: bool) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    if upper { h.to_uppercase() } else { h }
}

/// `%f`, `%e` and `%g` (precision for `%g` is not applied yet).
fn float_verb(verb: char, f: f64, prec: Option<usize>) -> String {
    match verb {
        'e' => {
            let s = format!("{:.*e}", prec.unwrap_or(6), f);
            // Rust prints `1.5e3`; Go prints `1.5e+03`.
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        }
        'g' => go_format_float(f),
        _ => format!("{:.*}", prec.unwrap_or(6), f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_verbs() {
        let args = [Value::from("lance"), Value::Int(37), Value::Float(1.5)];
        assert_eq!(sprintf("%s(%v): %v", &args), "lance(37): 1.5");
        assert_eq!(
            sprintf(
                "%.2f|%5d|%-4s|%05d",
                &[
                    Value::Float(99.987),
                    Value::Int(42),
                    Value::from("a"),
                    Value::Int(-7)
                ]
            ),
            "99.99|   42|a   |-0007"
        );
        assert_eq!(
            sprintf("%v %v", &[Value::Float(1e6), Value::Null]),
            "1000000 <nil>"
        );
        assert_eq!(sprintf("%d%%", &[Value::from("x")]), "%!d(string=x)%");
        assert_eq!(sprintf("%v", &[]), "%!v(MISSING)");
        assert_eq!(sprintf("%e", &[Value::Float(1500.0)]), "1.500000e+03");
        let obj = crate::json::parse(br#"{"b":[1,2],"a":"x"}"#).unwrap();
        assert_eq!(sprintf("%v", &[obj]), "map[a:x b:[1 2]]");
    }
}
