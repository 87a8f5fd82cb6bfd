//! Shared test helpers: builds the example filters (real proxy-wasm modules from
//! examples/plugins/wasm) and makes hook contexts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use weir_core::plugin::{
    ApiSpecInfo, Driver, HookContext, HookDecl, HookKind, HookRequest, HookResponse, LoadedPlugin,
    PluginSpec, ReturnOverrides,
};

fn repo_root() -> PathBuf {
    let dir = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).expect("manifest dir");
    dir.parent()
        .and_then(Path::parent)
        .expect("repo root")
        .to_owned()
}

/// Builds the examples workspace once per test binary and returns the directory holding the
/// `.wasm` files.
pub fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("wasm-examples");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "--manifest-path",
            ])
            .arg(root.join("examples/plugins/wasm/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .expect("running cargo for the wasm examples");
        assert!(
            out.status.success(),
            "building examples/plugins/wasm failed (run scripts/setup-wasm.sh first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip1/release")
    })
}

/// The compiled example, e.g. `wasm("header_rewrite")`.
pub fn wasm(name: &str) -> PathBuf {
    let p = wasm_dir().join(format!("{name}.wasm"));
    assert!(p.exists(), "{} was not built", p.display());
    p
}

pub fn api(config_data: Option<&str>) -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org-1".into(),
        api_id: "api-1".into(),
        config_data: config_data.map(str::to_owned),
        bundle_hash: None,
    })
}

/// A spec with one hook per `(kind, name, file)`.
pub fn spec(hooks: &[(HookKind, &str, &Path)], config_data: Option<&str>) -> PluginSpec {
    PluginSpec {
        driver: "wasm".into(),
        hooks: hooks
            .iter()
            .map(|(kind, name, path)| HookDecl {
                kind: *kind,
                name: (*name).into(),
                path: Some(path.to_path_buf()),
                raw_body_only: false,
                require_session: false,
            })
            .collect(),
        api: api(config_data),
        config_data: config_data
            .map(|c| serde_json::from_str(c).unwrap())
            .unwrap_or(serde_json::Value::Null),
        file: PathBuf::from("apps/test-api.json"),
        timeout: None,
    }
}

pub fn load(
    driver: &dyn Driver,
    hooks: &[(HookKind, &str, &Path)],
    config: Option<&str>,
) -> Arc<dyn LoadedPlugin> {
    driver.load(&spec(hooks, config)).expect("load")
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// A request hook context.
pub fn request(kind: HookKind, name: &str, pairs: &[(&str, &str)], body: &str) -> HookContext {
    HookContext {
        kind,
        name: name.into(),
        request: HookRequest {
            method: "POST".into(),
            url: "/api/items?id=7".into(),
            request_uri: "/api/items?id=7".into(),
            scheme: "http".into(),
            headers: headers(pairs),
            body: Bytes::from(body.to_owned()),
            return_overrides: ReturnOverrides::none(),
        },
        response: None,
        session: None,
        metadata: BTreeMap::new(),
        spec: api(None),
        driver_state: Default::default(),
    }
}

/// A response hook context.
pub fn response(name: &str, status: u16, pairs: &[(&str, &str)], body: &str) -> HookContext {
    let mut ctx = request(HookKind::Response, name, &[("host", "gw.example")], "");
    ctx.response = Some(HookResponse {
        status,
        headers: headers(pairs),
        body: Bytes::from(body.to_owned()),
    });
    ctx
}

pub fn header<'a>(ctx: &'a HookContext, name: &str) -> Option<&'a str> {
    ctx.request.headers.get(name).map(|v| v.to_str().unwrap())
}
