//! Kafka streams on three Weir nodes: one consumer group shares the partitions, so each
//! message is processed once while all three are up, and none is lost when one is killed;
//! per-consumer SSE streams work on whichever node a client reaches.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::streams::{
    Sse, assert_each_once, assert_none_lost, assert_shared, sent_per_node, sse_output, start,
    streams_api,
};
use serde_json::{Value, json};
use weir_testkit::{Gateway, Tansu};

/// Reads `dst` until `want` distinct numbers arrived (or the deadline), counting each.
async fn drain(
    dst: &weir_testkit::rdkafka::consumer::StreamConsumer,
    counts: &mut BTreeMap<u64, usize>,
    want: usize,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    while counts.len() < want && Instant::now() < deadline {
        for m in Tansu::collect(dst, 100, Duration::from_millis(500)).await {
            let v: Value = serde_json::from_slice(&m).unwrap();
            *counts.entry(v["n"].as_u64().unwrap()).or_default() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_consumer_group_and_lose_nothing_when_one_dies() {
    const ROUND: u64 = 3000;
    let broker = Tansu::start(None);
    broker.create_topics(&[("jobs", 3), ("done", 1)]).await;
    let relay = json!({
        "relay": {
            "input": {"kafka": {"addresses": [broker.bootstrap()], "topics": ["jobs"], "consumer_group": "workers",
                                "group": {"session_timeout": "6s", "heartbeat_interval": "1s"}}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"done\": true})"}]},
            "output": {"kafka": {"addresses": [broker.bootstrap()], "topic": "done"}}
        }
    });
    let api = streams_api("relay", relay);
    let mut nodes: Vec<Gateway> = (0..3)
        .map(|_| start(&[("relay", api.clone())], json!({})))
        .collect();
    let dst = broker.consumer("check", &["done"]);
    // Let the group settle with all three members before the first message.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let producer = broker.producer();
    for n in 0..ROUND {
        Tansu::produce(&producer, "jobs", json!({"n": n}).to_string().as_bytes()).await;
    }
    let mut counts = BTreeMap::new();
    drain(&dst, &mut counts, ROUND as usize, Duration::from_secs(60)).await;
    assert_each_once(&counts, ROUND);
    let per_node = sent_per_node(&nodes, "relay", ROUND).await;
    assert_shared(&per_node, ROUND);
    eprintln!("per node: {per_node:?}");

    // A node dies mid-round and is replaced (as a supervisor would): its partitions move,
    // nothing is lost. tansu 0.6 does not rebalance the survivors when a member's session
    // expires; a member joining after the expiry does, so the replacement comes after it.
    let producing = {
        let producer = producer.clone();
        tokio::spawn(async move {
            for n in ROUND..2 * ROUND {
                Tansu::produce(&producer, "jobs", json!({"n": n}).to_string().as_bytes()).await;
            }
        })
    };
    drain(
        &dst,
        &mut counts,
        ROUND as usize + 300,
        Duration::from_secs(30),
    )
    .await;
    nodes[0].signal(9);
    assert!(nodes[0].wait_exit(Duration::from_secs(10)).is_some());
    producing.await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    nodes[0] = start(&[("relay", api.clone())], json!({}));
    drain(
        &dst,
        &mut counts,
        2 * ROUND as usize,
        Duration::from_secs(90),
    )
    .await;
    let duplicates = assert_none_lost(&counts, 2 * ROUND, &nodes[1]);
    eprintln!("after the kill: {duplicates} duplicates (at-least-once)");
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_user_sse_stream_works_on_whichever_node_a_client_reaches() {
    let broker = Tansu::start(None);
    broker.create_topics(&[("results", 1)]).await;
    // Seed 001's shape: a consumer group per user, each user sees only their own results.
    let out = json!({
        "out": {
            "input": {"kafka": {"addresses": [broker.bootstrap()], "topics": ["results"],
                                "consumer_group": "$tyk_context.request_data_user", "start_from_oldest": false}},
            "pipeline": {"processors": [{"mapping": "root = if this.user != \"$tyk_context.request_data_user\" { deleted() }"}]},
            "output": sse_output("/events")
        }
    });
    let api = streams_api("results", out);
    let nodes: Vec<Gateway> = (0..3)
        .map(|_| start(&[("results", api.clone())], json!({})))
        .collect();
    let http = common::h1();
    let mut alice = Sse::open(&http, &nodes[1].url("/results/events?user=alice"), None).await;
    let mut bob = Sse::open(&http, &nodes[2].url("/results/events?user=bob"), None).await;
    // Each user's consumer joins its own group (start_from_oldest: false): wait until both
    // groups have an assignment, by producing markers until each user sees one.
    let producer = broker.producer();
    let deadline = Instant::now() + Duration::from_secs(40);
    for (user, sse) in [("alice", &mut alice), ("bob", &mut bob)] {
        loop {
            Tansu::produce(
                &producer,
                "results",
                json!({"user": user, "marker": true}).to_string().as_bytes(),
            )
            .await;
            if sse.next(Duration::from_millis(500)).await.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "{user}'s stream never started");
        }
    }
    for n in 0..10 {
        for user in ["alice", "bob"] {
            Tansu::produce(
                &producer,
                "results",
                json!({"user": user, "n": n}).to_string().as_bytes(),
            )
            .await;
        }
    }
    for (user, sse) in [("alice", &mut alice), ("bob", &mut bob)] {
        let mut got = Vec::new();
        while got.len() < 10 {
            let (_, data) = sse
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{user} got only {got:?}"));
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["user"], user, "{user} received another user's message");
            if v.get("n").is_some() {
                got.push(v["n"].as_u64().unwrap());
            }
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "{user}");
    }
}
