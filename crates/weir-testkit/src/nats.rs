//! A NATS server of the test's own, with JetStream, on a free loopback port; its JetStream
//! store lives in a temporary directory, so streams and durable consumers survive a restart.

use std::path::Path;

use crate::daemon::Daemon;

/// Where Debian's `nats-server` package installs the server.
pub const NATS_SERVER_BIN: &str = "/usr/sbin/nats-server";

/// A running `nats-server -js`. Dropping it kills the server.
pub struct Nats(Daemon);

impl Nats {
    /// Starts nats-server with JetStream on a free port and waits until it accepts
    /// connections. Panics, naming the fix, when nats-server is not installed.
    pub fn start() -> Nats {
        Self::start_with(&[])
    }

    /// Starts it with `extra` arguments as well (`--user u --pass p`, `--auth token`).
    pub fn start_with(extra: &[&str]) -> Nats {
        let port = crate::free_port();
        // The daemon runs in its own temporary directory: `store` is inside it.
        let mut args: Vec<String> = [
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-sd",
            "store",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Nats(Daemon::start(
            "nats-server",
            Path::new(NATS_SERVER_BIN),
            &args,
            port,
            "run `apt-get install nats-server` (scripts/setup-brokers.sh does, as root)",
        ))
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.0.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// What it printed so far.
    pub fn logs(&self) -> String {
        self.0.logs()
    }

    /// Kills the server (SIGKILL); its JetStream store stays.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts it again on the same port, with the same store.
    pub fn restart(&mut self) {
        self.0.restart();
    }
}
