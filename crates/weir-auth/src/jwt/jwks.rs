//! JWK sets fetched from URLs: cached for a while, fetched again when a token names a `kid`
//! they lack (key rotation), at most once a second, one fetch at a time. A failed fetch keeps
//! the keys already known; with none to answer a `kid` the token gets [`JWKS_UNAVAILABLE`].
//! Fetches run as tokio tasks, so verification needs a tokio runtime (as reqwest does).

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;

use super::keys::RawJwk;
use super::{JWKS_UNAVAILABLE, KEY_NOT_AUTHORIZED};
use crate::checks::Refusal;

/// Unknown `kid`s cannot make us fetch more often than this.
const REFETCH_INTERVAL: Duration = Duration::from_secs(1);
/// A JWK set is small; a bigger answer is not one.
const MAX_BODY: usize = 1 << 20;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Http(String),
    #[error("status {0}")]
    Status(u16),
    #[error("answer larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("not a JWK set: {0}")]
    NotJwks(#[from] serde_json::Error),
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's message leaves out the cause (refused, reset, DNS…); keep the chain.
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        FetchError::Http(text)
    }
}

type KeySet = HashMap<String, Arc<DecodingKey>>;

/// The keys known at one moment.
#[derive(Default)]
struct Snapshot {
    /// Bumped by every fetch round, so waiters know one happened.
    generation: u64,
    /// Per URL, in order; `None` until it answered once.
    sets: Vec<Option<Arc<KeySet>>>,
    /// The last round in which some URL answered.
    loaded_at: Option<Instant>,
    /// Every URL answered in the last round: an unknown `kid` is then truly unknown.
    complete: bool,
}

impl Snapshot {
    fn find(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.sets
            .iter()
            .flatten()
            .find_map(|set| set.get(kid).cloned())
    }
}

/// The JWK sets of one API.
pub(super) struct Jwks {
    inner: Arc<Inner>,
}

struct Inner {
    urls: Vec<String>,
    client: reqwest::Client,
    timeout: Duration,
    ttl: Duration,
    current: RwLock<Arc<Snapshot>>,
    /// Held for a whole fetch round; holds when the last round ended.
    round: tokio::sync::Mutex<Option<Instant>>,
    /// A background refresh of stale keys is under way.
    refreshing: AtomicBool,
}

impl Jwks {
    pub(super) fn new(urls: Vec<String>, timeout: Duration, ttl: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("jwt_source: cannot build the JWKS client: {e}"))?;
        let snapshot = Snapshot {
            sets: vec![None; urls.len()],
            ..Snapshot::default()
        };
        Ok(Jwks {
            inner: Arc::new(Inner {
                urls,
                client,
                timeout,
                ttl,
                current: RwLock::new(Arc::new(snapshot)),
                round: tokio::sync::Mutex::new(None),
                refreshing: AtomicBool::new(false),
            }),
        })
    }

    /// The key named `kid`.
    pub(super) async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, Refusal> {
        let seen = self.inner.snapshot();
        if let Some(key) = seen.find(kid) {
            if seen
                .loaded_at
                .is_none_or(|at| at.elapsed() >= self.inner.ttl)
            {
                self.refresh_in_background(seen.generation);
            }
            return Ok(key);
        }
        // An unknown `kid`: the issuer may have rotated its keys.
        Inner::refresh(&self.inner, seen.generation).await;
        let now = self.inner.snapshot();
        match now.find(kid) {
            Some(key) => Ok(key),
            None if now.complete => Err(KEY_NOT_AUTHORIZED),
            None => Err(JWKS_UNAVAILABLE),
        }
    }

    /// Fetches the sets unless a round ran within the refetch interval.
    pub(super) async fn prefetch(&self) {
        let seen = self.inner.snapshot().generation;
        Inner::refresh(&self.inner, seen).await;
    }

    /// Stale keys keep answering while one task fetches fresh ones.
    fn refresh_in_background(&self, seen: u64) {
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            // Through `refresh`, so that even a round that panicked clears the flag.
            Inner::refresh(&inner, seen).await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Snapshot> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&current)
    }

    /// Runs a round in its own task, so that a caller that gives up (a client that hangs up)
    /// does not abort a fetch others wait for.
    async fn refresh(inner: &Arc<Inner>, seen: u64) {
        // A round that panicked has changed nothing; the caller then sees the old keys.
        let _ = tokio::spawn(Inner::round(Arc::clone(inner), seen)).await;
    }

    /// One fetch round, unless another ran since the caller looked (`seen`) or within the
    /// refetch interval.
    async fn round(inner: Arc<Inner>, seen: u64) {
        let mut last_round = inner.round.lock().await;
        if inner.snapshot().generation != seen
            || last_round.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL)
        {
            return;
        }
        let mut fetches = Vec::with_capacity(inner.urls.len());
        for url in &inner.urls {
            let fetch = fetch(inner.client.clone(), url.clone(), inner.timeout);
            fetches.push(tokio::spawn(fetch));
        }
        let previous = inner.snapshot();
        let mut next = Snapshot {
            generation: previous.generation + 1,
            sets: previous.sets.clone(),
            loaded_at: previous.loaded_at,
            complete: true,
        };
        for ((url, fetch), slot) in inner.urls.iter().zip(fetches).zip(&mut next.sets) {
            let result = match fetch.await {
                Ok(result) => result,
                Err(e) => Err(FetchError::Http(format!("fetch task failed: {e}"))),
            };
            match result {
                Ok(set) => {
                    tracing::debug!(url = %url, keys = set.len(), "JWK set fetched");
                    *slot = Some(Arc::new(set));
                    next.loaded_at = Some(Instant::now());
                }
                Err(error) => {
                    // The keys already known stay: a failing issuer must not wipe them.
                    tracing::warn!(url = %url, %error, "JWK set fetch failed");
                    next.complete = false;
                }
            }
        }
        *inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        *last_round = Some(Instant::now());
    }
}

/// Fetches and reads one JWK set, within `timeout` in all.
async fn fetch(
    client: reqwest::Client,
    url: String,
    timeout: Duration,
) -> Result<KeySet, FetchError> {
    let get = async {
        let mut answer = client
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(FetchError::Status(answer.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        read_set(&body)
    };
    tokio::time::timeout(timeout, get)
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

/// The usable keys of a JWK set by `kid` (the first key wins, as in Tyk). Keys we cannot use
/// (other types, encryption keys, broken entries) are skipped.
fn read_set(body: &[u8]) -> Result<KeySet, FetchError> {
    let set: RawSet = serde_json::from_slice(body)?;
    let mut keys = KeySet::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<RawJwk>(value) else {
            continue;
        };
        if jwk.usage.as_deref() == Some("enc") {
            continue;
        }
        match jwk.key() {
            Some(key) => {
                let kid = jwk.kid.unwrap_or_default();
                keys.entry(kid).or_insert_with(|| Arc::new(key));
            }
            None => tracing::debug!(kty = %jwk.kty, kid = ?jwk.kid, "JWK skipped"),
        }
    }
    Ok(keys)
}
