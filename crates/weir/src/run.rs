//! `weir run`: load, serve, reload on SIGHUP / control API / file changes, drain on SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use weir_admin::{ControlApi, ControlHandle, Reloader, watch_app_path};
use weir_config::load_gateway_config;
use weir_proxy::{Gateway, Server};

/// Starts the gateway and blocks until it has shut down.
pub fn run(conf: &Path, watch: bool) -> ExitCode {
    let mut config = match load_gateway_config(conf) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "weir: cannot start: {} problem(s) in the gateway config",
                errors.len()
            );
            return ExitCode::from(2);
        }
    };
    config.watch_app_path |= watch;
    let (writer, _guard) = tracing_appender::non_blocking(std::io::stdout());
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},weir=info", config.log_level)));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_current_span(false)
        .init();

    // On one CPU a work-stealing scheduler only adds overhead: run everything on one thread,
    // as an event-loop proxy does.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("weir: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, conf))
}

async fn serve(config: weir_config::GatewayConfig, conf: &Path) -> ExitCode {
    let gateway = match Gateway::new(config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("weir: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let (host, drivers) = crate::drivers::plugin_host(&gateway.config);
    drivers.install_key_store(gateway.keys.clone());
    // A reload also re-reads the gateway config's driver settings (a new gRPC plugin server
    // address or Wasm upstream takes effect without a restart).
    let conf_path = conf.to_path_buf();
    let before_reload = move || match load_gateway_config(&conf_path) {
        Ok(c) => drivers.configure(&c),
        Err(errors) => {
            for e in errors {
                tracing::error!(error = %e, "gateway config not re-read; keeping the plugin driver settings");
            }
        }
    };
    let reloader = Reloader::new(gateway.clone(), host, Some(Box::new(before_reload)));
    let control = ControlApi::new(gateway.clone(), reloader.clone());
    gateway.set_control_plane(Arc::new(ControlHandle(control.clone())));
    let server = match Server::bind(gateway.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("weir: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    reloader.reload().await;
    // On Redis, other nodes' key changes and group reloads arrive on Tyk's channel.
    let follower = reloader.clone();
    let reload = Arc::new(move || {
        let reloader = follower.clone();
        tokio::spawn(async move {
            reloader.reload().await;
        });
    });
    tokio::spawn(gateway.keys.clone().follow(reload));
    control.set_ready();
    let _watcher = if gateway.config.watch_app_path {
        match watch_app_path(reloader.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch app_path; reload with SIGHUP or /tyk/reload");
                None
            }
        }
    } else {
        None
    };

    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("weir: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let hup_reloader = reloader.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            hup_reloader.reload().await;
        }
    });
    tracing::info!(addr = ?server.main_addr(), "weir is serving");
    server
        .run(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        })
        .await;
    ExitCode::SUCCESS
}
