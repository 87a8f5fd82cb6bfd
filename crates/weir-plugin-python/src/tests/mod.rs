//! Driver tests: real Python files in a temp dir, loaded and called through the driver traits.

mod api;
mod faults;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use weir_core::plugin::{
    ApiSpecInfo, Driver, HookContext, HookDecl, HookKind, LoadedPlugin, PluginSpec,
};

use crate::{PythonDriver, PythonDriverOptions};

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

pub(super) fn api() -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org1".into(),
        api_id: "api1".into(),
        config_data: Some(r#"{"greeting":"hi"}"#.into()),
        bundle_hash: None,
    })
}

pub(super) fn spec(hooks: &[(HookKind, &str)], path: &Path) -> PluginSpec {
    PluginSpec {
        driver: "python".into(),
        hooks: hooks
            .iter()
            .map(|(kind, name)| HookDecl {
                kind: *kind,
                name: (*name).into(),
                path: Some(path.to_owned()),
                raw_body_only: false,
                require_session: false,
            })
            .collect(),
        api: api(),
        config_data: serde_json::Value::Null,
        file: "apps/api1.json".into(),
        timeout: None,
    }
}

pub(super) fn options(deadline_ms: u64, threads: usize) -> PythonDriverOptions {
    PythonDriverOptions {
        call_deadline: Duration::from_millis(deadline_ms),
        memory_limit: 64 << 20,
        threads,
    }
}

pub(super) fn load(
    opts: PythonDriverOptions,
    hooks: &[(HookKind, &str)],
    path: &Path,
) -> Arc<dyn LoadedPlugin> {
    match PythonDriver::new(opts).load(&spec(hooks, path)) {
        Ok(p) => p,
        Err(e) => panic!("load failed: {e}"),
    }
}

pub(super) fn load_err(hooks: &[(HookKind, &str)], path: &Path) -> String {
    match PythonDriver::new(options(1000, 1)).load(&spec(hooks, path)) {
        Ok(_) => panic!("the load should fail"),
        Err(e) => e,
    }
}

pub(super) fn request(kind: HookKind, name: &str) -> HookContext {
    let mut ctx = HookContext::blank(kind, api());
    ctx.name = name.into();
    ctx.request.method = "GET".into();
    ctx.request.url = "/api1/items?a=1&b=2".into();
    ctx.request.request_uri = ctx.request.url.clone();
    ctx.request.scheme = "http".into();
    let h = &mut ctx.request.headers;
    h.insert("host", HeaderValue::from_static("gw.example"));
    h.insert("user-agent", HeaderValue::from_static("curl/8"));
    h.insert("x-drop", HeaderValue::from_static("1"));
    ctx.request.body = Bytes::from_static(b"hello");
    ctx
}
