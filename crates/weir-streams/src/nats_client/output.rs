//! What the NATS outputs (`nats`, `nats_jetstream`) share: their fields beside the connection
//! fields (`subject`, `headers`, `metadata`, `max_in_flight`), each message's subject and
//! headers, and the connection a write may use.

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{NatsConn, NatsEndpoint, check_subject, split};
use crate::error::StreamError;
use crate::link::Lazy;
use crate::message::{Message, meta_string};

/// Bento's NATS output fields, beside the connection fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// The subject (interpolated).
    pub subject: String,
    /// Headers (values interpolated).
    pub headers: BTreeMap<String, String>,
    /// Which metadata becomes headers.
    pub metadata: MetadataInclude,
    /// Writes outstanding at once (absent: the component's default).
    #[serde(deserialize_with = "present")]
    pub max_in_flight: Option<usize>,
}

/// Serde helper: a number that, when given, must be one (absent is `None`, null is refused).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    usize::deserialize(d).map(Some)
}

impl OutputConfig {
    /// Reads and checks an output's body (its connection fields and its own); `max_in_flight`
    /// is `in_flight` unless given.
    pub fn read(body: &Value, path: &str, in_flight: usize) -> Result<OutputTarget, StreamError> {
        let (endpoint, rest) = split(body, path)?;
        let cfg: Self = crate::config::typed(&rest, path)?;
        let at = format!("{path}.subject");
        let subject = crate::config::interpolation(&cfg.subject, &at)?;
        // A fixed subject is checked now; an interpolated one at each write.
        if subject.is_static() {
            check_subject(&cfg.subject, false, &at)?;
        }
        let headers = OutputHeaders::new(&cfg.headers, &cfg.metadata, path)?;
        Ok(OutputTarget {
            endpoint,
            subject,
            headers,
            max_in_flight: cfg.max_in_flight.unwrap_or(in_flight).max(1),
        })
    }
}

/// A checked NATS output: where it connects and what each message is published as.
pub struct OutputTarget {
    /// The connection settings.
    pub endpoint: NatsEndpoint,
    subject: bloblang::Interpolation,
    headers: OutputHeaders,
    /// Writes outstanding at once (at least 1).
    pub max_in_flight: usize,
}

impl OutputTarget {
    /// The subject and headers of `msg`.
    pub fn render(&self, msg: &Message) -> Result<(String, Option<HeaderMap>), String> {
        let subject = self
            .subject
            .render(msg)
            .map_err(|e| format!("subject: {e}"))?;
        Ok((subject, self.headers.render(msg)?))
    }
}

/// An output's connection, made if there is none (`nats` picks the client out of `T`). A
/// write while the connection is down fails at once rather than queue behind the
/// reconnection; a client that gave up is replaced at the next write.
pub(crate) async fn usable<T, F, Fut>(
    conn: &Lazy<T>,
    connect: F,
    nats: fn(&T) -> &NatsConn,
) -> Result<T, String>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let c = conn.get(connect).await?;
    let n = nats(&c);
    if n.is_dead() {
        conn.reset("the NATS client gave up reconnecting").await;
        return Err("nats: the connection closed; reconnecting".into());
    }
    if !n.is_up() {
        return Err("nats: not connected (reconnecting)".into());
    }
    Ok(c)
}

/// Bento's `metadata` block on NATS outputs: which metadata keys become headers.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataInclude {
    /// Keys starting with one of these.
    pub include_prefixes: Vec<String>,
    /// Keys matching one of these regular expressions.
    pub include_patterns: Vec<String>,
}

/// An output's headers: `headers` (interpolated; they win over metadata) and the metadata
/// `metadata.include_*` selects.
pub struct OutputHeaders {
    fixed: Vec<(HeaderName, bloblang::Interpolation)>,
    prefixes: Vec<String>,
    patterns: Vec<regex::Regex>,
}

impl OutputHeaders {
    /// Checks the header names and compiles the values and patterns.
    pub fn new(
        headers: &BTreeMap<String, String>,
        meta: &MetadataInclude,
        path: &str,
    ) -> Result<Self, StreamError> {
        let mut fixed = Vec::new();
        for (k, v) in headers {
            let at = format!("{path}.headers.{k}");
            let name = HeaderName::from_str(k)
                .map_err(|e| StreamError::new(&at, format!("not a header name: {e}")))?;
            fixed.push((name, crate::config::interpolation(v, &at)?));
        }
        let mut patterns = Vec::new();
        for (i, p) in meta.include_patterns.iter().enumerate() {
            patterns.push(regex::Regex::new(p).map_err(|e| {
                StreamError::new(
                    format!("{path}.metadata.include_patterns[{i}]"),
                    e.to_string(),
                )
            })?);
        }
        Ok(OutputHeaders {
            fixed,
            prefixes: meta.include_prefixes.clone(),
            patterns,
        })
    }

    /// The headers for `msg` (none: `None`). Metadata that cannot be a header (a name with
    /// `:` or a value with a line break) is left out; a `headers` value that cannot fails.
    pub fn render(&self, msg: &Message) -> Result<Option<HeaderMap>, String> {
        let mut map = HeaderMap::new();
        if !self.prefixes.is_empty() || !self.patterns.is_empty() {
            for (k, _) in msg.metadata.iter() {
                let wanted = self.prefixes.iter().any(|p| k.starts_with(p.as_str()))
                    || self.patterns.iter().any(|p| p.is_match(k));
                if !wanted {
                    continue;
                }
                let value = meta_string(msg, k).unwrap_or_default();
                match (HeaderName::from_str(k), HeaderValue::from_str(&value)) {
                    (Ok(n), Ok(v)) => map.insert(n, v),
                    _ => {
                        tracing::debug!(key = %k, "metadata not sendable as a NATS header; left out")
                    }
                }
            }
        }
        for (name, value) in &self.fixed {
            let text = value
                .render(msg)
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let v = HeaderValue::from_str(&text).map_err(|e| format!("header `{name}`: {e}"))?;
            map.insert(name.clone(), v);
        }
        Ok((!map.is_empty()).then_some(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_headers_from_fields_and_selected_metadata() {
        let fixed = BTreeMap::from([("X-Kind".to_string(), "${! meta(\"kind\") }".to_string())]);
        let meta = MetadataInclude {
            include_prefixes: vec!["keep_".into()],
            include_patterns: vec!["^also$".into()],
        };
        let h = OutputHeaders::new(&fixed, &meta, "o").unwrap();
        let mut m = Message::default();
        for (k, v) in [
            ("kind", "k1"),
            ("keep_a", "1"),
            ("also", "2"),
            ("drop", "3"),
            ("keep_:bad", "4"),
        ] {
            m.metadata.insert(k, bloblang::Value::String(v.into()));
        }
        let map = h.render(&m).unwrap().unwrap();
        assert_eq!(map.get("X-Kind").unwrap().as_str(), "k1");
        assert_eq!(map.get("keep_a").unwrap().as_str(), "1");
        assert_eq!(map.get("also").unwrap().as_str(), "2");
        assert!(map.get("drop").is_none() && map.get("kind").is_none());
        assert_eq!(map.len(), 3);
        let none = OutputHeaders::new(&BTreeMap::new(), &MetadataInclude::default(), "o").unwrap();
        assert!(none.render(&m).unwrap().is_none());
        let bad = BTreeMap::from([("a:b".to_string(), "x".to_string())]);
        let e = OutputHeaders::new(&bad, &MetadataInclude::default(), "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.headers.a:b");
        let bad = MetadataInclude {
            include_patterns: vec!["(".into()],
            ..Default::default()
        };
        let e = OutputHeaders::new(&BTreeMap::new(), &bad, "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.metadata.include_patterns[0]");
    }
}
