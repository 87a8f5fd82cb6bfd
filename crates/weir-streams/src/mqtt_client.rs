//! What the MQTT input and output share: the connection fields (`urls`, `client_id`,
//! `dynamic_client_id_suffix`, `connect_timeout`, `will`, `user`, `password`, `keepalive`,
//! `tls`), checked at load, the options each connection is made with, and QoS values.

use std::time::Duration;

use rumqttc::{EventLoop, LastWill, MqttOptions, QoS};
use serde::Deserialize;
use serde_json::Value;

use crate::error::StreamError;
use crate::kafka_client::TlsConfig;

/// The connection fields both MQTT components take, beside their own.
const CONN_FIELDS: [&str; 9] = [
    "urls",
    "client_id",
    "dynamic_client_id_suffix",
    "connect_timeout",
    "will",
    "user",
    "password",
    "keepalive",
    "tls",
];

/// Bento's MQTT connection fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConnConfig {
    /// Broker URLs (`tcp://host:port` or `mqtt://host:port`), used in turn; an entry may hold
    /// several, comma separated.
    pub urls: Vec<String>,
    /// Client id (empty: the broker assigns one). The input requires one with
    /// `clean_session: false`: the broker keeps the session by it.
    pub client_id: String,
    /// `nanoid`: append a random suffix to `client_id` (empty: none).
    pub dynamic_client_id_suffix: String,
    /// How long a connection attempt may take.
    #[serde(with = "crate::config::go_duration")]
    pub connect_timeout: Duration,
    /// Last will.
    pub will: WillConfig,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Keep-alive interval in seconds (0: none).
    pub keepalive: u64,
    /// TLS (not built).
    pub tls: TlsConfig,
}

impl Default for MqttConnConfig {
    fn default() -> Self {
        MqttConnConfig {
            urls: Vec::new(),
            client_id: String::new(),
            dynamic_client_id_suffix: String::new(),
            connect_timeout: Duration::from_secs(30),
            will: WillConfig::default(),
            user: String::new(),
            password: String::new(),
            keepalive: 30,
            tls: TlsConfig::default(),
        }
    }
}

/// `will`: what the broker publishes when the client goes away without a DISCONNECT.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct WillConfig {
    /// Set a last will.
    pub enabled: bool,
    /// Its QoS.
    pub qos: u8,
    /// Retain it.
    pub retained: bool,
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: String,
}

/// Splits a component body into its connection fields, read but not yet checked (the
/// component reads its own fields first, with its own config struct, then checks these with
/// [`MqttConn::new`]), and the rest.
pub fn split(body: &Value, path: &str) -> Result<(MqttConnConfig, Value), StreamError> {
    let (conn, rest) = crate::config::split_fields(body, path, &CONN_FIELDS)?;
    Ok((crate::config::typed(&conn, path)?, rest))
}

/// `qos` as a QoS, naming `field` when out of range.
pub(crate) fn qos(n: u8, field: &str) -> Result<QoS, StreamError> {
    rumqttc::qos(n).map_err(|_| StreamError::new(field, format!("QoS {n} is not 0, 1 or 2")))
}

/// Checked connection settings, from which each connection's options are made.
pub(crate) struct MqttConn {
    brokers: Vec<(String, u16)>,
    client_id: String,
    connect_timeout: Duration,
    will: Option<LastWill>,
    credentials: Option<(String, String)>,
    keepalive: Duration,
}

impl MqttConn {
    /// Checks the connection fields of the component at `path`.
    pub(crate) fn new(f: &MqttConnConfig, path: &str) -> Result<Self, StreamError> {
        if f.tls.enabled {
            return Err(StreamError::new(
                format!("{path}.tls"),
                "TLS to MQTT brokers is not built; use tcp:// on a trusted network",
            ));
        }
        let urls: Vec<&str> = f
            .urls
            .iter()
            .flat_map(|u| u.split(','))
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(StreamError::new(
                format!("{path}.urls"),
                "at least one URL is required",
            ));
        }
        let brokers = urls
            .iter()
            .enumerate()
            .map(|(i, u)| broker(u).map_err(|e| StreamError::new(format!("{path}.urls[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let client_id = match f.dynamic_client_id_suffix.as_str() {
            "" => f.client_id.to_string(),
            "nanoid" => format!("{}{}", f.client_id, nanoid()),
            other => {
                return Err(StreamError::new(
                    format!("{path}.dynamic_client_id_suffix"),
                    format!("`{other}` is not a suffix kind (only `nanoid` is)"),
                ));
            }
        };
        let will = last_will(&f.will, path)?;
        if f.keepalive > u64::from(u16::MAX) {
            return Err(StreamError::new(
                format!("{path}.keepalive"),
                "at most 65535 seconds (MQTT sends it in 16 bits)",
            ));
        }
        if f.user.is_empty() && !f.password.is_empty() {
            return Err(StreamError::new(
                format!("{path}.password"),
                "MQTT 3.1.1 sends a password only with a user name; set `user`",
            ));
        }
        let credentials =
            (!f.user.is_empty()).then(|| (f.user.to_string(), f.password.to_string()));
        Ok(MqttConn {
            brokers,
            client_id,
            connect_timeout: f.connect_timeout,
            will,
            credentials,
            keepalive: Duration::from_secs(f.keepalive),
        })
    }

    /// The client id in use (with its suffix).
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Options for connecting to the `n`th broker (round robin).
    pub(crate) fn options(&self, n: usize) -> MqttOptions {
        let (host, port) = &self.brokers[n % self.brokers.len()];
        let mut o = MqttOptions::new(&self.client_id, host, *port);
        o.set_keep_alive(self.keepalive)
            // rumqttc's 10 KiB default would refuse ordinary messages; MQTT allows 256 MiB.
            .set_max_packet_size(256 << 20, 256 << 20);
        if let Some(w) = &self.will {
            o.set_last_will(w.clone());
        }
        if let Some((u, p)) = &self.credentials {
            o.set_credentials(u, p);
        }
        o
    }

    /// Applies the connect timeout (rumqttc counts it in whole seconds).
    pub(crate) fn configure(&self, el: &mut EventLoop) {
        let secs = self.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        el.network_options.set_connection_timeout(secs);
    }

    /// How many brokers there are to rotate through.
    pub(crate) fn brokers(&self) -> usize {
        self.brokers.len()
    }
}

/// The checked `will`, if enabled.
fn last_will(w: &WillConfig, path: &str) -> Result<Option<LastWill>, StreamError> {
    if !w.enabled {
        return Ok(None);
    }
    if w.topic.is_empty() {
        return Err(StreamError::new(
            format!("{path}.will.topic"),
            "a will needs a topic",
        ));
    }
    let q = qos(w.qos, &format!("{path}.will.qos"))?;
    Ok(Some(LastWill::new(
        &w.topic,
        w.payload.as_bytes().to_vec(),
        q,
        w.retained,
    )))
}

/// `tcp://host:port` or `mqtt://host:port` (port 1883 when absent) as host and port.
fn broker(url: &str) -> Result<(String, u16), String> {
    let u = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    match u.scheme() {
        "tcp" | "mqtt" => {}
        "ssl" | "tls" | "mqtts" => return Err("TLS to MQTT brokers is not built".into()),
        "ws" | "wss" => return Err("MQTT over WebSocket is not built".into()),
        other => return Err(format!("unknown scheme `{other}` (tcp:// or mqtt://)")),
    }
    let host = u.host_str().filter(|h| !h.is_empty()).ok_or("no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), u.port().unwrap_or(1883)))
}

/// 21 characters of nanoid's URL-safe alphabet, from random UUID bytes.
fn nanoid() -> String {
    const ALPHABET: &[u8; 64] = b"_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let bytes = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ];
    bytes
        .iter()
        .flatten()
        .take(21)
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(v: Value) -> Result<MqttConn, StreamError> {
        let (cfg, _) = split(&v, "c")?;
        MqttConn::new(&cfg, "c")
    }

    #[test]
    fn urls_ports_and_client_id_suffix() {
        let c = conn(json!({
            "urls": ["mqtt://broker, tcp://127.0.0.1:1884"],
            "client_id": "weir-", "dynamic_client_id_suffix": "nanoid",
        }))
        .unwrap();
        assert_eq!(
            c.brokers,
            [
                ("broker".to_string(), 1883),
                ("127.0.0.1".to_string(), 1884)
            ]
        );
        assert_eq!(c.client_id().len(), "weir-".len() + 21);
        assert_eq!(c.options(1).broker_address(), ("127.0.0.1".into(), 1884));
    }

    #[test]
    fn split_leaves_the_component_fields() {
        let (cfg, rest) = split(
            &json!({"urls": ["tcp://h"], "topic": "t", "keepalive": 5}),
            "c",
        )
        .unwrap();
        assert_eq!(rest, json!({"topic": "t"}));
        assert_eq!((cfg.urls.len(), cfg.keepalive), (1, 5));
        assert_eq!(
            split(&json!({"will": {"x": 1}}), "c").err().unwrap().path,
            "c.will.x"
        );
    }
}
