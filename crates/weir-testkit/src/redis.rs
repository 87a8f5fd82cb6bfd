//! A Redis server of the test's own, on a free loopback port, keeping nothing on disk.

use std::path::Path;

use crate::daemon::Daemon;

/// A running `redis-server`. Dropping it kills the server.
pub struct RedisServer(Daemon);

impl RedisServer {
    /// Starts redis-server on a free port and waits until it accepts connections.
    pub fn start() -> RedisServer {
        let port = crate::free_port();
        let args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
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

    /// Kills the server (its data is gone: it keeps nothing on disk).
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.0.restart();
    }
}
