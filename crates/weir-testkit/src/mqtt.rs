//! A real MQTT broker for stream tests: Debian's mosquitto, on a loopback port of its own.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `mosquitto` package installs the broker.
pub const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// A running mosquitto that accepts anonymous clients on `127.0.0.1:<port>` and keeps its
/// sessions (and what they queue) in a temporary directory. Dropping it stops the broker.
pub struct Mosquitto {
    child: Child,
    port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto on a free port and waits until it accepts connections. Panics,
    /// naming the fix, when mosquitto is not installed.
    pub fn start() -> Mosquitto {
        Self::start_on(crate::free_port())
    }

    /// Starts mosquitto on `port` (to bring a broker back where clients expect it).
    pub fn start_on(port: u16) -> Mosquitto {
        assert!(
            Path::new(MOSQUITTO_BIN).exists(),
            "mosquitto is not installed at {MOSQUITTO_BIN}: run `apt-get install mosquitto` \
             (scripts/setup-brokers.sh does, as root)"
        );
        let dir = tempfile::Builder::new()
            .prefix("weir-mosquitto-")
            .tempdir()
            .expect("tempdir");
        let conf = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        std::fs::write(&conf, config(dir.path(), port)).expect("mosquitto.conf");
        let out = std::fs::File::create(&log).expect("mosquitto.log");
        let child = Command::new(MOSQUITTO_BIN)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {MOSQUITTO_BIN}: {e}"));
        let mut broker = Mosquitto {
            child,
            port,
            log,
            dir,
        };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mosquitto exited with {status}:\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {addr}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `tcp://127.0.0.1:<port>`, for the connectors' `urls`.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding its config, log and saved sessions.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's output so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mosquitto log ---\n{}", self.logs());
        }
    }
}
