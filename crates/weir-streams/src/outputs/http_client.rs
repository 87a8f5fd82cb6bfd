//! `http_client` (output): sends each message as a request body (a webhook sink). The write
//! succeeds on a 2xx answer (or a status in `successful_on`); failures are retried as
//! configured, then nack the message.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::http_client::HttpClient;
use crate::message::{Message, Outcome, SyncSlot};

/// Bento's `http_client` output fields beside the shared request fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientOutputConfig {
    /// Put the response in the reply of a `sync_response` input.
    pub propagate_response: bool,
    /// Requests outstanding at once.
    pub max_in_flight: usize,
}

impl Default for HttpClientOutputConfig {
    fn default() -> Self {
        HttpClientOutputConfig {
            propagate_response: false,
            max_in_flight: 64,
        }
    }
}

/// A checked `http_client` output.
pub struct HttpClientOutput {
    client: Arc<HttpClient>,
    cfg: HttpClientOutputConfig,
}

impl HttpClientOutput {
    /// Checks the config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let (client, rest) = HttpClient::split(body, path, "POST")?;
        let cfg: HttpClientOutputConfig = crate::config::typed(&rest, path)?;
        Ok(HttpClientOutput {
            client: Arc::new(client),
            cfg,
        })
    }
}

impl Output for HttpClientOutput {
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let client = self.client.clone();
        let propagate = self.cfg.propagate_response;
        Box::pin(async move {
            let body = msg.content.clone();
            let answer = client.send(&msg, body).await?;
            if propagate && let Some(slot) = sync {
                let mut reply = msg;
                reply.content = answer.body;
                reply.metadata.insert(
                    "http_status_code",
                    bloblang::Value::String(answer.status.to_string()),
                );
                slot.set(reply);
            }
            Ok(())
        })
    }

    fn max_in_flight(&self) -> usize {
        self.cfg.max_in_flight.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_refused_by_name() {
        assert!(HttpClientOutput::new(&json!({"url": "http://h"}), "o").is_ok());
        let e = HttpClientOutput::new(&json!({"url": "http://h", "batch_as_multipart": true}), "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.batch_as_multipart");
        let e = HttpClientOutput::new(
            &json!({"url": "http://h", "oauth2": {"enabled": true}}),
            "o",
        )
        .err()
        .unwrap();
        assert_eq!(e.path, "o.oauth2");
    }
}
