//! `weir`: the gateway binary. `run` serves, `check` validates like `nginx -t`, `blobl` runs a
//! Bloblang mapping over lines like `bento blobl`, `version` prints.

mod blobl;
mod check;
mod drivers;
mod js_keys;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the proxy allocates small, short-lived buffers per request, where it beats glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Weir: an API gateway that loads Tyk API definitions unmodified.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the gateway.
    Run {
        /// Gateway config (tyk.conf keys, JSON or YAML).
        #[arg(long, short = 'c', default_value = "weir.json")]
        conf: PathBuf,
        /// Reload when files in app_path change (same as `watch_app_path: true`).
        #[arg(long)]
        watch: bool,
    },
    /// Validate the gateway config and every API definition, then exit.
    Check {
        /// Gateway config (tyk.conf keys, JSON or YAML).
        #[arg(long, short = 'c', default_value = "weir.json")]
        conf: PathBuf,
    },
    /// Run a Bloblang mapping over newline-delimited messages (stdin or -i), one result per line.
    Blobl(blobl::BloblArgs),
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { conf, watch } => run::run(&conf, watch),
        Command::Check { conf } => check::check(&conf),
        Command::Blobl(args) => blobl::blobl(args),
        Command::Version => {
            println!("weir {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
