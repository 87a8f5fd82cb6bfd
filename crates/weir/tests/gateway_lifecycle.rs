//! The launcher's control paths against the real binary: API files picked
//! up by `/tyk/reload` and SIGHUP, and a clean exit on SIGTERM.

mod common;

use std::time::Duration;

use common::{api, assert_json_error, h1, json_body, start};
use serde_json::json;
use weir_testkit::HttpUpstream;

#[tokio::test]
async fn reload_adds_and_removes_apis() {
    let up = HttpUpstream::start();
    let gw = start(&[api("a1", "/a1/", &up.url(), true)], json!({}));
    let client = h1();
    assert_json_error(client.get(gw.url("/b1/echo")).send().await.unwrap(), 404).await;

    gw.write_api("b1.json", api("b1", "/b1/", &up.url(), true));
    let body = gw.reload();
    assert!(body.contains("ok"), "reload body {body:?}");
    let echo = json_body(client.get(gw.url("/b1/echo/new")).send().await.unwrap()).await;
    assert_eq!(echo["path"], "/echo/new");

    gw.remove_api("a1.json");
    gw.reload();
    assert_json_error(client.get(gw.url("/a1/echo")).send().await.unwrap(), 404).await;
    assert_eq!(
        client
            .get(gw.url("/b1/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_exits() {
    let up = HttpUpstream::start();
    let mut gw = start(&[api("a1", "/a1/", &up.url(), true)], json!({}));
    let client = h1();

    gw.write_api("c1.json", api("c1", "/c1/", &up.url(), true));
    gw.signal(1); // SIGHUP
    let mut status = 0;
    for _ in 0..50 {
        status = client
            .get(gw.url("/c1/echo"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        200,
        "SIGHUP did not load c1 within 2.5 s\n{}",
        gw.logs()
    );

    gw.signal(15); // SIGTERM
    let exit = gw
        .wait_exit(Duration::from_secs(5))
        .expect("weir still running 5 s after SIGTERM");
    assert!(exit.success(), "exit status {exit}\n{}", gw.logs());
    assert!(
        client.get(gw.url("/a1/echo")).send().await.is_err(),
        "still serving after exit"
    );
}
