//! How a node reaches the shared Redis (tyk.conf `storage`): one server, the master Redis
//! Sentinel names, or a Redis Cluster, over TCP or TLS. [`Conn`] runs commands on whichever it
//! is and reconnects by itself; [`Conn::subscribe`] opens the pub/sub connection the cluster
//! notices arrive on; [`Conn::scan`] lists keys on every master.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncCommands, Client, ClientTlsConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisFuture, RedisResult, TlsCertificates,
    TlsMode, Value,
};
use tokio::sync::watch;

use crate::redis_sentinel::Failover;

/// Where the shared Redis is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server, `host:port`.
    Single(String),
    /// Redis Sentinel (`master_name`): the master the sentinels name.
    Sentinel {
        /// The sentinels, `host:port`.
        sentinels: Vec<String>,
        /// The name they know the master by.
        master_name: String,
        /// `sentinel_password`: the sentinels' own password.
        password: String,
    },
    /// A Redis Cluster (`enable_cluster`): seed nodes, `host:port`.
    Cluster(Vec<String>),
}

/// TLS to Redis (`use_ssl`): to every data node and to the sentinels.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// `ssl_insecure_skip_verify`: no certificate check at all.
    pub insecure: bool,
    /// `ca_file`, PEM: the roots trusted instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// `cert_file` and `key_file`, PEM: a client certificate to present.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

/// The shared Redis and how to log in to it (tyk.conf `storage`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// One server, Sentinel or Cluster.
    pub topology: Topology,
    /// `username` (ACL user), for the data nodes.
    pub username: String,
    /// `password`, for the data nodes.
    pub password: String,
    /// `database` (a cluster has only database 0: ignored there, as in Tyk).
    pub database: i64,
    /// TLS, when `use_ssl`.
    pub tls: Option<Tls>,
    /// Connecting and each command.
    pub timeout: Duration,
}

impl RedisTarget {
    /// One server at `addr` (`host:port`), over TCP, without a password.
    pub fn single(addr: impl Into<String>, timeout: Duration) -> Self {
        RedisTarget {
            topology: Topology::Single(addr.into()),
            username: String::new(),
            password: String::new(),
            database: 0,
            tls: None,
            timeout,
        }
    }

    /// A client for the data node at `host:port`.
    pub(crate) fn node(&self, host: &str, port: u16) -> RedisResult<Client> {
        let mut redis = RedisConnectionInfo::default().set_db(self.database);
        if !self.username.is_empty() {
            redis = redis.set_username(&self.username);
        }
        if !self.password.is_empty() {
            redis = redis.set_password(&self.password);
        }
        self.client(host, port, redis)
    }

    /// A client for `host:port` logging in with `redis`, over TLS when `use_ssl`.
    pub(crate) fn client(
        &self,
        host: &str,
        port: u16,
        redis: RedisConnectionInfo,
    ) -> RedisResult<Client> {
        let host = host.to_string();
        let addr = match &self.tls {
            None => ConnectionAddr::Tcp(host, port),
            Some(tls) => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: tls.insecure,
                tls_params: None,
            },
        };
        let info = connection_info(addr, redis)?;
        match self.tls.as_ref().and_then(Tls::certificates) {
            Some(certs) => Client::build_with_tls(info, certs),
            None => Client::open(info),
        }
    }

    pub(crate) fn async_config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
    }
}

fn connection_info(
    addr: ConnectionAddr,
    redis: RedisConnectionInfo,
) -> RedisResult<ConnectionInfo> {
    Ok(addr.into_connection_info()?.set_redis_settings(redis))
}

impl Tls {
    fn certificates(&self) -> Option<TlsCertificates> {
        if self.ca_pem.is_none() && self.client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca_pem.clone(),
        })
    }
}

/// `host:port` (a bare host means port 6379; IPv6 hosts in brackets).
pub(crate) fn host_port(addr: &str) -> RedisResult<(String, u16)> {
    let bad = |why: &'static str| {
        redis::RedisError::from((ErrorKind::InvalidClientConfig, why, addr.to_string()))
    };
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse().map_err(|_| bad("not a port"))?),
        _ => (addr, 6379),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_string(), port))
}

/// Commands on the shared Redis, whichever its topology; cheap to clone.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server, reconnected by the connection manager.
    Single {
        /// Commands.
        conn: ConnectionManager,
        /// Pub/sub connections.
        client: Arc<Client>,
        /// Connecting a subscription.
        timeout: Duration,
    },
    /// The master the sentinels name, found again on failure.
    Sentinel(Failover),
    /// A Redis Cluster: the connection routes by slot and follows the cluster's changes.
    Cluster {
        /// Commands.
        conn: ClusterConnection,
        /// Seed nodes, where subscriptions are made (any node hears every PUBLISH).
        seeds: Arc<[Client]>,
        /// Connecting a subscription.
        timeout: Duration,
    },
}

impl Conn {
    /// Prepares the connection without waiting for Redis: a node starts while Redis is down.
    pub(crate) fn new(target: &RedisTarget) -> RedisResult<Self> {
        if target.tls.is_some() {
            // rustls' process-wide provider, which the redis crate's TLS reads; ring is the
            // workspace's. Already set (by anyone) is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let timeout = target.timeout;
        match &target.topology {
            Topology::Single(addr) => {
                let (host, port) = host_port(addr)?;
                let client = target.node(&host, port)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                Ok(Conn::Single {
                    conn,
                    client: Arc::new(client),
                    timeout,
                })
            }
            Topology::Sentinel {
                sentinels,
                master_name,
                password,
            } => Ok(Conn::Sentinel(Failover::new(
                target,
                sentinels,
                master_name,
                password,
            )?)),
            Topology::Cluster(addrs) => cluster(target, addrs),
        }
    }

    /// True for a Redis Cluster, where keys one script touches must share a hash slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster { .. })
    }

    /// Subscribes to `channel` on a node that hears every publication: the server, the
    /// current master, or a seed node of the cluster (the `attempt`-th, so that a node that
    /// failed is not tried again at once).
    pub(crate) async fn subscribe(
        &self,
        channel: &str,
        attempt: usize,
    ) -> RedisResult<Subscription> {
        let (client, timeout, moved) = match self {
            Conn::Single {
                client, timeout, ..
            } => (Client::clone(client), *timeout, None),
            Conn::Sentinel(f) => {
                let (client, moved) = f.master_client().await?;
                (client, f.timeout(), Some(moved))
            }
            Conn::Cluster { seeds, timeout, .. } => {
                (seeds[attempt % seeds.len()].clone(), *timeout, None)
            }
        };
        let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
            .await
            .map_err(|_| timed_out())??;
        tokio::time::timeout(timeout, pubsub.subscribe(channel))
            .await
            .map_err(|_| timed_out())??;
        Ok(Subscription { pubsub, moved })
    }

    /// Every key matching `pattern`: SCAN on the server, or on every master of a cluster.
    pub(crate) async fn scan(&self, pattern: &str) -> RedisResult<Vec<String>> {
        if let Conn::Cluster { conn, .. } = self {
            return scan_masters(conn.clone(), pattern).await;
        }
        let mut conn = self.clone();
        let mut iter: redis::AsyncIter<String> = conn.scan_match(pattern).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key?);
        }
        Ok(keys)
    }
}

/// SCAN on each master of a cluster, reached through one of the slots it serves.
async fn scan_masters(mut conn: ClusterConnection, pattern: &str) -> RedisResult<Vec<String>> {
    let slots: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await?;
    let mut keys = Vec::new();
    for slot in one_slot_per_master(slots) {
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        )));
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let reply = conn.route_command(scan, route.clone()).await?;
            let (next, found): (u64, Vec<String>) = redis::from_redis_value(reply)?;
            keys.extend(found);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(keys)
}

fn timed_out() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting a subscription").into()
}

/// A Redis Cluster from its seed nodes; connected in the background, on first use.
fn cluster(target: &RedisTarget, addrs: &[String]) -> RedisResult<Conn> {
    if tokio::runtime::Handle::try_current().is_err() {
        // The cluster connection starts its task at once.
        return Err((
            ErrorKind::Client,
            "a Redis Cluster is reached from the Tokio runtime",
        )
            .into());
    }
    let single_db = RedisTarget {
        database: 0,
        ..target.clone()
    };
    let mut infos = Vec::new();
    let mut seeds = Vec::new();
    for addr in addrs {
        let (host, port) = host_port(addr)?;
        let seed = single_db.node(&host, port)?;
        infos.push(seed.get_connection_info().clone());
        seeds.push(seed);
    }
    let mut builder = ClusterClientBuilder::new(infos);
    if let Some(tls) = &target.tls {
        let mode = if tls.insecure {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        };
        builder = builder.tls(mode);
        if let Some(certs) = tls.certificates() {
            builder = builder.certs(certs);
        }
    }
    let config = ClusterConfig::new()
        .set_connection_timeout(target.timeout)
        .set_response_timeout(target.timeout);
    let conn = builder
        .build()?
        .get_pending_async_connection_with_config(config);
    Ok(Conn::Cluster {
        conn,
        seeds: seeds.into(),
        timeout: target.timeout,
    })
}

/// From a `CLUSTER SLOTS` reply, the first slot of each master: a route to every master.
fn one_slot_per_master(reply: Value) -> Vec<u16> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    let mut masters: Vec<(Value, Value)> = Vec::new();
    let mut slots = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Array(node))) = (items.first(), items.get(2))
        else {
            continue;
        };
        let (Some(host), Some(port)) = (node.first(), node.get(1)) else {
            continue;
        };
        let master = (host.clone(), port.clone());
        if let Ok(slot) = u16::try_from(*start)
            && !masters.contains(&master)
        {
            masters.push(master);
            slots.push(slot);
        }
    }
    slots
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single { conn, .. } => conn.req_packed_command(cmd),
            Conn::Sentinel(f) => f.req_packed_command(cmd),
            Conn::Cluster { conn, .. } => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single { conn, .. } => conn.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(f) => f.req_packed_commands(pipeline, offset, count),
            Conn::Cluster { conn, .. } => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single { conn, .. } => conn.get_db(),
            Conn::Sentinel(f) => f.get_db(),
            Conn::Cluster { conn, .. } => conn.get_db(),
        }
    }
}

/// A subscription, held until its connection drops or (Sentinel) the master changes.
pub(crate) struct Subscription {
    pubsub: PubSub,
    moved: Option<watch::Receiver<u64>>,
}

impl Subscription {
    /// Hands each message's payload to `each` until the subscription ends.
    pub(crate) async fn for_each(self, mut each: impl FnMut(String)) {
        let Subscription { mut pubsub, moved } = self;
        let moved = async move {
            if let Some(mut moved) = moved {
                let _ = moved.changed().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(moved);
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => {
                        if let Ok(payload) = msg.get_payload::<String>() {
                            each(payload);
                        }
                    }
                    None => return,
                },
                () = &mut moved => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        assert_eq!(host_port("r1:7000").unwrap(), ("r1".into(), 7000));
        assert_eq!(host_port("r1").unwrap(), ("r1".into(), 6379));
        assert_eq!(host_port("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(host_port("r1:port").is_err());
        assert!(host_port(":7000").is_err());
    }

    #[test]
    fn each_master_is_reached_once() {
        let node = |h: &str, p: i64| {
            Value::Array(vec![
                Value::BulkString(h.into()),
                Value::Int(p),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |a: i64, b: i64, n: Value| Value::Array(vec![Value::Int(a), Value::Int(b), n]);
        let reply = Value::Array(vec![
            range(0, 5460, node("h", 1)),
            range(5461, 10922, node("h", 2)),
            range(10923, 12000, node("h", 3)),
            range(12001, 16383, node("h", 1)),
        ]);
        assert_eq!(one_slot_per_master(reply), [0, 5461, 10923]);
    }
}
