//! What the hook knows about cameras without any I/O: the local cache (moka: a TTL and a bound),
//! the lookups running now (one per camera: single flight), and the cameras whose last lookup
//! failed (retried at most once per [`RETRY_AFTER`]).
//!
//! An entry is *fresh* for the TTL after it was read from the database; a stale entry is still
//! served for one more TTL while a refresh runs, so a busy stream does not lose its enrichment
//! each time an entry ages out. Past that grace (or sooner, when the cache is full) the entry
//! is gone and the next message is a miss.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

/// A failed lookup of a camera is not repeated before this.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long a failure is remembered (for the counter that says why a message was not
/// enriched); each failed retry renews it.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// One `CameraRegistry` row; a NULL column is `None` and leaves that field of the event as it
/// came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CameraInfo {
    /// `location`.
    pub location: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `install_date`, as text.
    pub install_date: Option<String>,
}

/// A cached lookup: the row, or `None` for a camera the registry does not have.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The row; `None` caches the camera's absence (the negative cache).
    pub info: Option<Arc<CameraInfo>>,
    /// Until then the entry is used as is; after it, it is served while a refresh runs.
    pub fresh_until: Instant,
}

impl Cached {
    /// True when the entry needs a refresh.
    pub fn is_stale(&self, now: Instant) -> bool {
        now >= self.fresh_until
    }
}

/// Keeps each entry for its freshness plus one grace period.
struct Lifetime {
    grace: Duration,
}

impl Lifetime {
    fn left(&self, value: &Cached, now: Instant) -> Option<Duration> {
        Some(value.fresh_until.saturating_duration_since(now) + self.grace)
    }
}

impl Expiry<String, Cached> for Lifetime {
    fn expire_after_create(&self, _: &String, value: &Cached, now: Instant) -> Option<Duration> {
        self.left(value, now)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Cached,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.left(value, now)
    }
}

/// The hook's view of every camera.
pub struct State {
    cache: Cache<String, Cached>,
    /// When each camera's last lookup failed.
    failures: Cache<String, Instant>,
    running: Mutex<HashSet<String>>,
    max_running: usize,
    ttl: Duration,
}

/// A lookup that [`State::begin`] allowed; the camera counts as being looked up until this is
/// dropped (after the result is stored, or when the task is cancelled).
pub struct Flight {
    state: Arc<State>,
    id: String,
}

impl Flight {
    /// The camera being looked up.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.state.running().remove(&self.id);
    }
}

impl State {
    /// A cache of at most `capacity` cameras, fresh for `ttl`, with at most `max_running`
    /// lookups at once.
    pub fn new(ttl: Duration, capacity: u64, max_running: usize) -> State {
        let cache = Cache::builder()
            .max_capacity(capacity)
            .expire_after(Lifetime { grace: ttl })
            .build();
        let failures = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(FAILURE_MEMORY)
            .build();
        State {
            cache,
            failures,
            running: Mutex::new(HashSet::new()),
            max_running,
            ttl,
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent whatever panicked while holding it.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The TTL entries are fresh for.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cached lookup of `id`, fresh or stale, when there is one.
    pub fn get(&self, id: &str) -> Option<Cached> {
        self.cache.get(id)
    }

    /// True when `id`'s last lookup failed and none has succeeded since.
    pub fn failed(&self, id: &str) -> bool {
        self.failures.contains_key(id)
    }

    /// Starts a lookup of `id` unless it has a fresh entry, one is running, its last one failed
    /// less than [`RETRY_AFTER`] ago, or too many are running.
    pub fn begin(self: &Arc<Self>, id: &str, now: Instant) -> Option<Flight> {
        if self.cache.get(id).is_some_and(|c| !c.is_stale(now)) {
            return None;
        }
        if self
            .failures
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(at) < RETRY_AFTER)
        {
            return None;
        }
        let mut running = self.running();
        if running.len() >= self.max_running || !running.insert(id.to_owned()) {
            return None;
        }
        drop(running);
        Some(Flight {
            state: self.clone(),
            id: id.to_owned(),
        })
    }

    /// Stores a lookup's result, fresh until `fresh_until`.
    pub fn store(&self, id: &str, info: Option<CameraInfo>, fresh_until: Instant) {
        self.failures.invalidate(id);
        let cached = Cached {
            info: info.map(Arc::new),
            fresh_until,
        };
        self.cache.insert(id.to_owned(), cached);
    }

    /// Records a failed lookup at `now`: the camera is retried no sooner than [`RETRY_AFTER`].
    pub fn fail(&self, id: &str, now: Instant) {
        self.failures.insert(id.to_owned(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(location: &str) -> Option<CameraInfo> {
        Some(CameraInfo {
            location: Some(location.into()),
            ..CameraInfo::default()
        })
    }

    #[test]
    fn one_lookup_per_camera_at_a_time() {
        let state = Arc::new(State::new(Duration::from_secs(30), 100, 10));
        let now = Instant::now();
        let flight = state.begin("cam-1", now).unwrap();
        assert!(state.begin("cam-1", now).is_none(), "single flight");
        let other = state.begin("cam-2", now).unwrap();
        assert_eq!(other.id(), "cam-2");
        drop(flight);
        // Dropped without a result (a cancelled task): the camera can be looked up again.
        assert!(state.begin("cam-1", now).is_some());
    }

    #[test]
    fn fresh_entries_need_no_lookup_and_stale_ones_are_served_while_refreshed() {
        let state = Arc::new(State::new(Duration::from_secs(30), 100, 10));
        let now = Instant::now();
        let flight = state.begin("cam-1", now).unwrap();
        state.store("cam-1", info("Gate"), now + Duration::from_secs(30));
        drop(flight);
        assert!(state.begin("cam-1", now).is_none(), "fresh");
        let cached = state.get("cam-1").unwrap();
        assert_eq!(cached.info.unwrap().location.as_deref(), Some("Gate"));

        let later = now + Duration::from_secs(31);
        assert!(state.get("cam-1").unwrap().is_stale(later));
        assert!(state.begin("cam-1", later).is_some(), "stale: refresh");
    }

    #[test]
    fn absent_cameras_are_cached_too() {
        let state = Arc::new(State::new(Duration::from_secs(30), 100, 10));
        let now = Instant::now();
        state.store("ghost", None, now + Duration::from_secs(30));
        assert!(state.get("ghost").unwrap().info.is_none());
        assert!(state.begin("ghost", now).is_none());
    }

    #[test]
    fn failures_are_retried_once_per_second() {
        let state = Arc::new(State::new(Duration::from_secs(30), 100, 10));
        let now = Instant::now();
        drop(state.begin("cam-1", now).unwrap());
        state.fail("cam-1", now);
        assert!(state.failed("cam-1"));
        assert!(
            state
                .begin("cam-1", now + Duration::from_millis(999))
                .is_none()
        );
        assert!(state.begin("cam-1", now + RETRY_AFTER).is_some());
        state.store("cam-1", info("Gate"), now + Duration::from_secs(30));
        assert!(!state.failed("cam-1"), "a success clears the failure");
    }

    #[test]
    fn running_lookups_are_bounded() {
        let state = Arc::new(State::new(Duration::from_secs(30), 100, 2));
        let now = Instant::now();
        let a = state.begin("a", now).unwrap();
        let _b = state.begin("b", now).unwrap();
        assert!(state.begin("c", now).is_none());
        drop(a);
        assert!(state.begin("c", now).is_some());
    }

    #[test]
    fn entries_expire_after_their_grace() {
        let ttl = Duration::from_millis(50);
        let state = Arc::new(State::new(ttl, 100, 10));
        state.store("cam-1", info("Gate"), Instant::now() + ttl);
        std::thread::sleep(ttl + Duration::from_millis(10));
        assert!(state.get("cam-1").is_some(), "stale but within its grace");
        std::thread::sleep(ttl);
        assert!(state.get("cam-1").is_none(), "gone after the grace");
    }

    #[test]
    fn the_cache_is_bounded() {
        let state = State::new(Duration::from_secs(30), 10, 10);
        let until = Instant::now() + Duration::from_secs(30);
        for i in 0..100 {
            state.store(&format!("cam-{i}"), info("x"), until);
        }
        state.cache.run_pending_tasks();
        assert!(
            state.cache.entry_count() <= 10,
            "{}",
            state.cache.entry_count()
        );
    }
}
