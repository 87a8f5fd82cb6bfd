//! Test-only helpers for Weir's end-to-end tests.
//!
//! * [`Gateway`] launches the real `weir` binary against a temporary config
//!   directory and waits until it answers `/hello`.
//! * [`HttpUpstream`], [`HttpsUpstream`], [`WsEchoUpstream`] and
//!   [`GrpcUpstream`] are real servers on `127.0.0.1:<os-chosen port>` that the
//!   gateway can proxy to.
//! * [`Tansu`] runs a Kafka-compatible broker (tansu, in memory) for stream tests;
//!   [`RedisServer`] a Redis of the test's own ([`RedisTls`], [`RedisSentinel`] and
//!   [`RedisCluster`] in the other shapes tyk.conf `storage` names); [`Daemon`] any such
//!   server process.
//! * [`Mosquitto`] runs an MQTT broker of the test's own; [`rabbitmq_url`] names the
//!   machine's RabbitMQ and [`unique_name`] keeps tests' queues apart on it.
//! * [`Nats`] runs a nats-server with JetStream of the test's own.
//! * [`SelfSigned`] makes a throwaway certificate for TLS tests.
//!
//! Every upstream runs on its own thread with its own Tokio runtime, so the
//! constructors are plain functions that work from sync tests and from any
//! async runtime flavour, and a test blocking its own thread never stalls an
//! upstream. Dropping an upstream shuts it down.

mod amqp;
mod daemon;
mod gateway;
mod grpc;
mod http;
mod kafka;
mod mqtt;
pub mod nats;
mod rawhttp;
mod redis;
mod redis_modes;
mod runtime;
mod tls;
mod vision;
mod ws;

pub use amqp::{RABBITMQ_ADDR, rabbitmq_url, unique_name};
/// The NATS client the stream tests publish and subscribe with.
pub use async_nats;
pub use daemon::Daemon;
pub use gateway::{ApiText, Gateway, SECRET};
pub use grpc::GrpcUpstream;
pub use http::{HttpUpstream, checksum};
pub use kafka::{Tansu, tansu_bin};
pub use mqtt::{MOSQUITTO_BIN, Mosquitto};
pub use nats::Nats;
/// The Kafka client the [`Tansu`] helpers hand out, for tests that name its types.
pub use rdkafka;
pub use redis::RedisServer;
pub use redis_modes::{RedisCluster, RedisSentinel, RedisTls};
pub use tls::{HttpsUpstream, SelfSigned, insecure_client_config};
pub use vision::VisionUpstream;
pub use ws::{UpgradeRequest, WsEchoUpstream};

/// Code generated from `proto/echo.proto` (package `weir.test`): the `Echo`
/// client ([`pb::echo_client::EchoClient`]), server and messages.
pub mod pb {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("weir.test");
}

/// Code generated from seed 000's `examples/vision/proto/vision.proto` (package `vision`):
/// the `VisionService` client ([`vision_pb::vision_service_client::VisionServiceClient`]),
/// server and messages.
pub mod vision_pb {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("vision");
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (bind `:0`,
/// read the port, close the socket).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}
