//! Bad input: `weir check` on broken definitions and configs, `weir run` serving
//! the good APIs next to broken ones, oversized headers and garbage on the socket.

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use support::{bin, raw_exchange, raw_get_status, raw_status, run_weir, status_of, stderr_lines};
use weir_testkit::{Gateway, HttpUpstream, free_port};

/// The seed definition, from ../shared beside the repository.
const VISION_SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/seeds/configs/vision-api.json"
);

fn keyless(id: &str, listen_path: &str, target: &str) -> Value {
    json!({
        "api_id": id, "name": id.to_uppercase(), "org_id": "1", "use_keyless": true, "active": true,
        "proxy": { "listen_path": listen_path, "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

/// The four broken files of the brief, by file name.
fn broken_files(target: &str) -> Vec<(&'static str, String)> {
    let mut wrong_type = keyless("wrongtype", "/wrongtype/", target);
    wrong_type["proxy"]["listen_path"] = json!(5);
    let mut lua = keyless("luaapi", "/lua/", target);
    lua["custom_middleware"] = json!({"driver": "lua", "pre": [{"name": "x"}]});
    vec![
        (
            "typo.json",
            "{\"api_id\": \"typo\", \"proxy\": {\"listen_path\": \"/typo/\",,}".to_string(),
        ),
        ("wrongtype.json", wrong_type.to_string()),
        ("dup1.json", keyless("dup1", "/dup/", target).to_string()),
        ("dup2.json", keyless("dup2", "/dup/", target).to_string()),
        ("lua.json", lua.to_string()),
    ]
}

/// A folder with `weir.json` (extra keys laid over a base) and `apps/` holding `files`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(files: &[(&str, String)], extra_conf: Value) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apps")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("apps").join(name), text).unwrap();
        }
        let mut conf = json!({
            "listen_address": "127.0.0.1", "listen_port": free_port(),
            "secret": "s", "app_path": "apps",
        });
        for (k, v) in extra_conf.as_object().unwrap() {
            conf[k] = v.clone();
        }
        std::fs::write(dir.path().join("weir.json"), conf.to_string()).unwrap();
        Setup { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("weir.json")
    }

    fn check(&self) -> Output {
        run_weir(
            &["check", "--conf", self.conf().to_str().unwrap()],
            &[],
            self.dir.path(),
        )
    }
}

/// The stderr lines that name `file`.
fn lines_naming(lines: &[String], file: &str) -> Vec<String> {
    lines.iter().filter(|l| l.contains(file)).cloned().collect()
}

#[test]
fn check_passes_a_good_set() {
    let s = Setup::new(
        &[
            (
                "a1.json",
                keyless("a1", "/a1/", "http://127.0.0.1:9").to_string(),
            ),
            (
                "a2.json",
                keyless("a2", "/a2/", "http://127.0.0.1:9").to_string(),
            ),
        ],
        json!({}),
    );
    let out = s.check();
    assert!(
        out.status.success(),
        "exit {:?}, stderr {:?}",
        out.status,
        stderr_lines(&out)
    );
    assert!(
        stderr_lines(&out).is_empty(),
        "stderr: {:?}",
        stderr_lines(&out)
    );
}

#[test]
fn check_reports_each_bad_file_on_its_own_line() {
    let mut files = broken_files("http://127.0.0.1:9");
    files.push((
        "good.json",
        keyless("good", "/good/", "http://127.0.0.1:9").to_string(),
    ));
    let s = Setup::new(&files, json!({}));
    let out = s.check();
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let lines = stderr_lines(&out);

    let typo = lines_naming(&lines, "typo.json");
    assert_eq!(typo.len(), 1, "invalid JSON: {lines:#?}");
    assert!(
        typo[0].to_lowercase().contains("json"),
        "reason should say JSON: {typo:?}"
    );

    let wrong = lines_naming(&lines, "wrongtype.json");
    assert_eq!(wrong.len(), 1, "wrong type: {lines:#?}");
    assert!(wrong[0].contains("proxy.listen_path"), "field: {wrong:?}");
    assert!(wrong[0].contains("expected a string"), "reason: {wrong:?}");

    // One of the pair is reported, naming the field and the other file.
    let dup: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("dup1.json") || l.contains("dup2.json"))
        .collect();
    assert_eq!(dup.len(), 1, "duplicate listen path: {lines:#?}");
    assert!(
        dup[0].contains("proxy.listen_path") && dup[0].contains("/dup/"),
        "{dup:?}"
    );
    assert!(
        dup[0].contains("dup1.json") && dup[0].contains("dup2.json"),
        "names both files: {dup:?}"
    );

    let lua = lines_naming(&lines, "lua.json");
    assert_eq!(lua.len(), 1, "plugin driver: {lines:#?}");
    assert!(
        lua[0].contains("custom_middleware.driver") && lua[0].contains("lua"),
        "{lua:?}"
    );

    assert!(
        lines_naming(&lines, "good.json").is_empty(),
        "good file blamed: {lines:#?}"
    );
    let problem_lines = lines.iter().filter(|l| l.contains(".json:")).count();
    assert_eq!(problem_lines, 4, "one line per problem: {lines:#?}");
}

#[test]
fn check_fails_on_each_bad_file_alone() {
    for (name, text) in broken_files("http://127.0.0.1:9") {
        // The duplicate needs its twin to be a problem.
        let mut files = vec![(name, text)];
        if name == "dup1.json" {
            continue;
        }
        if name == "dup2.json" {
            files.push((
                "dup1.json",
                keyless("dup1", "/dup/", "http://127.0.0.1:9").to_string(),
            ));
        }
        let s = Setup::new(&files, json!({}));
        let out = s.check();
        assert!(
            !out.status.success(),
            "{name}: exit status {:?}",
            out.status
        );
        let lines = stderr_lines(&out);
        assert_eq!(lines_naming(&lines, name).len(), 1, "{name}: {lines:#?}");
    }
}

#[test]
fn check_reports_a_missing_certificate_file() {
    let s = Setup::new(
        &[(
            "a1.json",
            keyless("a1", "/a1/", "http://127.0.0.1:9").to_string(),
        )],
        json!({"http_server_options": {"use_ssl": true, "certificates": [
            {"domain_name": "localhost", "cert_file": "certs/missing.pem", "key_file": "certs/missing-key.pem"}
        ]}}),
    );
    let out = s.check();
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let lines = stderr_lines(&out);
    let cert = lines_naming(&lines, "cert_file");
    assert_eq!(cert.len(), 1, "{lines:#?}");
    assert!(
        cert[0].contains("missing.pem") && cert[0].contains("weir.json"),
        "{cert:?}"
    );
}

#[test]
fn check_reports_use_ssl_without_certificates() {
    let s = Setup::new(&[], json!({"http_server_options": {"use_ssl": true}}));
    let out = s.check();
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let lines = stderr_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("http_server_options.certificates")),
        "{lines:#?}"
    );
}

#[test]
fn check_names_vision_seed_and_goplugin() {
    let seed = std::fs::read_to_string(VISION_SEED).expect("vision seed");
    let s = Setup::new(
        &[
            ("vision-api.json", seed),
            (
                "good.json",
                keyless("good", "/good/", "http://127.0.0.1:9").to_string(),
            ),
        ],
        json!({}),
    );
    let out = s.check();
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let lines = stderr_lines(&out);
    let vision = lines_naming(&lines, "vision-api");
    assert!(
        !vision.is_empty() && vision.iter().all(|l| l.contains("goplugin")),
        "{lines:#?}"
    );
}

/// `weir run` with the broken files still starts, and every good API serves.
#[tokio::test]
async fn run_serves_the_good_apis_next_to_broken_ones() {
    let up = HttpUpstream::start();
    let files: Vec<(&str, String)> = broken_files(&up.url())
        .into_iter()
        .chain([
            (
                "good1.json",
                keyless("good1", "/good1/", &up.url()).to_string(),
            ),
            (
                "good2.json",
                keyless("good2", "/good2/", &up.url()).to_string(),
            ),
        ])
        .collect();
    let gw = Gateway::start(bin(), &files, json!({}));

    for path in ["/good1/echo", "/good2/echo"] {
        assert_eq!(status_of(&gw.url(path)).await, 200, "{path}\n{}", gw.logs());
    }
    // The first of two APIs claiming one path wins; the second is refused.
    assert_eq!(status_of(&gw.url("/dup/echo")).await, 200);
    for path in ["/typo/echo", "/wrongtype/echo", "/lua/echo"] {
        assert_eq!(
            status_of(&gw.url(path)).await,
            404,
            "{path} should not be served"
        );
    }
    let logs = gw.logs();
    for file in ["typo.json", "wrongtype.json", "dup2.json", "lua.json"] {
        assert!(logs.contains(file), "logs do not name {file}:\n{logs}");
    }
}

#[tokio::test]
async fn run_refuses_vision_seed_and_serves_its_neighbour() {
    let up = HttpUpstream::start();
    let seed = std::fs::read_to_string(VISION_SEED).expect("vision seed");
    let files = [
        ("vision-api.json", seed),
        (
            "good.json",
            keyless("good", "/good/", &up.url()).to_string(),
        ),
    ];
    let gw = Gateway::start(bin(), &files, json!({}));
    assert_eq!(status_of(&gw.url("/good/echo")).await, 200);
    assert_eq!(
        status_of(&gw.url("/vision.VisionService/Analyze")).await,
        404
    );
    let logs = gw.logs();
    let refusal = logs
        .lines()
        .find(|l| l.contains("vision-api") && l.contains("goplugin"))
        .unwrap_or_else(|| panic!("no log line names vision-api and goplugin:\n{logs}"));
    assert!(refusal.contains("custom_middleware.driver"), "{refusal}");
}

/// A request head far beyond the limit gets 431 (or a clean close), and the
/// gateway serves the next connection.
#[test]
fn oversized_request_header_is_refused_and_the_gateway_keeps_serving() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("a1.json", keyless("a1", "/a1/", &up.url()))],
        json!({}),
    );
    let big = "x".repeat(200 * 1024);
    let req = format!("GET /a1/echo HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    match raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)) {
        Ok(resp) if !resp.is_empty() => {
            assert_eq!(raw_status(&resp), Some(431), "{:?}", head(&resp))
        }
        // Closed (EOF or reset) without a response is acceptable.
        Ok(_) => {}
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "unexpected error {e}"
        ),
    }
    assert_eq!(
        up.request_count(),
        0,
        "the oversized request must not reach the upstream"
    );
    assert_eq!(raw_get_status(gw.addr(), "/a1/echo"), Some(200));

    // A large but reasonable header (16 KB) still goes through.
    let req = format!(
        "GET /a1/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "z".repeat(16 * 1024)
    );
    let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).unwrap();
    assert_eq!(raw_status(&resp), Some(200), "{:?}", head(&resp));

    // Many headers that are each small but together too big.
    let mut req = String::from("GET /a1/echo HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..4000 {
        req.push_str(&format!("X-H{i}: {}\r\n", "y".repeat(40)));
    }
    req.push_str("\r\n");
    if let Ok(resp) = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5))
        && !resp.is_empty()
    {
        assert_eq!(raw_status(&resp), Some(431), "{:?}", head(&resp));
    }
    assert_eq!(raw_get_status(gw.addr(), "/a1/echo"), Some(200));
}

const GOAWAY: u8 = 0x7;

/// The types of the HTTP/2 frames in `bytes`, in order.
fn h2_frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

fn head(resp: &[u8]) -> String {
    String::from_utf8_lossy(&resp[..resp.len().min(300)]).into_owned()
}

/// Garbage on the socket gets a 400 or a closed connection, never a hang or a crash.
#[test]
fn garbage_on_the_socket_is_answered_400_or_closed() {
    let up = HttpUpstream::start();
    let mut gw = Gateway::start(
        bin(),
        &[("a1.json", keyless("a1", "/a1/", &up.url()))],
        json!({}),
    );

    let mut inputs: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /a1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET /a1/echo HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n".to_vec(),
        b"GET /a1/\x01echo HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /a1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
            .to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x99\x99\x99\x99\x99\x99garbage".to_vec(),
        vec![0u8; 64],
    ];
    // Pseudo-random bytes from a fixed seed (xorshift), so a failure reproduces.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in [16usize, 512, 4096, 70_000] {
        let bytes = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        inputs.push(bytes);
    }
    for (i, input) in inputs.iter().enumerate() {
        match raw_exchange(gw.addr(), input, Duration::from_secs(5)) {
            Ok(resp) if resp.is_empty() => {}
            // After a valid HTTP/2 preface the answer is HTTP/2 frames ending in GOAWAY.
            Ok(resp) if input.starts_with(b"PRI * HTTP/2.0") => {
                assert!(
                    h2_frame_types(&resp).contains(&GOAWAY),
                    "input {i}: no GOAWAY in {resp:?}"
                );
            }
            Ok(resp) => {
                let status = raw_status(&resp);
                assert!(
                    status.is_some_and(|s| (400..500).contains(&s)),
                    "input {i}: expected a 4xx, got {:?}",
                    head(&resp)
                );
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ),
                "input {i}: {e} (a timeout means the gateway hung on garbage)"
            ),
        }
        assert_eq!(
            raw_get_status(gw.addr(), "/a1/echo"),
            Some(200),
            "after input {i}"
        );
    }
    assert_eq!(
        raw_status(&raw_exchange(gw.addr(), b"GARBAGE\r\n\r\n", Duration::from_secs(5)).unwrap()),
        Some(400)
    );
    assert!(gw.wait_exit(Duration::ZERO).is_none(), "the gateway died");
}

/// The same over h2c: the oversized request is refused (431 or a stream/connection
/// error), and a new connection works.
#[tokio::test]
async fn oversized_request_header_over_h2c_is_refused() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("a1.json", keyless("a1", "/a1/", &up.url()))],
        json!({}),
    );
    let h2 = || {
        reqwest::Client::builder()
            .no_proxy()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let result = h2()
        .get(gw.url("/a1/echo"))
        .header("x-big", "x".repeat(200 * 1024))
        .send()
        .await;
    if let Ok(resp) = result {
        assert_eq!(resp.status(), 431);
    }
    assert_eq!(
        up.request_count(),
        0,
        "the oversized request must not reach the upstream"
    );
    let resp = h2().get(gw.url("/a1/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn run_with_use_ssl_and_a_missing_cert_exits_non_zero_naming_field_and_file() {
    let s = Setup::new(
        &[(
            "a1.json",
            keyless("a1", "/a1/", "http://127.0.0.1:9").to_string(),
        )],
        json!({"http_server_options": {"use_ssl": true, "certificates": [
            {"domain_name": "localhost", "cert_file": "nope-cert.pem", "key_file": "nope-key.pem"}
        ]}}),
    );
    let out = run_weir(
        &["run", "--conf", s.conf().to_str().unwrap()],
        &[],
        s.dir.path(),
    );
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("http_server_options.certificates[0].cert_file")
            && stderr.contains("nope-cert.pem"),
        "stderr: {stderr}"
    );
}

/// A chunked body on a GET reaches the upstream intact (hyper drops an unframed GET body),
/// and a malformed chunked body is the client's fault: 400, not 502.
#[test]
fn chunked_bodies_are_forwarded_and_malformed_ones_are_a_400() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("a1.json", keyless("a1", "/a1/", &up.url()))],
        json!({}),
    );
    let good = b"GET /a1/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let resp = raw_exchange(gw.addr(), good, Duration::from_secs(5)).unwrap();
    assert_eq!(raw_status(&resp), Some(200), "{}", head(&resp));
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.contains("\"len\":11"),
        "upstream saw the wrong body: {text}"
    );

    let bad = b"POST /a1/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nZZ\r\nnot hex\r\n0\r\n\r\n";
    let resp = raw_exchange(gw.addr(), bad, Duration::from_secs(5)).unwrap();
    assert_eq!(raw_status(&resp), Some(400), "{}", head(&resp));
    assert_eq!(raw_get_status(gw.addr(), "/a1/echo"), Some(200));
}

/// A protected API is never served open: without a key it answers 401; one that switches on
/// several authentication methods is refused naming them, and its neighbour serves.
#[tokio::test]
async fn protected_apis_are_never_served_open() {
    let up = HttpUpstream::start();
    let mut locked = keyless("locked", "/locked/", &up.url());
    locked["use_keyless"] = json!(false);
    let mut two = keyless("two", "/two/", &up.url());
    two["use_keyless"] = json!(false);
    two["use_basic_auth"] = json!(true);
    two["enable_jwt"] = json!(true);
    two["jwt_source"] = json!("c2VjcmV0");
    let files = [
        ("locked.json", locked.to_string()),
        ("two.json", two.to_string()),
        (
            "good.json",
            keyless("good", "/good/", &up.url()).to_string(),
        ),
    ];
    let gw = Gateway::start(bin(), &files, json!({}));
    assert_eq!(status_of(&gw.url("/good/echo")).await, 200);
    assert_eq!(status_of(&gw.url("/locked/echo")).await, 401);
    assert_eq!(status_of(&gw.url("/two/echo")).await, 404);
    assert_eq!(
        up.request_count(),
        1,
        "a protected API reached the upstream"
    );
    let logs = gw.logs();
    let refusal = logs
        .lines()
        .find(|l| l.contains("two.json") && l.contains("enable_jwt"))
        .unwrap_or_else(|| panic!("no log line names two.json and enable_jwt:\n{logs}"));
    assert!(refusal.contains("use_basic_auth, enable_jwt"), "{refusal}");

    let out = run_weir(
        &[
            "check",
            "--conf",
            gw.dir().join("weir.json").to_str().unwrap(),
        ],
        &[],
        gw.dir(),
    );
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("two.json") && l.contains("enable_jwt")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("locked.json")),
        "{lines:?}"
    );
}

/// Settings Weir does not build yet are refused, never served without them (the lesson of
/// the real-definition run): batch requests and a listener of the API's own are not
/// ignored, seed 001's streams are not "OK then 502". Each refusal names
/// its file and field; the API that switches nothing on serves.
#[tokio::test]
async fn apis_that_switch_on_unbuilt_settings_are_refused_naming_the_field() {
    let up = HttpUpstream::start();
    let with = |id: &str, extra: serde_json::Value| {
        let mut def = keyless(id, &format!("/{id}/"), &up.url());
        for (k, v) in extra.as_object().unwrap() {
            def[k] = v.clone();
        }
        (format!("{id}.json"), def.to_string())
    };
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds/configs/streams-demo.yaml"
    ))
    .unwrap();
    let files = [
        with("batch", json!({"enable_batch_request_support": true})),
        with("own-port", json!({"listen_port": 9999})),
        with(
            "lifetime",
            json!({"use_keyless": false, "session_lifetime": 60}),
        ),
        ("streams-demo.yaml".to_string(), seed),
        with("open", json!({})),
    ];
    let files: Vec<(&str, String)> = files.iter().map(|(f, t)| (f.as_str(), t.clone())).collect();
    let gw = Gateway::start(bin(), &files, json!({}));
    assert_eq!(status_of(&gw.url("/open/echo")).await, 200);
    for path in [
        "/batch/echo",
        "/own-port/echo",
        "/lifetime/echo",
        "/stream-demo/get-event",
    ] {
        assert_eq!(status_of(&gw.url(path)).await, 404, "{path} was served");
    }
    assert_eq!(
        up.request_count(),
        1,
        "only the open API reached the upstream"
    );

    let out = run_weir(
        &[
            "check",
            "--conf",
            gw.dir().join("weir.json").to_str().unwrap(),
        ],
        &[],
        gw.dir(),
    );
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    // Streams are built, but off unless tyk.conf switches them on, as in Tyk.
    for (file, field, why) in [
        (
            "batch.json",
            ": enable_batch_request_support: ",
            "not built in Weir yet",
        ),
        ("own-port.json", ": listen_port: ", "not built in Weir yet"),
        (
            "lifetime.json",
            ": session_lifetime: ",
            "not built in Weir yet",
        ),
        (
            "streams-demo.yaml",
            ": x-tyk-streaming: ",
            "set `streaming.enabled: true`",
        ),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(file) && l.contains(field) && l.contains(why)),
            "no line names {file} and {field}: {lines:?}"
        );
    }
}

/// Stream hooks declared under another driver's name than the API's are refused at load,
/// naming the field and the name that would work (an API has one driver).
#[tokio::test]
async fn stream_hooks_under_another_drivers_name_are_refused_at_load() {
    let up = HttpUpstream::start();
    let mut streams = keyless("streams", "/streams/", &up.url());
    streams["custom_middleware"] = json!({
        "driver": "wasm",
        "driver_specific_middleware": {"goplugin_streams": [{"path": "x.so", "symbol_name": "HandleStream"}]}
    });
    let files = [
        ("streams.json", streams.to_string()),
        (
            "good.json",
            keyless("good", "/good/", &up.url()).to_string(),
        ),
    ];
    let gw = Gateway::start(bin(), &files, json!({}));
    let logs = gw.logs();
    assert!(
        logs.lines().any(|l| l.contains("streams.json")
            && l.contains("driver_specific_middleware.goplugin_streams")
            && l.contains("`wasm_streams`")),
        "{logs}"
    );
    assert_eq!(status_of(&gw.url("/good/echo")).await, 200);
    assert_eq!(status_of(&gw.url("/streams/echo")).await, 404);
}

/// Dot segments (plain and percent-encoded) are removed before routing and before the path
/// is joined with the target's, as nginx does; a path above the root is answered 400.
#[tokio::test]
async fn dot_segments_never_escape_the_listen_path_or_the_target_path() {
    let up = HttpUpstream::start();
    let mut api = keyless("api", "/api/", &format!("{}/base/", up.url()));
    api["proxy"]["strip_listen_path"] = json!(true);
    let files = [
        ("api.json", api.to_string()),
        (
            "other.json",
            keyless("other", "/other/", &up.url()).to_string(),
        ),
    ];
    let gw = Gateway::start(bin(), &files, json!({}));
    let get = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw_exchange(gw.addr(), req.as_bytes(), Duration::from_secs(5)).unwrap();
        String::from_utf8_lossy(&resp).into_owned()
    };
    for escape in ["/api/../../secret", "/api/%2e%2e/%2E%2E/secret", "/.."] {
        let resp = get(escape);
        assert_eq!(raw_status(resp.as_bytes()), Some(400), "{escape}: {resp}");
    }
    assert_eq!(
        up.request_count(),
        0,
        "nothing escaped reached the upstream"
    );

    let resp = get("/other/../api/echo/x");
    assert_eq!(raw_status(resp.as_bytes()), Some(200), "{resp}");
    assert!(
        resp.contains(r#""path":"/base/echo/x""#),
        "routed by the normalised path: {resp}"
    );
    let resp = get("/api/echo/%2e%2E/echo/y?q=1");
    assert!(resp.contains(r#""path":"/base/echo/y""#), "{resp}");
    let resp = get("/api/%2e%2e/other/echo/z");
    assert!(resp.contains(r#""path":"/echo/z""#), "{resp}");
}

/// RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 and reaches no upstream;
/// HTTP/1.0 may omit it.
#[tokio::test]
async fn http11_without_host_is_a_bad_request() {
    let up = HttpUpstream::start();
    let files = [(
        "open.json",
        keyless("open", "/open/", &up.url()).to_string(),
    )];
    let gw = Gateway::start(bin(), &files, json!({}));
    let resp = raw_exchange(
        gw.addr(),
        b"GET /open/echo HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(raw_status(&resp), Some(400), "{}", head(&resp));
    assert_eq!(up.request_count(), 0);
    let resp = raw_exchange(
        gw.addr(),
        b"GET /open/echo HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(raw_status(&resp), Some(200), "{}", head(&resp));
}

/// `Upgrade: h2c` (deprecated by RFC 9113) is declined: the request is answered over
/// HTTP/1.1, not switched, and the upgrade headers do not reach the upstream.
#[tokio::test]
async fn h2c_upgrade_is_declined_and_served_over_http11() {
    let up = HttpUpstream::start();
    let files = [(
        "open.json",
        keyless("open", "/open/", &up.url()).to_string(),
    )];
    let gw = Gateway::start(bin(), &files, json!({}));
    let req =
        b"GET /open/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let resp = raw_exchange(gw.addr(), req, Duration::from_secs(5)).unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{}", head(&resp));
    assert!(
        !text.to_ascii_lowercase().contains("\"upgrade\""),
        "upgrade headers reached the upstream: {text}"
    );
}

/// Reads from `stream` until the server closes it; the time that took, or None if it stayed
/// open for `limit`.
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let started = std::time::Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed());
            }
            Err(_) => return None,
        }
    }
}

/// Connections that never complete a request head are closed at `read_timeout` from accept,
/// whatever they sent (nothing, an HTTP/2 preface cut short, a preface and SETTINGS, half a
/// HEADERS frame); a connection idle after its request is closed at `idle_timeout`.
#[tokio::test]
async fn connections_without_a_request_head_or_idle_are_closed() {
    use std::io::Write;
    let up = HttpUpstream::start();
    let files = [(
        "open.json",
        keyless("open", "/open/", &up.url()).to_string(),
    )];
    let conf = json!({"http_server_options": {"read_timeout": 1, "idle_timeout": 2}});
    let gw = Gateway::start(bin(), &files, conf);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let empty_settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
    // A HEADERS frame announcing 100 bytes on stream 1, of which 3 arrive.
    let half_headers = [0u8, 0, 100, 1, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84];
    let mut with_settings = preface.to_vec();
    with_settings.extend_from_slice(&empty_settings);
    let mut mid_headers = with_settings.clone();
    mid_headers.extend_from_slice(&half_headers);
    let cases: [(&str, &[u8]); 5] = [
        ("nothing", b""),
        (
            "half an HTTP/1.1 head",
            b"GET /open/echo HTTP/1.1\r\nHost: x\r\n",
        ),
        ("an HTTP/2 preface cut short", b"PRI * HTTP/2.0\r\n"),
        ("a preface and SETTINGS", &with_settings),
        ("half a HEADERS frame", &mid_headers),
    ];
    for (what, bytes) in cases {
        let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
        s.write_all(bytes).unwrap();
        let took = closed_within(&mut s, Duration::from_secs(10));
        assert!(
            took.is_some_and(|t| t < Duration::from_secs(5)),
            "{what}: held open ({took:?})"
        );
    }
    // Idle after one request on a keep-alive connection: closed at the earlier of idle_timeout
    // and read_timeout (hyper times the next request head from the end of the last response).
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.write_all(b"GET /open/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let took = closed_within(&mut s, Duration::from_secs(10)).expect("closed when idle");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(up.request_count(), 1);
}

/// An HTTP/2 PING flood: past the limit the connection gets GOAWAY and is closed a moment later
/// (as Envoy does) instead of being answered forever; other connections are served.
#[tokio::test]
async fn an_http2_ping_flood_gets_goaway_and_is_closed() {
    use std::io::{Read, Write};
    let up = HttpUpstream::start();
    let files = [(
        "open.json",
        keyless("open", "/open/", &up.url()).to_string(),
    )];
    let gw = Gateway::start(bin(), &files, json!({}));
    let frame = |kind: u8, flags: u8, payload: &[u8]| {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            0,
        ];
        f.extend_from_slice(payload);
        f
    };
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, &[]));
    for i in 0..2500u32 {
        out.extend(frame(6, 0, &u64::from(i).to_be_bytes()));
    }
    // The server may stop reading once it has had enough: a failed write is part of the test.
    let _ = s.write_all(&out);
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(closed, "the flooding connection stayed open");
    let mut kinds = Vec::new();
    let mut at = 0;
    while at + 9 <= got.len() {
        let len = (usize::from(got[at]) << 16)
            | (usize::from(got[at + 1]) << 8)
            | usize::from(got[at + 2]);
        kinds.push(got[at + 3]);
        at += 9 + len;
    }
    assert!(
        kinds.contains(&7),
        "no GOAWAY among the server's frames: {kinds:?}"
    );
    assert_eq!(raw_get_status(gw.addr(), "/open/echo"), Some(200));
}
