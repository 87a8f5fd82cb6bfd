//! The key service a gateway node runs: keys kept by their hash (memory on one node, Redis for
//! a cluster), sessions resolved once (policies applied, `allowed_urls` compiled) and cached,
//! and each request's rate limit and quota checked exactly, on one node or across all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::checks::CheckedSession;
use crate::limits::{Decision, Quotas, RateLimiter};
use crate::policy::{Limits, Policies};
use crate::redis_connect::RedisTarget;
use crate::redis_limits::Ask;
use crate::redis_store::{Heard, Notice, RedisStore, counter_names};
use crate::session::Session;
use crate::session_cache::SessionCache;
use crate::store::{MemoryStore, Store};
use crate::token::{HashAlgorithm, generate, stored_name};

/// What a request with no limit to count is told.
const FREE: Decision = Decision {
    allowed: true,
    remaining: u64::MAX,
    reset: Duration::ZERO,
};

/// How long a node trusts a session it read from Redis without hearing of a change: changes
/// made through any node arrive at once by pub/sub; this bounds what a writer outside Weir
/// (or a lost notice) can leave stale.
const REDIS_CACHE_AGE: Duration = Duration::from_secs(10);

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No such key.
    #[error("Key not found")]
    NotFound,
    /// The session cannot be stored as it is (an unknown policy, …).
    #[error("{0}")]
    Invalid(String),
    /// Redis cannot be reached.
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for KeyError {
    fn from(e: redis::RedisError) -> Self {
        KeyError::Unavailable(e.to_string())
    }
}

/// How keys are named and listed (tyk.conf).
#[derive(Clone, Copy, Debug)]
pub struct Hashing {
    /// `hash_keys`.
    pub hash_keys: bool,
    /// `hash_key_function`: what new keys name.
    pub function: HashAlgorithm,
    /// `enable_hashed_keys_listing`.
    pub listing: bool,
}

/// A key made through the control API.
#[derive(Debug, Clone)]
pub struct Created {
    /// The key the client presents.
    pub key: String,
    /// Its name at rest.
    pub key_hash: String,
}

enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// Local-first limits on Redis (Weir's `local_first_limits`): a node takes permits from the
/// shared counters `batch` at a time and answers from them in memory until they run out or
/// `lease` passes. One round trip serves up to `batch` requests; in exchange each node may
/// hold up to `batch - 1` permits it has counted but not used, so a window admits the limit
/// give or take `nodes × (batch - 1)`. Without it (the default) every request is counted in
/// Redis and the limit is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalFirst {
    /// Permits taken per round trip (at least 1).
    pub batch: u64,
    /// How long unused permits stay usable.
    pub lease: Duration,
}

/// Permits a node took for one key and has not used yet.
#[derive(Default)]
struct Lease {
    left: u64,
    until: Option<Instant>,
    rate: Option<Decision>,
    quota: Option<Decision>,
}

/// Keys, sessions and limits of one node.
pub struct KeyService {
    hashing: Hashing,
    backend: Backend,
    cache: SessionCache,
    policies: ArcSwap<Policies>,
    rates: RateLimiter,
    quotas: Quotas,
    node: String,
    requests: AtomicU64,
    local_first: Option<LocalFirst>,
    leases: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Lease>>>>,
}

impl KeyService {
    /// Keys in this process's memory.
    pub fn memory(hashing: Hashing) -> Self {
        Self::with(hashing, Backend::Memory(MemoryStore::default()))
    }

    /// Keys in the Redis `target` names (one server, Sentinel's master or a cluster);
    /// nothing is awaited, so a node starts while Redis is down.
    pub fn redis(
        hashing: Hashing,
        target: &RedisTarget,
        local_first: Option<LocalFirst>,
    ) -> Result<Self, String> {
        let mut service = Self::with(hashing, Backend::Redis(RedisStore::new(target)?));
        service.cache = SessionCache::new(Some(REDIS_CACHE_AGE));
        service.local_first = local_first.filter(|l| l.batch > 1);
        Ok(service)
    }

    fn with(hashing: Hashing, backend: Backend) -> Self {
        KeyService {
            hashing,
            backend,
            cache: SessionCache::new(None),
            policies: ArcSwap::from_pointee(Policies::default()),
            rates: RateLimiter::default(),
            quotas: Quotas::default(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            requests: AtomicU64::new(0),
            local_first: None,
            leases: std::sync::Mutex::default(),
        }
    }

    /// True when keys live in Redis.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// How keys are named.
    pub fn hashing(&self) -> Hashing {
        self.hashing
    }

    /// Replaces the policies; every cached session is resolved again.
    pub fn set_policies(&self, policies: Policies) {
        self.policies.store(Arc::new(policies));
        self.forget_all();
    }

    /// The policies in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.load_full()
    }

    /// The stored name of a key as the client presents it.
    pub fn name_of(&self, key: &str) -> String {
        stored_name(key, self.hashing.hash_keys)
    }

    /// A new key for `org` (Tyk's token form when a hash function is set).
    pub fn new_key(&self, org: &str) -> String {
        generate(org, None, Some(self.hashing.function))
    }

    // ---- the control API's operations -------------------------------------------------

    /// The key Tyk makes of a custom key id for `org` (a token naming the hash function),
    /// unless the id is a token already.
    pub fn custom_key(&self, id: &str, org: &str) -> String {
        if crate::token::token_org(id).is_some() && id.starts_with("ey") {
            id.to_string()
        } else {
            generate(org, Some(id), Some(self.hashing.function))
        }
    }

    /// Stores `session` under `key` (created or replaced). Fails on an unknown policy.
    pub async fn put(&self, key: &str, session: Session) -> Result<Created, KeyError> {
        let name = self.name_of(key);
        self.put_named(&name, session).await?;
        Ok(Created {
            key: key.to_string(),
            key_hash: name,
        })
    }

    /// Stores a session by its stored name; fails on an unknown policy or a setting not built.
    pub async fn put_named(&self, name: &str, session: Session) -> Result<(), KeyError> {
        self.resolve(session.clone())?;
        match &self.backend {
            Backend::Memory(m) => m.put(name, session),
            Backend::Redis(r) => r.put(name, &session).await?,
        }
        self.forget(name);
        Ok(())
    }

    /// The session stored under a name, as stored (policies not applied).
    pub async fn get_named(&self, name: &str) -> Result<Session, KeyError> {
        let found = match &self.backend {
            Backend::Memory(m) => m.get(name),
            Backend::Redis(r) => r.get(name).await?,
        };
        found.ok_or(KeyError::NotFound)
    }

    /// Deletes a key by its stored name.
    pub async fn delete_named(&self, name: &str) -> Result<(), KeyError> {
        let existed = match &self.backend {
            Backend::Memory(m) => m.delete(name),
            Backend::Redis(r) => r.delete(name).await?,
        };
        self.forget(name);
        if existed {
            Ok(())
        } else {
            Err(KeyError::NotFound)
        }
    }

    /// Every stored name.
    pub async fn names(&self) -> Result<Vec<String>, KeyError> {
        Ok(match &self.backend {
            Backend::Memory(m) => m.names(),
            Backend::Redis(r) => r.names().await?,
        })
    }

    /// Asks every node to reload (Redis), or says there is no other node (memory).
    pub async fn publish_group_reload(&self) -> Result<bool, KeyError> {
        match &self.backend {
            Backend::Memory(_) => Ok(false),
            Backend::Redis(r) => {
                r.publish(&Notice {
                    command: "GroupReload".into(),
                    payload: String::new(),
                })
                .await?;
                Ok(true)
            }
        }
    }

    // ---- the request path ---------------------------------------------------------------

    /// The names a key the client presents may be stored under, in Tyk's order
    /// (`SessionDetail`): the token Tyk makes of it for the API's organisation (custom keys
    /// and basic-auth users are stored so), unless it is already a token of that organisation,
    /// then the key itself.
    pub fn names_for(&self, key: &str, org: &str) -> Arc<[String]> {
        self.cache.names(org, key, || {
            let mut names = Vec::with_capacity(2);
            if crate::token::token_org(key).as_deref() != Some(org) {
                names.push(self.name_of(&generate(org, Some(key), Some(self.hashing.function))));
            }
            names.push(self.name_of(key));
            names
        })
    }

    /// The stored name and resolved session of a key the client presents on an API of `org`.
    pub async fn find(
        &self,
        key: &str,
        org: &str,
    ) -> Result<Option<(String, Arc<CheckedSession>)>, KeyError> {
        for name in self.names_for(key, org).iter() {
            if let Some(session) = self.session_named(name).await? {
                return Ok(Some((name.clone(), session)));
            }
        }
        Ok(None)
    }

    /// The resolved session stored under a name.
    pub async fn session_named(&self, name: &str) -> Result<Option<Arc<CheckedSession>>, KeyError> {
        if let Some(hit) = self.cached(name) {
            return Ok(hit);
        }
        let stored = match self.get_named(name).await {
            Ok(s) => s,
            Err(KeyError::NotFound) => {
                self.remember(name, None);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // A stored session naming a policy that is gone is refused, not served unlimited.
        let Ok(resolved) = self.resolve(stored) else {
            tracing::warn!(key_hash = %name, "a stored key names a policy that does not exist; refusing it");
            return Ok(None);
        };
        let resolved = Arc::new(resolved);
        self.remember(name, Some(&resolved));
        Ok(Some(resolved))
    }

    /// A session resolved (policies applied, patterns compiled) without being stored: what a
    /// custom-auth plugin returned.
    pub fn checked(&self, session: Session) -> Result<Arc<CheckedSession>, KeyError> {
        self.resolve(session).map(Arc::new)
    }

    /// A session made of policies alone (JWT callers), cached by the policy list.
    pub fn policy_session(
        &self,
        org: &str,
        policies: &[String],
    ) -> Result<Arc<CheckedSession>, KeyError> {
        let name = format!("policies:{org}:{}", policies.join(","));
        if let Some(Some(hit)) = self.cached(&name) {
            return Ok(hit);
        }
        let session = Session {
            org_id: org.to_string(),
            apply_policies: policies.to_vec(),
            quota_max: -1,
            ..Session::default()
        };
        let resolved = Arc::new(self.resolve(session)?);
        self.remember(&name, Some(&resolved));
        Ok(resolved)
    }

    /// Checks the rate limit, then counts the quota, of one request by the key stored as
    /// `name` (counters named by [`counter_names`]).
    pub async fn admit(
        &self,
        name: &str,
        limits: &Limits,
    ) -> Result<(Decision, Decision), KeyError> {
        let scope = if limits.scope.is_empty() {
            String::new()
        } else {
            format!("{}-", limits.scope)
        };
        let cluster = matches!(&self.backend, Backend::Redis(r) if r.is_cluster());
        let (rate_key, quota_key) = counter_names(&format!("{scope}{name}"), cluster);
        let ask = Ask {
            rate_key: &rate_key,
            rate: whole_rate(limits.rate),
            per: seconds(limits.per),
            quota_key: &quota_key,
            quota_max: if limits.quota_max > 0 {
                limits.quota_max
            } else {
                -1
            },
            renewal: Duration::from_secs(limits.quota_renewal_rate.max(0) as u64),
        };
        self.admit_ask(&ask).await
    }

    /// Checks an API-wide limit (`global_rate_limit`, counter `apilimiter-<org><api>`).
    pub async fn admit_api(&self, key: &str, rate: f64, per: f64) -> Result<Decision, KeyError> {
        let ask = Ask {
            rate_key: key,
            rate: whole_rate(rate),
            per: seconds(per),
            quota_key: key,
            quota_max: -1,
            renewal: Duration::ZERO,
        };
        Ok(self.admit_ask(&ask).await?.0)
    }

    async fn admit_ask(&self, ask: &Ask<'_>) -> Result<(Decision, Decision), KeyError> {
        let free = FREE;
        if ask.rate == 0 && ask.quota_max < 0 {
            return Ok((free, free));
        }
        match &self.backend {
            Backend::Memory(_) => {
                let now = Instant::now();
                let rate = self.rates.check(ask.rate_key, ask.rate, ask.per, now);
                if !rate.allowed {
                    return Ok((rate, free));
                }
                let quota = self
                    .quotas
                    .check(ask.quota_key, ask.quota_max, ask.renewal, now);
                Ok((rate, quota))
            }
            Backend::Redis(r) => match self.local_first {
                Some(lf) => self.admit_leased(r, ask, lf).await,
                None => Ok(r.admit(ask, &self.member()).await?),
            },
        }
    }

    fn member(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.node)
    }

    /// Answers from this node's lease of the key's permits, taking a new batch when it is
    /// spent or old; requests for one key wait for one another's round trip.
    async fn admit_leased(
        &self,
        r: &RedisStore,
        ask: &Ask<'_>,
        lf: LocalFirst,
    ) -> Result<(Decision, Decision), KeyError> {
        let slot = {
            let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            if leases.len() >= 100_000 {
                leases.clear();
            }
            leases
                .entry(format!("{}\n{}", ask.rate_key, ask.quota_key))
                .or_default()
                .clone()
        };
        let mut lease = slot.lock().await;
        let now = Instant::now();
        if lease.left > 0
            && lease.until.is_some_and(|u| u > now)
            && let (Some(rate), Some(quota)) = (lease.rate, lease.quota)
        {
            lease.left -= 1;
            return Ok((rate, quota));
        }
        let (rate, quota, granted) = r.lease(ask, &self.member(), lf.batch).await?;
        *lease = Lease {
            left: granted.saturating_sub(1),
            until: Some(now + lf.lease),
            rate: Some(rate),
            quota: Some(quota),
        };
        Ok((rate, quota))
    }

    // ---- cluster notices --------------------------------------------------------------------

    /// Follows the other nodes' notices until the process ends: key changes drop cached
    /// sessions, group reloads call `reload`. Returns at once on a memory store.
    pub async fn follow(self: Arc<Self>, reload: Arc<dyn Fn() + Send + Sync>) {
        let Backend::Redis(r) = &self.backend else {
            return;
        };
        r.listen(|heard| match heard {
            Heard::Keys(names) => names.iter().for_each(|n| self.forget(n)),
            Heard::Resubscribed => self.forget_all(),
            Heard::Reload => reload(),
        })
        .await;
    }

    // ---- the cache ---------------------------------------------------------------------------

    fn resolve(&self, mut session: Session) -> Result<CheckedSession, KeyError> {
        crate::policy::apply(&mut session, &self.policies.load(), None)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        if let Some((field, what)) = session.unbuilt() {
            return Err(KeyError::Invalid(format!(
                "{field}: {what} is not built in Weir yet; the key is refused rather than served without it"
            )));
        }
        Ok(CheckedSession::new(session))
    }

    fn cached(&self, name: &str) -> Option<Option<Arc<CheckedSession>>> {
        self.cache.get(name)
    }

    fn remember(&self, name: &str, session: Option<&Arc<CheckedSession>>) {
        self.cache.put(name, session);
    }

    fn forget(&self, name: &str) {
        self.cache.forget(name);
    }

    fn forget_all(&self) {
        self.cache.forget_all();
    }
}

/// Tyk's rate is a float; a positive rate below one still admits one request per window.
fn whole_rate(rate: f64) -> u64 {
    if rate <= 0.0 {
        0
    } else {
        (rate.floor() as u64).max(1)
    }
}

fn seconds(per: f64) -> Duration {
    Duration::try_from_secs_f64(per).unwrap_or(Duration::from_secs(1))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_testkit::RedisServer;

    fn hashing() -> Hashing {
        Hashing {
            hash_keys: true,
            function: HashAlgorithm::Murmur64,
            listing: false,
        }
    }

    fn scripts_run(url: &str) -> u64 {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut conn)
            .unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_first_nodes_take_permits_in_batches_within_the_stated_bound() {
        let server = RedisServer::start();
        let lf = LocalFirst {
            batch: 10,
            lease: Duration::from_secs(5),
        };
        let nodes: Vec<KeyService> = (0..3)
            .map(|_| {
                let target = RedisTarget::single(
                    format!("127.0.0.1:{}", server.port()),
                    Duration::from_secs(2),
                );
                KeyService::redis(hashing(), &target, Some(lf))
            })
            .collect::<Result<_, _>>()
            .unwrap();
        let limits = Limits {
            rate: 200.0,
            per: 10.0,
            quota_max: -1,
            quota_renewal_rate: 0,
            throttle_interval: 0.0,
            throttle_retry_limit: 0,
            scope: String::new(),
        };
        let before = scripts_run(&server.url());
        let mut admitted = 0;
        for i in 0..150 {
            let (rate, _) = nodes[i % 3].admit("k", &limits).await.unwrap();
            admitted += usize::from(rate.allowed);
        }
        assert_eq!(admitted, 150, "under the limit every request is admitted");
        let trips = scripts_run(&server.url()) - before;
        assert!(
            trips <= 150 / 10 + 3,
            "{trips} round trips for 150 requests"
        );
        for i in 150..300 {
            let (rate, _) = nodes[i % 3].admit("k", &limits).await.unwrap();
            admitted += usize::from(rate.allowed);
        }
        // The stated bound: the limit give or take nodes × (batch - 1).
        assert!(
            (200 - 27..=200 + 27).contains(&admitted),
            "admitted {admitted} at 200 per 10 s"
        );
    }
}
