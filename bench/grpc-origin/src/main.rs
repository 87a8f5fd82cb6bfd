//! gRPC origin for the Weir benchmarks.
//!
//! Usage: `grpc-origin PORT` — serves `weir.bench.Echo/Unary` on 127.0.0.1:PORT
//! (cleartext HTTP/2), echoing the request message back. Single-threaded runtime:
//! the benchmark pins it to one CPU anyway.

use std::net::SocketAddr;

use tonic::{Request, Response, Status, transport::Server};

pub mod pb {
    tonic::include_proto!("weir.bench");
}

use pb::EchoMessage;
use pb::echo_server::{Echo, EchoServer};

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: grpc-origin PORT")?
        .parse()
        .map_err(|e| format!("bad port: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eprintln!("grpc-origin listening on {addr}");
    Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
