use super::*;
use crate::respond::error_response;
use weir_config::error_overrides::{ErrorMatch, OverrideResponse};

fn rule(matcher: Option<ErrorMatch>, response: OverrideResponse) -> ErrorOverride {
    ErrorOverride { matcher, response }
}

fn overrides(code: u16, rules: Vec<ErrorOverride>) -> CompiledOverrides {
    let mut o = ErrorOverrides::default();
    o.exact.insert(code, rules);
    CompiledOverrides::compile(&o)
}

async fn body_of(resp: Response<ProxyBody>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn escapes_follow_go() {
    assert_eq!(json_escape("a\"b\\\n\u{1}"), "a\\\"b\\\\\\n\\u0001");
    assert_eq!(
        js_escape("<a='b'&>"),
        "\\u003Ca\\u003D\\'b\\'\\u0026\\u003E"
    );
    assert_eq!(
        html_escape("<a \"b\">&'"),
        "&lt;a &#34;b&#34;&gt;&amp;&#39;"
    );
}

#[test]
fn format_reads_the_media_type() {
    let mut h = HeaderMap::new();
    assert_eq!(ErrorFormat::of(&h, false), ErrorFormat::Json);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    assert_eq!(ErrorFormat::of(&h, false), ErrorFormat::TextXml);
    assert_eq!(ErrorFormat::of(&h, true), ErrorFormat::Grpc);
}

#[test]
fn unchanged_json_errors_keep_their_body() {
    let pages = ErrorPages::default();
    let resp = error_response(StatusCode::UNAUTHORIZED, "Authorization field missing");
    let resp = block_on(pages.apply(None, ErrorFormat::Json, resp));
    assert_eq!(resp.status(), 401);
    assert!(resp.extensions().get::<ErrorMark>().is_none());
    let body = block_on(body_of(resp));
    assert_eq!(body, error_json("Authorization field missing"));
}

#[test]
fn xml_requests_get_the_stock_xml_template() {
    let pages = ErrorPages::default();
    let resp = error_response(StatusCode::FORBIDDEN, "a<b");
    let resp = block_on(pages.apply(None, ErrorFormat::SoapXml, resp));
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/soap+xml");
    let body = block_on(body_of(resp));
    assert!(body.ends_with("<error>a&lt;b</error>"), "{body}");
}

#[test]
fn override_messages_then_overrides_by_message() {
    let mut cfg = GatewayErrors::default();
    let m = MessageOverride {
        code: Some(400),
        message: Some("No key".into()),
    };
    cfg.override_messages
        .insert("auth.auth_field_missing".into(), m);
    let pages = ErrorPages::new(&cfg);
    let api = overrides(
        400,
        vec![
            rule(
                Some(ErrorMatch {
                    message_pattern: Some("^nothing$".into()),
                    ..ErrorMatch::default()
                }),
                OverrideResponse::default(),
            ),
            rule(
                Some(ErrorMatch {
                    message_pattern: Some("No".into()),
                    ..ErrorMatch::default()
                }),
                OverrideResponse {
                    status_code: Some(418),
                    body: Some(ErrorBody::Template(
                        ErrorTemplate::parse(r#"{"m":"{{.Message}}","c":{{.StatusCode}}}"#)
                            .unwrap(),
                    )),
                    message: "it's".into(),
                    headers: vec![("X-Why".into(), "teapot".into())],
                    ..OverrideResponse::default()
                },
            ),
        ],
    );
    let mut resp = error_response(StatusCode::UNAUTHORIZED, "Authorization field missing");
    tag_id(&mut resp, "auth.auth_field_missing");
    let resp = block_on(pages.apply(Some(&api), ErrorFormat::Json, resp));
    assert_eq!(resp.status(), 418);
    assert_eq!(resp.headers()["x-why"], "teapot");
    assert_eq!(block_on(body_of(resp)), r#"{"m":"it\'s","c":418}"#);
}

#[test]
fn upstream_errors_match_their_body_and_keep_it_otherwise() {
    let pages = ErrorPages::default();
    let api = overrides(
        500,
        vec![rule(
            Some(ErrorMatch {
                body_field: Some("error.code".into()),
                body_value: Some("E1".into()),
                ..ErrorMatch::default()
            }),
            OverrideResponse {
                status_code: Some(503),
                message: "later".into(),
                ..OverrideResponse::default()
            },
        )],
    );
    let upstream = |body: &'static str| {
        let mut r = Response::new(ProxyBody::full(body));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    let hit = block_on(pages.apply(
        Some(&api),
        ErrorFormat::Json,
        upstream(r#"{"error":{"code":"E1"}}"#),
    ));
    assert_eq!(hit.status(), 503);
    assert_eq!(block_on(body_of(hit)), error_json("later"));
    let miss = block_on(pages.apply(
        Some(&api),
        ErrorFormat::Json,
        upstream(r#"{"error":{"code":"E2"}}"#),
    ));
    assert_eq!(miss.status(), 500);
    assert_eq!(block_on(body_of(miss)), r#"{"error":{"code":"E2"}}"#);
}

#[test]
fn grpc_answers_are_left_alone() {
    let pages = ErrorPages::default();
    let api = overrides(
        401,
        vec![rule(
            None,
            OverrideResponse {
                status_code: Some(418),
                ..OverrideResponse::default()
            },
        )],
    );
    let resp = error_response(StatusCode::UNAUTHORIZED, "x");
    let resp = block_on(pages.apply(Some(&api), ErrorFormat::Grpc, resp));
    assert_eq!(resp.status(), 401);
}
