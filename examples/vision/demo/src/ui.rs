//! Serves the dashboard's built assets and its `/config.json` (where the gRPC-Web endpoint is
//! and which cameras exist).

use std::convert::Infallible;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

struct Site {
    root: PathBuf,
    config: Bytes,
}

/// Serves `root` and `config` (as /config.json) on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, root: PathBuf, config: serde_json::Value) {
    let site = Arc::new(Site {
        root,
        config: Bytes::from(config.to_string()),
    });
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let site = site.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(answer(&site, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

async fn answer(site: &Site, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/config.json" {
        return reply(StatusCode::OK, "application/json", site.config.clone());
    }
    let Some(file) = resolve(&site.root, path) else {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from("not found"),
        );
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => reply(StatusCode::OK, content_type(&file), Bytes::from(bytes)),
        // A single-page app: unknown paths get the page, which routes itself.
        Err(_) => match tokio::fs::read(site.root.join("index.html")).await {
            Ok(bytes) => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Bytes::from(bytes),
            ),
            Err(_) => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                Bytes::from("not found"),
            ),
        },
    }
}

/// The file for a URL path, refusing anything that would leave `root`.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn reply(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        content_type.parse().expect("static content type"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv");
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/index.html")));
        assert_eq!(
            resolve(root, "/assets/a.js"),
            Some(PathBuf::from("/srv/assets/a.js"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../b"), None);
    }
}
