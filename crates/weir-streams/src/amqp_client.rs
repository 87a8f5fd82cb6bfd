//! What the `amqp_0_9` input and output share: the broker URLs (`urls`, `tls`), checked at
//! load, and connecting to the first broker that answers.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

use crate::error::StreamError;
use crate::kafka_client::TlsConfig;

/// How long a connection attempt to one broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checked broker URLs; connects on demand.
pub struct AmqpEndpoint {
    urls: Vec<String>,
    /// The connection name (seen in the broker's connection list): `weir <component path>`.
    name: String,
}

impl AmqpEndpoint {
    /// Checks `urls` (entries may hold several, comma-separated) and `tls` of the component
    /// at `path`. TLS is refused: lapin is built here without a TLS stack that verifies
    /// servers.
    pub fn new(urls: &[String], tls: &TlsConfig, path: &str) -> Result<Self, StreamError> {
        if tls.enabled {
            return Err(StreamError::new(
                format!("{path}.tls"),
                "TLS to AMQP brokers is not built; use amqp:// on a trusted network",
            ));
        }
        let list: Vec<String> = urls
            .iter()
            .flat_map(|u| u.split(','))
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        if list.is_empty() {
            return Err(StreamError::new(
                format!("{path}.urls"),
                "at least one URL is required",
            ));
        }
        for (i, u) in list.iter().enumerate() {
            let at = format!("{path}.urls[{i}]");
            if u.starts_with("amqps://") {
                return Err(StreamError::new(at, "amqps:// (TLS) is not built"));
            }
            if !u.starts_with("amqp://") {
                return Err(StreamError::new(at, "expected an amqp:// URL"));
            }
            u.parse::<lapin::uri::AMQPUri>()
                .map_err(|e| StreamError::new(at, format!("bad URL: {e}")))?;
        }
        Ok(AmqpEndpoint {
            urls: list,
            name: format!("weir {path}"),
        })
    }

    /// Connects to the first of the URLs that answers within [`CONNECT_TIMEOUT`].
    pub async fn connect(&self) -> Result<Connection, String> {
        let mut last = String::from("no URL");
        for url in &self.urls {
            let props =
                ConnectionProperties::default().with_connection_name(self.name.as_str().into());
            match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props)).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => last = format!("amqp connect: {e}"),
                Err(_) => last = format!("amqp connect: no answer within {CONNECT_TIMEOUT:?}"),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    #[test]
    fn comma_separated_urls_are_split() {
        let e = AmqpEndpoint::new(
            &[format!("{URL}, amqp://127.0.0.1:5673/")],
            &TlsConfig::default(),
            "p",
        )
        .unwrap();
        assert_eq!(e.urls.len(), 2);
        assert_eq!(e.name, "weir p");
    }
}
