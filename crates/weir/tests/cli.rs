//! The command line: `weir version`, `weir run` refusing a missing or bad conf,
//! and Tyk's `TYK_GW_*` environment overrides.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{bin, raw_get_status, run_weir, stderr_lines};
use weir_testkit::{HttpUpstream, free_port};

/// Kills the child on drop so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keyless(id: &str, listen_path: &str, target: &str) -> serde_json::Value {
    json!({
        "api_id": id, "name": id, "org_id": "1", "use_keyless": true, "active": true,
        "proxy": { "listen_path": listen_path, "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

#[test]
fn version_prints_the_crate_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_weir(&["version"], &[], dir.path());
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), format!("weir {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn run_with_a_missing_conf_exits_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-weir.json");
    let started = Instant::now();
    let out = run_weir(
        &["run", "--conf", missing.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(!out.status.success(), "exit status {:?}", out.status);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-weir.json"),
        "stderr does not name the file: {stderr}"
    );
}

#[test]
fn check_with_a_missing_conf_exits_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_weir(&["check", "--conf", "absent.json"], &[], dir.path());
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let lines = stderr_lines(&out);
    assert!(
        lines.iter().any(|l| l.contains("absent.json")),
        "stderr: {lines:?}"
    );
}

#[test]
fn run_with_a_bad_gateway_config_value_exits_non_zero_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let conf = dir.path().join("weir.json");
    std::fs::write(
        &conf,
        json!({"listen_port": "eighty", "app_path": "apps"}).to_string(),
    )
    .unwrap();
    let out = run_weir(&["run", "--conf", conf.to_str().unwrap()], &[], dir.path());
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("weir.json") && stderr.contains("listen_port"),
        "stderr: {stderr}"
    );
}

#[test]
fn run_on_a_busy_port_exits_non_zero() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let conf = dir.path().join("weir.json");
    let doc = json!({"listen_address": "127.0.0.1", "listen_port": port, "app_path": "apps", "secret": "s"});
    std::fs::write(&conf, doc.to_string()).unwrap();
    let out = run_weir(&["run", "--conf", conf.to_str().unwrap()], &[], dir.path());
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&port.to_string()),
        "stderr does not name the address: {stderr}"
    );
}

/// `TYK_GW_LISTENPORT` beats `listen_port` from the file.
#[test]
fn env_override_changes_the_listen_port() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    std::fs::write(
        dir.path().join("apps/a1.json"),
        keyless("a1", "/a1/", &up.url()).to_string(),
    )
    .unwrap();
    let file_port = free_port();
    let env_port = free_port();
    assert_ne!(file_port, env_port);
    let conf = dir.path().join("weir.json");
    let doc = json!({"listen_address": "127.0.0.1", "listen_port": file_port, "app_path": "apps", "secret": "s"});
    std::fs::write(&conf, doc.to_string()).unwrap();

    let mut cmd = Command::new(bin());
    cmd.args(["run", "--conf", conf.to_str().unwrap()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("TYK_GW_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TYK_GW_LISTENPORT", env_port.to_string());
    let mut child = Running(cmd.spawn().expect("spawn weir"));

    let env_addr = std::net::SocketAddr::from(([127, 0, 0, 1], env_port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw_get_status(env_addr, "/hello") != Some(200) {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("weir exited with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "weir never answered on the env port {env_port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        raw_get_status(env_addr, "/a1/echo"),
        Some(200),
        "APIs serve on the env port"
    );
    let file_addr = std::net::SocketAddr::from(([127, 0, 0, 1], file_port));
    assert_eq!(
        raw_get_status(file_addr, "/hello"),
        None,
        "the file's port must not be used"
    );
}

#[test]
fn a_bad_env_override_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let conf = dir.path().join("weir.json");
    std::fs::write(
        &conf,
        json!({"listen_port": free_port(), "app_path": "apps"}).to_string(),
    )
    .unwrap();
    let out = run_weir(
        &["check", "--conf", conf.to_str().unwrap()],
        &[("TYK_GW_LISTENPORT", "not-a-port")],
        dir.path(),
    );
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TYK_GW_LISTENPORT"), "stderr: {stderr}");
}

/// `weir run --watch` reloads on file changes without `watch_app_path` in the conf.
#[test]
fn run_watch_flag_picks_up_new_files() {
    let up = HttpUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let port = free_port();
    let conf = dir.path().join("weir.json");
    let doc = json!({"listen_address": "127.0.0.1", "listen_port": port, "app_path": "apps", "secret": "s"});
    std::fs::write(&conf, doc.to_string()).unwrap();
    let child = Command::new(bin())
        .args(["run", "--conf", conf.to_str().unwrap(), "--watch"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir");
    let mut child = Running(child);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw_get_status(addr, "/hello") != Some(200) {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("weir exited with {status}");
        }
        assert!(Instant::now() < deadline, "weir never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(raw_get_status(addr, "/w1/echo"), Some(404));
    std::fs::write(
        dir.path().join("apps/w1.json"),
        keyless("w1", "/w1/", &up.url()).to_string(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw_get_status(addr, "/w1/echo") != Some(200) {
        assert!(
            Instant::now() < deadline,
            "--watch did not pick up the new file within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
