//! Tyk coprocess plugin servers from examples/plugins (Python, Node) as child processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A plugin server child process, killed on drop.
pub struct PluginServer {
    child: Child,
    /// The address it listens on, as it printed it (`host:port` or `unix:…`).
    pub addr: String,
}

impl PluginServer {
    /// examples/plugins/grpc-python/server.py on `listen` (needs scripts/setup-grpc-plugins.sh).
    pub fn python(listen: &str) -> Self {
        let python = repo().join("target/plugin-venv/bin/python");
        assert!(
            python.exists(),
            "{} missing: run scripts/setup-grpc-plugins.sh",
            python.display()
        );
        Self::spawn(
            Command::new(python).arg(repo().join("examples/plugins/grpc-python/server.py")),
            listen,
        )
    }

    /// examples/plugins/grpc-node/server.js on `listen`.
    pub fn node(listen: &str) -> Self {
        Self::spawn(
            Command::new("node").arg(repo().join("examples/plugins/grpc-node/server.js")),
            listen,
        )
    }

    fn spawn(cmd: &mut Command, listen: &str) -> Self {
        let mut child = cmd
            .arg("--listen")
            .arg(listen)
            .arg("--proto-dir")
            .arg(weir_plugin_grpc::PROTO_DIR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start plugin server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("plugin server output");
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("plugin server said {line:?}"))
            .to_string();
        PluginServer { child, addr }
    }
}

impl PluginServer {
    /// The gateway config that points the gRPC driver at it over TCP.
    pub fn gateway_config(&self) -> Value {
        json!({"coprocess_options": {"enable_coprocess": true, "coprocess_grpc_server": format!("tcp://{}", self.addr)}})
    }
}

impl Drop for PluginServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
