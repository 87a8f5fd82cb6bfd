//! Redis Sentinel (tyk.conf `master_name`): commands go to the master the sentinels name. The
//! master is found on first use, and found again when its connection fails, when it refuses a
//! write (it was demoted), or when the sentinels name another one (asked every second), so a
//! node follows a failover by itself; subscribers are told, and move to the new master.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, Pipeline, RedisConnectionInfo, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};
use tokio::sync::watch;

use crate::redis_connect::{RedisTarget, host_port};

/// How often the sentinels are asked whether the master changed.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// After a failed look-up, commands fail at once for this long rather than each trying again.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// The master of `master_name`; cheap to clone.
#[derive(Clone)]
pub(crate) struct Failover(Arc<Inner>);

struct Inner {
    target: RedisTarget,
    sentinels: Vec<Client>,
    master_name: String,
    config: AsyncConnectionConfig,
    current: Mutex<Option<Arc<Master>>>,
    /// Held while looking the master up (one look-up at a time); the last failure.
    finding: tokio::sync::Mutex<Option<(Instant, RedisError)>>,
    /// The last sentinel that answered, connected.
    sentinel: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Bumped whenever the master is let go: subscribers move.
    moved: watch::Sender<u64>,
    watcher: OnceLock<tokio::task::AbortHandle>,
}

struct Master {
    addr: (String, u16),
    client: Client,
    conn: MultiplexedConnection,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.get() {
            watcher.abort();
        }
    }
}

impl Failover {
    /// The master named `master_name` by the sentinels at `sentinels` (`host:port`), who take
    /// `password` (`sentinel_password`); the master takes `target`'s login and TLS.
    pub(crate) fn new(
        target: &RedisTarget,
        sentinels: &[String],
        master_name: &str,
        password: &str,
    ) -> RedisResult<Self> {
        let mut login = RedisConnectionInfo::default();
        if !password.is_empty() {
            login = login.set_password(password);
        }
        let sentinels = sentinels
            .iter()
            .map(|addr| {
                let (host, port) = host_port(addr)?;
                target.client(&host, port, login.clone())
            })
            .collect::<RedisResult<Vec<_>>>()?;
        if sentinels.is_empty() {
            return Err((ErrorKind::InvalidClientConfig, "no sentinel addresses").into());
        }
        Ok(Failover(Arc::new(Inner {
            config: target.async_config(),
            target: target.clone(),
            sentinels,
            master_name: master_name.to_string(),
            current: Mutex::default(),
            finding: tokio::sync::Mutex::default(),
            sentinel: tokio::sync::Mutex::default(),
            moved: watch::Sender::new(0),
            watcher: OnceLock::new(),
        })))
    }

    /// Connecting and each command.
    pub(crate) fn timeout(&self) -> Duration {
        self.0.target.timeout
    }

    /// A client for the current master, and a receiver that changes when it is let go.
    pub(crate) async fn master_client(&self) -> RedisResult<(Client, watch::Receiver<u64>)> {
        // Subscribed first, so a change after the look-up is not missed.
        let moved = self.0.moved.subscribe();
        let master = self.0.master().await?;
        Ok((master.client.clone(), moved))
    }

    /// Sends on the master's connection; a master that failed is let go, and a command it
    /// refused as a replica (so did not run) is sent once more, to the master found next.
    async fn run<T, F, Fut>(&self, send: F) -> RedisResult<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let master = self.0.master().await?;
            let result = send(master.conn.clone()).await;
            let Err(e) = &result else { return result };
            if !self.0.let_go_if_lost(&master, e) || retried || !not_run(e) {
                return result;
            }
            retried = true;
        }
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Master>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The master, looked up if there is none (or the last look-up failed a while ago).
    async fn master(self: &Arc<Self>) -> RedisResult<Arc<Master>> {
        if let Some(m) = self.current() {
            return Ok(m);
        }
        let mut failed = self.finding.lock().await;
        if let Some(m) = self.current() {
            return Ok(m);
        }
        if let Some((at, e)) = failed.as_ref()
            && at.elapsed() < RETRY_AFTER
        {
            return Err(e.clone());
        }
        let found = tokio::time::timeout(self.target.timeout * 2, self.find())
            .await
            .unwrap_or_else(|_| Err(lost("no master found in time")));
        match found {
            Ok(m) => {
                let m = Arc::new(m);
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(m.clone());
                *failed = None;
                self.watch();
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(master_name = %self.master_name, error = %e, "no Redis master found through the sentinels");
                *failed = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Asks the sentinels for the master, connects, and checks that it is one.
    async fn find(&self) -> RedisResult<Master> {
        let (host, port) = self.ask_sentinels().await?;
        let client = self.target.node(&host, port)?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        let is_master = match role.first() {
            Some(Value::BulkString(r)) => r == b"master",
            Some(Value::SimpleString(r)) => r == "master",
            _ => false,
        };
        if !is_master {
            return Err(lost("the sentinels name a node that is not a master"));
        }
        tracing::info!(master_name = %self.master_name, master = %format!("{host}:{port}"), "following the Redis master");
        Ok(Master {
            addr: (host, port),
            client,
            conn,
        })
    }

    /// The master's address, from the last sentinel that answered, else the first that does.
    async fn ask_sentinels(&self) -> RedisResult<(String, u16)> {
        let mut cached = self.sentinel.lock().await;
        if let Some(conn) = cached.clone() {
            match self.ask(conn).await {
                Ok(addr) => return Ok(addr),
                Err(_) => *cached = None,
            }
        }
        let mut last = lost("no sentinel answered");
        for sentinel in &self.sentinels {
            let conn = match sentinel
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
            {
                Ok(conn) => conn,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match self.ask(conn.clone()).await {
                Ok(addr) => {
                    *cached = Some(conn);
                    return Ok(addr);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn ask(&self, mut conn: MultiplexedConnection) -> RedisResult<(String, u16)> {
        let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master_name)
            .query_async(&mut conn)
            .await?;
        addr.ok_or_else(|| {
            RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "the sentinel does not know the master",
                self.master_name.clone(),
            ))
        })
    }

    /// Lets `master` go (if still current) when `e` says its connection or role is gone;
    /// true when it did.
    fn let_go_if_lost(&self, master: &Arc<Master>, e: &RedisError) -> bool {
        let gone = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || not_run(e);
        if gone {
            self.let_go(master);
        }
        gone
    }

    fn let_go(&self, master: &Arc<Master>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, master)) {
            *current = None;
            drop(current);
            self.moved.send_modify(|n| *n += 1);
        }
    }

    /// Starts (once) asking the sentinels every second whether the master moved: a master
    /// demoted by a failover keeps answering, as a master, for a while.
    fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        self.watcher.get_or_init(|| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(WATCH_EVERY).await;
                    let Some(inner) = weak.upgrade() else { return };
                    let Some(master) = inner.current() else {
                        continue;
                    };
                    if let Ok(Ok(addr)) =
                        tokio::time::timeout(inner.target.timeout, inner.ask_sentinels()).await
                        && addr != master.addr
                    {
                        tracing::info!(master_name = %inner.master_name, "the sentinels name another Redis master");
                        inner.let_go(&master);
                    }
                }
            })
            .abort_handle()
        });
    }
}

/// A write a replica refused: the command did not run, and may be sent again.
fn not_run(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
    )
}

fn lost(what: &'static str) -> RedisError {
    std::io::Error::new(std::io::ErrorKind::NotConnected, what).into()
}

impl ConnectionLike for Failover {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.run(move |mut conn| async move { conn.req_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.run(move |mut conn| async move {
            conn.req_packed_commands(pipeline, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.0.target.database
    }
}
