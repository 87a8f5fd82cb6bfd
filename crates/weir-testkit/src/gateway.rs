//! [`Gateway`]: runs the real `weir` binary in a temporary directory.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::free_port;
use crate::rawhttp;

/// The control API secret every test gateway is configured with.
pub const SECRET: &str = "test-secret";

/// How long [`Gateway::start`] waits for `/hello` to answer 200.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Something that can be written as an API definition file: a JSON value
/// (pretty-printed) or text taken as is (to test malformed files).
pub trait ApiText {
    /// The file contents.
    fn api_text(&self) -> String;
}

impl ApiText for Value {
    fn api_text(&self) -> String {
        serde_json::to_string_pretty(self).expect("serialize API definition")
    }
}

impl ApiText for String {
    fn api_text(&self) -> String {
        self.clone()
    }
}

impl ApiText for &str {
    fn api_text(&self) -> String {
        (*self).to_string()
    }
}

/// A running `weir run --conf <dir>/weir.json` process.
///
/// The temp directory holds `weir.json`, `apps/` (API definitions),
/// `stdout.log` and `stderr.log`. Dropping the value kills the process
/// (and, if the current thread is panicking, prints its logs first).
pub struct Gateway {
    dir: TempDir,
    child: Child,
    port: u16,
    control_port: Option<u16>,
    tls: bool,
    exited: Option<ExitStatus>,
}

impl Gateway {
    /// Writes the config and the API files, starts `bin` and waits (up to
    /// 20 s) until `GET /hello` answers 200 on the control API port if
    /// `control_api_port` is set, else on the listen port. Panics with the
    /// captured logs if the gateway exits or never becomes ready.
    ///
    /// The config is
    /// `{"listen_address":"127.0.0.1","listen_port":<free port>,"secret":"test-secret","app_path":"apps","log_level":"info"}`
    /// with the top-level keys of `extra_conf` (an object) laid over it.
    /// `apis` are `(file name, definition)` pairs written into `apps/`.
    pub fn start<T: ApiText>(bin: &Path, apis: &[(&str, T)], extra_conf: Value) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("weir-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("apps")).expect("create apps dir");
        for (file, def) in apis {
            std::fs::write(dir.path().join("apps").join(file), def.api_text())
                .expect("write API file");
        }

        let mut conf = json!({
            "listen_address": "127.0.0.1",
            "listen_port": free_port(),
            "secret": SECRET,
            "app_path": "apps",
            "log_level": "info",
        });
        match extra_conf {
            Value::Object(extra) => {
                let base = conf.as_object_mut().expect("object");
                for (k, v) in extra {
                    base.insert(k, v);
                }
            }
            Value::Null => {}
            other => panic!("extra_conf must be a JSON object, got {other}"),
        }
        let port = conf["listen_port"]
            .as_u64()
            .expect("listen_port is a number") as u16;
        let control_port = conf
            .get("control_api_port")
            .and_then(Value::as_u64)
            .filter(|p| *p != 0)
            .map(|p| p as u16);
        let tls = conf
            .pointer("/http_server_options/use_ssl")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let conf_path = dir.path().join("weir.json");
        std::fs::write(&conf_path, serde_json::to_string_pretty(&conf).unwrap())
            .expect("write weir.json");

        let stdout = File::create(dir.path().join("stdout.log")).expect("stdout.log");
        let stderr = File::create(dir.path().join("stderr.log")).expect("stderr.log");
        let child = Command::new(bin)
            .arg("run")
            .arg("--conf")
            .arg(&conf_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        let mut gw = Gateway {
            dir,
            child,
            port,
            control_port,
            tls,
            exited: None,
        };
        gw.wait_ready();
        gw
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = self.control_addr();
        let mut last_err = String::from("no attempt");
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(status);
                panic!("weir exited during startup with {status}\n{}", self.logs());
            }
            // Try the expected scheme first, then the other one: the control
            // port may or may not share the listener's TLS setting.
            for tls in [self.tls, !self.tls] {
                match rawhttp::get(addr, "/hello", &[], tls, Duration::from_secs(2)) {
                    Ok(r) if r.status == 200 => return,
                    Ok(r) => last_err = format!("status {} body {:?}", r.status, r.body),
                    Err(e) => last_err = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "weir not ready on {addr} after {READY_TIMEOUT:?} (last: {last_err})\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The proxy listen port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<listen port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Where the control API answers: `control_api_port` if configured,
    /// else the listen port.
    pub fn control_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.control_port.unwrap_or(self.port)))
    }

    /// `http://127.0.0.1:<port><path>` (`https://` when `use_ssl` is on).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The temporary directory (holds `weir.json`, `apps/`, the logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of `apps/<file>`.
    pub fn api_path(&self, file: &str) -> PathBuf {
        self.dir.path().join("apps").join(file)
    }

    /// Writes (or overwrites) `apps/<file>`; takes effect on [`Gateway::reload`].
    pub fn write_api<T: ApiText>(&self, file: &str, def: T) {
        std::fs::write(self.api_path(file), def.api_text()).expect("write API file");
    }

    /// Deletes `apps/<file>`; takes effect on [`Gateway::reload`].
    pub fn remove_api(&self, file: &str) {
        std::fs::remove_file(self.api_path(file)).expect("remove API file");
    }

    /// `GET /tyk/reload?block=true` with the secret; panics (with the logs)
    /// unless the answer is 200. Returns the response body.
    pub fn reload(&self) -> String {
        let auth = [("X-Tyk-Authorization", SECRET)];
        let mut last = String::new();
        for tls in [self.tls, !self.tls] {
            match rawhttp::get(
                self.control_addr(),
                "/tyk/reload?block=true",
                &auth,
                tls,
                Duration::from_secs(15),
            ) {
                Ok(r) if r.status == 200 => return r.body,
                Ok(r) => panic!("reload answered {}: {}\n{}", r.status, r.body, self.logs()),
                Err(e) => last = e.to_string(),
            }
        }
        panic!("reload request failed: {last}\n{}", self.logs())
    }

    /// Everything the process wrote so far: stdout, then stderr.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "----- weir stdout -----\n{}\n----- weir stderr -----\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal number `sig` (e.g. 1 = SIGHUP, 15 = SIGTERM) with `kill`.
    pub fn signal(&self, sig: i32) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{sig} {} failed: {status}",
            self.pid()
        );
    }

    /// Waits up to `timeout` for the process to exit; `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return self.exited;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(status);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "weir gateway on port {} (test failed):\n{}",
                self.port,
                self.logs()
            );
        }
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
