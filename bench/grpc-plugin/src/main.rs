//! Tyk coprocess gRPC plugin server for the Weir plugin benchmark.
//!
//! Usage: `grpc-plugin --tcp 127.0.0.1:PORT` or `grpc-plugin --unix /path/to.sock`.
//!
//! Serves `coprocess.Dispatcher` (crates/weir-plugin-grpc/proto/coprocess.proto). `Dispatch`
//! for hook_name "AddHeader" sets `request.set_headers["X-Hello"] = "v"`; every other hook
//! gets its Object back unchanged. Multi-thread runtime: tokio sizes it from the CPU
//! affinity mask, so pinned to one CPU (as the benchmark does) it has one worker.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Server, server::TcpIncoming};
use tonic::{Request, Response, Status};

pub mod pb {
    tonic::include_proto!("coprocess");
}

use pb::dispatcher_server::{Dispatcher, DispatcherServer};
use pb::{Event, EventReply, Object};

struct Plugin;

#[tonic::async_trait]
impl Dispatcher for Plugin {
    async fn dispatch(&self, request: Request<Object>) -> Result<Response<Object>, Status> {
        let mut object = request.into_inner();
        if object.hook_name == "AddHeader" {
            object
                .request
                .get_or_insert_with(Default::default)
                .set_headers
                .insert("X-Hello".to_owned(), "v".to_owned());
        }
        Ok(Response::new(object))
    }

    async fn dispatch_event(
        &self,
        _request: Request<Event>,
    ) -> Result<Response<EventReply>, Status> {
        Ok(Response::new(EventReply {}))
    }
}

enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

fn parse_args() -> Result<Listen, String> {
    const USAGE: &str = "usage: grpc-plugin --tcp HOST:PORT | --unix /path/to.sock";
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, addr] if flag == "--tcp" => addr
            .parse()
            .map(Listen::Tcp)
            .map_err(|e| format!("bad address {addr}: {e}")),
        [flag, path] if flag == "--unix" => Ok(Listen::Unix(PathBuf::from(path))),
        _ => Err(USAGE.to_owned()),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = parse_args()?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let server = Server::builder().add_service(DispatcherServer::new(Plugin));
    match listen {
        Listen::Tcp(addr) => {
            // TCP_NODELAY on, as tonic's own `serve` does (serve_with_incoming leaves it off).
            let incoming = TcpIncoming::bind(addr)?.with_nodelay(Some(true));
            eprintln!("grpc-plugin listening on tcp://{}", incoming.local_addr()?);
            server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await?;
        }
        Listen::Unix(path) => {
            // A socket left by an earlier run would make bind fail.
            if path.exists() {
                std::fs::remove_file(&path)?;
            }
            let listener = tokio::net::UnixListener::bind(&path)?;
            eprintln!("grpc-plugin listening on unix://{}", path.display());
            let served = server
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
                .await;
            let _ = std::fs::remove_file(&path);
            served?;
        }
    }
    Ok(())
}
