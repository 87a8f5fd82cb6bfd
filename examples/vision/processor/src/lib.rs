//! Seed 000's vision processor, in Rust: simulated cameras whose frames go through a real
//! (hand-written) motion detector, streamed as `vision.VisionService/StreamDetections` over h2c.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = weir_vision_processor::Config { cameras: 8, fps: 30, width: 320, height: 240 };
//! weir_vision_processor::serve(listener, config, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

pub mod camera;
pub mod detector;
pub mod scene;
pub mod service;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tracing::info;

use camera::{CameraHub, CameraSettings};
use proto::vision_service_server::VisionServiceServer;

/// Generated from `examples/vision/proto/vision.proto` by build.rs.
pub mod proto {
    tonic::include_proto!("vision");
}

/// What the processor simulates.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub cameras: usize,
    pub fps: u32,
    pub width: usize,
    pub height: usize,
}

/// Why serving stopped early.
#[derive(Debug)]
pub enum Error {
    /// A camera thread could not be spawned.
    Threads(std::io::Error),
    /// The gRPC server failed.
    Server(tonic::transport::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Threads(e) => write!(f, "starting camera threads: {e}"),
            Error::Server(e) => write!(f, "gRPC server: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Threads(e) => Some(e),
            Error::Server(e) => Some(e),
        }
    }
}

/// Serves `vision.VisionService` on `listener` (plain HTTP/2, i.e. h2c) until `shutdown`
/// resolves; then open streams end with status OK, connections drain and the camera threads
/// are joined.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let settings = CameraSettings {
        width: config.width,
        height: config.height,
        fps: config.fps,
    };
    let hub = Arc::new(CameraHub::start(config.cameras, settings).map_err(Error::Threads)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let service = service::VisionProcessor::new(hub.clone(), stop_rx);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let signal = async move {
        shutdown.await;
        info!("shutting down: ending streams");
        let _ = stop_tx.send(true);
    };
    let served = tonic::transport::Server::builder()
        .add_service(VisionServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, signal)
        .await;
    // Joining threads blocks for at most one frame period; keep it off the async workers.
    let joiner = hub.clone();
    let _ = tokio::task::spawn_blocking(move || joiner.stop()).await;
    info!("cameras stopped");
    served.map_err(Error::Server)
}
