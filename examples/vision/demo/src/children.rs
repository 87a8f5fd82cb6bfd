//! The pipeline's processes: started with their output in a log file, watched, and stopped
//! with SIGTERM (then SIGKILL) so each can shut down cleanly.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
use tokio::signal::unix::{SignalKind, signal};

/// A started process of the pipeline.
pub struct Child {
    /// Short name, also its log file's stem.
    pub name: &'static str,
    process: tokio::process::Child,
}

impl Child {
    /// Starts `bin args…` with stdout and stderr appended to `log`.
    pub fn spawn(name: &'static str, bin: &OsStr, args: &[String], log: &Path) -> Result<Child> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let process = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name} ({})", Path::new(bin).display()))?;
        Ok(Child { name, process })
    }

    /// Starts a server that prints `LISTENING <addr>` on stdout when ready; returns it and the
    /// address. Its stderr goes to `log`.
    pub async fn spawn_listening(
        name: &'static str,
        bin: &OsStr,
        args: &[String],
        log: &Path,
    ) -> Result<(Child, String)> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut process = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name} ({})", Path::new(bin).display()))?;
        let stdout = process.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .with_context(|| format!("{name} did not say LISTENING within 30 s"))??;
        let Some(addr) = first
            .as_deref()
            .and_then(|l| l.strip_prefix("LISTENING "))
            .map(|a| a.trim().to_string())
        else {
            bail!(
                "{name} said {first:?} instead of `LISTENING <addr>`; see {}",
                log.display()
            );
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((Child { name, process }, addr))
    }
}

/// Runs `weir check` so a bad generated config fails with weir's own words.
pub fn check_config(weir: &Path, conf: &Path) -> Result<()> {
    let out = std::process::Command::new(weir)
        .arg("check")
        .arg("--conf")
        .arg(conf)
        .output()
        .with_context(|| format!("running {} check", weir.display()))?;
    if !out.status.success() {
        bail!(
            "weir check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Waits until `GET path` on 127.0.0.1:port answers 200.
pub async fn wait_for_http(port: u16, path: &str, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if tcp.write_all(req.as_bytes()).await.is_ok()
                && tcp.read_exact(&mut head).await.is_ok()
                && head.ends_with(b" 200")
            {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("nothing answered 200 on 127.0.0.1:{port}{path}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for Ctrl-C or SIGTERM (→ `None`) or for a child to exit (→ its name).
pub async fn wait_for_stop(children: &mut [Child]) -> Option<&'static str> {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let exited = async {
        loop {
            for c in children.iter_mut() {
                if let Ok(Some(_)) = c.process.try_wait() {
                    return c.name;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        _ = term.recv() => None,
        name = exited => Some(name),
    }
}

/// Stops every child: SIGTERM, up to 10 s to exit, then SIGKILL.
pub async fn stop_all(children: Vec<Child>) {
    for mut c in children.into_iter().rev() {
        if let Some(pid) = c.process.id() {
            // SAFETY: kill(2) on a pid we started and have not reaped yet.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(10), c.process.wait())
            .await
            .is_err()
        {
            let _ = c.process.kill().await;
        }
    }
}
