//! `http_client` (input): a polling source. It sends the request, makes a message of each
//! successful answer's body (with `http_status_code` and the response headers as metadata),
//! and sends the next request once the output took the message: one request at a time, paced
//! by the output. A failed request is retried as configured, then again after
//! `retry_period`, reported on the stream's connection state.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Source;
use crate::error::StreamError;
use crate::http_client::HttpClient;
use crate::link::Link;
use crate::message::{Ack, Message, Transaction};

/// Bento's `http_client` input fields beside the shared request fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientInputConfig {
    /// The request body.
    pub payload: String,
    /// Skip answers with an empty body.
    pub drop_empty_bodies: bool,
    /// Deliver a nacked message again.
    pub auto_replay_nacks: bool,
}

impl Default for HttpClientInputConfig {
    fn default() -> Self {
        HttpClientInputConfig {
            payload: String::new(),
            drop_empty_bodies: true,
            auto_replay_nacks: true,
        }
    }
}

/// A checked `http_client` input.
pub struct HttpClientInput {
    client: HttpClient,
    cfg: HttpClientInputConfig,
    link: Arc<Link>,
}

impl HttpClientInput {
    /// Checks the config.
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (client, rest) = HttpClient::split(body, path, "GET")?;
        let cfg: HttpClientInputConfig = crate::config::typed(&rest, path)?;
        let link = Link::register(path, links);
        Ok(HttpClientInput { client, cfg, link })
    }

    fn to_message(answer: crate::http_client::Answer) -> Message {
        let mut msg = Message {
            content: answer.body,
            ..Message::default()
        };
        msg.metadata.insert(
            "http_status_code",
            bloblang::Value::String(answer.status.to_string()),
        );
        for (name, value) in &answer.headers {
            if let Ok(v) = value.to_str() {
                msg.metadata
                    .insert(name.as_str(), bloblang::Value::String(v.into()));
            }
        }
        msg
    }

    async fn poll(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let request = Message::default();
        loop {
            let sent = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.client.send(&request, self.cfg.payload.as_bytes().to_vec()) => r,
            };
            let answer = match sent {
                Ok(a) => {
                    self.link.connected();
                    a
                }
                Err(e) => {
                    self.link.failed(e);
                    if !self.link.pause(&stop).await {
                        return;
                    }
                    continue;
                }
            };
            if answer.body.is_empty() && self.cfg.drop_empty_bodies {
                continue;
            }
            let msg = Self::to_message(answer);
            // One message at a time: the next request waits for this one's final outcome.
            loop {
                let (done, outcome) = oneshot::channel();
                let t = Transaction {
                    msg: msg.clone(),
                    ack: Ack::new(move |o| {
                        let _ = done.send(o);
                    }),
                    sync: None,
                };
                if tx.send(t).await.is_err() {
                    return;
                }
                let result = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = outcome => r,
                };
                match result {
                    Ok(Err(_)) if self.cfg.auto_replay_nacks => {
                        tokio::time::sleep(super::REPLAY_PAUSE).await;
                    }
                    _ => break,
                }
            }
        }
    }
}

impl Source for HttpClientInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.poll(tx, stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streaming_and_rate_limits_are_refused_by_name() {
        let i = |v: Value| HttpClientInput::new(&v, "i", &mut Vec::new());
        assert!(i(json!({"url": "http://h", "payload": "q"})).is_ok());
        assert_eq!(
            i(json!({"url": "http://h", "stream": {"enabled": true}}))
                .err()
                .unwrap()
                .path,
            "i.stream"
        );
        assert_eq!(
            i(json!({"url": "http://h", "rate_limit": "r"}))
                .err()
                .unwrap()
                .path,
            "i.rate_limit"
        );
    }
}
