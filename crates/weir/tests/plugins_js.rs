//! JavaScript (Tyk JSVM) plugins through the weir binary: the Tyk-style example
//! (examples/plugins/js) with pre, custom auth and response hooks, faults that stay in their
//! request, `enable_jsvm`, and a stream hook on seed 000's vision stream.

mod support;
mod vision;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support::{bin, json_of, plugin_api, plugin_example, send};
use vision::{check_enricher, enricher_config, stream_middleware, vision_api};
use weir_testkit::{Gateway, HttpUpstream, VisionUpstream};

fn example(file: &str) -> PathBuf {
    plugin_example("js", file)
}

fn api(id: &str, target: &str, middleware: Value) -> Value {
    plugin_api(id, target, middleware)
}

fn js(kind: &str, name: &str, path: &Path) -> Value {
    json!({"driver": "otto", kind: [{"name": name, "path": path}]})
}

fn jsvm() -> Value {
    json!({"enable_jsvm": true, "jsvm_timeout": 1})
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    send(reqwest::Method::GET, url, headers, "").await
}

#[tokio::test]
async fn the_tyk_style_example_runs_pre_auth_and_response_hooks() {
    let up = HttpUpstream::start();
    let mw = example("middleware.js");
    let mut auth = api(
        "auth",
        &up.url(),
        json!({"driver": "javascript", "auth_check": {"name": "bearerAuth", "path": mw},
               "response": [{"name": "stampResponse", "path": mw}]}),
    );
    auth["use_keyless"] = json!(false);
    auth["custom_plugin_auth_enabled"] = json!(true);
    let pre = json!({"driver": "otto",
        "pre": [{"name": "addHeader", "path": mw}],
        "response": [{"name": "stampResponse", "path": mw}]});
    let gw = Gateway::start(
        bin(),
        &[
            ("pre.json", api("pre", &up.url(), pre)),
            ("auth.json", auth),
        ],
        jsvm(),
    );

    let (status, headers, body) = get(&gw.url("/pre/echo"), &[("X-Remove", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-hello"][0], "from config");
    assert!(echo["headers"].get("x-remove").is_none(), "{echo}");
    assert_eq!(headers["x-js-response"], "200 anonymous");

    let before = up.request_count();
    let (status, _, body) = get(&gw.url("/pre/echo"), &[("X-Block", "1")]).await;
    assert_eq!(status, 403);
    assert!(body.contains("blocked by the js plugin"), "{body}");
    assert_eq!(up.request_count(), before, "the upstream is not called");

    let (status, _, body) = get(&gw.url("/auth/echo"), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("disallowed"), "{body}");
    let good = [("Authorization", "Bearer js-secret")];
    let (status, headers, body) = get(&gw.url("/auth/echo"), &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-js-response"], "200 js-user");
}

const FAULTS: &str = r#"
var fine = new TykJS.TykMiddleware.NewMiddleware({});
fine.NewProcessRequest(function(request, session) {
  request.SetHeaders["X-Fine"] = "yes";
  return fine.ReturnData(request, {});
});
var boom = new TykJS.TykMiddleware.NewMiddleware({});
boom.NewProcessRequest(function(request, session) { throw new Error("boom"); });
var spin = new TykJS.TykMiddleware.NewMiddleware({});
spin.NewProcessRequest(function(request, session) { while (true) {} });
var hog = new TykJS.TykMiddleware.NewMiddleware({});
hog.NewProcessRequest(function(request, session) {
  var keep = [];
  while (true) { keep.push(new Array(100000).fill(1)); }
});
"#;

#[tokio::test]
async fn faults_stay_in_their_request() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("faults.js");
    std::fs::write(&script, FAULTS).unwrap();
    let broken = dir.path().join("broken.js");
    std::fs::write(
        &broken,
        "var mw = new TykJS.TykMiddleware.NewMiddleware({});\nmw.NewProcessRequest(function(r) {\n  return r +;\n});\n",
    )
    .unwrap();
    let apis = [
        (
            "fine.json",
            api("fine", &up.url(), js("pre", "fine", &script)),
        ),
        (
            "boom.json",
            api("boom", &up.url(), js("pre", "boom", &script)),
        ),
        (
            "spin.json",
            api("spin", &up.url(), js("pre", "spin", &script)),
        ),
        ("hog.json", api("hog", &up.url(), js("pre", "hog", &script))),
        (
            "broken.json",
            api("broken", &up.url(), js("pre", "mw", &broken)),
        ),
    ];
    let gw = Gateway::start(bin(), &apis, jsvm());

    // The syntax error refuses its API, naming the file and the line; the others serve.
    assert!(
        support::logged(&gw, &["broken.js:3"]),
        "the refusal names file and line:\n{}",
        gw.logs()
    );
    let (status, _, _) = get(&gw.url("/broken/echo"), &[]).await;
    assert_eq!(status, 404);

    for path in ["/boom/x", "/hog/x"] {
        let (status, _, body) = get(&gw.url(path), &[]).await;
        assert_eq!(status, 500, "{path}: {body}");
        let (status, _, body) = get(&gw.url("/fine/echo"), &[]).await;
        assert_eq!(status, 200, "after {path}: {body}");
        assert_eq!(json_of(&body)["headers"]["x-fine"][0], "yes");
    }
    let started = Instant::now();
    let (status, _, _) = get(&gw.url("/spin/x"), &[]).await;
    let took = started.elapsed();
    assert_eq!(status, 500);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "an endless loop is interrupted at jsvm_timeout (1 s), took {took:?}"
    );
    // The interrupted workers serve again: more calls than the driver has threads.
    for _ in 0..3 {
        let (status, _, _) = get(&gw.url("/spin/x"), &[]).await;
        assert_eq!(status, 500);
    }
    let (status, _, body) = get(&gw.url("/fine/echo"), &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn without_enable_jsvm_a_js_api_is_refused_and_others_serve() {
    let up = HttpUpstream::start();
    let mw = example("middleware.js");
    let plain = json!({
        "api_id": "plain", "name": "plain", "org_id": "1", "use_keyless": true,
        "proxy": {"listen_path": "/plain/", "target_url": up.url(), "strip_listen_path": true},
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}}
    });
    let gw = Gateway::start(
        bin(),
        &[
            ("js.json", api("js", &up.url(), js("pre", "addHeader", &mw))),
            ("plain.json", plain),
        ],
        json!({}),
    );
    assert!(
        support::logged(&gw, &["enable_jsvm"]),
        "the refusal names the setting:\n{}",
        gw.logs()
    );
    assert_eq!(get(&gw.url("/js/echo"), &[]).await.0, 404);
    assert_eq!(get(&gw.url("/plain/echo"), &[]).await.0, 200);
}

/// Seed 000's enricher as a JS stream hook, with WeirProto.
const ENRICHER: &str = r#"
var BOX = {1: {name: "x_min", type: "int32"}, 2: {name: "y_min", type: "int32"},
           3: {name: "x_max", type: "int32"}, 4: {name: "y_max", type: "int32"}};
var OBJECT = {1: {name: "label", type: "string"}, 2: {name: "confidence", type: "float"},
              3: {name: "box", type: "message", schema: BOX}};
var EVENT = {1: {name: "camera_id", type: "string"}, 2: {name: "timestamp_ms", type: "int64"},
             3: {name: "objects", type: "message", schema: OBJECT, repeated: true},
             4: {name: "camera_location", type: "string"}, 5: {name: "camera_status", type: "string"},
             6: {name: "install_date", type: "string"}};
var REQUEST = {1: {name: "camera_id", type: "string"}};

function HandleStream(message, session, config) {
  var conf = config.config_data;
  if (message.direction === "to_upstream") {
    var req = WeirProto.decode(message.payload, REQUEST);
    req.camera_id = req.camera_id.split(",").map(function (c) {
      return conf.aliases[c] || c;
    }).join(",");
    message.payload = WeirProto.encode(req, REQUEST);
    return message;
  }
  var ev = WeirProto.decode(message.payload, EVENT);
  if (conf.dropped.indexOf(ev.camera_id) >= 0) { return null; }
  if (conf.blocked.indexOf(ev.camera_id) >= 0) {
    return {grpc_status: 7, grpc_message: "camera " + ev.camera_id + " is blocked"};
  }
  var cam = conf.cameras[ev.camera_id];
  if (!cam) { return message; }
  var tag = message.headers["X-Enrich-Tag"];
  ev.camera_location = cam.location + (tag ? " #" + tag[0] : "");
  ev.camera_status = cam.status;
  ev.install_date = cam.install_date;
  message.payload = WeirProto.encode(ev, EVENT);
  return message;
}
"#;

#[tokio::test]
async fn stream_hook_enriches_the_vision_stream() {
    let up = VisionUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("enricher.js");
    std::fs::write(&script, ENRICHER).unwrap();
    let mw = stream_middleware("otto", Some(&script));
    let def = vision_api(&up.url(), mw, enricher_config());
    let gw = Gateway::start(bin(), &[("vision.json", def)], jsvm());
    check_enricher(&gw, &up).await;
}

const KEY_DATA: &str = r#"
var keyData = new TykJS.TykMiddleware.NewMiddleware({});
keyData.NewProcessRequest(function(request, session, config) {
    var key = request.Headers["X-Make-Key"][0];
    TykSetKeyData(key, JSON.stringify({
        "org_id": "1", "rate": 10, "per": 60, "quota_max": 77, "allowance": 10,
        "access_rights": {"kd": {"api_id": "kd", "api_name": "kd", "versions": ["Default"]}},
        "meta_data": {"made_by": "js"}
    }), 1);
    var back = JSON.parse(TykGetKeyData(key, config.APIID));
    request.SetHeaders["X-Quota-Max"] = String(back.quota_max);
    request.SetHeaders["X-Made-By"] = back.meta_data.made_by;
    return keyData.ReturnData(request, {});
});
"#;

#[tokio::test]
async fn key_data_reaches_the_gateway_key_store() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("keys.js");
    std::fs::write(&script, KEY_DATA).unwrap();
    let mut conf = jsvm();
    conf["control_api_port"] = json!(0);
    let gw = Gateway::start(
        bin(),
        &[(
            "kd.json",
            api("kd", &up.url(), js("pre", "keyData", &script)),
        )],
        conf,
    );
    let (status, _, body) = get(&gw.url("/kd/echo"), &[("X-Make-Key", "made-by-js")]).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-quota-max"][0], "77", "{echo}");
    assert_eq!(echo["headers"]["x-made-by"][0], "js", "{echo}");
    // The key the script wrote is the gateway's: the control API reads it back.
    let (status, session) = support::admin(&gw, "GET", "/tyk/keys/made-by-js", None).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["quota_max"], 77);
}

#[tokio::test]
async fn a_reload_swaps_the_script_while_a_request_finishes_on_the_old_one() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("version.js");
    let version = |v: &str, busy_ms: u64| {
        format!(
            "var tag = new TykJS.TykMiddleware.NewMiddleware({{}});\n\
             tag.NewProcessRequest(function(request, session, config) {{\n\
               var until = Date.now() + {busy_ms}; while (Date.now() < until) {{}}\n\
               request.SetHeaders[\"X-Version\"] = \"{v}\";\n\
               return tag.ReturnData(request, {{}});\n\
             }});\n"
        )
    };
    std::fs::write(&script, version("one", 1500)).unwrap();
    let mut mw = js("pre", "tag", &script);
    mw["timeout"] = json!(5);
    let gw = Gateway::start(bin(), &[("v.json", api("v", &up.url(), mw))], jsvm());

    let url = gw.url("/v/echo");
    let in_flight = tokio::spawn(async move { get(&url, &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&script, version("two", 0)).unwrap();
    gw.reload();
    let (status, _, body) = get(&gw.url("/v/echo"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["headers"]["x-version"][0], "two");
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["headers"]["x-version"][0], "one");
}

const VIRTUAL: &str = r#"
function sayHello(request, session, config) {
    var name = request.URL.split("/").pop();
    var responseObject = {
        Body: "hello " + name + " from " + config.config_data.header_value,
        Headers: {"X-Virtual": "yes"},
        Code: 201
    };
    return TykJsResponse(responseObject, session.meta_data);
}
function broken(request, session, config) {
    throw new Error("virtual endpoint failed on purpose");
}
"#;

#[tokio::test]
async fn virtual_endpoints_answer_their_paths_and_faults_stay_local() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("virtual.js"), VIRTUAL).unwrap();
    let echo_blob = base64::engine::general_purpose::STANDARD.encode(
        "function echoBody(request, session, config) {\n\
         return TykJsResponse({Body: 'got ' + request.Body, Code: 200}, {});\n}\n",
    );
    let mut def = api("virt", &up.url(), Value::Null);
    def.as_object_mut().unwrap().remove("custom_middleware");
    def["version_data"]["versions"]["Default"]["use_extended_paths"] = json!(true);
    def["version_data"]["versions"]["Default"]["extended_paths"] = json!({"virtual": [
        {"response_function_name": "sayHello", "function_source_type": "file",
         "function_source_uri": dir.path().join("virtual.js"), "path": "/hello/{name}",
         "method": "GET"},
        {"response_function_name": "echoBody", "function_source_type": "blob",
         "function_source_uri": echo_blob, "path": "/echo-body", "method": "POST"},
        {"response_function_name": "broken", "function_source_type": "file",
         "function_source_uri": dir.path().join("virtual.js"), "path": "/fallback",
         "method": "GET", "proxy_on_error": true},
        {"response_function_name": "broken", "function_source_type": "file",
         "function_source_uri": dir.path().join("virtual.js"), "path": "/fails",
         "method": "GET"}
    ]});
    let gw = Gateway::start(bin(), &[("virt.json", def)], jsvm());

    let before = up.request_count();
    let (status, headers, body) = get(&gw.url("/virt/hello/bob"), &[]).await;
    assert_eq!((status, body.as_str()), (201, "hello bob from from config"));
    assert_eq!(headers["x-virtual"], "yes");
    let (status, _, body) = send(
        reqwest::Method::POST,
        &gw.url("/virt/echo-body"),
        &[],
        "ping",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "got ping"));
    let (status, _, body) = get(&gw.url("/virt/fails"), &[]).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        up.request_count(),
        before,
        "virtual endpoints never call the upstream"
    );

    // proxy_on_error: the failing function sends the request upstream instead.
    let (status, _, body) = get(&gw.url("/virt/fallback"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["path"], "/fallback");
    // The method is part of the match, and other paths go upstream.
    let (status, _, body) = send(reqwest::Method::POST, &gw.url("/virt/hello/bob"), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["path"], "/hello/bob");
    assert_eq!(get(&gw.url("/virt/echo"), &[]).await.0, 200);
}

#[tokio::test]
async fn disable_virtual_path_blobs_refuses_blob_endpoints() {
    let up = HttpUpstream::start();
    let blob = base64::engine::general_purpose::STANDARD
        .encode("function f(r, s, c) { return TykJsResponse({Body: 'x', Code: 200}, {}); }");
    let mut def = api("blob", &up.url(), Value::Null);
    def.as_object_mut().unwrap().remove("custom_middleware");
    def["version_data"]["versions"]["Default"]["use_extended_paths"] = json!(true);
    def["version_data"]["versions"]["Default"]["extended_paths"] = json!({"virtual": [
        {"response_function_name": "f", "function_source_type": "blob",
         "function_source_uri": blob, "path": "/x", "method": "GET"}]});
    let mut conf = jsvm();
    conf["disable_virtual_path_blobs"] = json!(true);
    let gw = Gateway::start(bin(), &[("blob.json", def)], conf);
    assert_eq!(get(&gw.url("/blob/x"), &[]).await.0, 404);
    assert!(
        support::logged(&gw, &["disable_virtual_path_blobs"]),
        "{}",
        gw.logs()
    );
}
