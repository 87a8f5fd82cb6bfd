//! A Redis server of the test's own, on a free loopback port, keeping nothing on disk.

use std::path::Path;

use crate::daemon::Daemon;

/// A running `redis-server`. Dropping it kills the server.
pub struct RedisServer(Daemon);

impl RedisServer {
    /// Starts redis-server on a free port and waits until it accepts connections.
    pub fn start() -> RedisServer {
        Self::start_with(false)
    }

    /// As [`RedisServer::start`], but writing every change to an append-only file in its
    /// directory, so a killed and restarted server comes back with its data.
    pub fn start_durable() -> RedisServer {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> RedisServer {
        let port = crate::free_port();
        let args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            if durable { "yes" } else { "no" },
            "--appendfsync",
            "always",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        RedisServer(Daemon::start(
            "redis",
            Path::new("/usr/bin/redis-server"),
            &args,
            port,
            "apt-get install redis-server",
        ))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Kills the server (its data is gone unless it was started durable).
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.0.restart();
    }
}
