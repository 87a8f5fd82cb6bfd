//! `vision-processor`: serves simulated cameras' detections over gRPC (h2c).
//! Prints `LISTENING <addr>` on stdout once bound; logs go to stderr.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info, warn};
use weir_vision_processor::{Config, serve};

#[derive(Debug, Parser)]
#[command(
    name = "vision-processor",
    version,
    about = "Simulated cameras with real motion detection, streamed as vision.VisionService"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free one; see the LISTENING line).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Number of cameras: cam-01 .. cam-NN.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    cameras: u16,
    /// Frames per second per camera.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=240))]
    fps: u32,
    /// Frame width in pixels.
    #[arg(long, default_value_t = 320, value_parser = clap::value_parser!(u16).range(64..=1920))]
    width: u16,
    /// Frame height in pixels.
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u16).range(64..=1080))]
    height: u16,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            error!(addr = %cli.listen, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            error!("cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for exactly this line.
    let mut out = std::io::stdout().lock();
    if writeln!(out, "LISTENING {addr}")
        .and_then(|_| out.flush())
        .is_err()
    {
        warn!("stdout is closed; serving anyway");
    }
    drop(out);

    let config = Config {
        cameras: usize::from(cli.cameras),
        fps: cli.fps,
        width: usize::from(cli.width),
        height: usize::from(cli.height),
    };
    info!(%addr, cameras = config.cameras, fps = config.fps, width = config.width,
          height = config.height, "vision processor listening (h2c)");
    match serve(listener, config, shutdown_signal()).await {
        Ok(()) => {
            info!("bye");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => info!("SIGINT"),
                _ = term.recv() => info!("SIGTERM"),
            }
        }
        Err(e) => {
            warn!("cannot watch SIGTERM ({e}); SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            info!("SIGINT");
        }
    }
}
