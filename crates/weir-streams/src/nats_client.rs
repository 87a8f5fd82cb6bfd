//! What every NATS connector shares: the connection fields (`urls`, `max_reconnects`, `tls`,
//! `tls_handshake_first`, `auth`), checked at load, and a connection whose events (connected,
//! disconnected, slow consumer) drive the component's [`Link`].
//!
//! async-nats reconnects by itself (and re-subscribes core subscriptions); Weir makes a new
//! client only when one gives up (`max_reconnects` reached), with the link's back-off.
//! What only the outputs share is in [`output`].

pub mod output;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use async_nats::connection::State;
use async_nats::{Client, ClientError, ConnectOptions, Event, HeaderMap};
use async_nats::{ServerAddr, Subject};
use serde::Deserialize;
use serde_json::Value;

use crate::error::StreamError;
use crate::kafka_client::TlsConfig;
use crate::link::Link;
use crate::message::Message;

/// The connection fields every NATS component takes, beside its own.
const CONN_FIELDS: [&str; 5] = [
    "urls",
    "max_reconnects",
    "tls",
    "tls_handshake_first",
    "auth",
];

/// Bento's NATS connection fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConnConfig {
    /// Server URLs (`nats://[user:password@]host:port`, or `tls://`); an entry may hold
    /// several, comma separated.
    pub urls: Vec<String>,
    /// Reconnection attempts per server before the client gives up (negative or unset:
    /// never). Weir then makes a new client with its own back-off.
    pub max_reconnects: Option<i64>,
    /// TLS: `enabled`, `root_cas_file` and one `client_certs` file pair are honoured.
    pub tls: TlsConfig,
    /// Start TLS before the server's INFO (servers configured with `handshake_first`).
    pub tls_handshake_first: bool,
    /// Credentials.
    pub auth: AuthConfig,
}

/// Bento's `auth` block. Credentials in a URL (`user:password@` or `token@`) count too.
#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A file holding an NKey seed.
    pub nkey_file: String,
    /// An NKey seed.
    pub nkey: String,
    /// A `.creds` file (user JWT and NKey seed).
    pub user_credentials_file: String,
    /// A user JWT (with `user_nkey_seed`).
    pub user_jwt: String,
    /// The NKey seed that signs for `user_jwt`.
    pub user_nkey_seed: String,
    /// User name (with `password`).
    pub user: String,
    /// Password.
    pub password: String,
    /// Token.
    pub token: String,
}

/// Splits a component body into its checked connection fields and the rest, which the
/// component reads with its own config struct (so unknown fields are still refused by name).
pub fn split(body: &Value, path: &str) -> Result<(NatsEndpoint, Value), StreamError> {
    let (conn, rest) = crate::config::split_fields(body, path, &CONN_FIELDS)?;
    let cfg: NatsConnConfig = crate::config::typed(&conn, path)?;
    Ok((NatsEndpoint::new(cfg, path)?, rest))
}

/// Checked connection settings; connects on demand.
#[derive(Clone, Debug)]
pub struct NatsEndpoint {
    servers: Vec<ServerAddr>,
    auth: AuthConfig,
    max_reconnects: Option<usize>,
    tls: bool,
    root_cas_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    tls_first: bool,
    /// The component path, sent as the connection name (seen in the server's `connz`).
    name: String,
}

impl NatsEndpoint {
    /// Checks the connection fields of the component at `path` (nothing connects yet).
    pub fn new(cfg: NatsConnConfig, path: &str) -> Result<Self, StreamError> {
        let at = |f: &str| format!("{path}.{f}");
        let mut servers = Vec::new();
        let mut auth = cfg.auth;
        for (i, entry) in cfg.urls.iter().enumerate() {
            for url in entry.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                let addr = ServerAddr::from_str(url)
                    .map_err(|e| StreamError::new(format!("{path}.urls[{i}]"), e.to_string()))?;
                url_credentials(&addr, &mut auth, &format!("{path}.urls[{i}]"))?;
                servers.push(addr);
            }
        }
        if servers.is_empty() {
            return Err(StreamError::new(at("urls"), "at least one URL is required"));
        }
        if auth.user_jwt.is_empty() != auth.user_nkey_seed.is_empty() {
            return Err(StreamError::new(
                at("auth"),
                "`user_jwt` and `user_nkey_seed` go together",
            ));
        }
        if !auth.password.is_empty() && auth.user.is_empty() {
            return Err(StreamError::new(at("auth.user"), "a password needs a user"));
        }
        let tls = &cfg.tls;
        let refuse = |f: &str, why: &str| Err(StreamError::new(at(&format!("tls.{f}")), why));
        if tls.skip_cert_verify {
            return refuse(
                "skip_cert_verify",
                "the NATS client always verifies the server's certificate; give its CA in `root_cas_file`",
            );
        }
        if tls.enable_renegotiation {
            return refuse("enable_renegotiation", "TLS renegotiation is not available");
        }
        if !tls.root_cas.is_empty() {
            return refuse(
                "root_cas",
                "inline CA text is not built; use `root_cas_file`",
            );
        }
        let client_cert = match tls.client_certs.as_slice() {
            [] => None,
            [c] if !c.cert.is_empty() || !c.key.is_empty() || !c.password.is_empty() => {
                return refuse(
                    "client_certs[0]",
                    "inline certificates and encrypted keys are not built; use `cert_file` and `key_file`",
                );
            }
            [c] if c.cert_file.is_empty() || c.key_file.is_empty() => {
                return refuse(
                    "client_certs[0]",
                    "`cert_file` and `key_file` are both required",
                );
            }
            [c] => Some((PathBuf::from(&c.cert_file), PathBuf::from(&c.key_file))),
            _ => return refuse("client_certs", "one client certificate is supported"),
        };
        Ok(NatsEndpoint {
            auth,
            // Bento counts reconnection attempts per server; the client counts every attempt,
            // the first connection's included.
            max_reconnects: cfg
                .max_reconnects
                .and_then(|n| usize::try_from(n).ok())
                .map(|n| (n + 1).saturating_mul(servers.len())),
            servers,
            tls: tls.enabled,
            root_cas_file: (!tls.root_cas_file.is_empty())
                .then(|| tls.root_cas_file.clone().into()),
            client_cert,
            tls_first: cfg.tls_handshake_first,
            name: path.to_string(),
        })
    }

    /// Connects. The connection's events move `link` (connected only while `armed`: an
    /// input arms it once its subscription or consumer is in place); `capacity` bounds each
    /// subscription's buffer (messages beyond it are dropped by the client and counted).
    pub async fn connect(
        &self,
        link: &Arc<Link>,
        capacity: Option<usize>,
        armed: bool,
    ) -> Result<NatsConn, String> {
        let state = Arc::new(ConnState {
            armed: AtomicBool::new(armed),
            dead: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let (weak, st) = (Arc::downgrade(link), state.clone());
        let mut opts = self
            .auth_options()
            .await?
            .name(&self.name)
            .event_callback(move |ev| {
                on_event(ev, &weak, &st);
                async {}
            });
        if let Some(n) = self.max_reconnects {
            opts = opts.max_reconnects(n);
        }
        if let Some(n) = capacity {
            opts = opts.subscription_capacity(n.max(1));
        }
        if self.tls {
            opts = opts.require_tls(true);
        }
        if let Some(ca) = &self.root_cas_file {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls_first {
            opts = opts.tls_first();
        }
        let client = opts
            .connect(self.servers.clone())
            .await
            .map_err(|e| format!("nats: {e}"))?;
        Ok(NatsConn { client, state })
    }

    async fn auth_options(&self) -> Result<ConnectOptions, String> {
        let a = &self.auth;
        let mut opts = ConnectOptions::new();
        if !a.user_credentials_file.is_empty() {
            opts = opts
                .credentials_file(&a.user_credentials_file)
                .await
                .map_err(|e| format!("nats: user_credentials_file: {e}"))?;
        }
        if !a.user_jwt.is_empty() {
            // The client reads a JWT and its seed from credentials text only.
            let creds = format!(
                "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
                a.user_jwt.trim(),
                a.user_nkey_seed.trim()
            );
            opts = opts
                .credentials(&creds)
                .map_err(|e| format!("nats: user_jwt: {e}"))?;
        }
        if !a.nkey.is_empty() {
            opts = opts.nkey(a.nkey.trim().to_string());
        }
        if !a.nkey_file.is_empty() {
            let seed = tokio::fs::read_to_string(&a.nkey_file)
                .await
                .map_err(|e| format!("nats: nkey_file `{}`: {e}", a.nkey_file))?;
            opts = opts.nkey(seed.trim().to_string());
        }
        if !a.user.is_empty() {
            opts = opts.user_and_password(a.user.clone(), a.password.clone());
        }
        if !a.token.is_empty() {
            opts = opts.token(a.token.clone());
        }
        Ok(opts)
    }
}

/// Takes `user:password@` or `token@` from a URL into `auth` (the client does not read them
/// from URLs itself). All URLs must agree.
fn url_credentials(addr: &ServerAddr, auth: &mut AuthConfig, at: &str) -> Result<(), StreamError> {
    let (slot, value, other) = match (addr.username(), addr.password()) {
        (Some(user), Some(pass)) => (&mut auth.user, user, Some((&mut auth.password, pass))),
        (Some(token), None) => (&mut auth.token, token, None),
        _ => return Ok(()),
    };
    let set = |slot: &mut String, v: &str| {
        let v = percent_decode(v);
        if !slot.is_empty() && *slot != v {
            return Err(StreamError::new(
                at,
                "the URL's credentials differ from those given elsewhere",
            ));
        }
        *slot = v;
        Ok(())
    };
    set(slot, value)?;
    if let Some((slot, v)) = other {
        set(slot, v)?;
    }
    Ok(())
}

/// Decodes a URL's `%XX` escapes (user info stays encoded in a parsed URL).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the event callback shares with the connection's owner.
struct ConnState {
    armed: AtomicBool,
    dead: AtomicBool,
    dropped: AtomicU64,
}

/// A connected client.
#[derive(Clone)]
pub struct NatsConn {
    /// The client (cheap to clone).
    pub client: Client,
    state: Arc<ConnState>,
}

impl NatsConn {
    /// Whether a `Connected` event marks the link connected (an input disarms it while its
    /// consumer is being re-made).
    pub fn arm(&self, on: bool) {
        self.state.armed.store(on, Ordering::Relaxed);
    }

    /// True once the client gave up (closed, or `max_reconnects` reached): make a new one.
    pub fn is_dead(&self) -> bool {
        self.state.dead.load(Ordering::Relaxed)
    }

    /// True while the connection is up.
    pub fn is_up(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Messages the client dropped because a subscription's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }
}

fn on_event(ev: Event, link: &Weak<Link>, st: &ConnState) {
    // The stream was stopped or replaced: nothing to report to.
    let Some(link) = link.upgrade() else { return };
    match ev {
        Event::Connected if st.armed.load(Ordering::Relaxed) => link.connected(),
        Event::Connected | Event::Draining => {}
        Event::Disconnected => link.failed("disconnected from the NATS server; reconnecting"),
        Event::Closed => {
            st.dead.store(true, Ordering::Relaxed);
            link.failed("the NATS connection closed");
        }
        Event::ClientError(ClientError::MaxReconnects) => {
            st.dead.store(true, Ordering::Relaxed);
            link.failed("gave up after max_reconnects attempts; making a new connection");
        }
        // A failed reconnection attempt: keep the reason for the control API.
        Event::ClientError(e) if !link.is_up() => link.failed(e),
        Event::ClientError(e) => {
            tracing::debug!(component = %link.component, error = %e, "nats client")
        }
        Event::SlowConsumer(_) => {
            let n = st.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once per power of two: an overflow comes in floods.
            if n.is_power_of_two() {
                tracing::warn!(component = %link.component, dropped = n,
                    "slow consumer: NATS dropped messages that arrived while the subscription's buffer (prefetch_count) was full");
            }
        }
        Event::LameDuckMode => {
            tracing::info!(component = %link.component, "the NATS server is shutting down (lame duck mode)")
        }
        Event::ServerError(e) => {
            tracing::warn!(component = %link.component, error = %e, "NATS server error")
        }
    }
}

/// Checks a subject a component subscribes or publishes to (wildcards allowed when `wild`).
pub fn check_subject(subject: &str, wild: bool, at: &str) -> Result<(), StreamError> {
    if subject.is_empty() {
        return Err(StreamError::new(at, "a subject is required"));
    }
    let wildcard = subject.split('.').any(|t| t == "*" || t == ">");
    if (!wild && wildcard) || !Subject::from(subject).is_valid() {
        let what = if wild { "" } else { " (without wildcards)" };
        return Err(StreamError::new(
            at,
            format!("`{subject}` is not a NATS subject{what}"),
        ));
    }
    Ok(())
}

/// Message headers as metadata (first value of each), for inputs.
pub fn headers_to_metadata(headers: Option<&HeaderMap>, msg: &mut Message) {
    for (name, values) in headers.into_iter().flat_map(HeaderMap::iter) {
        if let Some(v) = values.first() {
            msg.metadata.insert(
                AsRef::<str>::as_ref(name),
                bloblang::Value::String(v.as_str().to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(v: Value) -> Result<NatsEndpoint, StreamError> {
        split(&v, "n").map(|(e, _)| e)
    }

    #[test]
    fn urls_are_required_and_credentials_come_from_them() {
        assert_eq!(endpoint(json!({})).unwrap_err().path, "n.urls");
        let e = endpoint(json!({"urls": ["nats://u:p%40ss@127.0.0.1:4222, nats://h2"]})).unwrap();
        assert_eq!(e.servers.len(), 2);
        assert_eq!(
            (e.auth.user.as_str(), e.auth.password.as_str()),
            ("u", "p@ss")
        );
        let e = endpoint(json!({"urls": ["nats://s3cret@h"]})).unwrap();
        assert_eq!(e.auth.token, "s3cret");
        let e = endpoint(json!({"urls": ["nats://a:b@h"], "auth": {"user": "c", "password": "d"}}));
        assert_eq!(e.unwrap_err().path, "n.urls[0]");
        assert_eq!(
            endpoint(json!({"urls": ["nats://h:notaport"]}))
                .unwrap_err()
                .path,
            "n.urls[0]"
        );
    }

    #[test]
    fn what_the_client_cannot_do_is_refused_by_name() {
        let url = json!(["nats://h"]);
        for (tls, field) in [
            (
                json!({"enabled": true, "skip_cert_verify": true}),
                "n.tls.skip_cert_verify",
            ),
            (
                json!({"enable_renegotiation": true}),
                "n.tls.enable_renegotiation",
            ),
            (json!({"root_cas": "PEM"}), "n.tls.root_cas"),
            (
                json!({"client_certs": [{"cert": "PEM", "key": "PEM"}]}),
                "n.tls.client_certs[0]",
            ),
            (
                json!({"client_certs": [{"cert_file": "c"}]}),
                "n.tls.client_certs[0]",
            ),
            (json!({"verify": false}), "n.tls.verify"),
        ] {
            let e = endpoint(json!({"urls": url, "tls": tls})).unwrap_err();
            assert_eq!(e.path, field, "{e}");
        }
        let e = endpoint(json!({"urls": url, "auth": {"user_jwt": "x"}})).unwrap_err();
        assert_eq!(e.path, "n.auth");
        let e = endpoint(json!({"urls": url, "auth": {"kerberos": "x"}})).unwrap_err();
        assert_eq!(e.path, "n.auth.kerberos");
        let ok = endpoint(
            json!({"urls": url, "max_reconnects": -1, "tls_handshake_first": true,
            "tls": {"enabled": true, "root_cas_file": "/ca.pem",
                    "client_certs": [{"cert_file": "/c.pem", "key_file": "/k.pem"}]}}),
        )
        .unwrap();
        assert!(ok.tls && ok.tls_first && ok.max_reconnects.is_none());
        let two = endpoint(json!({"urls": ["nats://a,nats://b"], "max_reconnects": 3})).unwrap();
        assert_eq!(two.max_reconnects, Some(8));
        assert_eq!(ok.root_cas_file, Some(PathBuf::from("/ca.pem")));
    }

    #[test]
    fn split_leaves_the_component_fields() {
        let (_, rest) = split(&json!({"urls": ["h"], "subject": "a", "auth": {}}), "n").unwrap();
        assert_eq!(rest, json!({"subject": "a"}));
    }

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("a.*.>", true, "s").is_ok());
        assert!(check_subject("a.*", false, "s").is_err());
        for bad in ["", "a..b", "a b", ".a"] {
            assert!(check_subject(bad, true, "s").is_err(), "{bad}");
        }
    }
}
