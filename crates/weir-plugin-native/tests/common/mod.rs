//! Shared by the driver's tests: builds real plugins (the Rust example with cargo, C with gcc)
//! and makes hook contexts.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use weir_core::plugin::{
    ApiSpecInfo, GrpcMessage, HookContext, HookDecl, HookKind, HookRequest, LoadedPlugin,
    MessageDirection, MessageVerdict, PluginError, PluginSpec, ReturnOverrides,
};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where test-built C plugins go.
pub fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weir-plugin-native");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `examples/plugins/native-rust` (its own workspace) once per test binary, like a
/// third-party plugin, into `$CARGO_TARGET_DIR` (or `target/`) `/native-plugin-examples`.
pub fn rust_example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_example("native-rust", "weir_example_native_rust"))
        .clone()
}

/// Builds `examples/plugins/native-vision` (the vision enricher) once per test binary.
pub fn vision_example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_example("native-vision", "weir_native_vision"))
        .clone()
}

/// Builds the cargo project `examples/plugins/<dir>` and returns its library `lib_name`.
fn build_example(dir: &str, lib_name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("native-plugin-examples");
    let manifest = repo_root()
        .join("examples/plugins")
        .join(dir)
        .join("Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the example plugin {dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = target.join("debug").join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// Compiles C `sources` (with `weir_plugin.h` on the include path) into the shared library
/// `out` with gcc.
pub fn gcc(sources: &[&Path], out: &Path, extra: &[&str]) {
    let include = repo_root().join("crates/weir-plugin-abi/include");
    let result = Command::new("gcc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
        ])
        .arg(&include)
        .args(extra)
        .args(sources)
        .arg("-o")
        .arg(out)
        .output()
        .expect("gcc must be installed (scripts/setup-native-plugins.sh)");
    assert!(
        result.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Builds the C example into `out_dir()/<name>.so`, labelled with `build`.
pub fn c_example(name: &str, build: &str) -> PathBuf {
    let src = repo_root().join("examples/plugins/native-c/header_plugin.c");
    let out = out_dir().join(format!("{name}.so"));
    gcc(
        &[&src],
        &out,
        &[&format!("-DWEIR_EXAMPLE_BUILD=\"{build}\"")],
    );
    out
}

/// Builds the C stream example `stream_filter.c` into `out_dir()/<name>.so`.
pub fn c_stream_example(name: &str) -> PathBuf {
    let src = repo_root().join("examples/plugins/native-c/stream_filter.c");
    let out = out_dir().join(format!("{name}.so"));
    gcc(&[&src], &out, &["-pedantic"]);
    out
}

/// Writes a C fixture and compiles it into `out_dir()/<name>.so`.
pub fn c_fixture(name: &str, code: &str) -> PathBuf {
    let src = out_dir().join(format!("{name}.c"));
    std::fs::write(&src, code).unwrap();
    let out = out_dir().join(format!("{name}.so"));
    gcc(&[&src], &out, &[]);
    out
}

pub const CONFIG: &str = r#"{"header_name":"X-Hello","header_value":"from config"}"#;

/// A spec for the `native` driver with `hooks` and the example's config_data.
pub fn spec(hooks: &[(HookKind, &str, &Path)]) -> PluginSpec {
    spec_with_config(hooks, CONFIG)
}

pub fn spec_with_config(hooks: &[(HookKind, &str, &Path)], config: &str) -> PluginSpec {
    PluginSpec {
        driver: "native".into(),
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
        api: api(config),
        config_data: serde_json::from_str(config).unwrap(),
        file: PathBuf::from("apps/test-api.json"),
        timeout: None,
    }
}

pub fn api(config: &str) -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org".into(),
        api_id: "api".into(),
        config_data: Some(config.into()),
        bundle_hash: None,
    })
}

/// A GET of `/api/x?q=hello%20there` with body `orig`.
pub fn ctx(kind: HookKind, name: &str) -> HookContext {
    let mut headers = HeaderMap::new();
    headers.insert("host", "example.test".parse().unwrap());
    HookContext {
        kind,
        name: name.into(),
        request: HookRequest {
            method: "GET".into(),
            url: "/api/x?q=hello%20there&keep=0".into(),
            request_uri: "/api/x?q=hello%20there&keep=0".into(),
            scheme: "https".into(),
            headers,
            body: Bytes::from_static(b"orig"),
            return_overrides: ReturnOverrides::none(),
        },
        response: None,
        session: None,
        metadata: Default::default(),
        spec: api(CONFIG),
        driver_state: Default::default(),
    }
}

/// Runs one hook call to its end (request hooks run on the runtime's blocking pool).
pub fn call(plugin: &dyn LoadedPlugin, ctx: &mut HookContext) -> Result<(), PluginError> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the hook calls")
        })
        .block_on(plugin.call(ctx))
}

/// A message of a call to `method` with no headers, no session and the example's config.
pub fn message(
    hook: &str,
    direction: MessageDirection,
    method: &str,
    payload: &[u8],
) -> GrpcMessage {
    GrpcMessage {
        hook: hook.into(),
        direction,
        method: method.into(),
        payload: Bytes::copy_from_slice(payload),
        index: 0,
        headers: Arc::new(HeaderMap::new()),
        session: None,
        spec: api(CONFIG),
    }
}

/// Adds a request header to a message's call.
pub fn with_header(mut msg: GrpcMessage, name: &'static str, value: &str) -> GrpcMessage {
    Arc::make_mut(&mut msg.headers).insert(name, value.parse().unwrap());
    msg
}

/// Runs one stream hook call; like [`call`], it must finish on the first poll.
pub fn on_message(
    plugin: &dyn LoadedPlugin,
    msg: &mut GrpcMessage,
) -> Result<MessageVerdict, PluginError> {
    let mut fut = plugin.on_grpc_message(msg);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("a native stream hook call did not complete synchronously"),
    }
}

pub fn header<'a>(ctx: &'a HookContext, name: &str) -> Option<&'a str> {
    ctx.request.headers.get(name).map(|v| v.to_str().unwrap())
}
