//! Helpers for the NATS tests: a client of the test's own and JetStream streams it makes,
//! fills and reads back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use weir_testkit::async_nats::jetstream::{self, consumer, stream};
use weir_testkit::async_nats::{self, Client};

/// A client of the test's nats-server.
pub async fn client(url: &str) -> Client {
    async_nats::connect(url)
        .await
        .expect("connect to the test's nats-server")
}

/// Makes a file-backed JetStream stream (it survives a server restart).
pub async fn make_stream(js: &jetstream::Context, name: &str, subjects: &[&str]) {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create stream {name}: {e}"));
}

/// Publishes and waits for each PubAck.
pub async fn publish_all(
    js: &jetstream::Context,
    subject: &str,
    bodies: impl Iterator<Item = String>,
) {
    for b in bodies {
        let ack = js.publish(subject.to_string(), b.into()).await.unwrap();
        ack.await.expect("stored");
    }
}

/// How many messages stream `name` holds.
pub async fn stored(js: &jetstream::Context, name: &str) -> u64 {
    js.get_stream(name)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .messages
}

/// Every message in stream `name` now, read with a consumer of the test's own.
async fn read_all(js: &jetstream::Context, name: &str) -> Vec<Value> {
    let s = js.get_stream(name).await.unwrap();
    let total = s.get_info().await.unwrap().state.messages as usize;
    let c: consumer::PullConsumer = s
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = c.messages().await.unwrap();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("stored messages readable")
            .unwrap()
            .unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

/// Reads `name` until every n in `0..total` arrived (or the deadline), counting each.
pub async fn collect_all(
    js: &jetstream::Context,
    name: &str,
    total: u64,
    within: Duration,
) -> BTreeMap<u64, usize> {
    let deadline = Instant::now() + within;
    loop {
        while stored(js, name).await < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut counts = BTreeMap::new();
        for v in read_all(js, name).await {
            *counts.entry(v["n"].as_u64().unwrap()).or_default() += 1;
        }
        if counts.len() as u64 >= total || Instant::now() >= deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
