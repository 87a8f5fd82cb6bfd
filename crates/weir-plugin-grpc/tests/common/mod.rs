//! Shared test helpers: start the example plugin servers as child processes and build
//! real hook contexts.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use weir_core::plugin::{
    ApiSpecInfo, Driver, GrpcMessage, HookContext, HookDecl, HookKind, HookRequest, HookResponse,
    LoadedPlugin, MessageDirection, PluginSpec, ReturnOverrides,
};
use weir_plugin_grpc::{GrpcDriver, GrpcOptions, ServerAddress};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup_hint() -> &'static str {
    "run scripts/setup-grpc-plugins.sh first"
}

/// The venv Python with grpcio, or `WEIR_PLUGIN_PYTHON`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_PLUGIN_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo_root().join("target/plugin-venv/bin/python");
    assert!(p.exists(), "{} is missing: {}", p.display(), setup_hint());
    p
}

/// Which example server.
#[derive(Clone, Copy)]
pub enum Lang {
    Python,
    Node,
}

/// A running plugin server; killed on drop.
pub struct PluginServer {
    child: Child,
    /// `host:port` or `unix:/path`.
    pub address: String,
    lang: Lang,
}

impl PluginServer {
    /// Starts the example server for `lang` listening on `listen` (`127.0.0.1:0` for an
    /// OS-chosen port) and waits until it says it serves.
    pub async fn start(lang: Lang, listen: &str) -> PluginServer {
        let examples = repo_root().join("examples/plugins");
        let mut cmd = match lang {
            Lang::Python => {
                let mut c = Command::new(python());
                c.arg(examples.join("grpc-python/server.py"));
                c
            }
            Lang::Node => {
                let dir = examples.join("grpc-node");
                assert!(
                    dir.join("node_modules/@grpc/grpc-js").exists(),
                    "node modules missing in {}: {}",
                    dir.display(),
                    setup_hint()
                );
                let mut c = Command::new("node");
                c.arg(dir.join("server.js"));
                c
            }
        };
        cmd.arg("--listen")
            .arg(listen)
            .arg("--proto-dir")
            .arg(weir_plugin_grpc::PROTO_DIR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start the plugin server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("plugin server did not start within 60s")
            .expect("read plugin server stdout")
            .expect("plugin server exited before listening");
        let address = line
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line from plugin server: {line}"))
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        PluginServer {
            child,
            address,
            lang,
        }
    }

    /// Stops the server and waits until it is gone.
    pub async fn stop(mut self) {
        self.child.kill().await.expect("kill plugin server");
    }

    /// The address as tyk.conf writes it.
    pub fn tyk_address(&self) -> String {
        match self.address.strip_prefix("unix:") {
            Some(path) => format!("unix://{path}"),
            None => format!("tcp://{}", self.address),
        }
    }

    /// A driver for this server, with default options.
    pub fn driver(&self) -> GrpcDriver {
        GrpcDriver::new(GrpcOptions::new(
            ServerAddress::parse(&self.tyk_address()).unwrap(),
        ))
    }

    /// Which language.
    pub fn lang(&self) -> Lang {
        self.lang
    }
}

/// The API every test context belongs to.
pub fn api() -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org1".into(),
        api_id: "api1".into(),
        config_data: Some(r#"{"greeting":"hi"}"#.into()),
        bundle_hash: None,
    })
}

/// Loads one hook through the driver, as the host does.
pub fn load(
    driver: &GrpcDriver,
    kind: HookKind,
    name: &str,
    raw_body_only: bool,
) -> Arc<dyn LoadedPlugin> {
    let spec = PluginSpec {
        driver: "grpc".into(),
        hooks: vec![HookDecl {
            kind,
            name: name.into(),
            path: None,
            raw_body_only,
            require_session: false,
        }],
        api: api(),
        config_data: serde_json::json!({"greeting": "hi"}),
        file: PathBuf::from("apps/test.json"),
        timeout: None,
    };
    driver.load(&spec).expect("load grpc plugin")
}

/// One gRPC message for the stream hook `hook`, on an API whose config_data is `config`.
pub fn message(
    hook: &str,
    direction: MessageDirection,
    method: &str,
    payload: &[u8],
    headers: &[(&str, &str)],
    config: &serde_json::Value,
) -> GrpcMessage {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    GrpcMessage {
        hook: hook.into(),
        direction,
        method: method.into(),
        payload: Bytes::copy_from_slice(payload),
        index: 0,
        headers: Arc::new(map),
        session: None,
        spec: Arc::new(ApiSpecInfo {
            org_id: "org1".into(),
            api_id: "api1".into(),
            config_data: Some(config.to_string()),
            bundle_hash: None,
        }),
    }
}

/// A request hook context.
pub fn ctx(
    kind: HookKind,
    name: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HookContext {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    HookContext {
        kind,
        name: name.into(),
        request: HookRequest {
            method: "POST".into(),
            url: url.into(),
            request_uri: url.into(),
            scheme: "http".into(),
            headers: map,
            body: Bytes::copy_from_slice(body),
            return_overrides: ReturnOverrides::none(),
        },
        response: None,
        session: None,
        metadata: Default::default(),
        spec: api(),
        driver_state: Default::default(),
    }
}

/// A response hook context with the given upstream response.
pub fn response_ctx(name: &str, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HookContext {
    let mut c = ctx(
        HookKind::Response,
        name,
        "/api/get",
        &[("host", "gw.test")],
        b"",
    );
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    c.response = Some(HookResponse {
        status,
        headers: map,
        body: Bytes::copy_from_slice(body),
    });
    c
}

/// A header's value as text, or "" when absent.
pub fn header(ctx: &HookContext, name: &str) -> String {
    ctx.request
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Shared by the TCP, Unix socket and Node tests.
pub async fn auth_check(server: &PluginServer, reject_message: &str) {
    let driver = server.driver();
    let plugin = load(&driver, HookKind::CustomAuth, "MyAuthCheck", false);

    let mut c = ctx(
        HookKind::CustomAuth,
        "MyAuthCheck",
        "/api/get",
        &[("authorization", "good-token")],
        b"",
    );
    plugin.call(&mut c).await.unwrap();
    let s = c.session.as_ref().expect("a session for the good token");
    assert_eq!((s.rate, s.per, s.quota_max), (100.0, 1.0, 1000));
    assert_eq!(s.quota_renewal_rate, 3600);
    assert!(s.metadata["user"].as_str().unwrap().ends_with("alice"));
    assert_eq!(c.metadata["token"], "good-token");
    assert_eq!(c.request.return_overrides.response_code, -1);

    let mut c = ctx(
        HookKind::CustomAuth,
        "MyAuthCheck",
        "/api/get",
        &[("authorization", "bad")],
        b"",
    );
    plugin.call(&mut c).await.unwrap();
    assert!(c.session.is_none());
    assert!(!c.metadata.contains_key("token"));
    let o = &c.request.return_overrides;
    assert_eq!(o.response_code, 403);
    assert!(!o.override_error);
    assert_eq!(o.response_error, reject_message);
    assert_eq!(
        o.response_body, reject_message,
        "response_error is copied into the body"
    );
}
