//! Tyk plugin bundles through the weir binary, one per driver that ships as bundles in Tyk
//! (Python, JavaScript, gRPC; Lua in plugins_lua.rs), fetched from `bundle_base_url` by a
//! gateway with `public_key_path` set: every bundle is signed with the openssl command line as
//! `tyk bundle build` signs, and an unsigned one is refused while the others serve; and
//! bundles of Weir's own native (a C library) and Wasm (a proxy-wasm filter) plugins.

mod support;
mod vision;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use support::plugin_server::PluginServer;
use support::{bin, bundles, json_of, send};
use weir_testkit::{Gateway, HttpUpstream};

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Signs the concatenated `files` with `dir/priv.pem`: base64 of RSA PKCS#1 v1.5 over SHA-256.
fn sign(dir: &Path, files: &[(&str, &[u8])]) -> String {
    let data: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let file = tempfile::NamedTempFile::new_in(dir).unwrap();
    std::fs::write(file.path(), data).unwrap();
    let path = file.path().to_str().unwrap();
    let sig = openssl(dir, &["dgst", "-sha256", "-sign", "priv.pem", path]);
    base64::engine::general_purpose::STANDARD.encode(sig)
}

fn bundled_api(id: &str, target: &str, bundle: &str) -> Value {
    json!({
        "api_id": id, "name": id, "org_id": "1", "use_keyless": true,
        "proxy": {"listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true},
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
        "config_data": {"header_name": "X-Hello", "header_value": "from a bundle"},
        "custom_middleware_bundle": bundle
    })
}

async fn get(url: &str) -> (u16, String) {
    let (status, _, body) = send(reqwest::Method::GET, url, &[], "").await;
    (status, body)
}

#[tokio::test]
async fn signed_bundles_of_each_driver_are_fetched_and_served() {
    let up = HttpUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "priv.pem",
        ],
    );
    openssl(
        dir,
        &["rsa", "-in", "priv.pem", "-pubout", "-out", "pub.pem"],
    );

    let py_main = repo_file("examples/plugins/python/bundle/middleware.py");
    let py_helpers = repo_file("examples/plugins/python/bundle/helpers.py");
    let python: [(&str, &[u8]); 2] = [("middleware.py", &py_main), ("helpers.py", &py_helpers)];
    let py_mw = json!({"driver": "python", "pre": [{"name": "AddHeader"}]});

    let js_code = repo_file("examples/plugins/js/middleware.js");
    let js: [(&str, &[u8]); 1] = [("middleware.js", &js_code)];
    let js_mw = json!({"driver": "otto", "pre": [{"name": "addHeader", "path": "middleware.js"}]});

    // A gRPC bundle lists no files: its checksum is the md5 of nothing.
    let grpc: [(&str, &[u8]); 0] = [];
    let grpc_mw = json!({"driver": "grpc", "pre": [{"name": "MyPreHook"}]});

    let mut served = Vec::new();
    for (name, files, mw) in [
        ("py-v1.zip", &python[..], py_mw.clone()),
        ("js-v1.zip", &js[..], js_mw),
        ("grpc-v1.zip", &grpc[..], grpc_mw),
    ] {
        let manifest = bundles::manifest(files, mw, &sign(dir, files));
        served.push((name.to_string(), bundles::zip(dir, &manifest, files)));
    }
    let unsigned = bundles::manifest(&python, py_mw, "");
    served.push((
        "py-unsigned.zip".into(),
        bundles::zip(dir, &unsigned, &python),
    ));
    let base = bundles::serve(served);

    let plugins = PluginServer::python("127.0.0.1:0");
    let mut conf = plugins.gateway_config();
    for (k, v) in [
        ("enable_jsvm", json!(true)),
        ("enable_bundle_downloader", json!(true)),
        ("bundle_base_url", json!(base)),
        ("middleware_path", json!(dir.join("middleware"))),
        ("public_key_path", json!(dir.join("pub.pem"))),
    ] {
        conf[k] = v;
    }
    let gw = Gateway::start(
        bin(),
        &[
            ("py.json", bundled_api("py", &up.url(), "py-v1.zip")),
            ("js.json", bundled_api("js", &up.url(), "js-v1.zip")),
            ("grpc.json", bundled_api("grpc", &up.url(), "grpc-v1.zip")),
            (
                "unsigned.json",
                bundled_api("unsigned", &up.url(), "py-unsigned.zip"),
            ),
        ],
        conf,
    );

    let (status, body) = get(&gw.url("/py/echo")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(json_of(&body)["headers"]["x-hello"][0], "from a bundle");
    let (status, body) = get(&gw.url("/js/echo")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(json_of(&body)["headers"]["x-hello"][0], "from a bundle");
    let (status, body) = get(&gw.url("/grpc/echo")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(json_of(&body)["headers"]["x-pre"][0], "done");

    assert_eq!(get(&gw.url("/unsigned/echo")).await.0, 404);
    assert!(
        support::logged(&gw, &["py-unsigned.zip", "Bundle isn't signed"]),
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn native_and_wasm_plugins_ship_as_bundles_too() {
    let up = HttpUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let so = dir.join("header_plugin.so");
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let status = Command::new("gcc")
        .args(["-std=c11", "-shared", "-fPIC", "-O2", "-I"])
        .arg(repo.join("crates/weir-plugin-abi/include"))
        .arg(repo.join("examples/plugins/native-c/header_plugin.c"))
        .arg("-o")
        .arg(&so)
        .status()
        .expect("gcc");
    assert!(status.success());
    let native_lib = std::fs::read(&so).unwrap();
    let native: [(&str, &[u8]); 1] = [("header_plugin.so", &native_lib)];
    let native_mw =
        json!({"driver": "native", "pre": [{"name": "AddHeader", "path": "header_plugin.so"}]});
    let wasm_module = std::fs::read(vision::wasm_example("header_rewrite")).unwrap();
    let wasm: [(&str, &[u8]); 1] = [("header_rewrite.wasm", &wasm_module)];
    let wasm_mw =
        json!({"driver": "wasm", "pre": [{"name": "hdr", "path": "header_rewrite.wasm"}]});
    let base = bundles::serve(vec![
        (
            "native-v1.zip".into(),
            bundles::zip(dir, &bundles::manifest(&native, native_mw, ""), &native),
        ),
        (
            "wasm-v1.zip".into(),
            bundles::zip(dir, &bundles::manifest(&wasm, wasm_mw, ""), &wasm),
        ),
    ]);
    let gw = Gateway::start(
        bin(),
        &[
            (
                "native.json",
                bundled_api("native", &up.url(), "native-v1.zip"),
            ),
            ("wasm.json", bundled_api("wasm", &up.url(), "wasm-v1.zip")),
        ],
        json!({"enable_bundle_downloader": true, "bundle_base_url": base,
               "middleware_path": dir.join("middleware")}),
    );
    let (status, body) = get(&gw.url("/native/echo")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(json_of(&body)["headers"]["x-hello"][0], "from a bundle");
    let (status, body) = get(&gw.url("/wasm/echo")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(
        json_of(&body)["headers"]["x-weir-wasm"][0],
        "header-rewrite"
    );
}
