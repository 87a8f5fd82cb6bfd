//! Test-only helpers for Weir's end-to-end tests.
//!
//! * [`Gateway`] launches the real `weir` binary against a temporary config
//!   directory and waits until it answers `/hello`.
//! * [`HttpUpstream`], [`HttpsUpstream`], [`WsEchoUpstream`] and
//!   [`GrpcUpstream`] are real servers on `127.0.0.1:<os-chosen port>` that the
//!   gateway can proxy to.
//! * [`Tansu`] runs a Kafka-compatible broker (tansu, in memory) for stream tests.
//! * [`SelfSigned`] makes a throwaway certificate for TLS tests.
//!
//! Every upstream runs on its own thread with its own Tokio runtime, so the
//! constructors are plain functions that work from sync tests and from any
//! async runtime flavour, and a test blocking its own thread never stalls an
//! upstream. Dropping an upstream shuts it down.

mod gateway;
mod grpc;
mod http;
mod kafka;
mod rawhttp;
mod runtime;
mod tls;
mod vision;
mod ws;

pub use gateway::{ApiText, Gateway, SECRET};
pub use grpc::GrpcUpstream;
pub use http::{HttpUpstream, checksum};
pub use kafka::{Tansu, tansu_bin};
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
