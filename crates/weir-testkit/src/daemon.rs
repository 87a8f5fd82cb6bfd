//! A server process for tests (a broker, Redis): started on a loopback port, waited for until
//! it accepts connections, killed on drop, and restartable on the same port to test
//! reconnection.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Daemon {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `program args…` (run in a fresh temporary directory, output to a log there)
    /// and waits until `127.0.0.1:port` accepts connections. Panics naming `install` when
    /// the program is missing.
    pub fn start(name: &str, program: &Path, args: &[String], port: u16, install: &str) -> Daemon {
        Self::start_prepared(name, program, args, port, install, |_| {})
    }

    /// As [`Daemon::start`], after `prepare` has written what the program reads (a config
    /// file) into its directory, which is also its working directory.
    pub fn start_prepared(
        name: &str,
        program: &Path,
        args: &[String],
        port: u16,
        install: &str,
        prepare: impl FnOnce(&Path),
    ) -> Daemon {
        assert!(
            program.exists(),
            "{name} is not installed at {}: {install}",
            program.display()
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("weir-{name}-"))
            .tempdir()
            .expect("tempdir");
        prepare(dir.path());
        let mut d = Daemon {
            name: name.to_string(),
            program: program.to_path_buf(),
            args: args.to_vec(),
            child: None,
            port,
            log: dir.path().join(format!("{name}.log")),
            dir,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.program.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited with {status}:\n{}", self.name, self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr}:\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its working directory (for config and data files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What it printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, after [`Daemon::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
