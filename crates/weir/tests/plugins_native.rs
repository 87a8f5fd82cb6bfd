//! Native plugins through the gateway: the Rust example (built like a third-party cdylib)
//! and the C example (gcc), loaded by the real weir binary. Covers every hook kind, a panic
//! that fails only its request, the seed's `goplugin` driver name, and patching a running
//! gateway with a changed .so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use support::{bin, json_of, plugin_api, send};
use weir_testkit::{Gateway, HttpUpstream};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Builds examples/plugins/native-rust as a third party would, once per test binary.
fn rust_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo().join("target"))
                .join("native-plugin-examples");
            let out = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--manifest-path"])
                .arg(repo().join("examples/plugins/native-rust/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .expect("run cargo");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target.join("debug/libweir_example_native_rust.so")
        })
        .clone()
}

/// Compiles the C example with a build label into `dir/name`.
fn c_plugin(dir: &Path, name: &str, build: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("gcc")
        .args(["-std=c11", "-shared", "-fPIC", "-O2", "-I"])
        .arg(repo().join("crates/weir-plugin-abi/include"))
        .arg(format!("-DWEIR_EXAMPLE_BUILD=\"{build}\""))
        .arg(repo().join("examples/plugins/native-c/header_plugin.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc (scripts/setup-native-plugins.sh installs it)");
    assert!(status.success());
    out
}

fn api(id: &str, target: &str, middleware: Value) -> Value {
    plugin_api(id, target, middleware)
}

fn hook(driver: &str, kind: &str, name: &str, path: &Path) -> Value {
    json!({"driver": driver, kind: [{"name": name, "path": path}]})
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    send(reqwest::Method::GET, url, headers, "").await
}

#[tokio::test]
async fn every_hook_kind_through_the_gateway() {
    let so = rust_plugin();
    let up = HttpUpstream::start();
    let mut auth = api(
        "auth",
        &up.url(),
        json!({"driver": "native",
               "auth_check": {"name": "BearerAuth", "path": so},
               "post_key_auth": [{"name": "Whoami", "path": so}]}),
    );
    auth["use_keyless"] = json!(false);
    auth["custom_plugin_auth_enabled"] = json!(true);
    let gw = Gateway::start(
        bin(),
        &[
            (
                "pre.json",
                api("pre", &up.url(), hook("native", "pre", "AddHeader", &so)),
            ),
            (
                "rw.json",
                api("rw", &up.url(), hook("native", "pre", "Rewrite", &so)),
            ),
            (
                "reply.json",
                api("reply", &up.url(), hook("native", "pre", "Reply", &so)),
            ),
            (
                "resp.json",
                api(
                    "resp",
                    &up.url(),
                    hook("native", "response", "Rewrite", &so),
                ),
            ),
            ("auth.json", auth),
        ],
        json!({}),
    );

    let (status, _, body) = get(&gw.url("/pre/echo"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["headers"]["x-hello"][0], "from config");

    let (status, _, body) = get(&gw.url("/rw/echo?q=7&drop=1"), &[("x-remove", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/rewritten");
    assert_eq!(echo["headers"]["x-q"][0], "7");
    assert!(echo["headers"].get("x-remove").is_none());
    let query = echo["query"].as_str().unwrap();
    assert!(
        query.contains("keep=1") && query.contains("added=a") && !query.contains("drop"),
        "{query}"
    );

    // Short-circuits: >= 400 through the error template, with override_error raw, and 2xx.
    let (status, h, body) = get(&gw.url("/reply/x"), &[]).await;
    assert_eq!(
        (status, h["content-type"].to_str().unwrap()),
        (403, "application/json")
    );
    assert_eq!(json_of(&body)["error"], "reply from native-rust");
    assert_eq!(h["x-replied"], "native-rust");
    let (status, _, body) = get(
        &gw.url("/reply/x"),
        &[("x-override-error", "true"), ("x-reply-code", "418")],
    )
    .await;
    assert_eq!((status, body.as_str()), (418, "reply from native-rust"));
    let (status, _, body) = get(&gw.url("/reply/x"), &[("x-reply-code", "200")]).await;
    assert_eq!((status, body.as_str()), (200, "reply from native-rust"));

    let (status, h, body) = get(&gw.url("/resp/status/201"), &[]).await;
    assert_eq!(status, 202, "the response hook sets 202");
    assert_eq!(h["x-response-plugin"], "native-rust");
    assert_eq!(json_of(&body)["status"], 201);

    let (status, _, body) = get(&gw.url("/auth/echo"), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(json_of(&body)["error"], "invalid bearer token");
    let (status, _, body) = get(&gw.url("/auth/echo"), &[("authorization", "Bearer good")]).await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-user"][0], "good");
    assert_eq!(echo["headers"]["x-token"][0], "good");
    // The plugin's sessions go through the key checks: its rate limit, its access rights.
    let limited = [("authorization", "Bearer limited")];
    assert_eq!(get(&gw.url("/auth/echo"), &limited).await.0, 200);
    let (status, _, body) = get(&gw.url("/auth/echo"), &limited).await;
    assert_eq!(
        (status, json_of(&body)["error"].as_str()),
        (429, Some("Rate Limit Exceeded"))
    );
    let (status, _, body) = get(
        &gw.url("/auth/echo"),
        &[("authorization", "Bearer elsewhere")],
    )
    .await;
    assert_eq!(
        (status, json_of(&body)["error"].as_str()),
        (403, Some("Access to this API has been disallowed"))
    );
    // A session that is not Tyk's session object is refused, never read as one with no limits.
    let (status, _, _) = get(&gw.url("/auth/echo"), &[("authorization", "Bearer broken")]).await;
    assert_eq!(status, 403);
    // Only the requests no phase answered reached the upstream.
    assert_eq!(up.request_count(), 5);
}

#[tokio::test]
async fn a_panicking_plugin_fails_only_its_request() {
    let so = rust_plugin();
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[(
            "p.json",
            api("p", &up.url(), hook("native", "pre", "MaybePanic", &so)),
        )],
        json!({}),
    );
    let (status, _, body) = get(&gw.url("/p/echo"), &[("x-panic", "yes")]).await;
    assert_eq!(status, 500);
    assert_eq!(json_of(&body)["error"], "Middleware error");
    let (status, _, body) = get(&gw.url("/p/echo"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["headers"]["x-survived"][0], "yes");
}

#[tokio::test]
async fn seed_goplugin_driver_name_and_patching_a_running_gateway() {
    let up = HttpUpstream::start();
    let scratch = tempfile::tempdir().unwrap();
    let live = scratch.path().join("enricher.so");
    std::fs::copy(c_plugin(scratch.path(), "v1.so", "1"), &live).unwrap();
    let gw = Gateway::start(
        bin(),
        &[(
            "g.json",
            api("g", &up.url(), hook("goplugin", "pre", "AddHeader", &live)),
        )],
        json!({}),
    );
    let (status, _, body) = get(&gw.url("/g/echo"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["headers"]["x-plugin-build"][0], "1");

    // Replace the library in place (write a new file, rename over), then reload.
    let v2 = c_plugin(scratch.path(), "v2.so", "2");
    std::fs::copy(&v2, scratch.path().join("next.so")).unwrap();
    std::fs::rename(scratch.path().join("next.so"), &live).unwrap();
    gw.reload();
    let mut build = String::new();
    for _ in 0..20 {
        let (_, _, body) = get(&gw.url("/g/echo"), &[]).await;
        build = json_of(&body)["headers"]["x-plugin-build"][0]
            .as_str()
            .unwrap_or("")
            .to_string();
        if build == "2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(build, "2", "the reload did not pick up the changed plugin");
}

#[test]
fn a_missing_library_is_refused_at_load_and_neighbours_serve() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            (
                "m.json",
                api(
                    "m",
                    &up.url(),
                    hook("native", "pre", "AddHeader", Path::new("/nonexistent/x.so")),
                ),
            ),
            ("ok.json", api("ok", &up.url(), Value::Null)),
        ],
        json!({}),
    );
    let logs = gw.logs();
    assert!(
        logs.contains("m.json") && logs.contains("/nonexistent/x.so"),
        "{logs}"
    );
    assert_eq!(support::raw_get_status(gw.addr(), "/ok/echo"), Some(200));
}

/// Tyk's order: header rules run before `post` hooks and response header rules before
/// `response` hooks, so hooks see them and have the last word; `pre` hooks run before them.
#[tokio::test]
async fn header_rules_run_before_post_and_response_hooks() {
    let so = rust_plugin();
    let up = HttpUpstream::start();
    let with_rules = |id: &str, middleware: Value| {
        let mut def = api(id, &up.url(), middleware);
        def["version_data"]["versions"]["Default"]["global_headers"] =
            json!({"X-Hello": "from the header rule"});
        def["version_data"]["versions"]["Default"]["global_response_headers"] =
            json!({"X-Response-Plugin": "header rule", "X-Upstream-Secret": "set by the rule"});
        def
    };
    let gw = Gateway::start(
        bin(),
        &[
            (
                "post.json",
                with_rules("post", hook("native", "post", "AddHeader", &so)),
            ),
            (
                "pre.json",
                with_rules("pre", hook("native", "pre", "AddHeader", &so)),
            ),
            (
                "resp.json",
                with_rules("resp", hook("native", "response", "Rewrite", &so)),
            ),
        ],
        json!({}),
    );

    let (status, _, body) = get(&gw.url("/post/echo"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["headers"]["x-hello"],
        json!(["from config"]),
        "the post hook runs after the header rule and overrides it"
    );
    let (_, _, body) = get(&gw.url("/pre/echo"), &[]).await;
    assert_eq!(
        json_of(&body)["headers"]["x-hello"],
        json!(["from the header rule"]),
        "the header rule runs after the pre hook"
    );
    let (status, h, _) = get(&gw.url("/resp/status/200"), &[]).await;
    assert_eq!(status, 202);
    assert_eq!(
        h["x-response-plugin"], "native-rust",
        "the response hook has the last word"
    );
    assert!(
        h.get("x-upstream-secret").is_none(),
        "the response hook saw the rule's header and deleted it"
    );
}

/// A failing request hook on a gRPC call answers as gRPC clients read errors: a trailers-only
/// grpc-status 13 (INTERNAL) with the error's message, not an HTTP 500 JSON body, every time.
#[tokio::test]
async fn a_failing_hook_on_a_grpc_call_answers_a_grpc_status() {
    use weir_testkit::GrpcUpstream;
    use weir_testkit::pb::EchoRequest;
    use weir_testkit::pb::echo_client::EchoClient;

    let so = rust_plugin();
    let up = GrpcUpstream::start();
    let grpc_api = |id: &str, path: &str, hook_name: &str| {
        json!({
            "api_id": id, "name": id, "org_id": "1", "use_keyless": true, "active": true,
            "proxy": {"listen_path": path, "target_url": up.url(), "enable_grpc": true},
            "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
            "config_data": {"header_name": "X-Hello", "header_value": "from config"},
            "custom_middleware": hook("native", "pre", hook_name, &so)
        })
    };
    let gw = Gateway::start(
        bin(),
        &[(
            "grpc.json",
            grpc_api("grpc", "/weir.test.Echo/", "NoSuchHook"),
        )],
        json!({}),
    );
    let channel = tonic::transport::Channel::from_shared(gw.url(""))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mut client = EchoClient::new(channel);
    let req = || EchoRequest {
        message: "hi".into(),
        payload: b"hi".to_vec(),
    };
    for _ in 0..2 {
        let status = client.unary(req()).await.expect_err("the hook fails");
        assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
        assert_eq!(status.message(), "Middleware error");
    }
    assert_eq!(up.call_count(), 0);
}

/// Response hooks read whole responses and would drop a gRPC call's trailers: a gRPC API that
/// declares them is refused at load naming the field, and its neighbour serves.
#[tokio::test]
async fn response_hooks_on_a_grpc_api_are_refused_at_load() {
    let so = rust_plugin();
    let up = HttpUpstream::start();
    let mut grpc = api(
        "grpc",
        &up.url(),
        hook("native", "response", "Rewrite", &so),
    );
    grpc["proxy"]["enable_grpc"] = json!(true);
    let gw = Gateway::start(
        bin(),
        &[
            ("grpc.json", grpc),
            ("plain.json", api("plain", &up.url(), json!({}))),
        ],
        json!({}),
    );
    let (status, _, _) = get(&gw.url("/plain/echo"), &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&gw.url("/grpc/echo"), &[]).await;
    assert_eq!(
        status, 404,
        "the gRPC API with a response hook is not served"
    );
    let logs = gw.logs();
    assert!(
        logs.lines().any(|l| l.contains("grpc.json")
            && l.contains("custom_middleware.response")
            && l.contains("trailers")),
        "{logs}"
    );
}

/// Native hooks run off the event loop, under their deadline: a hook that sleeps 2 s with a
/// 0.5 s timeout fails its request at the deadline, and while three of them sleep (more than
/// this machine's event-loop threads) another API answers at once.
#[tokio::test]
async fn a_slow_native_hook_hits_its_deadline_without_stalling_the_gateway() {
    let so = rust_plugin();
    let up = HttpUpstream::start();
    let mut slow_mw = hook("native", "pre", "Slow", &so);
    slow_mw["timeout"] = json!(0.5);
    let gw = Gateway::start(
        bin(),
        &[
            ("slow.json", api("slow", &up.url(), slow_mw)),
            ("fast.json", api("fast", &up.url(), json!({}))),
        ],
        json!({}),
    );
    let started = std::time::Instant::now();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let url = gw.url("/slow/echo");
            tokio::spawn(async move { get(&url, &[]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = get(&gw.url("/fast/echo"), &[]).await;
    assert_eq!(status, 200);
    let fast_took = started.elapsed();
    assert!(
        fast_took < Duration::from_millis(450),
        "the fast API waited {fast_took:?}"
    );
    for call in slow {
        let (status, _, body) = call.await.unwrap();
        assert_eq!(status, 500, "{body}");
        assert_eq!(json_of(&body)["error"], "Middleware error");
    }
    let slow_took = started.elapsed();
    assert!(
        slow_took < Duration::from_millis(1500),
        "the deadline held: {slow_took:?}"
    );
    // A quick call of the same hook still succeeds.
    let (status, _, _) = get(&gw.url("/slow/echo"), &[("x-sleep-ms", "10")]).await;
    assert_eq!(status, 200);
}
