//! gRPC plugins through the gateway: a Python (grpcio) and a Node (@grpc/grpc-js) plugin
//! server speaking Tyk's coprocess protocol, with the real weir binary and a real upstream.
//! Needs `scripts/setup-grpc-plugins.sh` (./test.sh runs it).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::plugin_server::PluginServer;
use support::{bin, plugin_api_with};
use weir_testkit::{Gateway, HttpUpstream, free_port};

fn conf(server: &PluginServer) -> Value {
    server.gateway_config()
}

fn api(id: &str, target: &str, middleware: Value) -> Value {
    plugin_api_with(id, target, middleware, json!({"greeting": "hi"}))
}

fn hooks(kind: &str, name: &str) -> Value {
    json!({"driver": "grpc", kind: [{"name": name}]})
}

async fn json_of(resp: reqwest::Response) -> Value {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

#[tokio::test]
async fn pre_hook_rewrites_headers_and_params() {
    let server = PluginServer::python("127.0.0.1:0");
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("p.json", api("p", &up.url(), hooks("pre", "MyPreHook")))],
        conf(&server),
    );
    let resp = client()
        .get(gw.url("/p/echo?q=1&remove_me=2"))
        .header("X-Remove", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: Value = json_of(resp).await;
    let h = &echo["headers"];
    assert_eq!(h["x-pre"][0], "done");
    assert!(h.get("x-remove").is_none(), "{echo}");
    assert_eq!(h["x-seen-hook-type"][0], "Pre");
    assert_eq!(h["x-seen-api"][0], "p");
    assert_eq!(h["x-seen-override"][0], "-1");
    assert_eq!(h["x-seen-session"][0], "no");
    assert_eq!(h["x-seen-config"][0], r#"{"greeting":"hi"}"#);
    let query = echo["query"].as_str().unwrap();
    assert!(
        query.contains("q=1") && query.contains("added=yes"),
        "{query}"
    );
    assert!(!query.contains("remove_me"), "{query}");
}

#[tokio::test]
async fn custom_auth_then_post_hook() {
    let server = PluginServer::python("127.0.0.1:0");
    let up = HttpUpstream::start();
    let mut def = api(
        "auth",
        &up.url(),
        json!({"driver": "grpc", "auth_check": {"name": "MyAuthCheck"}, "post": [{"name": "MyPostHook"}]}),
    );
    def["use_keyless"] = json!(false);
    def["custom_plugin_auth_enabled"] = json!(true);
    let gw = Gateway::start(bin(), &[("auth.json", def)], conf(&server));

    let denied = client().get(gw.url("/auth/echo")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let body: Value = json_of(denied).await;
    assert_eq!(body["error"], "Not authorised by the plugin");
    assert_eq!(up.request_count(), 0);

    let ok = client()
        .get(gw.url("/auth/echo"))
        .header("Authorization", "good-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let echo: Value = json_of(ok).await;
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/rewritten/path");
    assert_eq!(echo["body"], "new body");
    assert_eq!(echo["headers"]["x-seen-meta-user"][0], "alice");
    assert_eq!(echo["headers"]["x-seen-session-rate"][0], "100.0");
    // As Tyk: the auth hook's token reaches later hooks in the metadata, the session carries
    // the API's org_id, and the spec always has bundle_hash (md5 of "" without a bundle).
    assert_eq!(echo["headers"]["x-seen-token"][0], "good-token");
    assert_eq!(echo["headers"]["x-seen-session-org"][0], "1");
    assert_eq!(
        echo["headers"]["x-seen-bundle-hash"][0],
        "d41d8cd98f00b204e9800998ecf8427e"
    );
}

#[tokio::test]
async fn short_circuits_follow_tyk() {
    let server = PluginServer::python("127.0.0.1:0");
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            (
                "ok.json",
                api("ok", &up.url(), hooks("pre", "MyShortCircuit")),
            ),
            (
                "tea.json",
                api("tea", &up.url(), hooks("pre", "MyShortCircuitTeapot")),
            ),
            (
                "deny.json",
                api("deny", &up.url(), hooks("pre", "MyShortCircuitDenied")),
            ),
        ],
        conf(&server),
    );
    let r = client().get(gw.url("/ok/x")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-short"], "circuit");
    assert_eq!(r.text().await.unwrap(), "short-circuited");

    let r = client().get(gw.url("/tea/x")).send().await.unwrap();
    assert_eq!(r.status(), 418);
    assert_eq!(r.text().await.unwrap(), "I'm a teapot");

    let r = client().get(gw.url("/deny/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = json_of(r).await;
    assert_eq!(body["error"], "denied by plugin");
    assert_eq!(
        up.request_count(),
        0,
        "a short-circuit reached the upstream"
    );
}

#[tokio::test]
async fn response_hook_rewrites_status_headers_and_body() {
    let server = PluginServer::python("127.0.0.1:0");
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[(
            "r.json",
            api("r", &up.url(), hooks("response", "MyResponseHook")),
        )],
        conf(&server),
    );
    let r = client().get(gw.url("/r/status/200")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["x-resp"], "added");
    assert_eq!(r.text().await.unwrap(), "rewritten: status 200");
}

#[tokio::test]
async fn plugin_server_down_fails_only_its_requests_and_recovers() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = PluginServer::python(&listen);
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[
            ("p.json", api("p", &up.url(), hooks("pre", "MyPreHook"))),
            ("plain.json", api("plain", &up.url(), Value::Null)),
        ],
        conf(&server),
    );
    assert_eq!(
        client()
            .get(gw.url("/p/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(server);

    let r = client().get(gw.url("/p/echo")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = json_of(r).await;
    assert_eq!(body["error"], "Middleware error");
    assert_eq!(
        client()
            .get(gw.url("/plain/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let _back = PluginServer::python(&listen);
    let mut status = 0;
    for _ in 0..50 {
        status = client()
            .get(gw.url("/p/echo"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "calls did not recover after the plugin server came back"
    );
}

#[tokio::test]
async fn node_plugin_server_works_unchanged() {
    let server = PluginServer::node("127.0.0.1:0");
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("n.json", api("n", &up.url(), hooks("pre", "MyPreHook")))],
        conf(&server),
    );
    let r = client().get(gw.url("/n/echo")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = json_of(r).await;
    assert_eq!(echo["headers"]["x-pre"][0], "done-by-node", "{echo}");
    assert!(
        echo["query"].as_str().unwrap().contains("added=node"),
        "{echo}"
    );
}

#[test]
fn grpc_driver_without_a_server_address_is_refused_at_load() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("p.json", api("p", &up.url(), hooks("pre", "MyPreHook")))],
        json!({}),
    );
    let logs = gw.logs();
    assert!(
        logs.contains("coprocess_grpc_server is not set"),
        "no refusal naming the missing setting:\n{logs}"
    );
}

/// Patching a running gateway: a reload re-reads coprocess_options, so a new plugin server
/// address takes effect without a restart.
#[tokio::test]
async fn reload_picks_up_a_new_plugin_server_address() {
    let first = PluginServer::python("127.0.0.1:0");
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[("p.json", api("p", &up.url(), hooks("pre", "MyPreHook")))],
        conf(&first),
    );
    assert_eq!(
        client()
            .get(gw.url("/p/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let second = PluginServer::node("127.0.0.1:0");
    drop(first);
    let conf_file = gw.dir().join("weir.json");
    let mut weir_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&conf_file).unwrap()).unwrap();
    weir_json["coprocess_options"]["coprocess_grpc_server"] =
        json!(format!("tcp://{}", second.addr));
    std::fs::write(&conf_file, weir_json.to_string()).unwrap();
    gw.reload();

    let r = client().get(gw.url("/p/echo")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo = json_of(r).await;
    assert_eq!(
        echo["headers"]["x-pre"][0], "done-by-node",
        "still the old server: {echo}"
    );
}
