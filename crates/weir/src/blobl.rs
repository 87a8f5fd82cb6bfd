//! `weir blobl`: run a Bloblang mapping over newline-delimited messages, the
//! command a Bento user knows (`bento blobl`), and `--check` for CI.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bloblang::json::{JsonOptions, to_json};
use bloblang::{Mapping, Message, Value};

/// What `weir blobl` was asked to do.
#[derive(clap::Args)]
pub struct BloblArgs {
    /// The mapping, unless -f gives a file.
    pub mapping: Option<String>,
    /// Read the mapping from this file.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Read messages from this file instead of stdin.
    #[arg(long, short = 'i')]
    pub input: Option<PathBuf>,
    /// Take each line as raw bytes instead of requiring JSON.
    #[arg(long, short = 'r')]
    pub raw: bool,
    /// Indent structured results.
    #[arg(long, short = 'p')]
    pub pretty: bool,
    /// Only check that this mapping file compiles (for CI), then exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["mapping", "file", "input"])]
    pub check: Option<PathBuf>,
}

/// Runs `weir blobl`. Exit status is non-zero only when the mapping cannot be
/// read or does not compile; a line that fails is reported on stderr, naming
/// its line number, and the following lines go on.
pub fn blobl(args: BloblArgs) -> ExitCode {
    if let Some(path) = &args.check {
        return match compile_file(path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    let mapping = match (&args.file, &args.mapping) {
        (Some(path), None) => compile_file(path),
        (None, Some(text)) => {
            Mapping::compile(text).map_err(|e| format!("mapping: {}", e.render()))
        }
        _ => Err("give a mapping, or -f FILE (not both)".into()),
    };
    let mapping = match mapping {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let reader: Box<dyn BufRead> = match &args.input {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        },
        None => Box::new(std::io::stdin().lock()),
    };
    match map_lines(&mapping, reader, &args) {
        Ok(()) => ExitCode::SUCCESS,
        // Only a broken stdout ends the run early (`weir blobl ... | head`).
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the output: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Reads and compiles a mapping file; the error names the file and shows the
/// failing line with a caret.
fn compile_file(path: &Path) -> Result<Mapping, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Mapping::compile(&text).map_err(|e| format!("{}: {}", path.display(), e.render()))
}

/// Maps each non-empty line; results go to stdout, one per line (a deleted
/// message prints nothing), failures to stderr.
fn map_lines(mapping: &Mapping, reader: Box<dyn BufRead>, args: &BloblArgs) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (number, line) in reader.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        match map_one(mapping, line, args) {
            Ok(Some(bytes)) => {
                out.write_all(&bytes)?;
                out.write_all(b"\n")?;
            }
            Ok(None) => {}
            Err(e) => {
                // Keep stdout and stderr in order for a reader watching both.
                out.flush()?;
                eprintln!("line {}: {e}", number + 1);
            }
        }
    }
    out.flush()
}

/// One message through the mapping: its output bytes, `None` when deleted.
fn map_one(mapping: &Mapping, line: Vec<u8>, args: &BloblArgs) -> Result<Option<Vec<u8>>, String> {
    if !args.raw {
        bloblang::json::parse(&line)
            .map_err(|e| format!("input is not JSON ({e}); use -r for raw lines"))?;
    }
    let msg = Message {
        content: line,
        ..Message::default()
    };
    let output = mapping.run_message(&msg).map_err(|e| e.to_string())?;
    let structured = !matches!(
        output.root,
        Value::String(_) | Value::Bytes(_) | Value::Nothing | Value::Delete
    );
    if args.pretty && structured {
        let options = JsonOptions {
            escape_html: false,
            indent: Some("  ".into()),
        };
        return to_json(&output.root, &options)
            .map(|s| Some(s.into_bytes()))
            .map_err(|e| e.0);
    }
    output.content(&msg.content).map_err(|e| e.to_string())
}
