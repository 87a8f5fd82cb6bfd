use super::*;
use crate::value::Value;

fn roundtrip(s: &str) -> String {
    to_message_json(&parse(s.as_bytes()).expect("parses")).expect("prints")
}

#[test]
fn keys_are_sorted_and_number_text_is_kept() {
    assert_eq!(
        roundtrip(r#"{"b":1.0,"a":[1,2.50,1e3],"c":-0}"#),
        r#"{"a":[1,2.50,1e3],"b":1.0,"c":-0}"#
    );
    assert_eq!(roundtrip(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
    assert_eq!(roundtrip("12345678901234567890"), "12345678901234567890");
}

#[test]
fn plain_integers_become_int() {
    assert_eq!(parse(b"42").unwrap(), Value::Int(42));
    assert_eq!(parse(b"4.0").unwrap(), Value::Number("4.0".into()));
}

#[test]
fn floats_print_like_encoding_json() {
    assert_eq!(json_float(7.0).unwrap(), "7");
    assert_eq!(json_float(1.5).unwrap(), "1.5");
    assert_eq!(json_float(1e21).unwrap(), "1e+21");
    assert_eq!(json_float(1e20).unwrap(), "100000000000000000000");
    assert_eq!(json_float(1e-7).unwrap(), "1e-7");
    assert_eq!(json_float(1.5e-10).unwrap(), "1.5e-10");
    assert_eq!(json_float(0.000001).unwrap(), "0.000001");
    assert_eq!(json_float(-0.0).unwrap(), "-0");
    assert!(json_float(f64::NAN).is_err());
    assert!(json_float(f64::INFINITY).is_err());
}

#[test]
fn go_g_format_for_string_conversion() {
    assert_eq!(go_format_float(1e6), "1e+06");
    assert_eq!(go_format_float(100000.0), "100000");
    assert_eq!(go_format_float(1e-7), "1e-07");
    assert_eq!(go_format_float(0.0001), "0.0001");
    assert_eq!(go_format_float(0.00001), "1e-05");
    assert_eq!(go_format_float(2.5), "2.5");
    assert_eq!(go_format_float(1234567.0), "1.234567e+06");
    assert_eq!(go_format_float(1e21), "1e+21");
}

#[test]
fn escaping_matches_go() {
    let v = Value::from("a<b>&\"\\\n\t\u{1}\u{8}\u{c}\u{2028}\u{7f}é");
    assert_eq!(
        to_message_json(&v).unwrap(),
        "\"a<b>&\\\"\\\\\\n\\t\\u0001\\b\\f\\u2028\u{7f}é\""
    );
    let html = JsonOptions {
        escape_html: true,
        indent: None,
    };
    assert_eq!(
        to_json(&Value::from("foo&bar>"), &html).unwrap(),
        "\"foo\\u0026bar\\u003e\""
    );
}

#[test]
fn indented_layout_matches_marshal_indent() {
    let v = parse(br#"{"email":"x","name":"y","e":{},"l":[1]}"#).unwrap();
    let opts = JsonOptions {
        escape_html: true,
        indent: Some("    ".into()),
    };
    assert_eq!(
        to_json(&v, &opts).unwrap(),
        "{\n    \"e\": {},\n    \"email\": \"x\",\n    \"l\": [\n        1\n    ],\n    \"name\": \"y\"\n}"
    );
}

#[test]
fn bytes_nest_as_base64_and_sentinels_as_null() {
    let v = Value::Array(vec![Value::Bytes(b"hello".to_vec()), Value::Nothing]);
    assert_eq!(to_message_json(&v).unwrap(), r#"["aGVsbG8=",null]"#);
    assert_eq!(base64_std(b""), "");
    assert_eq!(base64_std(b"ab"), "YWI=");
}

#[test]
fn string_escapes_and_surrogates_decode() {
    assert_eq!(
        parse(br#""\u00e9\ud83d\ude00\/\ud800x""#).unwrap(),
        Value::from("é😀/\u{FFFD}x")
    );
    assert_eq!(parse(b"\"\xff\"").unwrap(), Value::from("\u{FFFD}"));
}

#[test]
fn errors_are_worded_like_go() {
    let e = |s: &str| parse(s.as_bytes()).unwrap_err().0;
    assert_eq!(e(""), "unexpected end of JSON input");
    assert_eq!(e("{"), "unexpected end of JSON input");
    assert_eq!(
        e("x"),
        "invalid character 'x' looking for beginning of value"
    );
    assert_eq!(e("[1 2]"), "invalid character '2' after array element");
    assert_eq!(e("{\"a\" 1}"), "invalid character '1' after object key");
    assert_eq!(
        e("{\"a\":1 x"),
        "invalid character 'x' after object key:value pair"
    );
    assert_eq!(e("1 2"), "invalid character '2' after top-level value");
    assert_eq!(e("01"), "invalid character '1' after top-level value");
    assert_eq!(e("\"a\nb\""), "invalid character '\\n' in string literal");
    assert_eq!(e("1."), "unexpected end of JSON input");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(MAX_JSON_DEPTH + 1) + &"]".repeat(MAX_JSON_DEPTH + 1);
    assert!(parse(deep.as_bytes()).unwrap_err().0.contains("max depth"));
    let ok = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
    assert!(parse(ok.as_bytes()).is_ok());
}

#[test]
fn long_strings_parse_in_linear_time() {
    let big = format!("\"{}\"", "a".repeat(1 << 20));
    assert_eq!(
        parse(big.as_bytes()).unwrap(),
        Value::String("a".repeat(1 << 20))
    );
}

#[test]
fn go_string_conversion() {
    assert_eq!(to_go_string(&Value::Float(1e6)), "1e+06");
    assert_eq!(to_go_string(&Value::Int(10)), "10");
    assert_eq!(to_go_string(&Value::Null), "null");
    assert_eq!(
        to_go_string(&parse(br#"{"b":1,"a":"<"}"#).unwrap()),
        r#"{"a":"<","b":1}"#
    );
}

#[test]
fn deepest_documents_clone_and_print_without_recursion() {
    let doc = "[{\"a\":".repeat(MAX_JSON_DEPTH / 2) + "1" + &"}]".repeat(MAX_JSON_DEPTH / 2);
    let v = parse(doc.as_bytes()).unwrap();
    assert_eq!(to_message_json(&v.clone()).unwrap(), doc);
}
