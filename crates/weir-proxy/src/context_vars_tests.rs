use std::collections::BTreeMap;

use http::HeaderMap;
use http::header::HeaderValue;
use serde_json::{Value, json};

use super::*;

fn request(url: &str, headers: &[(&str, &str)], body: Option<&str>) -> ContextData {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    ContextData::of_request(
        url,
        &h,
        None,
        "10.1.2.3".parse().unwrap(),
        body.map(str::as_bytes),
    )
}

fn render(t: &str, ctx: Option<&ContextData>, meta: Option<&BTreeMap<String, Value>>) -> String {
    Template::parse(t).render_from(ctx, meta, false)
}

#[test]
fn placeholders_follow_tyks_grammar() {
    assert!(has_placeholders("a $tyk_context.path b"));
    assert!(has_placeholders("$tyk_meta.tier"));
    assert!(!has_placeholders(
        "plain $tyk_context. $tyk_meta.$ $other.x"
    ));
    let t = Template::parse("x-$tyk_context.headers_X_Id.v2/$tyk_meta.a-b!");
    assert_eq!(
        t.pieces,
        [
            Piece::Literal("x-".into()),
            Piece::Context("headers_X_Id.v2".into()),
            Piece::Literal("/".into()),
            Piece::Meta("a-b".into()),
            Piece::Literal("!".into()),
        ]
    );
    assert_eq!(Template::parse("no vars $5").literal(), Some("no vars $5"));
    assert_eq!(Template::parse("").literal(), Some(""));
}

#[test]
fn request_values_are_named_as_tyk_names_them() {
    let c = request(
        "/api/users/7?q=one&q=two&page-no=3",
        &[
            ("host", "example.com"),
            ("x-id", "abc"),
            ("x-id", "second"),
            ("x-real-ip", "192.0.2.9"),
            ("cookie", "session-id=s1; theme=dark"),
        ],
        None,
    );
    let get = |n: &str| c.get(n);
    assert_eq!(get("path").as_deref(), Some("/api/users/7"));
    assert_eq!(get("path_parts").as_deref(), Some("api,users,7"));
    assert_eq!(get("headers_X_Id").as_deref(), Some("abc"));
    assert_eq!(get("headers_x_id"), None, "names are case-sensitive");
    assert_eq!(get("headers_Host").as_deref(), Some("example.com"));
    assert_eq!(get("headers_X_Real_Ip").as_deref(), Some("192.0.2.9"));
    assert_eq!(get("remote_addr").as_deref(), Some("192.0.2.9"));
    assert_eq!(get("request_data_q").as_deref(), Some("one"));
    assert_eq!(get("request_data_page_no").as_deref(), Some("3"));
    assert_eq!(get("request_data").as_deref(), Some("q:one,two;page-no:3"));
    assert_eq!(get("cookies_session_id").as_deref(), Some("s1"));
    assert_eq!(get("cookies_theme").as_deref(), Some("dark"));
    assert_eq!(get("headers").as_deref(), Some(""));
    assert_eq!(get("nope"), None);
    assert_eq!(get("request_id").map(|id| id.len()), Some(36));
}

#[test]
fn form_bodies_come_before_the_query_and_the_peer_is_the_fallback_address() {
    let c = request("/f?a=query", &[], Some("a=body&b=x+y"));
    assert_eq!(c.get("request_data_a").as_deref(), Some("body"));
    assert_eq!(c.get("request_data_b").as_deref(), Some("x y"));
    assert_eq!(c.get("remote_addr").as_deref(), Some("10.1.2.3"));
    let xff = request("/", &[("x-forwarded-for", "198.51.100.1, 10.0.0.1")], None);
    assert_eq!(xff.get("remote_addr").as_deref(), Some("198.51.100.1"));
    assert_eq!(
        request("/a/", &[], None).get("path_parts").as_deref(),
        Some("a,")
    );
}

#[test]
fn each_capture_has_its_own_request_id() {
    let (a, b) = (request("/", &[], None), request("/", &[], None));
    assert_ne!(a.request_id(), b.request_id());
    let t = Template::parse("$tyk_context.request_id");
    assert_eq!(
        t.render_from(Some(&a), None, false),
        t.render_from(Some(&a), None, false)
    );
}

#[test]
fn missing_values_and_missing_context_render_empty() {
    let c = request("/p", &[], None);
    assert_eq!(render("[$tyk_context.nope]", Some(&c), None), "[]");
    assert_eq!(render("[$tyk_context.path]", None, None), "[]");
    assert_eq!(render("[$tyk_meta.tier]", Some(&c), None), "[]");
    assert_eq!(
        render("$tyk_context.path $tyk_context.path_parts", Some(&c), None),
        "/p p"
    );
    // '-' belongs to a name, as in Tyk's pattern: `path-` is another (unknown) variable.
    assert_eq!(
        render("$tyk_context.path-$tyk_context.path_parts", Some(&c), None),
        "p"
    );
}

#[test]
fn meta_values_print_as_tyk_prints_them() {
    let meta: BTreeMap<String, Value> = serde_json::from_value(json!({
        "tier": "gold", "n": 5, "f": 1.5, "list": ["a b", "c"], "flag": true, "obj": {}
    }))
    .unwrap();
    let m = Some(&meta);
    assert_eq!(
        render("$tyk_meta.tier/$tyk_meta.n/$tyk_meta.f", None, m),
        "gold/5/1.5"
    );
    assert_eq!(render("$tyk_meta.list", None, m), "a+b,c");
    assert_eq!(
        render("[$tyk_meta.flag$tyk_meta.obj$tyk_meta.none]", None, m),
        "[]"
    );
}

#[test]
fn escaped_rendering_query_escapes_unless_the_value_is_a_url() {
    let mut c = request("/p", &[], None);
    c.set("trigger-0-X-Id-0", "a b/c");
    c.set("target", "http://x/y z");
    let t = Template::parse("/n/$tyk_context.trigger-0-X-Id-0?u=$tyk_context.target");
    assert_eq!(
        t.render_from(Some(&c), None, true),
        "/n/a+b%2Fc?u=http://x/y z"
    );
    assert_eq!(
        t.render_from(Some(&c), None, false),
        "/n/a b/c?u=http://x/y z"
    );
    c.set("target", "again");
    assert_eq!(c.get("target").as_deref(), Some("again"));
}
