//! Tyk plugin bundles: fetched over real HTTP from a local server, checked (md5 checksum, an
//! RSA signature made with the openssl command line, as `tyk bundle build` signs), unpacked
//! where Tyk puts them, and applied to the API's declaration.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use weir_config::plugin_settings::PluginSettings;
use weir_config::{ApiDefinition, HookPhase};
use weir_plugins::bundle::{bundle_dir, resolve};

/// A one-thread HTTP server answering every GET with `body`; counts the requests.
struct BundleServer {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

fn serve(body: Vec<u8>) -> BundleServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/bundles", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    BundleServer { base, hits }
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in files {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

const MIDDLEWARE: &[u8] = b"function MyPre(request, session, spec) return request, session end\n";

fn manifest(checksum: &str, signature: &str, auth: bool) -> Vec<u8> {
    let mut mw = json!({"driver": "lua", "pre": [{"name": "MyPre"}]});
    if auth {
        mw["auth_check"] = json!({"name": "MyAuth"});
    }
    serde_json::to_vec(&json!({
        "file_list": ["middleware.lua"],
        "custom_middleware": mw,
        "checksum": checksum,
        "signature": signature,
    }))
    .unwrap()
}

fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::compute(b))
}

fn api(dir: &Path, extra: Value) -> ApiDefinition {
    let mut doc = json!({
        "api_id": "bundled", "name": "bundled", "org_id": "o", "use_keyless": true,
        "proxy": {"listen_path": "/b/", "target_url": "http://127.0.0.1:9"},
        "custom_middleware_bundle": "lua-bundle-v1.zip",
    });
    doc.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    weir_config::parse_api_definition(&doc.to_string(), &dir.join("apps/bundled.json")).unwrap()
}

fn settings(mw: &Path, base: Option<&str>) -> PluginSettings {
    PluginSettings {
        middleware_path: mw.to_path_buf(),
        enable_bundle_downloader: base.is_some(),
        bundle_base_url: base.unwrap_or_default().to_string(),
        ..PluginSettings::default()
    }
}

#[test]
fn a_downloaded_bundle_is_checked_unpacked_where_tyk_puts_it_and_replaces_the_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = zip_of(&[
        ("manifest.json", &manifest(&md5_hex(MIDDLEWARE), "", false)),
        ("middleware.lua", MIDDLEWARE),
    ]);
    let server = serve(zip);
    let settings = settings(&tmp.path().join("middleware"), Some(&server.base));
    let api = api(tmp.path(), json!({}));
    let decl = resolve(&settings, &api, api.plugins.as_ref().unwrap()).unwrap();
    let dir = tmp
        .path()
        .join("middleware/bundles")
        .join(md5_hex(b"lua-bundle-v1.zip"));
    assert_eq!(bundle_dir(&settings, "lua-bundle-v1.zip"), dir);
    assert_eq!(
        server.hits.lock().unwrap().as_slice(),
        ["/bundles/lua-bundle-v1.zip"]
    );
    assert_eq!(
        std::fs::read(dir.join("middleware.lua")).unwrap(),
        MIDDLEWARE
    );
    assert_eq!(decl.driver, "lua");
    assert_eq!(decl.hooks.len(), 1);
    assert_eq!(decl.hooks[0].phase, HookPhase::Pre);
    assert_eq!(decl.hooks[0].name, "MyPre");
    // A hook without a path is the bundle folder (Python and Lua name functions).
    assert_eq!(decl.hooks[0].path.as_deref(), Some(dir.as_path()));

    // Loaded again: the folder is used, nothing is fetched.
    resolve(&settings, &api, api.plugins.as_ref().unwrap()).unwrap();
    assert_eq!(server.hits.lock().unwrap().len(), 1);
}

#[test]
fn a_bad_checksum_refuses_the_api_and_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = zip_of(&[
        (
            "manifest.json",
            &manifest(&md5_hex(b"something else"), "", false),
        ),
        ("middleware.lua", MIDDLEWARE),
    ]);
    let server = serve(zip);
    let settings = settings(&tmp.path().join("middleware"), Some(&server.base));
    let api = api(tmp.path(), json!({}));
    let err = resolve(&settings, &api, api.plugins.as_ref().unwrap()).unwrap_err();
    assert_eq!(err.field, "custom_middleware_bundle");
    assert!(err.reason.contains("Invalid checksum"), "{err}");
    assert!(err.reason.contains("lua-bundle-v1.zip"), "{err}");
    let bundles = tmp.path().join("middleware/bundles");
    assert_eq!(std::fs::read_dir(bundles).unwrap().count(), 0);
}

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key pair made by openssl, and the base64 signature of `data` (SHA-256, PKCS#1 v1.5).
fn signed(dir: &Path, data: &[u8]) -> (PathBuf, String) {
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "priv.pem",
        ],
        dir,
    );
    openssl(
        &["rsa", "-in", "priv.pem", "-pubout", "-out", "pub.pem"],
        dir,
    );
    std::fs::write(dir.join("data"), data).unwrap();
    let sig = openssl(&["dgst", "-sha256", "-sign", "priv.pem", "data"], dir);
    (
        dir.join("pub.pem"),
        base64::engine::general_purpose::STANDARD.encode(sig),
    )
}

#[test]
fn signatures_are_verified_against_public_key_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (public_key, signature) = signed(tmp.path(), MIDDLEWARE);
    let checksum = md5_hex(MIDDLEWARE);
    let cases = [
        ("good.zip", signature.clone(), None),
        ("unsigned.zip", String::new(), Some("Bundle isn't signed")),
        (
            "tampered.zip",
            {
                let mut raw = base64::engine::general_purpose::STANDARD
                    .decode(&signature)
                    .unwrap();
                raw[10] ^= 1;
                base64::engine::general_purpose::STANDARD.encode(raw)
            },
            Some("does not verify"),
        ),
    ];
    for (name, sig, expected_error) in cases {
        let zip = zip_of(&[
            ("manifest.json", &manifest(&checksum, &sig, false)),
            ("middleware.lua", MIDDLEWARE),
        ]);
        let server = serve(zip);
        let mut settings = settings(&tmp.path().join("middleware"), Some(&server.base));
        settings.public_key_path = Some(public_key.clone());
        let api = api(tmp.path(), json!({"custom_middleware_bundle": name}));
        let result = resolve(&settings, &api, api.plugins.as_ref().unwrap());
        match expected_error {
            None => assert_eq!(result.unwrap().hooks[0].name, "MyPre", "{name}"),
            Some(words) => {
                let err = result.unwrap_err();
                assert!(err.reason.contains(words), "{name}: {err}");
                assert!(!bundle_dir(&settings, name).exists(), "{name}");
            }
        }
    }
}

#[test]
fn an_unpacked_bundle_needs_no_downloader_and_a_missing_one_is_refused_unless_hooks_are_declared() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = settings(&tmp.path().join("middleware"), None);
    // Nothing unpacked, downloader off, no hooks in the definition: refused, naming the folder.
    let bare = api(tmp.path(), json!({}));
    let err = resolve(&settings, &bare, bare.plugins.as_ref().unwrap()).unwrap_err();
    assert!(
        err.reason.contains("enable_bundle_downloader is off"),
        "{err}"
    );
    // With hooks declared (seed 000's form), the definition's hooks are used.
    let with_hooks = api(
        tmp.path(),
        json!({"custom_middleware": {"driver": "lua", "pre": [{"name": "Own", "path": "own.lua"}]}}),
    );
    let decl = resolve(&settings, &with_hooks, with_hooks.plugins.as_ref().unwrap()).unwrap();
    assert_eq!(decl.hooks[0].name, "Own");
    // Unpacked by hand (as an operator would): used without any download.
    let dir = bundle_dir(&settings, "lua-bundle-v1.zip");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("middleware.lua"), MIDDLEWARE).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        manifest(&md5_hex(MIDDLEWARE), "", false),
    )
    .unwrap();
    let decl = resolve(&settings, &bare, bare.plugins.as_ref().unwrap()).unwrap();
    assert_eq!(decl.hooks[0].name, "MyPre");
    // Edited in place, the checksum no longer matches: refused...
    std::fs::write(dir.join("middleware.lua"), b"-- changed\n").unwrap();
    let err = resolve(&settings, &bare, bare.plugins.as_ref().unwrap()).unwrap_err();
    assert!(err.reason.contains("Invalid checksum"), "{err}");
    // ...unless the gateway is told to trust existing bundles.
    let trusting = PluginSettings {
        skip_verify_existing_plugin_bundle: true,
        ..settings.clone()
    };
    resolve(&trusting, &bare, bare.plugins.as_ref().unwrap()).unwrap();
}

#[test]
fn custom_auth_needs_the_manifest_auth_check_and_a_zip_cannot_write_outside_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = json!({"use_keyless": false, "custom_plugin_auth_enabled": true});

    let server = serve(zip_of(&[
        ("manifest.json", &manifest(&md5_hex(MIDDLEWARE), "", false)),
        ("middleware.lua", MIDDLEWARE),
    ]));
    let settings_a = settings(&tmp.path().join("a"), Some(&server.base));
    let api_a = api(tmp.path(), protected.clone());
    let err = resolve(&settings_a, &api_a, api_a.plugins.as_ref().unwrap()).unwrap_err();
    assert!(err.reason.contains("no auth_check"), "{err}");

    let server = serve(zip_of(&[
        ("manifest.json", &manifest(&md5_hex(MIDDLEWARE), "", true)),
        ("middleware.lua", MIDDLEWARE),
    ]));
    let settings_b = settings(&tmp.path().join("b"), Some(&server.base));
    let decl = resolve(&settings_b, &api_a, api_a.plugins.as_ref().unwrap()).unwrap();
    assert!(decl.custom_auth);
    assert!(decl.hooks.iter().any(|h| h.phase == HookPhase::CustomAuth));
    // The same manifest on a keyless API: its auth_check is not used, as in Tyk.
    let open = api(tmp.path(), json!({}));
    let decl = resolve(&settings_b, &open, open.plugins.as_ref().unwrap()).unwrap();
    assert!(!decl.custom_auth);
    assert!(decl.hooks.iter().all(|h| h.phase != HookPhase::CustomAuth));

    let server = serve(zip_of(&[
        ("manifest.json", &manifest(&md5_hex(MIDDLEWARE), "", false)),
        ("../escape.lua", MIDDLEWARE),
    ]));
    let settings_c = settings(&tmp.path().join("c"), Some(&server.base));
    let err = resolve(&settings_c, &open, open.plugins.as_ref().unwrap()).unwrap_err();
    assert!(err.reason.contains("escapes the bundle"), "{err}");
    assert!(!tmp.path().join("c/escape.lua").exists());
    assert!(!tmp.path().join("c/bundles/escape.lua").exists());
}
