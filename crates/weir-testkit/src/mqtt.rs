//! A real MQTT broker for stream tests: Debian's mosquitto, on a loopback port of its own.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::daemon::Daemon;

/// Where Debian's `mosquitto` package installs the broker.
pub const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// A running mosquitto that accepts anonymous clients on `127.0.0.1:<port>` and keeps its
/// sessions (and what they queue) in a temporary directory. Dropping it stops the broker.
pub struct Mosquitto(Daemon);

impl Mosquitto {
    /// Starts mosquitto on a free port and waits until it accepts connections. Panics,
    /// naming the fix, when mosquitto is not installed.
    pub fn start() -> Mosquitto {
        Self::start_on(crate::free_port())
    }

    /// Starts mosquitto on `port` (to bring a broker back where clients expect it), with a
    /// fresh directory: no sessions or retained messages from before.
    pub fn start_on(port: u16) -> Mosquitto {
        let args = ["-c", "mosquitto.conf"].map(String::from);
        Mosquitto(Daemon::start_prepared(
            "mosquitto",
            Path::new(MOSQUITTO_BIN),
            &args,
            port,
            "run `apt-get install mosquitto` (scripts/setup-brokers.sh does, as root)",
            |dir| {
                std::fs::write(dir.join("mosquitto.conf"), config(dir, port))
                    .expect("mosquitto.conf")
            },
        ))
    }

    /// `tcp://127.0.0.1:<port>`, for the connectors' `urls`.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.0.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// The directory holding its config, log and saved sessions.
    pub fn dir(&self) -> &Path {
        self.0.dir()
    }

    /// The broker's output so far.
    pub fn logs(&self) -> String {
        self.0.logs()
    }
}

fn config(dir: &Path, port: u16) -> String {
    let mut c = format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence true\n\
         persistence_location {}/\n\
         autosave_interval 1\n\
         # Tests queue thousands of QoS 1 messages for a client that is away.\n\
         max_queued_messages 0\n\
         log_dest stdout\n",
        dir.display()
    );
    // As root, mosquitto switches to the `mosquitto` user, which cannot write to our
    // temporary directory; stay the owner of that directory.
    if dir.metadata().map(|m| m.uid() == 0).unwrap_or(false) {
        c.push_str("user root\n");
    }
    c
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.0.kill();
        if std::thread::panicking() {
            eprintln!("--- mosquitto log ---\n{}", self.logs());
        }
    }
}
