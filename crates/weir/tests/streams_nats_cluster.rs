//! Three Weir nodes on one nats-server: a core NATS queue group and a JetStream durable
//! consumer shared by all three, each message processed once while all are up, and none lost
//! when one node is killed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::nats::{client, collect_all, make_stream, publish_all, stored};
use common::streams::{
    assert_each_once, assert_none_lost, assert_shared, sent_per_node, start, streams_api,
    wait_state,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use weir_testkit::async_nats::jetstream;
use weir_testkit::{Gateway, Nats};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_durable_consumer_and_a_queue_group() {
    const ROUND: u64 = 3000;
    const QUEUED: u64 = 300;
    let nats = Nats::start();
    let url = nats.url();
    let nc = client(&url).await;
    let js = jetstream::new(nc.clone());
    make_stream(&js, "WORK", &["work"]).await;
    make_stream(&js, "DONE", &["done"]).await;
    let streams = json!({
        "relay": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "work", "durable": "workers", "ack_wait": "10s"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"done\": true})"}]},
            "output": {"nats_jetstream": {"urls": [url], "subject": "done", "max_in_flight": 1}}
        },
        "queued": {
            "input": {"nats": {"urls": [url], "subject": "qwork", "queue": "workers"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"done\": true})"}]},
            "output": {"nats": {"urls": [url], "subject": "qdone"}}
        }
    });
    let api = streams_api("work", streams);
    let mut nodes: Vec<Gateway> = (0..3)
        .map(|_| start(&[("work", api.clone())], json!({})))
        .collect();
    for gw in &nodes {
        wait_state(
            gw,
            &["relay", "queued"],
            "connected",
            Duration::from_secs(20),
        )
        .await;
    }

    // Core NATS queue group: each message goes to one member.
    let mut qdone = nc.subscribe("qdone").await.unwrap();
    nc.flush().await.unwrap();
    for n in 0..QUEUED {
        nc.publish("qwork", json!({"n": n}).to_string().into())
            .await
            .unwrap();
    }
    nc.flush().await.unwrap();
    let mut queued: BTreeMap<u64, usize> = BTreeMap::new();
    while (queued.len() as u64) < QUEUED {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), qdone.next()).await else {
            panic!("{} of {QUEUED} came back", queued.len());
        };
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        *queued.entry(v["n"].as_u64().unwrap()).or_default() += 1;
    }
    // Each message processed once, by one member or another.
    let per_member = sent_per_node(&nodes, "queued", QUEUED).await;
    assert_shared(&per_member, QUEUED);

    // JetStream: one durable consumer pulled by all three.
    publish_all(&js, "work", (0..ROUND).map(|n| json!({"n": n}).to_string())).await;
    let counts = collect_all(&js, "DONE", ROUND, Duration::from_secs(40)).await;
    assert_each_once(&counts, ROUND);
    let per_node = sent_per_node(&nodes, "relay", ROUND).await;
    assert_shared(&per_node, ROUND);
    eprintln!("per node: queue group {per_member:?}, durable consumer {per_node:?}");

    // A node dies mid-round: its unacknowledged messages go to the others after ack_wait.
    let publishing = {
        let js = js.clone();
        tokio::spawn(async move {
            publish_all(
                &js,
                "work",
                (ROUND..2 * ROUND).map(|n| json!({"n": n}).to_string()),
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&js, "DONE").await < ROUND + 300 {
        assert!(Instant::now() < deadline, "the second round did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[0].signal(9);
    assert!(nodes[0].wait_exit(Duration::from_secs(10)).is_some());
    let at_kill = stored(&js, "DONE").await;
    assert!(at_kill < 2 * ROUND, "the kill came after the end");
    publishing.await.unwrap();
    let counts = collect_all(&js, "DONE", 2 * ROUND, Duration::from_secs(40)).await;
    let duplicates = assert_none_lost(&counts, 2 * ROUND, &nodes[1]);
    eprintln!(
        "killed a node with {at_kill} of {} done; after the kill: {duplicates} duplicates (at-least-once)",
        2 * ROUND
    );
    drop(nodes);
}
