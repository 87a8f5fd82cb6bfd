//! Redis in the other shapes tyk.conf `storage` names: a server speaking only TLS
//! ([`RedisTls`], with a CA of the test's own, client certificates required), Redis Sentinel
//! watching a master with one replica ([`RedisSentinel`]), and a three-master Redis Cluster
//! ([`RedisCluster`]). Each keeps nothing on disk beyond its temporary folder; dropping it
//! kills its servers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::daemon::Daemon;

const SERVER: &str = "/usr/bin/redis-server";
const CLI: &str = "/usr/bin/redis-cli";
const INSTALL: &str = "apt-get install redis-server";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A redis-server on a free port, keeping nothing on disk, with `extra` arguments.
fn server(name: &str, port: u16, extra: &[&str], prepare: impl FnOnce(&Path)) -> Daemon {
    let port_s = port.to_string();
    let mut args = vec!["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    if !extra.contains(&"--tls-port") {
        args.extend(["--port", &port_s]);
    }
    args.extend(extra);
    Daemon::start_prepared(
        name,
        Path::new(SERVER),
        &strings(&args),
        port,
        INSTALL,
        prepare,
    )
}

/// Runs `redis-cli args…`; returns what it printed (panics if it fails to run).
fn cli(args: &[String]) -> String {
    let out = Command::new(CLI)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{CLI}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Polls `check` every 100 ms until it holds; panics naming `what` after `within`.
fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A redis-server speaking only TLS on `127.0.0.1`, its certificate issued by a CA made
/// here; it requires a client certificate from that CA (which it also issues).
pub struct RedisTls {
    server: Daemon,
}

impl RedisTls {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> RedisTls {
        let pki = Pki::generate();
        let port = crate::free_port();
        let server = server(
            "redis-tls",
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server-key.pem",
                "--tls-ca-cert-file",
                "ca.pem",
                "--tls-auth-clients",
                "yes",
            ],
            |dir| pki.write_to(dir),
        );
        RedisTls { server }
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The CA that issued the server's and the client's certificates, PEM.
    pub fn ca_file(&self) -> PathBuf {
        self.server.dir().join("ca.pem")
    }

    /// A client certificate the server accepts, PEM.
    pub fn client_cert_file(&self) -> PathBuf {
        self.server.dir().join("client.pem")
    }

    /// The client certificate's key, PEM (PKCS#8).
    pub fn client_key_file(&self) -> PathBuf {
        self.server.dir().join("client-key.pem")
    }

    /// Runs `redis-cli` over TLS with the client certificate; returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let dir = self.server.dir();
        let mut all = strings(&["-p", &self.port().to_string(), "--tls", "--cacert"]);
        all.push(dir.join("ca.pem").display().to_string());
        all.extend([
            "--cert".into(),
            dir.join("client.pem").display().to_string(),
        ]);
        all.extend([
            "--key".into(),
            dir.join("client-key.pem").display().to_string(),
        ]);
        all.extend(strings(args));
        cli(&all)
    }
}

/// A CA, a server certificate for `127.0.0.1`/`localhost` and a client certificate, PEM.
struct Pki {
    files: Vec<(&'static str, String)>,
}

impl Pki {
    fn generate() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name
            .push(DnType::CommonName, "weir test redis CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_pem_key = ca_key.serialize_pem();
        let issuer = CertifiedIssuer::self_signed(ca, ca_key).expect("CA certificate");
        let leaf = |names: &[&str], usage: ExtendedKeyUsagePurpose| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("leaf key");
            let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server, server_key) = leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(&["weir-node"], ExtendedKeyUsagePurpose::ClientAuth);
        Pki {
            files: vec![
                ("ca.pem", issuer.pem()),
                ("ca-key.pem", ca_pem_key),
                ("server.pem", server),
                ("server-key.pem", server_key),
                ("client.pem", client),
                ("client-key.pem", client_key),
            ],
        }
    }

    fn write_to(&self, dir: &Path) {
        for (name, pem) in &self.files {
            std::fs::write(dir.join(name), pem).expect("write PEM");
        }
    }
}

/// Redis Sentinel: a master, one replica, and one sentinel (quorum 1) watching them under
/// [`RedisSentinel::MASTER_NAME`].
pub struct RedisSentinel {
    nodes: Vec<Daemon>,
    sentinel: Daemon,
}

impl RedisSentinel {
    /// The name the sentinel knows the master by.
    pub const MASTER_NAME: &'static str = "weirmaster";

    /// Starts master, replica and sentinel; returns once the replica is in sync and the
    /// sentinel knows it (so a failover can pick it).
    pub fn start() -> RedisSentinel {
        let master = server("redis-master", crate::free_port(), &[], |_| {});
        let master_port = master.port().to_string();
        let replica = server(
            "redis-replica",
            crate::free_port(),
            &["--replicaof", "127.0.0.1", &master_port],
            |_| {},
        );
        let port = crate::free_port();
        let conf = format!(
            "port {port}\nbind 127.0.0.1\nsentinel monitor {name} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {name} 1000\nsentinel failover-timeout {name} 5000\n",
            name = Self::MASTER_NAME,
        );
        let sentinel = Daemon::start_prepared(
            "redis-sentinel",
            Path::new(SERVER),
            &strings(&["sentinel.conf", "--sentinel"]),
            port,
            INSTALL,
            |dir| std::fs::write(dir.join("sentinel.conf"), conf).expect("sentinel.conf"),
        );
        let s = RedisSentinel {
            nodes: vec![master, replica],
            sentinel,
        };
        s.wait_for_replica();
        s
    }

    fn wait_for_replica(&self) {
        let replica = self.nodes[1].port();
        wait_until("replication", Duration::from_secs(20), || {
            self.cli(replica, &["INFO", "replication"])
                .contains("master_link_status:up")
        });
        wait_until(
            "the sentinel seeing the replica",
            Duration::from_secs(20),
            || {
                let seen = self.cli(
                    self.sentinel.port(),
                    &["SENTINEL", "REPLICAS", Self::MASTER_NAME],
                );
                seen.contains(&replica.to_string()) && !seen.contains("s_down")
            },
        );
    }

    /// The sentinel's `127.0.0.1:<port>`.
    pub fn sentinel_addr(&self) -> String {
        format!("127.0.0.1:{}", self.sentinel.port())
    }

    /// The ports of the two data nodes.
    pub fn node_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(Daemon::port).collect()
    }

    /// The port of the node the sentinel names master now.
    pub fn master_port(&self) -> u16 {
        let out = self.cli(
            self.sentinel.port(),
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER_NAME],
        );
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no master named: {out}"))
    }

    /// Asks the sentinel to fail over, and waits until it names the replica master and
    /// the replica says it is one.
    pub fn failover(&self) {
        let before = self.master_port();
        let out = self.cli(
            self.sentinel.port(),
            &["SENTINEL", "FAILOVER", Self::MASTER_NAME],
        );
        assert!(out.contains("OK"), "SENTINEL FAILOVER: {out}");
        wait_until("the failover", Duration::from_secs(30), || {
            let now = self.master_port();
            now != before && self.cli(now, &["ROLE"]).starts_with("master")
        });
    }

    /// Runs `redis-cli -p <port> args…`; returns its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let mut all = strings(&["-p", &port.to_string()]);
        all.extend(strings(args));
        cli(&all)
    }
}

/// A Redis Cluster of three masters (no replicas), all slots covered.
pub struct RedisCluster {
    nodes: Vec<Daemon>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`,
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let nodes: Vec<Daemon> = (0..3)
            .map(|i| {
                // The cluster bus port is chosen too: port + 10000 may be past 65535.
                let bus = crate::free_port().to_string();
                let extra = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus,
                    "--cluster-config-file",
                    "nodes.conf",
                ];
                server(
                    &format!("redis-cluster-{i}"),
                    crate::free_port(),
                    &extra,
                    |_| {},
                )
            })
            .collect();
        let c = RedisCluster { nodes };
        let mut create = strings(&["--cluster", "create"]);
        create.extend(c.addrs());
        create.push("--cluster-yes".into());
        let out = cli(&create);
        assert!(
            out.contains("All 16384 slots covered"),
            "cluster create: {out}"
        );
        wait_until("cluster_state:ok", Duration::from_secs(30), || {
            (0..3).all(|i| c.cli(i, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
        c
    }

    /// Every node's `127.0.0.1:<port>`.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect()
    }

    /// Runs `redis-cli -p <port of node i> args…` (no redirects followed); returns its
    /// output.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let mut all = strings(&["-p", &self.nodes[node].port().to_string()]);
        all.extend(strings(args));
        cli(&all)
    }
}
