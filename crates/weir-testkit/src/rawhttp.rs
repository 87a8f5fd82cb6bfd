//! A tiny blocking HTTP/1.1 GET client (plain or TLS) for probing the
//! gateway's `/hello` and calling `/tyk/reload` without needing a runtime.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;

use crate::tls::insecure_client_config;

/// A parsed response: status code and body (lossy UTF-8).
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Sends `GET path` with `Connection: close` and the extra headers, reads
/// until EOF. With `tls`, does a TLS handshake that accepts any certificate.
pub(crate) fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    tls: bool,
    timeout: Duration,
) -> io::Result<RawResponse> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");

    let raw = if tls {
        let cfg = Arc::new(insecure_client_config(&[b"http/1.1"]));
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = rustls::ClientConnection::new(cfg, name).map_err(io::Error::other)?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(req.as_bytes())?;
        read_to_end_lenient(&mut s)?
    } else {
        let mut s = tcp;
        s.write_all(req.as_bytes())?;
        read_to_end_lenient(&mut s)?
    };
    parse(&raw)
}

/// Reads until EOF; a peer that closes without a TLS close_notify still
/// counts as EOF once something was read.
fn read_to_end_lenient(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}

fn parse(raw: &[u8]) -> io::Result<RawResponse> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line: {status_line:?}")))?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(RawResponse { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = s.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        let (Some(chunk), Some(tail)) = (rest.get(..size), rest.get(size..)) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(chunk);
        s = tail.trim_start_matches("\r\n");
    }
    out
}
