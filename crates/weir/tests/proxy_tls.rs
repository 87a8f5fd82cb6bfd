//! TLS: an HTTPS listener (h1 and h2 via ALPN) and HTTPS upstreams with
//! and without certificate verification.

mod common;

use std::time::Duration;

use common::{api, assert_json_error, echoed, h1, json_body, start};
use serde_json::{Value, json};
use weir_testkit::{Gateway, HttpUpstream, HttpsUpstream, SelfSigned};

/// A client that trusts `cert` and resolves `localhost` to the gateway.
fn tls_client(cert: &SelfSigned, gw: &Gateway, http1_only: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", gw.addr())
        .timeout(Duration::from_secs(10));
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}

fn tls_conf(cert_path: &std::path::Path, key_path: &std::path::Path) -> Value {
    json!({
        "http_server_options": {
            "use_ssl": true,
            "enable_http2": true,
            "certificates": [{
                "domain_name": "localhost",
                "cert_file": cert_path,
                "key_file": key_path
            }]
        }
    })
}

#[tokio::test]
async fn https_listener_serves_h1_and_h2() {
    let certs = tempfile::tempdir().unwrap();
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]);
    let (cert_path, key_path) = cert.write_to(certs.path());
    let up = HttpUpstream::start();
    let gw = start(
        &[api("a1", "/a1/", &up.url(), true)],
        tls_conf(&cert_path, &key_path),
    );
    let url = format!("https://localhost:{}/a1/echo/tls?x=1", gw.port());

    for (http1_only, version) in [
        (true, reqwest::Version::HTTP_11),
        (false, reqwest::Version::HTTP_2),
    ] {
        let resp = tls_client(&cert, &gw, http1_only)
            .get(&url)
            .send()
            .await
            .expect("HTTPS request");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version, "ALPN outcome");
        let echo = json_body(resp).await;
        assert_eq!(echo["path"], "/echo/tls");
        assert_eq!(echo["query"], "x=1");
        assert_eq!(echoed(&echo, "x-forwarded-proto"), Some("https"));
    }
    assert_eq!(up.request_count(), 2);

    // Plain HTTP on the TLS port is not served as HTTP.
    let plain = h1()
        .get(format!("http://127.0.0.1:{}/a1/echo", gw.port()))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plaintext request was served"
    );
    assert_eq!(up.request_count(), 2);
}

fn https_api(target: &str, skip_verify: Option<bool>) -> Value {
    let mut def = api("tls-up", "/up/", target, true);
    if let Some(skip) = skip_verify {
        def["proxy"]["transport"] = json!({ "ssl_insecure_skip_verify": skip });
    }
    def
}

#[tokio::test]
async fn https_upstream_with_insecure_skip_verify() {
    let up = HttpsUpstream::start(&SelfSigned::generate(&["localhost", "127.0.0.1"]));
    let gw = start(&[https_api(&up.url(), Some(true))], json!({}));
    let resp = h1().get(gw.url("/up/echo/secure")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo = json_body(resp).await;
    assert_eq!(echo["path"], "/echo/secure");
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn untrusted_https_upstream_is_a_502() {
    let up = HttpsUpstream::start(&SelfSigned::generate(&["localhost", "127.0.0.1"]));
    let gw = start(&[https_api(&up.url(), None)], json!({}));
    let resp = h1().get(gw.url("/up/echo")).send().await.unwrap();
    assert_json_error(resp, 502).await;
    assert_eq!(
        up.request_count(),
        0,
        "no request may pass an unverified handshake"
    );
}

#[tokio::test]
async fn https_upstream_trusted_via_proxy_ssl_ca_cert_file() {
    let certs = tempfile::tempdir().unwrap();
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]);
    let (cert_path, _) = cert.write_to(certs.path());
    let up = HttpsUpstream::start(&cert);
    let gw = start(
        &[https_api(&up.url(), None)],
        json!({ "proxy_ssl_ca_cert_file": cert_path }),
    );
    let resp = h1().get(gw.url("/up/echo/ca")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo = json_body(resp).await;
    assert_eq!(echo["path"], "/echo/ca");
    assert_eq!(up.request_count(), 1);
}
