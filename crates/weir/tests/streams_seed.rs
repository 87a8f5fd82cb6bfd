//! Seed 001 as written: ../shared/seeds/configs/streams-demo.yaml, unmodified, with a
//! Kafka-compatible broker (tansu) on localhost:9093 and two users at once.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use weir_testkit::{Gateway, Tansu};

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/seeds/configs/streams-demo.yaml"
);

/// The port the seed's definition names for Kafka.
const SEED_KAFKA_PORT: u16 = 9093;

fn start_gateway() -> Gateway {
    let seed = std::fs::read_to_string(SEED).expect("seed 001's definition");
    Gateway::start(
        common::bin(),
        &[("streams-demo.yaml", seed.as_str())],
        json!({"streaming": {"enabled": true}}),
    )
}

async fn push(http: &reqwest::Client, gw: &Gateway, user: &str, text: &str) -> Value {
    let resp = http
        .post(gw.url(&format!("/stream-demo/push-event?user={user}")))
        .header("content-type", "application/json")
        .body(json!({"message": text}).to_string())
        .send()
        .await
        .expect("POST push-event");
    assert_eq!(resp.status(), 200, "push-event for {user}");
    let reply: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).expect("JSON reply");
    assert_eq!(reply["user_id"], user, "{reply}");
    assert_eq!(reply["message"], text, "{reply}");
    let job = reply["job_id"].as_str().expect("job_id");
    assert_eq!(job.len(), 36, "a UUID v4: {job}");
    reply
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(gw: &Gateway, path: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{}{path}", gw.port());
    let (ws, resp) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("WebSocket {path}: {e}\n{}", gw.logs()));
    assert_eq!(resp.status(), 101);
    ws
}

/// Reads results from a WebSocket until `want` job ids arrived; every result must be `user`'s.
async fn read_ws_results(ws: &mut Ws, user: &str, want: &BTreeSet<String>) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !want.is_subset(&got) {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{user}: got {got:?} of {want:?} in 60 s"))
            .expect("WebSocket open")
            .expect("WebSocket frame");
        let data = match frame {
            WsMessage::Text(t) => t.as_bytes().to_vec(),
            WsMessage::Binary(b) => b.to_vec(),
            _ => continue,
        };
        let result: Value = serde_json::from_slice(&data).expect("a JSON result");
        assert_eq!(result["user_id"], user, "{user} was sent {result}");
        assert_eq!(
            result["result"], "bar",
            "the Worker stream's mapping: {result}"
        );
        got.insert(result["job_id"].as_str().unwrap().to_string());
    }
    got
}

/// GET long-polls (answering 408 while nothing is there) until `want` job ids arrived.
async fn poll_results(
    http: &reqwest::Client,
    gw: &Gateway,
    user: &str,
    want: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    let mut timeouts = 0;
    while !want.is_subset(&got) {
        let resp = http
            .get(gw.url(&format!("/stream-demo/get-event?user={user}")))
            .send()
            .await
            .expect("GET get-event");
        match resp.status().as_u16() {
            200 => {
                let result: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
                assert_eq!(result["user_id"], user, "{user} was sent {result}");
                assert_eq!(result["result"], "bar");
                got.insert(result["job_id"].as_str().unwrap().to_string());
            }
            408 => {
                assert_eq!(resp.text().await.unwrap(), "Timed out waiting for message");
                timeouts += 1;
                assert!(
                    timeouts < 12,
                    "{user}: got {got:?} of {want:?}\n{}",
                    gw.logs()
                );
            }
            other => panic!("GET get-event: {other}: {}", resp.text().await.unwrap()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_runs_as_written_for_two_users_at_once() {
    let broker = Tansu::start(Some(SEED_KAFKA_PORT));
    // The seed's topics, created as its docker-compose would; tansu does not auto-create.
    broker.create_topics(&[("jobs", 1), ("completed", 1)]).await;
    let gw = start_gateway();
    let http = common::h1();

    // Each user's dashboard is connected before anything is pushed.
    let mut alice_ws = open_ws(&gw, "/stream-demo/ws-in?user=alice").await;
    let mut bob_ws = open_ws(&gw, "/stream-demo/ws-in?user=bob").await;

    // Both push at once: POST push-event answers with the echo (sync_response).
    let pushes = (0..4).map(|i| {
        let (http, gw) = (&http, &gw);
        async move {
            let a = push(http, gw, "alice", &format!("alice {i}")).await;
            let b = push(http, gw, "bob", &format!("bob {i}")).await;
            (a, b)
        }
    });
    let mut alice_jobs = BTreeSet::new();
    let mut bob_jobs = BTreeSet::new();
    for (a, b) in futures_util::future::join_all(pushes).await {
        alice_jobs.insert(a["job_id"].as_str().unwrap().to_string());
        bob_jobs.insert(b["job_id"].as_str().unwrap().to_string());
    }

    // The `in` stream's WebSocket input is a second way in, with the same sync reply.
    let mut push_ws = open_ws(&gw, "/stream-demo/ws-out?user=alice").await;
    push_ws
        .send(WsMessage::text(
            json!({"message": "alice by ws"}).to_string(),
        ))
        .await
        .unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(20), push_ws.next())
        .await
        .expect("a sync reply on the WebSocket")
        .unwrap()
        .unwrap();
    let echo: Value = serde_json::from_slice(&echo.into_data()).unwrap();
    assert_eq!(echo["user_id"], "alice");
    alice_jobs.insert(echo["job_id"].as_str().unwrap().to_string());

    // Worker adds result: "bar"; each user's WebSocket sees exactly their own results.
    let (a, b) = tokio::join!(
        read_ws_results(&mut alice_ws, "alice", &alice_jobs),
        read_ws_results(&mut bob_ws, "bob", &bob_jobs),
    );
    assert_eq!(a, alice_jobs);
    assert_eq!(b, bob_jobs);

    // GET long-poll consumers of the same per-user instances get the same results, as a queue.
    let (a, b) = tokio::join!(
        poll_results(&http, &gw, "alice", &alice_jobs),
        poll_results(&http, &gw, "bob", &bob_jobs),
    );
    assert_eq!(a, alice_jobs);
    assert_eq!(b, bob_jobs);

    // Nothing further arrives for either user: no one else's results leak in late.
    for (ws, user) in [(&mut alice_ws, "alice"), (&mut bob_ws, "bob")] {
        if let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            panic!("{user} was sent more than their results: {frame:?}");
        }
    }

    // One instance of `out` per user, shown by the control API.
    let listing = common::h1()
        .get(format!("http://127.0.0.1:{}/tyk/streams", gw.port()))
        .header("x-tyk-authorization", weir_testkit::SECRET)
        .send()
        .await
        .unwrap();
    let streams: Value = serde_json::from_slice(&listing.bytes().await.unwrap()).unwrap();
    let out = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "out")
        .expect("the `out` stream is listed");
    let groups: BTreeSet<&str> = out["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identity"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        BTreeSet::from(["consumer_group=alice", "consumer_group=bob"])
    );
    drop(broker);
}
