//! A real Kafka-compatible broker for stream tests: tansu, in memory, on loopback.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A running `tansu broker` with memory storage. Dropping it kills the broker.
pub struct Tansu {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Where `scripts/setup-tansu.sh` installs tansu, or `$WEIR_TANSU`.
pub fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_TANSU") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/tansu/bin/tansu")
}

impl Tansu {
    /// Starts tansu on `127.0.0.1:port` (a free one when `None`) and waits until it accepts
    /// connections. Panics, naming the fix, when tansu is not installed.
    pub fn start(port: Option<u16>) -> Tansu {
        let bin = tansu_bin();
        assert!(
            bin.exists(),
            "tansu is not installed at {}: run scripts/setup-tansu.sh (test.sh does)",
            bin.display()
        );
        let port = port.unwrap_or_else(crate::free_port);
        let dir = tempfile::Builder::new()
            .prefix("weir-tansu-")
            .tempdir()
            .expect("tempdir");
        let log = dir.path().join("tansu.log");
        let out = std::fs::File::create(&log).expect("tansu.log");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut broker = Tansu {
            child,
            port,
            log,
            _dir: dir,
        };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tansu exited with {status}:\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {addr}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`, for `addresses` and `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's output so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates topics (one partition each unless given), waiting for the broker's answer.
    pub async fn create_topics(&self, topics: &[(&str, i32)]) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client");
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(&new, &AdminOptions::new())
            .await
            .expect("create_topics");
        for r in results {
            if let Err((topic, code)) = r {
                assert!(
                    code == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "creating topic {topic}: {code:?}"
                );
            }
        }
    }

    /// A producer that waits for the broker's acknowledgement of each record.
    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("message.timeout.ms", "10000")
            .create()
            .expect("producer")
    }

    /// Produces `payload` to `topic` and waits for the acknowledgement.
    pub async fn produce(producer: &FutureProducer, topic: &str, payload: &[u8]) {
        producer
            .send(
                FutureRecord::<(), [u8]>::to(topic).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
    }

    /// A consumer of `topics` in `group`, from the oldest offset.
    pub fn consumer(&self, group: &str, topics: &[&str]) -> StreamConsumer {
        let c: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .create()
            .expect("consumer");
        c.subscribe(topics).expect("subscribe");
        c
    }

    /// Reads payloads from `consumer` until `want` arrived or `within` passed.
    pub async fn collect(consumer: &StreamConsumer, want: usize, within: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < want {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => got.push(m.payload().unwrap_or_default().to_vec()),
                Ok(Err(e)) => eprintln!("consumer: {e}"),
                Err(_) => break,
            }
        }
        got
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- tansu log ---\n{}", self.logs());
        }
    }
}
