//! Tyk plugin bundles for the end-to-end tests: zips made with Python's zipfile (not Weir's
//! code), a manifest as `tyk bundle build` writes it, and a plain HTTP server to fetch them from.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::{Value, json};

/// Serves `files` (name → bytes) at `<base>/<name>` over HTTP/1.1 on a free port; other names
/// answer 404. Returns the base URL, as `bundle_base_url` takes it.
pub fn serve(files: Vec<(String, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/bundles", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let found = files
                .iter()
                .find(|(name, _)| path == format!("/bundles/{name}"));
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", Vec::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    base
}

/// The manifest of a bundle: `files` listed in `file_list`, their md5 as `checksum`.
pub fn manifest(files: &[(&str, &[u8])], custom_middleware: Value, signature: &str) -> Vec<u8> {
    let mut all = Vec::new();
    for (_, bytes) in files {
        all.extend_from_slice(bytes);
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    serde_json::to_vec(&json!({
        "file_list": names,
        "custom_middleware": custom_middleware,
        "checksum": format!("{:x}", md5::compute(&all)),
        "signature": signature,
    }))
    .unwrap()
}

/// A zip of `manifest.json` and `files` at its top level, in `dir`.
pub fn zip(dir: &Path, manifest: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    let src = tempfile::tempdir_in(dir).unwrap();
    std::fs::write(src.path().join("manifest.json"), manifest).unwrap();
    let mut names = vec!["manifest.json".to_string()];
    for (name, bytes) in files {
        std::fs::write(src.path().join(name), bytes).unwrap();
        names.push(name.to_string());
    }
    let out = src.path().join("bundle.zip");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    [z.write(n) for n in sys.argv[2:]]")
        .arg(&out)
        .args(&names)
        .current_dir(src.path())
        .status()
        .expect("python3");
    assert!(status.success());
    std::fs::read(out).unwrap()
}
