//! The seed's enrichment plugin for Weir's native driver: fills `camera_location`,
//! `camera_status` and `install_date` of each `DetectionEvent` of
//! `/vision.VisionService/StreamDetections` from the `CameraRegistry` table (SQLite,
//! PostgreSQL, MariaDB/MySQL or SQL Server), through a local cache, optionally a shared Redis
//! cache, and never waiting on either in the hook. See README.md for the configuration.
//!
//! Hooks: stream hook `HandleStream`, and the pre hook `MyInit` the seed also declares (a
//! no-op: the pool is opened once, at load).

mod background;
pub mod cache;
pub mod config;
mod mssql;
mod registry;
mod shared;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use weir_plugin_sdk::serde_json::Value;
use weir_plugin_sdk::{Direction, GrpcMessage, Level, Plugin, Request, Verdict, export_plugin};

use background::{Counter, Counters, Notes, Runtime};
use cache::{CameraInfo, State};
use config::Config;
use registry::Registry;
use shared::SharedCache;
use wire::Metadata;

/// The only method this plugin looks into.
pub const METHOD: &str = "/vision.VisionService/StreamDetections";

/// Names of the counters the hook keeps, shown on `/metrics` as
/// `weir_plugin_events_total{api_id, name}`.
pub mod counters {
    /// Events sent on with registry data.
    pub const ENRICHED: &str = "enriched";
    /// Events sent on unenriched because the camera was not known yet (a lookup was started
    /// or is running).
    pub const CACHE_MISS: &str = "cache_miss";
    /// Events sent on unenriched because the camera's last lookup failed (database down or
    /// slower than `query_timeout_ms`).
    pub const UNENRICHED_DB_UNAVAILABLE: &str = "unenriched_db_unavailable";
    /// Events of cameras the registry does not have (sent on unchanged).
    pub const UNKNOWN_CAMERA: &str = "unknown_camera";
}

/// Lookups allowed at once per pooled connection: more would only queue for the pool and time
/// out as if the database were down.
const LOOKUPS_PER_CONNECTION: usize = 8;

/// What the hook and the lookups share.
struct Inner {
    config: Config,
    state: Arc<State>,
    registry: Registry,
    redis: Option<SharedCache>,
    counters: Counters,
    notes: Notes,
}

/// The plugin: one per API load.
pub struct Enricher {
    inner: Arc<Inner>,
    runtime: Runtime<Arc<Inner>>,
    /// Whether the counters were made to appear on `/metrics` (at 0) yet.
    announced: AtomicBool,
}

impl Drop for Enricher {
    fn drop(&mut self) {
        // The pools close on the runtime's thread; the gateway's thread does not wait.
        self.runtime.stop(self.inner.clone());
    }
}

impl Plugin for Enricher {
    const NAME: &'static str = "weir-vision-enricher";

    fn init(config: &Value) -> Result<Self, String> {
        let config = Config::from_json(config)?;
        let runtime = Runtime::start("weir-vision-enricher", |inner: Arc<Inner>| async move {
            inner.registry.close().await;
        })?;
        // sqlx's pools start their maintenance tasks on the runtime they are made in.
        let registry = {
            let _inside = runtime.handle().enter();
            Registry::open(&config)?
        };
        let redis = match &config.redis_url {
            Some(url) => Some(SharedCache::new(url, config.query_timeout)?),
            None => None,
        };
        let max_running = config.pool_size as usize * LOOKUPS_PER_CONNECTION;
        let inner = Arc::new(Inner {
            state: Arc::new(State::new(config.ttl, config.capacity, max_running)),
            config,
            registry,
            redis,
            counters: Counters::default(),
            notes: Notes::default(),
        });
        Ok(Enricher {
            inner,
            runtime,
            announced: AtomicBool::new(false),
        })
    }

    /// The seed declares its initialiser as a pre hook: nothing to do per request.
    fn pre(&self, name: &str, _req: &mut Request) -> Result<(), String> {
        match name {
            "MyInit" => Ok(()),
            _ => Err(format!("no pre hook named {name}")),
        }
    }

    fn on_grpc_message(&self, name: &str, msg: &mut GrpcMessage) -> Result<Verdict, String> {
        if name != "HandleStream" {
            return Err(format!("no stream hook named {name}"));
        }
        self.report(msg);
        if msg.method() != METHOD {
            return Ok(Verdict::Pass);
        }
        let payload = msg.payload();
        let Some(id) = wire::camera_id(payload) else {
            return Ok(Verdict::Pass);
        };
        let now = Instant::now();
        if msg.direction() == Direction::ToUpstream {
            // The call's DetectionRequest names its camera: look it up before the first event.
            self.look_up(id, now);
            return Ok(Verdict::Pass);
        }
        let Some(cached) = self.inner.state.get(id) else {
            let why = match self.inner.state.failed(id) {
                true => counters::UNENRICHED_DB_UNAVAILABLE,
                false => counters::CACHE_MISS,
            };
            self.look_up(id, now);
            count(msg, why);
            return Ok(Verdict::Pass);
        };
        if cached.is_stale(now) {
            // Served as it is while the refresh runs.
            self.look_up(id, now);
        }
        let Some(info) = cached.info else {
            count(msg, counters::UNKNOWN_CAMERA);
            return Ok(Verdict::Pass);
        };
        count(msg, counters::ENRICHED);
        Ok(match wire::enrich(payload, &metadata(&info)) {
            Some(enriched) => Verdict::Replace(enriched),
            None => Verdict::Pass,
        })
    }
}

fn metadata(info: &CameraInfo) -> Metadata<'_> {
    Metadata {
        location: info.location.as_deref(),
        status: info.status.as_deref(),
        install_date: info.install_date.as_deref(),
    }
}

/// Counts one event; a gateway without counters loses the count, never the message.
fn count(msg: &mut GrpcMessage, name: &str) {
    let _ = msg.count(name, 1);
}

impl Enricher {
    /// Reports what the lookups counted and logged since the last call.
    fn report(&self, msg: &mut GrpcMessage) {
        if !self.announced.swap(true, Ordering::Relaxed) {
            let hook = [
                counters::ENRICHED,
                counters::CACHE_MISS,
                counters::UNENRICHED_DB_UNAVAILABLE,
                counters::UNKNOWN_CAMERA,
            ];
            for name in hook.into_iter().chain(Counters::NAMES) {
                let _ = msg.count(name, 0);
            }
        }
        for (name, n) in self.inner.counters.take() {
            let _ = msg.count(name, n);
        }
        if let Some((level, line)) = self.inner.notes.take() {
            msg.log(level, &line);
        }
    }

    /// Starts a lookup of `id` on the plugin's runtime, unless one is running, the entry is
    /// fresh, or the last one failed under a second ago. Never waits.
    fn look_up(&self, id: &str, now: Instant) {
        if let Some(flight) = self.inner.state.begin(id, now) {
            let inner = self.inner.clone();
            self.runtime.spawn(async move {
                lookup(&inner, flight.id()).await;
                drop(flight);
            });
        }
    }
}

/// One lookup: Redis first (when configured), then the database, each within
/// `query_timeout_ms`. The result (or the failure) goes into the cache state.
async fn lookup(inner: &Inner, id: &str) {
    let ttl = inner.config.ttl;
    if let Some(redis) = inner.redis.as_ref().filter(|r| !r.paused()) {
        match redis.get(id).await {
            Ok(Some((info, left))) => {
                inner.counters.add(Counter::RedisHits);
                let fresh = left.map_or(ttl, |left| left.min(ttl));
                inner.state.store(id, info, Instant::now() + fresh);
                return;
            }
            Ok(None) => {}
            Err(e) => {
                inner.counters.add(Counter::RedisErrors);
                let line = format!("shared cache unavailable, reading the registry instead: {e}");
                inner.notes.push(Level::Warn, line);
            }
        }
    }
    inner.counters.add(Counter::DbQueries);
    let timeout = inner.config.query_timeout;
    let result = match tokio::time::timeout(timeout, inner.registry.fetch(id)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within query_timeout_ms ({} ms)",
            timeout.as_millis()
        )),
    };
    match result {
        Ok(info) => {
            inner.state.store(id, info.clone(), Instant::now() + ttl);
            if let Some(redis) = inner.redis.as_ref().filter(|r| !r.paused())
                && let Err(e) = redis.put(id, info.as_ref(), ttl).await
            {
                inner.counters.add(Counter::RedisErrors);
                let line = format!("could not update the shared cache: {e}");
                inner.notes.push(Level::Warn, line);
            }
        }
        Err(e) => {
            inner.counters.add(Counter::DbErrors);
            inner.state.fail(id, Instant::now());
            let line = format!(
                "camera registry lookup of `{id}` failed, events pass unenriched and the lookup \
                 is retried (at most once a second): {e}"
            );
            inner.notes.push(Level::Warn, line);
        }
    }
}

export_plugin!(Enricher);
