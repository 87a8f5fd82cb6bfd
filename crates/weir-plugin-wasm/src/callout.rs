//! `proxy_http_call`: the host sends the call after the callback that made it returns, awaits
//! the answer (without holding a tokio worker in wasm), and hands it to
//! `proxy_on_http_call_response`. Upstreams are an allow-list of names → `http://host:port`
//! (plain HTTP/1.1; `https` bases are refused when the driver is built).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::state::{CallResponse, Event, PendingCall};

/// The largest HTTP call response body handed to a filter.
const MAX_BODY: usize = 16 << 20;

/// The HTTP client HTTP calls go through.
pub(crate) type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A client with a connection pool, shared by the driver's plugins.
pub(crate) fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// Starts a call on its own task; its answer comes back as an [`Event::Http`].
pub(crate) fn start(
    client: &Client,
    call: PendingCall,
    events: tokio::sync::mpsc::UnboundedSender<Event>,
) -> tokio::task::AbortHandle {
    let client = client.clone();
    let id = call.id;
    tokio::spawn(async move {
        let answer = perform(&client, call).await;
        let _ = events.send(Event::Http { id, answer });
    })
    .abort_handle()
}

/// Sends one call; `None` when it failed (the filter then sees `num_headers == 0`).
async fn perform(client: &Client, call: PendingCall) -> Option<CallResponse> {
    let uri = format!("{}{}", call.upstream.base, call.path);
    let mut req = http::Request::builder()
        .method(call.method.as_str())
        .uri(&uri)
        .header(http::header::HOST, call.authority.as_str());
    for (k, v) in &call.headers {
        req = req.header(k.as_str(), v.as_slice());
    }
    let req = match req.body(Full::new(Bytes::from(call.body))) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: "weir::wasm", "http_call to {uri}: bad request: {e}");
            return None;
        }
    };
    let work = async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((parts, body))
    };
    match tokio::time::timeout(call.timeout, work).await {
        Ok(Ok((parts, body))) => {
            let mut headers = vec![(
                ":status".to_owned(),
                parts.status.as_str().as_bytes().to_vec(),
            )];
            headers.extend(
                parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec())),
            );
            Some(CallResponse {
                headers,
                body,
                trailers: Vec::new(),
            })
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "weir::wasm", "http_call to {uri} failed: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(target: "weir::wasm", "http_call to {uri} timed out after {:?}", call.timeout);
            None
        }
    }
}
