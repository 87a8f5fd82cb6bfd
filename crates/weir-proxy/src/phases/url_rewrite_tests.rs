use super::*;
use crate::context_vars::ContextData;

/// Tyk's basic rewrite, without placeholders: `None` when the pattern does not match.
fn rewrite_str(pattern: &str, to: &str, url: &str) -> Option<String> {
    let rx = Regex::new(pattern).unwrap();
    let target = Target::compile(to, "f").unwrap();
    let found = matched(&rx, url, true)?;
    Some(target.render_with(&found, |t| t.render_from(None, None, true)))
}

#[test]
fn groups_fill_the_target_as_in_tyks_rewriter_tests() {
    // (pattern, target, request URL, expected): cases of Tyk's TestRewriter.
    let cases = [
        (
            "/test/straight/rewrite",
            "/change/to/me",
            "/test/straight/rewrite",
            "/change/to/me",
        ),
        (
            "test/val/(.*)",
            "change/to/$1",
            "/test/val/VALUE",
            "change/to/VALUE",
        ),
        (
            "test/val/(.*)",
            "/test/val/$1",
            "/test/val/VALUE%2C?a=te%2Cst",
            "/test/val/VALUE%2C?a=te%2Cst",
        ),
        (
            "/test/val/(.*)/space/(.*)/and/then/(.*)",
            "/change/to/$3/$2/$1",
            "/test/val/ONE/space/TWO/and/then/THREE",
            "/change/to/THREE/TWO/ONE",
        ),
        (
            "/test/val/(.*)/space/(.*)/and/then/(.*)",
            "/change/to/$1/$2",
            "/test/val/ONE/space/TWO/and/then/THREE",
            "/change/to/ONE/TWO",
        ),
        (
            "(.*)",
            "$1&newParam=that",
            "/foo/bar?param1=this",
            "/foo/bar?param1=this&newParam=that",
        ),
        (
            "/test/val/(.*)/space/(.*)/and/then(.*)",
            "/change/to/$2/$1$3",
            "/test/val/ONE/space/TWO/and/then?param1=this",
            "/change/to/TWO/ONE?param1=this",
        ),
        // Escapes: the decoded URL is tried when the raw one does not match.
        (
            "/test/payment-intents",
            "/change/to/me",
            "/test/payment%2Dintents",
            "/change/to/me",
        ),
        (
            "^(.+)%2[Dd](.+)$",
            "/change/to/me",
            "/test/payment%2Dintents",
            "/change/to/me",
        ),
    ];
    for (pattern, to, url, want) in cases {
        assert_eq!(
            rewrite_str(pattern, to, url).as_deref(),
            Some(want),
            "{pattern} on {url}"
        );
    }
}

#[test]
fn a_missing_group_is_empty_and_no_match_keeps_the_url() {
    assert_eq!(
        rewrite_str("/a/(x)?", "/b/$1/$7", "/a/").as_deref(),
        Some("/b//")
    );
    assert_eq!(rewrite_str("^/nope", "/b", "/a"), None);
    // $0 is the whole match.
    assert_eq!(
        rewrite_str("/a/\\d+", "/b?was=$0", "/x/a/12").as_deref(),
        Some("/b?was=/a/12")
    );
}

#[test]
fn placeholders_are_filled_query_escaped() {
    let target = Target::compile("/u/$tyk_context.trigger-0-X-Id-0/$1", "f").unwrap();
    let mut ctx = ContextData::default();
    ctx.set("trigger-0-X-Id-0", "a b/c");
    let found = matched(&Regex::new("/whole/(g1)").unwrap(), "/whole/g1", true).unwrap();
    let got = target.render_with(&found, |t| t.render_from(Some(&ctx), None, true));
    assert_eq!(got, "/u/a+b%2Fc/g1");
}

#[test]
fn rewritten_urls_are_made_valid_request_targets() {
    assert_eq!(path_and_query("change/to/x").as_str(), "/change/to/x");
    assert_eq!(path_and_query("/a b?q=1#frag").as_str(), "/a%20b?q=1");
    assert_eq!(path_and_query("/ok/%2F?x=y&z").as_str(), "/ok/%2F?x=y&z");
}

#[test]
fn full_urls_name_another_upstream() {
    assert!(has_scheme("HTTP://h/x", "http"));
    assert!(has_scheme("tyk://self/x", "tyk"));
    assert!(!has_scheme("/http://x", "http"));
    assert!(names_a_scheme("ftp://h/x"));
    assert!(names_a_scheme("svn+ssh://h/x"));
    assert!(!names_a_scheme("/go?to=http://x"));
    assert!(!names_a_scheme("go?to=http://x"));
    assert!(!names_a_scheme("1a://x"));
    let (up, pq) = upstream_of("http://127.0.0.1:8081/new/path?a=1").unwrap();
    assert_eq!(up.authority.as_str(), "127.0.0.1:8081");
    assert_eq!(up.host_header, "127.0.0.1:8081");
    assert_eq!(pq.as_str(), "/new/path?a=1");
    let (up, pq) = upstream_of("https://example.com").unwrap();
    assert_eq!(up.authority.as_str(), "example.com:443");
    assert_eq!(up.host_header, "example.com");
    assert_eq!(up.scheme, UpstreamScheme::Https);
    assert_eq!(pq.as_str(), "/");
}

#[test]
fn bad_patterns_name_their_field() {
    use weir_config::url_rewrites::{FieldNames, Rule, Trigger, UrlRewrite};
    let names = FieldNames {
        pattern: "match_pattern",
        rewrite_to: "rewrite_to",
    };
    let base = UrlRewrite {
        key: weir_config::endpoints::EndpointKey {
            path: "/a".into(),
            method: "GET".into(),
            ignore_case: false,
        },
        match_pattern: "(".into(),
        field: "e.url_rewrites[0]".into(),
        names,
        ..UrlRewrite::default()
    };
    let matching = EndpointMatching::default();
    let (field, why) =
        CompiledRewrites::compile(std::slice::from_ref(&base), matching).unwrap_err();
    assert_eq!(field, "e.url_rewrites[0].match_pattern");
    assert!(why.contains("regular expression"), "{why}");

    let mut trigger = Trigger::default();
    trigger.options.query.insert(
        "q".into(),
        Rule {
            pattern: "[".into(),
            reverse: false,
            field: "e.url_rewrites[0].triggers[0].options.query_val_matches.q.match_rx".into(),
        },
    );
    let with_trigger = UrlRewrite {
        match_pattern: ".*".into(),
        triggers: vec![trigger],
        ..base
    };
    let (field, _) = CompiledRewrites::compile(&[with_trigger], matching).unwrap_err();
    assert_eq!(
        field,
        "e.url_rewrites[0].triggers[0].options.query_val_matches.q.match_rx"
    );
}

#[test]
fn secret_placeholders_are_refused() {
    let (field, why) = Target::compile("/x/$secret_env.TOKEN", "e.rewrite_to").unwrap_err();
    assert_eq!(field, "e.rewrite_to");
    assert!(why.contains("$secret_"), "{why}");
}
