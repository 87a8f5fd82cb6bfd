//! `vision-demo`: seed 000's vision pipeline on one machine. `run` seeds the SQLite camera
//! registry, starts the processor (unless one is given), weir with the vision API and the
//! enrichment plugin, and serves the dashboard; Ctrl-C stops everything. `registry set` edits a
//! camera's row while it runs.

mod children;
mod registry;
mod ui;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use children::Child;

#[derive(Parser)]
#[command(
    name = "vision-demo",
    about = "Seed 000's vision pipeline through weir"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the pipeline and serves the dashboard until Ctrl-C.
    Run(RunArgs),
    /// Edits the camera registry.
    Registry {
        #[command(subcommand)]
        action: RegistryAction,
    },
}

#[derive(Subcommand)]
enum RegistryAction {
    /// Sets one camera's row (the enricher shows it after its cache TTL).
    Set {
        /// Folder holding registry.db.
        #[arg(long)]
        data: PathBuf,
        camera_id: String,
        location: String,
        status: String,
        install_date: String,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Folder for the registry, the generated gateway config and the logs.
    #[arg(long)]
    data: PathBuf,
    /// The weir binary.
    #[arg(long)]
    weir: PathBuf,
    /// The enrichment plugin (libweir_vision_enricher.so).
    #[arg(long)]
    enricher: PathBuf,
    /// The dashboard's built assets (dist/).
    #[arg(long)]
    dashboard: PathBuf,
    /// The vision API definition to start from (seed 000's, paths adjusted).
    #[arg(long, default_value = "examples/vision/apis/vision-api.json")]
    api: PathBuf,
    /// The processor binary (ignored with --processor-addr).
    #[arg(long)]
    processor: Option<PathBuf>,
    /// Use this running processor instead of starting one.
    #[arg(long)]
    processor_addr: Option<String>,
    /// Port of weir (gRPC and gRPC-Web).
    #[arg(long, default_value_t = 8080)]
    gateway_port: u16,
    /// Port of the dashboard.
    #[arg(long, default_value_t = 8090)]
    ui_port: u16,
    /// Cameras the processor simulates.
    #[arg(long, default_value_t = 8)]
    cameras: usize,
    /// Frames per second per camera.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Seconds the enricher caches a camera's registry row.
    #[arg(long, default_value_t = 30)]
    cache_ttl: u64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Registry {
            action:
                RegistryAction::Set {
                    data,
                    camera_id,
                    location,
                    status,
                    install_date,
                },
        } => registry::set(
            &data.join("registry.db"),
            &camera_id,
            &location,
            &status,
            &install_date,
        ),
        Command::Run(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")
            .and_then(|rt| rt.block_on(run(args))),
    };
    if let Err(e) = result {
        eprintln!("vision-demo: {e:#}");
        std::process::exit(1);
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()))
}

async fn run(args: RunArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let data = absolute(&args.data)?;
    let (weir, enricher, dashboard) = (
        absolute(&args.weir)?,
        absolute(&args.enricher)?,
        absolute(&args.dashboard)?,
    );
    if !dashboard.join("index.html").exists() {
        bail!(
            "{} has no index.html: build the dashboard first",
            dashboard.display()
        );
    }
    let db = data.join("registry.db");
    registry::ensure(&db, args.cameras)?;

    let mut children = Vec::new();
    let processor_addr = match &args.processor_addr {
        Some(addr) => addr.clone(),
        None => {
            let bin = args
                .processor
                .as_ref()
                .context("give --processor or --processor-addr")?;
            let (child, addr) = Child::spawn_listening(
                "processor",
                absolute(bin)?.as_os_str(),
                &[
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                    "--cameras".into(),
                    args.cameras.to_string(),
                    "--fps".into(),
                    args.fps.to_string(),
                ],
                &data.join("processor.log"),
            )
            .await?;
            children.push(child);
            addr
        }
    };

    let conf = gateway_files(&args, &data, &db, &enricher, &processor_addr)?;
    children::check_config(&weir, &conf)?;
    let gateway = Child::spawn(
        "weir",
        weir.as_os_str(),
        &["run".into(), "--conf".into(), conf.display().to_string()],
        &data.join("weir.log"),
    )?;
    children.push(gateway);
    children::wait_for_http(args.gateway_port, "/hello", Duration::from_secs(20))
        .await
        .with_context(|| {
            format!(
                "weir did not start; see {}",
                data.join("weir.log").display()
            )
        })?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.ui_port))
        .await
        .with_context(|| format!("binding the dashboard port {}", args.ui_port))?;
    let config = json!({
        "grpcWebUrl": format!("http://127.0.0.1:{}", args.gateway_port),
        "cameras": registry::camera_ids(args.cameras),
    });
    let ui = tokio::spawn(ui::serve(listener, dashboard, config));

    println!("DASHBOARD http://127.0.0.1:{}/", args.ui_port);
    println!(
        "  processor {processor_addr} · weir http://127.0.0.1:{} (gRPC and gRPC-Web) · registry {}",
        args.gateway_port,
        db.display()
    );
    println!("  logs in {} · Ctrl-C stops everything", data.display());

    let ended = children::wait_for_stop(&mut children).await;
    ui.abort();
    children::stop_all(children).await;
    match ended {
        Some(name) => bail!(
            "{name} exited; see {}",
            data.join(format!("{name}.log")).display()
        ),
        None => Ok(()),
    }
}

/// Seed 000's classic form: target_url, the plugin's path in `pre` and `goplugin_streams`,
/// its configuration in `middleware_global_config[<bundle>]`.
fn patch_classic(api: &mut Value, processor: &str, enricher: &Path, dsn: Value, ttl: u64) {
    api["proxy"]["target_url"] = json!(format!("grpc://{processor}"));
    let mw = &mut api["custom_middleware"];
    let lists = [
        mw["pre"].as_array_mut().map(std::mem::take),
        mw["driver_specific_middleware"]["goplugin_streams"]
            .as_array_mut()
            .map(std::mem::take),
    ];
    let [pre, streams] = lists.map(|l| {
        let mut l = l.unwrap_or_default();
        for h in &mut l {
            h["path"] = json!(enricher);
        }
        Value::Array(l)
    });
    mw["pre"] = pre;
    mw["driver_specific_middleware"]["goplugin_streams"] = streams;
    let bundle = api["custom_middleware_bundle"]
        .as_str()
        .unwrap_or("enricher_bundle")
        .to_string();
    let conf = &mut api["middleware_global_config"][&bundle];
    conf["sql_server_dsn"] = dsn;
    conf["cache_ttl_seconds"] = json!(ttl);
}

/// The OAS twin: upstream.url, grpcMessagePlugins' paths, pluginConfig.data.value.
fn patch_oas(api: &mut Value, processor: &str, enricher: &Path, dsn: Value, ttl: u64) {
    let gw = &mut api["x-tyk-api-gateway"];
    gw["upstream"]["url"] = json!(format!("grpc://{processor}"));
    let global = &mut gw["middleware"]["global"];
    if let Some(hooks) = global["grpcMessagePlugins"].as_array_mut() {
        for h in hooks {
            h["path"] = json!(enricher);
        }
    }
    let conf = &mut global["pluginConfig"]["data"]["value"];
    conf["dsn"] = dsn;
    conf["cache_ttl_seconds"] = json!(ttl);
}

/// Writes weir.json and apps/vision-api.json (the shipped definition with this run's processor
/// address, plugin path, registry and cache TTL); returns weir.json's path.
fn gateway_files(
    args: &RunArgs,
    data: &Path,
    db: &Path,
    enricher: &Path,
    processor_addr: &str,
) -> Result<PathBuf> {
    let dir = data.join("gateway");
    std::fs::create_dir_all(dir.join("apps"))?;
    let text = std::fs::read_to_string(&args.api)
        .with_context(|| format!("reading {}", args.api.display()))?;
    let mut api: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.api.display()))?;
    let dsn = json!(format!("sqlite:{}", db.display()));
    if api.get("x-tyk-api-gateway").is_some() {
        patch_oas(&mut api, processor_addr, enricher, dsn, args.cache_ttl);
    } else {
        patch_classic(&mut api, processor_addr, enricher, dsn, args.cache_ttl);
    }
    std::fs::write(
        dir.join("apps/vision-api.json"),
        serde_json::to_string_pretty(&api)?,
    )?;
    let conf = json!({
        "listen_address": "127.0.0.1",
        "listen_port": args.gateway_port,
        "secret": "vision-demo",
        "app_path": "apps",
        "http_server_options": {"enable_http2": true},
        "access_logs": {"enabled": false},
    });
    let path = dir.join("weir.json");
    std::fs::write(&path, serde_json::to_string_pretty(&conf)?)?;
    Ok(path)
}
