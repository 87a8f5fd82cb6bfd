//! Lua plugins through the weir binary: the Tyk-style example (examples/plugins/lua), faults
//! that stay in their request, a script swapped by a reload while a request is in flight on
//! the old one, and a Tyk plugin bundle downloaded from `bundle_base_url`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{bin, bundles, json_of, plugin_api, plugin_example, send};
use weir_testkit::{Gateway, HttpUpstream};

fn example(file: &str) -> PathBuf {
    plugin_example("lua", file)
}

fn api(id: &str, target: &str, middleware: Value) -> Value {
    plugin_api(id, target, middleware)
}

fn lua(kind: &str, name: &str, path: &Path) -> Value {
    json!({"driver": "lua", kind: [{"name": name, "path": path}]})
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = send(reqwest::Method::GET, url, headers, "").await;
    (status, body)
}

#[tokio::test]
async fn the_tyk_style_example_runs_every_hook_kind() {
    let up = HttpUpstream::start();
    let mw = example("middleware.lua");
    let mut auth = api(
        "auth",
        &up.url(),
        json!({"driver": "lua", "auth_check": {"name": "BearerAuth", "path": mw}}),
    );
    auth["use_keyless"] = json!(false);
    auth["custom_plugin_auth_enabled"] = json!(true);
    let both = json!({"driver": "lua", "pre": [
        {"name": "AddHeader", "path": mw}, {"name": "Block", "path": mw}]});
    let gw = Gateway::start(
        bin(),
        &[
            ("pre.json", api("pre", &up.url(), both)),
            ("auth.json", auth),
        ],
        json!({}),
    );

    let (status, body) = get(&gw.url("/pre/echo"), &[("X-Remove", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-hello"][0], "from config");
    assert!(echo["headers"].get("x-remove").is_none(), "{echo}");

    let before = up.request_count();
    let (status, body) = get(&gw.url("/pre/echo"), &[("X-Block", "1")]).await;
    assert_eq!(status, 403);
    assert!(body.contains("blocked by the lua plugin"), "{body}");
    assert_eq!(up.request_count(), before, "the upstream is not called");

    let (status, _) = get(&gw.url("/auth/echo"), &[]).await;
    assert_eq!(status, 403);
    let good = [("Authorization", "Bearer lua-secret")];
    let (status, body) = get(&gw.url("/auth/echo"), &good).await;
    assert_eq!(status, 200, "{body}");
}

const FAULTS: &str = r#"
function Fine(request, session, spec)
  tyk.req.set_header("X-Fine", "yes")
  return request, session
end
function Throw(request, session, spec)
  error("boom")
end
function Loop(request, session, spec)
  while true do end
end
function Hog(request, session, spec)
  local t = {}
  for i = 1, 100000000 do t[i] = string.rep("x", 1024) .. i end
  return request, session
end
"#;

#[tokio::test]
async fn faults_stay_in_their_request() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("faults.lua");
    std::fs::write(&script, FAULTS).unwrap();
    let broken = dir.path().join("broken.lua");
    std::fs::write(
        &broken,
        "function Pre(request, session, spec)\n  return request,\nend\n",
    )
    .unwrap();
    let hooks = json!({"driver": "lua", "timeout": 1, "pre": [
        {"name": "Fine", "path": script}]});
    let mut apis = vec![
        ("fine.json".to_string(), api("fine", &up.url(), hooks)),
        (
            "broken.json".to_string(),
            api("broken", &up.url(), lua("pre", "Pre", &broken)),
        ),
    ];
    for name in ["Throw", "Loop", "Hog"] {
        let mut mw = lua("pre", name, &script);
        mw["timeout"] = json!(1);
        let id = name.to_lowercase();
        apis.push((format!("{id}.json"), api(&id, &up.url(), mw)));
    }
    let apis: Vec<(&str, Value)> = apis.iter().map(|(f, d)| (f.as_str(), d.clone())).collect();
    let gw = Gateway::start(bin(), &apis, json!({}));

    // The syntax error refuses its API, naming the file and the line; the others serve.
    assert!(
        support::logged(&gw, &["broken.lua", ":3:"]),
        "the refusal names file and line:\n{}",
        gw.logs()
    );
    let (status, _) = get(&gw.url("/broken/echo"), &[]).await;
    assert_eq!(status, 404);

    for (path, expected) in [("/throw/x", 500), ("/hog/x", 500)] {
        let (status, body) = get(&gw.url(path), &[]).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body.contains("Middleware error"), "{path}: {body}");
        let (status, body) = get(&gw.url("/fine/echo"), &[]).await;
        assert_eq!(status, 200, "after {path}: {body}");
        assert_eq!(json_of(&body)["headers"]["x-fine"][0], "yes");
    }
    let started = Instant::now();
    let (status, _) = get(&gw.url("/loop/x"), &[]).await;
    let took = started.elapsed();
    assert_eq!(status, 500);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "an endless loop is interrupted at the 1 s deadline, took {took:?}"
    );
    // The interrupted worker serves again: more calls than the driver has threads.
    for _ in 0..4 {
        let (status, _) = get(&gw.url("/loop/x"), &[]).await;
        assert_eq!(status, 500);
    }
    let (status, _) = get(&gw.url("/fine/echo"), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_reload_swaps_the_script_while_a_request_finishes_on_the_old_one() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("version.lua");
    let version = |v: &str, busy_secs: f64| {
        format!(
            "function Tag(request, session, spec)\n  local until_t = os.clock() + {busy_secs}\n  \
             while os.clock() < until_t do end\n  tyk.req.set_header(\"X-Version\", \"{v}\")\n  \
             return request, session\nend\n"
        )
    };
    std::fs::write(&script, version("one", 1.5)).unwrap();
    let mut mw = lua("pre", "Tag", &script);
    mw["timeout"] = json!(5);
    let gw = Gateway::start(bin(), &[("v.json", api("v", &up.url(), mw))], json!({}));

    let url = gw.url("/v/echo");
    let in_flight = tokio::spawn(async move { get(&url, &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&script, version("two", 0.0)).unwrap();
    gw.reload();
    let (status, body) = get(&gw.url("/v/echo"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["headers"]["x-version"][0], "two");
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["headers"]["x-version"][0], "one");
}

#[tokio::test]
async fn a_lua_bundle_is_downloaded_checked_and_served() {
    let up = HttpUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let code = std::fs::read(example("middleware.lua")).unwrap();
    let files: [(&str, &[u8]); 1] = [("middleware.lua", &code)];
    let mw = json!({"driver": "lua", "pre": [{"name": "AddHeader"}]});
    let good = bundles::zip(
        tmp.path(),
        &bundles::manifest(&files, mw.clone(), ""),
        &files,
    );
    let mut wrong: Value = serde_json::from_slice(&bundles::manifest(&files, mw, "")).unwrap();
    wrong["checksum"] = json!("0123456789abcdef0123456789abcdef");
    let bad = bundles::zip(tmp.path(), &serde_json::to_vec(&wrong).unwrap(), &files);
    let base = bundles::serve(vec![
        ("lua-v1.zip".into(), good),
        ("lua-bad.zip".into(), bad),
    ]);
    let bundled = |id: &str, bundle: &str| {
        let mut def = api(id, &up.url(), Value::Null);
        def.as_object_mut().unwrap().remove("custom_middleware");
        def["custom_middleware_bundle"] = json!(bundle);
        def
    };
    let middleware = tmp.path().join("middleware");
    let gw = Gateway::start(
        bin(),
        &[
            ("good.json", bundled("good", "lua-v1.zip")),
            ("bad.json", bundled("bad", "lua-bad.zip")),
        ],
        json!({"enable_bundle_downloader": true, "bundle_base_url": base,
               "middleware_path": middleware}),
    );
    let (status, body) = get(&gw.url("/good/echo"), &[]).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(json_of(&body)["headers"]["x-hello"][0], "from config");
    let unpacked = middleware
        .join("bundles")
        .join(format!("{:x}", md5::compute("lua-v1.zip")));
    assert!(unpacked.join("middleware.lua").is_file());

    let (status, _) = get(&gw.url("/bad/echo"), &[]).await;
    assert_eq!(
        status, 404,
        "the bundle with a bad checksum refuses its API"
    );
    assert!(
        support::logged(&gw, &["custom_middleware_bundle", "Invalid checksum"]),
        "{}",
        gw.logs()
    );
}
