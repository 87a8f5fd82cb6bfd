//! [`HttpUpstream`]: an HTTP/1.1 + h2c test server with echo, status, slow,
//! streaming, trailer, reset, big-body and upload routes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::runtime::ServerThread;

/// Response body type used by the test routes.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, io::Error>;

/// Every response from the test routes carries this header, so tests can
/// check that upstream response headers pass through the gateway.
pub(crate) const UPSTREAM_HEADER: &str = "x-upstream";

/// The checksum `/upload` reports: the wrapping sum of all bytes as `u64`.
///
/// ```
/// assert_eq!(weir_testkit::checksum(&[1, 2, 255]), 258);
/// ```
pub fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |acc, b| acc.wrapping_add(u64::from(*b)))
}

/// The byte at `offset` of a `/big` body: `offset % 251`.
pub(crate) fn pattern_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Shared, inspectable state of an upstream.
#[derive(Default)]
pub(crate) struct State {
    count: AtomicUsize,
    last_headers: Mutex<Option<HeaderMap>>,
}

impl State {
    pub(crate) fn request_count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
    pub(crate) fn last_headers(&self) -> Option<HeaderMap> {
        self.last_headers.lock().unwrap().clone()
    }
}

/// A plain-text HTTP upstream on `127.0.0.1:<port>` speaking HTTP/1.1 and
/// HTTP/2 with prior knowledge (h2c) on the same port.
///
/// Routes (matched on the path that arrives):
/// * `/status/<code>` → that status, body `status <code>`.
/// * `/slow?ms=N` → sleeps N ms before the response head, then echoes.
/// * `/sse?n=N&gap_ms=M` → `text/event-stream`, N events `data: event <i>\n\n`,
///   the first at once and each next one M ms later.
/// * `/chunks?n=N&size=S&gap_ms=M` → N chunks of S bytes, M ms apart.
/// * `/trailers` → body `hello` and trailers `x-checksum: abc`, `x-done: yes`
///   (HTTP/1.1 only sends trailers if the request carried `TE: trailers`).
/// * `/reset` → `Content-Length: 100000`, writes 1000 bytes, then aborts.
/// * `/big?bytes=N` → N bytes where byte `i` is `i % 251`.
/// * `/upload` → reads the body, replies `{"len":..,"sum":..}` (see [`checksum`]).
/// * anything else (including `/echo...`) → 200 JSON
///   `{"method","path","query","authority","headers":{name:[values]},"body","version"}`.
///
/// Every response carries `x-upstream: testkit`.
pub struct HttpUpstream {
    server: ServerThread,
    state: Arc<State>,
}

impl HttpUpstream {
    /// Starts the server on an OS-chosen port.
    pub fn start() -> HttpUpstream {
        let state = Arc::new(State::default());
        let st = state.clone();
        let server = ServerThread::spawn("http", move |listener| async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    serve_io(TokioIo::new(tcp), st).await;
                });
            }
        });
        HttpUpstream { server, state }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// How many requests arrived so far (all routes).
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// Headers of the most recent request, if any arrived.
    pub fn last_headers(&self) -> Option<HeaderMap> {
        self.state.last_headers()
    }
}

/// Serves one connection (h1 or h2, detected from the preface) with the routes.
pub(crate) async fn serve_io<I>(io: TokioIo<I>, state: Arc<State>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let st = state.clone();
        async move { Ok::<_, Infallible>(route(req, st).await) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

fn query_params(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

fn num(params: &BTreeMap<String, String>, key: &str, default: u64) -> u64 {
    params
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn full(body: impl Into<Bytes>) -> RespBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn respond(status: StatusCode, content_type: &str, body: RespBody) -> Response<RespBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    resp.headers_mut()
        .insert(UPSTREAM_HEADER, HeaderValue::from_static("testkit"));
    resp
}

fn frames<S>(s: S) -> RespBody
where
    S: futures_util::Stream<Item = Result<Frame<Bytes>, io::Error>> + Send + 'static,
{
    StreamBody::new(s).boxed_unsync()
}

async fn route(req: Request<Incoming>, state: Arc<State>) -> Response<RespBody> {
    state.count.fetch_add(1, Ordering::SeqCst);
    *state.last_headers.lock().unwrap() = Some(req.headers().clone());
    let path = req.uri().path().to_string();
    let params = query_params(req.uri().query());

    if let Some(code) = path.strip_prefix("/status/") {
        let code: u16 = code.trim_end_matches('/').parse().unwrap_or(500);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return respond(status, "text/plain", full(format!("status {code}")));
    }
    match path.as_str() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(num(&params, "ms", 1000))).await;
            echo(req).await
        }
        "/sse" => {
            let n = num(&params, "n", 5);
            let gap = Duration::from_millis(num(&params, "gap_ms", 100));
            let s = stream::unfold(0u64, move |i| async move {
                if i >= n {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(gap).await;
                }
                let ev = Bytes::from(format!("data: event {i}\n\n"));
                Some((Ok(Frame::data(ev)), i + 1))
            });
            let mut resp = respond(StatusCode::OK, "text/event-stream", frames(s));
            resp.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-cache"));
            resp
        }
        "/chunks" => {
            let n = num(&params, "n", 5);
            let size = num(&params, "size", 1024) as usize;
            let gap = Duration::from_millis(num(&params, "gap_ms", 0));
            let s = stream::unfold(0u64, move |i| async move {
                if i >= n {
                    return None;
                }
                if i > 0 && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                let chunk = Bytes::from(vec![b'a' + (i % 26) as u8; size]);
                Some((Ok(Frame::data(chunk)), i + 1))
            });
            respond(StatusCode::OK, "application/octet-stream", frames(s))
        }
        "/trailers" => {
            let mut trailers = HeaderMap::new();
            trailers.insert("x-checksum", HeaderValue::from_static("abc"));
            trailers.insert("x-done", HeaderValue::from_static("yes"));
            let s = stream::iter(vec![
                Ok(Frame::data(Bytes::from_static(b"hello"))),
                Ok(Frame::trailers(trailers)),
            ]);
            let mut resp = respond(StatusCode::OK, "text/plain", frames(s));
            resp.headers_mut()
                .insert("trailer", HeaderValue::from_static("x-checksum, x-done"));
            resp
        }
        "/reset" => {
            let s = stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((Ok(Frame::data(Bytes::from(vec![b'r'; 1000]))), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(io::Error::other("testkit: deliberate reset")), 2))
                    }
                    _ => None,
                }
            });
            let mut resp = respond(StatusCode::OK, "application/octet-stream", frames(s));
            resp.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from_static("100000"),
            );
            resp
        }
        "/big" => {
            let total = num(&params, "bytes", 1_000_000) as usize;
            const CHUNK: usize = 64 * 1024;
            let s = stream::unfold(0usize, move |off| async move {
                if off >= total {
                    return None;
                }
                let end = (off + CHUNK).min(total);
                let chunk: Vec<u8> = (off..end).map(pattern_byte).collect();
                Some((Ok(Frame::data(Bytes::from(chunk))), end))
            });
            let mut resp = respond(StatusCode::OK, "application/octet-stream", frames(s));
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(total));
            resp
        }
        "/upload" => {
            let mut body = req.into_body();
            let (mut len, mut sum) = (0u64, 0u64);
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            len += d.len() as u64;
                            sum = sum.wrapping_add(checksum(d));
                        }
                    }
                    Err(e) => {
                        let msg = serde_json::json!({ "error": e.to_string() }).to_string();
                        return respond(StatusCode::BAD_REQUEST, "application/json", full(msg));
                    }
                }
            }
            let msg = serde_json::json!({ "len": len, "sum": sum }).to_string();
            respond(StatusCode::OK, "application/json", full(msg))
        }
        _ => echo(req).await,
    }
}

async fn echo(req: Request<Incoming>) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let msg = serde_json::json!({ "error": e.to_string() }).to_string();
            return respond(StatusCode::BAD_REQUEST, "application/json", full(msg));
        }
    };
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<serde_json::Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        headers.insert(name.as_str().to_string(), values.into());
    }
    let authority = parts
        .uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    let doc = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "authority": authority,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "version": format!("{:?}", parts.version),
    });
    respond(StatusCode::OK, "application/json", full(doc.to_string()))
}

/// Expected `/big?bytes=N` body, for comparisons in tests.
pub(crate) fn big_body(len: usize) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

impl HttpUpstream {
    /// The exact body `/big?bytes=len` serves (byte `i` is `i % 251`).
    pub fn big_body(len: usize) -> Vec<u8> {
        big_body(len)
    }
}
