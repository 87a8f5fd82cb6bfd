//! Reloading: SIGHUP, `watch_app_path`, a typo keeping the last good version,
//! removed files, reloads under load (no failed request, never a mix of two
//! definitions), and draining on SIGTERM.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{bin, client, eventually, logged, reload, status_of};
use weir_testkit::{Gateway, HttpUpstream};

const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

/// A keyless API whose responses carry `X-Rule` and `X-Rule-Check`, both `rule`.
fn ruled(id: &str, listen_path: &str, target: &str, rule: &str) -> Value {
    json!({
        "api_id": id, "name": id.to_uppercase(), "org_id": "1", "use_keyless": true, "active": true,
        "proxy": { "listen_path": listen_path, "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": {
            "name": "Default",
            "global_response_headers": { "X-Rule": rule, "X-Rule-Check": rule }
        } } }
    })
}

/// The `X-Rule` header of a GET, or None if the request did not get a 200.
async fn rule_of(url: &str) -> Option<String> {
    let resp = client().get(url).send().await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.headers()
        .get("x-rule")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn sighup_reloads() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({}),
    );
    gw.write_api("b1.json", ruled("b1", "/b1/", &up.url(), "v1"));
    gw.write_api("a1.json", ruled("a1", "/a1/", &up.url(), "v2"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&gw.url("/b1/echo")).await,
        404,
        "not watching: nothing changes without a signal"
    );
    assert_eq!(rule_of(&gw.url("/a1/echo")).await.as_deref(), Some("v1"));

    gw.signal(SIGHUP);
    let served = eventually(Duration::from_secs(5), || async {
        status_of(&gw.url("/b1/echo")).await == 200
    })
    .await;
    assert!(served, "new API not served after SIGHUP\n{}", gw.logs());
    assert_eq!(rule_of(&gw.url("/a1/echo")).await.as_deref(), Some("v2"));
    assert!(gw.logs().contains("SIGHUP"), "the reload is logged");
}

#[tokio::test]
async fn watch_app_path_picks_up_new_changed_and_removed_files() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({ "watch_app_path": true }),
    );
    gw.write_api("b1.json", ruled("b1", "/b1/", &up.url(), "v1"));
    let served = eventually(Duration::from_secs(5), || async {
        status_of(&gw.url("/b1/echo")).await == 200
    })
    .await;
    assert!(served, "new file not picked up within 5 s\n{}", gw.logs());

    gw.write_api("a1.json", ruled("a1", "/a1/", &up.url(), "v2"));
    let changed = eventually(Duration::from_secs(5), || async {
        rule_of(&gw.url("/a1/echo")).await.as_deref() == Some("v2")
    })
    .await;
    assert!(
        changed,
        "changed file not picked up within 5 s\n{}",
        gw.logs()
    );

    gw.remove_api("b1.json");
    let gone = eventually(Duration::from_secs(5), || async {
        status_of(&gw.url("/b1/echo")).await == 404
    })
    .await;
    assert!(gone, "removed file still served after 5 s\n{}", gw.logs());
}

#[tokio::test]
async fn a_typo_keeps_the_last_good_version_and_logs_the_file() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            ("a1.json", ruled("a1", "/a1/", &up.url(), "v1")),
            ("a2.json", ruled("a2", "/a2/", &up.url(), "v1")),
        ],
        json!({}),
    );
    // A typo: the JSON no longer parses.
    let text = ruled("a1", "/a1/", &up.url(), "v2")
        .to_string()
        .replacen(',', ",,", 1);
    gw.write_api("a1.json", text);
    gw.write_api("a2.json", ruled("a2", "/a2/", &up.url(), "v2"));
    let message = reload(&gw).await;
    assert!(
        message.contains("a1.json"),
        "reload answer does not name the file: {message}"
    );

    assert_eq!(
        rule_of(&gw.url("/a1/echo")).await.as_deref(),
        Some("v1"),
        "last good version"
    );
    assert_eq!(
        rule_of(&gw.url("/a2/echo")).await.as_deref(),
        Some("v2"),
        "other files reload"
    );
    // The log is written asynchronously: the refusal may land after the reload's answer.
    assert!(logged(&gw, &["API definition refused", "a1.json"]));
    let logs = gw.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("a1.json") && l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error naming a1.json in the logs:\n{logs}"));
    assert!(line.to_lowercase().contains("json"), "{line}");

    // Still the last good version on the next reload, and the fix is picked up.
    reload(&gw).await;
    assert_eq!(rule_of(&gw.url("/a1/echo")).await.as_deref(), Some("v1"));
    gw.write_api("a1.json", ruled("a1", "/a1/", &up.url(), "v3"));
    assert_eq!(reload(&gw).await, "", "a clean reload has no message");
    assert_eq!(rule_of(&gw.url("/a1/echo")).await.as_deref(), Some("v3"));
}

/// A new file whose listen path collides with a live API is the one refused, even when its
/// name sorts first; the error names the newcomer and the live API keeps its route.
#[tokio::test]
async fn a_newcomer_that_collides_with_a_live_api_is_refused() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("live.json", ruled("live", "/shared/", &up.url(), "live"))],
        json!({}),
    );
    assert_eq!(
        rule_of(&gw.url("/shared/echo")).await.as_deref(),
        Some("live")
    );
    gw.write_api(
        "a-new.json",
        ruled("newcomer", "/shared/", &up.url(), "new"),
    );
    let message = reload(&gw).await;
    assert!(
        message.contains("a-new.json") && message.contains("live.json"),
        "the error names the newcomer and the API it collides with: {message}"
    );
    assert_eq!(
        rule_of(&gw.url("/shared/echo")).await.as_deref(),
        Some("live"),
        "the live API keeps its route"
    );
    // Removing the live file hands the route to the newcomer.
    std::fs::remove_file(gw.dir().join("apps/live.json")).unwrap();
    reload(&gw).await;
    assert_eq!(
        rule_of(&gw.url("/shared/echo")).await.as_deref(),
        Some("new")
    );
}

#[tokio::test]
async fn a_removed_file_stops_serving_after_reload() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            ("a1.json", ruled("a1", "/a1/", &up.url(), "v1")),
            ("a2.json", ruled("a2", "/a2/", &up.url(), "v1")),
        ],
        json!({}),
    );
    assert_eq!(status_of(&gw.url("/a1/echo")).await, 200);
    gw.remove_api("a1.json");
    assert_eq!(
        status_of(&gw.url("/a1/echo")).await,
        200,
        "served until the reload"
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/a1/echo")).await, 404);
    assert_eq!(status_of(&gw.url("/a2/echo")).await, 200);
}

const LOAD_REQUESTS: usize = 20_000;
const LOAD_TASKS: usize = 8;
const LOAD_RELOADS: usize = 20;

/// The acceptance test: 20,000 keep-alive requests (HTTP/1.1 and h2c) while the definition is
/// rewritten and reloaded 20 times (alternately by `/tyk/reload?block=true`
/// and SIGHUP). No request fails, and no response mixes
/// headers of two definitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_loses_nothing_and_never_mixes_definitions() {
    let up = HttpUpstream::start();
    let gw = Arc::new(Gateway::start(
        bin(),
        &[("hot.json", ruled("hot", "/hot/", &up.url(), "v0"))],
        json!({ "access_logs": { "enabled": false } }),
    ));
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));

    let mut clients = Vec::new();
    for t in 0..LOAD_TASKS {
        let url = gw.url(&format!("/hot/echo/t{t}"));
        let done = done.clone();
        clients.push(tokio::spawn(async move {
            // One client per task, one request at a time: a single keep-alive
            // connection, HTTP/1.1 for even tasks and h2c for odd ones.
            let builder = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(10));
            let builder = if t % 2 == 0 {
                builder.http1_only()
            } else {
                builder.http2_prior_knowledge()
            };
            let c = builder.build().unwrap();
            let expected_path = format!("/echo/t{t}");
            let mut seen = BTreeSet::new();
            let mut failures: Vec<String> = Vec::new();
            for i in 0..LOAD_REQUESTS / LOAD_TASKS {
                let outcome: Result<String, String> = async {
                    let resp = c
                        .get(&url)
                        .send()
                        .await
                        .map_err(|e| format!("send: {e:?}"))?;
                    let status = resp.status();
                    let header = |n: &str| {
                        resp.headers()
                            .get(n)
                            .map(|v| v.to_str().unwrap_or("?").to_string())
                    };
                    let (rule, check) = (header("x-rule"), header("x-rule-check"));
                    let declared = resp.content_length();
                    let body = resp.bytes().await.map_err(|e| format!("body: {e:?}"))?;
                    if status != 200 {
                        return Err(format!(
                            "status {status}: {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    if declared.is_some_and(|n| n != body.len() as u64) {
                        return Err(format!(
                            "body {} bytes, content-length {declared:?}",
                            body.len()
                        ));
                    }
                    let echo: Value =
                        serde_json::from_slice(&body).map_err(|e| format!("body not JSON: {e}"))?;
                    if echo["path"] != expected_path.as_str() {
                        return Err(format!("wrong echo: {echo}"));
                    }
                    match (rule, check) {
                        (Some(r), Some(c)) if r == c => Ok(r),
                        (r, c) => Err(format!(
                            "mixed definitions: X-Rule {r:?}, X-Rule-Check {c:?}"
                        )),
                    }
                }
                .await;
                match outcome {
                    Ok(rule) => {
                        seen.insert(rule);
                    }
                    Err(e) => failures.push(format!("task {t} request {i}: {e}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (seen, failures)
        }));
    }

    // Rewrite and reload spread over the run: reload N once N/(RELOADS+2) of the requests are done.
    let reloader = {
        let gw = gw.clone();
        let done = done.clone();
        let target = up.url();
        tokio::spawn(async move {
            let c = support::client();
            let mut times = Vec::new();
            for n in 1..=LOAD_RELOADS {
                let at = n * LOAD_REQUESTS / (LOAD_RELOADS + 2);
                while done.load(Ordering::Relaxed) < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let version = format!("v{n}");
                gw.write_api("hot.json", ruled("hot", "/hot/", &target, &version));
                let t0 = Instant::now();
                if n % 2 == 0 {
                    // Every other reload by SIGHUP: wait until it shows.
                    gw.signal(SIGHUP);
                    let probe = gw.url("/hot/echo");
                    let shown = eventually(Duration::from_secs(5), || async {
                        rule_of(&probe).await.as_deref() == Some(version.as_str())
                    })
                    .await;
                    assert!(shown, "SIGHUP reload {n} never showed");
                    times.push(t0.elapsed());
                    continue;
                }
                let resp = c
                    .get(support::control_url(&gw, "/tyk/reload?block=true"))
                    .header("X-Tyk-Authorization", weir_testkit::SECRET)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "reload {n}");
                let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
                assert_eq!(body["status"], "ok", "reload {n}: {body}");
                times.push(t0.elapsed());
            }
            times
        })
    };

    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    for c in clients {
        let (s, f) = c.await.unwrap();
        seen.extend(s);
        failures.extend(f);
    }
    let reload_times = reloader.await.unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "{LOAD_REQUESTS} requests, {LOAD_RELOADS} reloads in {elapsed:?} (slowest reload {:?}); versions seen: {seen:?}",
        reload_times.iter().max()
    );

    assert!(
        failures.is_empty(),
        "{} of {LOAD_REQUESTS} requests failed; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(reload_times.len(), LOAD_RELOADS);
    assert!(seen.len() > 1, "only one version observed: {seen:?}");
    let valid: BTreeSet<String> = (0..=LOAD_RELOADS).map(|n| format!("v{n}")).collect();
    assert!(seen.is_subset(&valid), "unexpected versions: {seen:?}");
    assert_eq!(
        rule_of(&gw.url("/hot/echo")).await.as_deref(),
        Some("v20"),
        "the last reload wins"
    );
    assert!(up.request_count() >= LOAD_REQUESTS);
}

/// SIGTERM: the in-flight request completes, new connections are refused, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let up = HttpUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({}),
    );
    let slow_url = gw.url("/a1/slow?ms=1500");
    let slow = tokio::spawn(async move {
        let t0 = Instant::now();
        let resp = client()
            .get(slow_url)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| format!("{e:?}"))?;
        Ok::<_, String>((status, body, t0.elapsed()))
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.signal(SIGTERM);
    let signalled = Instant::now();

    // New connections are refused once the signal is handled (well before the slow request ends).
    let addr = gw.addr();
    let refused = eventually(Duration::from_millis(1000), || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(
        refused,
        "the listener still accepts connections after SIGTERM\n{}",
        gw.logs()
    );
    assert!(
        !slow.is_finished(),
        "the slow request ended before the listener closed"
    );

    let (status, body, took) = slow
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("slow request failed: {e}\n{}", gw.logs()));
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/slow", "full body");
    assert!(took >= Duration::from_millis(1400), "{took:?}");

    let exit = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(5)));
    let exit = exit.unwrap_or_else(|| panic!("still running 5 s after SIGTERM\n{}", gw.logs()));
    assert_eq!(exit.code(), Some(0), "{}", gw.logs());
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "{:?}",
        signalled.elapsed()
    );
}

/// With a 1 s drain deadline a 5 s request does not hold up the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_up_on_slow_requests_at_the_deadline() {
    let up = HttpUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({ "graceful_shutdown_timeout_duration": 1 }),
    );
    let slow_url = gw.url("/a1/slow?ms=5000");
    let slow = tokio::spawn(async move {
        match client().get(slow_url).send().await {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.signal(SIGTERM);
    let signalled = Instant::now();
    let exit = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(4)));
    let took = signalled.elapsed();
    let exit = exit.unwrap_or_else(|| panic!("still running 4 s after SIGTERM\n{}", gw.logs()));
    assert_eq!(exit.code(), Some(0), "{}", gw.logs());
    assert!(
        took >= Duration::from_millis(800),
        "exited before the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "deadline not enforced: {took:?}"
    );
    let status = slow.await.unwrap();
    assert_ne!(status, 200, "the 5 s request cannot have completed");
}

/// Idle keep-alive connections (HTTP/1.1 and h2c) and a connection that never
/// sent a byte do not hold up the exit until the 30 s default deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_idle_connections_exits_promptly() {
    let up = HttpUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({}),
    );
    let h1 = client();
    assert_eq!(
        h1.get(gw.url("/a1/echo")).send().await.unwrap().status(),
        200
    );
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = h2.get(gw.url("/a1/echo")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let _silent = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    gw.signal(SIGTERM);
    let signalled = Instant::now();
    let exit = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(10)));
    let took = signalled.elapsed();
    let exit = exit.unwrap_or_else(|| panic!("still running 10 s after SIGTERM\n{}", gw.logs()));
    assert_eq!(exit.code(), Some(0), "{}", gw.logs());
    assert!(
        took < Duration::from_secs(3),
        "idle connections held up the exit for {took:?}\n{}",
        gw.logs()
    );
    drop((h1, h2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_also_exits_zero() {
    let up = HttpUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("a1.json", ruled("a1", "/a1/", &up.url(), "v1"))],
        json!({}),
    );
    assert_eq!(status_of(&gw.url("/a1/echo")).await, 200);
    gw.signal(2);
    let exit = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(5)));
    let exit = exit.unwrap_or_else(|| panic!("still running 5 s after SIGINT\n{}", gw.logs()));
    assert_eq!(exit.code(), Some(0), "{}", gw.logs());
}

/// SIGTERM waits for open WebSocket tunnels too (within the same deadline): a tunnel keeps
/// working after the signal, and the gateway exits 0 once it closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_open_websockets() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let ws_up = weir_testkit::WsEchoUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("ws.json", ruled("ws", "/ws/", &ws_up.url(), "v1"))],
        json!({}),
    );
    let url = format!("ws://127.0.0.1:{}/ws/chat", gw.port());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade through weir");
    let within = Duration::from_secs(5);
    ws.send(Message::text("before")).await.unwrap();
    let got = tokio::time::timeout(within, ws.next()).await.unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::text("before"));

    gw.signal(SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    ws.send(Message::text("after the signal")).await.unwrap();
    let got = tokio::time::timeout(within, ws.next()).await.unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::text("after the signal"));
    let early = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_millis(300)));
    assert!(early.is_none(), "exited with a tunnel open: {early:?}");

    ws.close(None).await.unwrap();
    drop(ws);
    let exit = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(5)));
    let exit =
        exit.unwrap_or_else(|| panic!("still running after the tunnel closed\n{}", gw.logs()));
    assert_eq!(exit.code(), Some(0), "{}", gw.logs());
}
