//! One HTTP POST fanned out to Kafka, NATS and RabbitMQ at once by a `broker` output: the
//! POST is answered once all three have the message, and each broker's own client reads it.

mod common;

use std::time::Duration;

use common::streams::{post_all, start, streams_api};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::json;
use weir_testkit::{Nats, Tansu, rabbitmq_url, unique_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_reaches_kafka_nats_and_rabbitmq() {
    let kafka = Tansu::start(None);
    kafka.create_topics(&[("orders", 1)]).await;
    let nats = Nats::start();
    let queue = unique_name("fan-out");
    let amqp = lapin::Connection::connect(&rabbitmq_url(), lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (scripts/setup-brokers.sh)");
    let ch = amqp.create_channel().await.unwrap();
    let declare = QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.as_str().into(), declare, FieldTable::default())
        .await
        .unwrap();
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let mut nats_sub = nats_client.subscribe("orders.new").await.unwrap();
    nats_client.flush().await.unwrap();

    let streams = json!({
        "orders": {
            "input": {"http_server": {"path": "/orders"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"accepted\": true})"}]},
            "output": {"broker": {"pattern": "fan_out", "outputs": [
                {"kafka": {"addresses": [kafka.bootstrap()], "topic": "orders"}},
                {"nats": {"urls": [nats.url()], "subject": "orders.new"}},
                {"amqp_0_9": {"urls": [rabbitmq_url()], "exchange": "", "key": queue}}
            ]}}
        }
    });
    let gw = start(&[("shop", streams_api("shop", streams))], json!({}));
    // Each POST is answered once all three brokers have its message.
    post_all(&gw, "/shop/orders", (0..5).map(|n| json!({"n": n}))).await;
    let want: Vec<String> = (0..5)
        .map(|n| json!({"accepted": true, "n": n}).to_string())
        .collect();

    let from_kafka: Vec<String> = Tansu::collect(
        &kafka.consumer("check", &["orders"]),
        5,
        Duration::from_secs(20),
    )
    .await
    .into_iter()
    .map(|m| String::from_utf8(m).unwrap())
    .collect();
    assert_eq!(from_kafka, want, "kafka");

    let mut from_nats = Vec::new();
    while from_nats.len() < 5 {
        let m = tokio::time::timeout(Duration::from_secs(10), nats_sub.next())
            .await
            .expect("NATS message")
            .unwrap();
        from_nats.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    assert_eq!(from_nats, want, "nats");

    let mut deliveries = ch
        .basic_consume(
            queue.as_str().into(),
            "check".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut from_amqp = Vec::new();
    while from_amqp.len() < 5 {
        let d = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
            .await
            .expect("RabbitMQ message")
            .unwrap()
            .unwrap();
        from_amqp.push(String::from_utf8(d.data.clone()).unwrap());
        d.acker.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(from_amqp, want, "rabbitmq");
}
