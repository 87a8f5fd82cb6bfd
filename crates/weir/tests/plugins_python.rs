//! Python plugins through the real weir binary (driver `python`, Tyk's Python API): the
//! example bundle's hooks of every kind, faults that fail only their request, a syntax error
//! that refuses only its API, keyless latency while Python hooks sleep, and the vision
//! enricher as a Python stream hook. Needs Debian's python3.11, libpython3.11 and
//! python3-protobuf (test.sh installs them).

mod support;
mod vision;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{bin, json_of, plugin_api, send};
use vision::{check_enricher, enricher_config, stream_middleware, vision_api};
use weir_testkit::{Gateway, HttpUpstream, VisionUpstream};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn api(id: &str, target: &str, middleware: Value) -> Value {
    plugin_api(id, target, middleware)
}

fn pre(name: &str, path: &Path) -> Value {
    json!({"driver": "python", "pre": [{"name": name, "path": path}]})
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    send(reqwest::Method::GET, url, headers, "").await
}

/// examples/plugins/python/apps/python-example.json pointed at `target`, its bundle path made
/// absolute.
fn example_api(target: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("examples/plugins/python/apps/python-example.json"))
            .expect("the example definition");
    let mut def: Value = serde_json::from_str(&text).expect("JSON");
    def["proxy"]["target_url"] = json!(target);
    let bundle = repo().join("examples/plugins/python/bundle");
    let mw = &mut def["custom_middleware"];
    for kind in ["pre", "post_key_auth", "response"] {
        mw[kind][0]["path"] = json!(bundle);
    }
    mw["auth_check"]["path"] = json!(bundle);
    def
}

#[tokio::test]
async fn the_example_bundle_runs_every_hook_kind() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("python-example.json", example_api(&up.url()))],
        json!({}),
    );
    let url = gw.url("/python-example/echo");

    let (status, _, body) = get(&url, &[("authorization", "wrong")]).await;
    assert_eq!(
        (status, json_of(&body)["error"].as_str()),
        (401, Some("unknown key"))
    );
    let (status, _, _) = get(&url, &[]).await;
    assert_eq!(status, 401, "no key");

    let gold = [("authorization", "key-gold")];
    let (status, h, body) = get(&url, &gold).await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-hello"][0], "from python", "pre hook");
    assert_eq!(echo["headers"]["x-plan"][0], "gold", "post_key_auth hook");
    let count: u64 = echo["headers"]["x-request-count"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(h["x-served-by"], "weir-python", "response hook");

    // The gateway store keeps the count between requests.
    let (_, _, body) = get(&url, &gold).await;
    let next = &json_of(&body)["headers"]["x-request-count"][0];
    assert_eq!(next.as_str(), Some((count + 1).to_string().as_str()));

    // The auth hook's session (2 per 10 s) is enforced by the gateway.
    let (status, _, body) = get(&url, &gold).await;
    assert_eq!(
        (status, json_of(&body)["error"].as_str()),
        (429, Some("Rate Limit Exceeded"))
    );
    let (status, _, _) = get(&url, &[("authorization", "key-free")]).await;
    assert_eq!(status, 200, "another key has its own limit");
}

const FAULTY: &str = r#"
from tyk.decorators import *

@Hook
def Faulty(request, session, spec):
    mode = request.get_header("X-Mode")
    if mode == "raise":
        raise RuntimeError("asked to fail")
    if mode == "loop":
        while True:
            pass
    if mode == "hog":
        hog = bytearray(1 << 30)
    request.add_header("X-Python", "served")
    return request, session
"#;

#[tokio::test]
async fn faults_fail_only_their_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faulty.py");
    std::fs::write(&file, FAULTY).unwrap();
    let up = HttpUpstream::start();
    let mut mw = pre("Faulty", &file);
    mw["timeout"] = json!(0.3);
    let gw = Gateway::start(bin(), &[("f.json", api("f", &up.url(), mw))], json!({}));
    let url = gw.url("/f/echo");
    for mode in ["raise", "loop", "hog"] {
        let started = Instant::now();
        let (status, _, body) = get(&url, &[("x-mode", mode)]).await;
        assert_eq!(status, 500, "{mode}: {body}");
        assert_eq!(json_of(&body)["error"], "Middleware error", "{mode}");
        if mode == "loop" {
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(300), "{took:?}");
            assert!(took < Duration::from_millis(1500), "{took:?}");
        }
        let (status, _, body) = get(&url, &[]).await;
        assert_eq!(status, 200, "after {mode}: {body}");
        assert_eq!(json_of(&body)["headers"]["x-python"][0], "served");
    }
    // The log is written asynchronously: wait for both lines.
    let logged = support::eventually(Duration::from_secs(5), || async {
        let logs = gw.logs();
        logs.contains("faulty.py:8: RuntimeError: asked to fail") && logs.contains("memory limit")
    })
    .await;
    assert!(logged, "{}", gw.logs());
}

#[test]
fn a_syntax_error_refuses_only_its_api_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.py");
    std::fs::write(
        &bad,
        "from tyk.decorators import *\n@Hook\ndef Broken(request, session, spec)\n    pass\n",
    )
    .unwrap();
    let good = dir.path().join("good.py");
    std::fs::write(&good, FAULTY).unwrap();
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            ("bad.json", api("bad", &up.url(), pre("Broken", &bad))),
            ("good.json", api("good", &up.url(), pre("Faulty", &good))),
        ],
        json!({}),
    );
    assert!(
        support::logged(&gw, &["bad.json", "bad.py:3: SyntaxError"]),
        "{}",
        gw.logs()
    );
    assert_eq!(support::raw_get_status(gw.addr(), "/good/echo"), Some(200));
    assert_ne!(support::raw_get_status(gw.addr(), "/bad/echo"), Some(200));
}

/// Median latency of `n` sequential GETs.
async fn p50(url: &str, n: usize) -> Duration {
    let client = support::client();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyless_latency_does_not_move_while_python_hooks_sleep() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sleepy.py");
    std::fs::write(
        &file,
        "import time\ndef Sleep(request, session, spec):\n    time.sleep(0.2)\n    return request, session\n",
    )
    .unwrap();
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            ("plain.json", api("plain", &up.url(), Value::Null)),
            ("sleepy.json", api("sleepy", &up.url(), pre("Sleep", &file))),
        ],
        json!({}),
    );
    let plain = gw.url("/plain/echo");
    p50(&plain, 20).await;
    let quiet = p50(&plain, 200).await;
    // Eight clients keep every Python worker asleep (and requests queued) meanwhile.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (stop, url) = (stop.clone(), gw.url("/sleepy/echo"));
        load.push(tokio::spawn(async move {
            let client = support::client();
            let mut served = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = client.get(&url).send().await.unwrap();
                if resp.status() == 200 {
                    served += 1;
                }
            }
            served
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = p50(&plain, 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut served = 0;
    for task in load {
        served += task.await.unwrap();
    }
    println!("keyless p50: {quiet:?} quiet, {busy:?} while python hooks sleep ({served} slept)");
    assert!(served >= 8, "the sleeping hooks were served: {served}");
    assert!(
        busy < quiet * 3 + Duration::from_millis(5),
        "keyless p50 moved from {quiet:?} to {busy:?}"
    );
}

#[tokio::test]
async fn the_vision_enricher_runs_as_a_python_stream_hook() {
    let up = VisionUpstream::start();
    let mw = stream_middleware(
        "python",
        Some(&repo().join("examples/vision/python-enricher")),
    );
    let def = vision_api(&up.url(), mw, enricher_config());
    let gw = Gateway::start(bin(), &[("vision.json", def)], json!({}));
    check_enricher(&gw, &up).await;
}

#[tokio::test]
async fn a_reload_serves_the_edited_plugin_and_helper() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(
        bundle.join("middleware.py"),
        "import helper\ndef Pre(request, session, spec):\n    request.add_header('X-Version', helper.VERSION)\n    return request, session\n",
    )
    .unwrap();
    std::fs::write(bundle.join("helper.py"), "VERSION = '1'\n").unwrap();
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("r.json", api("r", &up.url(), pre("Pre", &bundle)))],
        json!({}),
    );
    let version = || async {
        let (status, _, body) = get(&gw.url("/r/echo"), &[]).await;
        assert_eq!(status, 200, "{body}");
        json_of(&body)["headers"]["x-version"][0]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(version().await, "1");
    std::fs::write(bundle.join("helper.py"), "VERSION = '2'\n").unwrap();
    gw.reload();
    let swapped =
        support::eventually(Duration::from_secs(5), || async { version().await == "2" }).await;
    assert!(swapped, "the reload did not pick up the edited helper");
}
