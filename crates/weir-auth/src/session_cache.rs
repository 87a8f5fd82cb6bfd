//! What a node remembers between requests: each stored name's resolved session (or that no
//! key has that name), and the names a presented key may be stored under, so the request path
//! reads neither the store nor a token's JSON for a key it has seen.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::checks::CheckedSession;

/// Entries each map holds before it is emptied, so a flood of distinct keys cannot grow it.
const CAPACITY: usize = 100_000;

/// Presented key → the names it may be stored under.
type NamesByKey = HashMap<String, Arc<[String]>>;

/// A name's session as last read (`None`: no such key).
struct Entry {
    session: Option<Arc<CheckedSession>>,
    at: Instant,
}

/// Sessions by stored name, and stored names by (organisation, presented key).
pub(crate) struct SessionCache {
    sessions: RwLock<HashMap<String, Entry>>,
    /// By organisation, then presented key.
    names: RwLock<HashMap<String, NamesByKey>>,
    /// How long an entry is trusted; `None`: until forgotten (one node owns the store).
    max_age: Option<Duration>,
}

impl SessionCache {
    /// A cache whose entries are trusted for `max_age` (`None`: until forgotten).
    pub(crate) fn new(max_age: Option<Duration>) -> Self {
        SessionCache {
            sessions: RwLock::default(),
            names: RwLock::default(),
            max_age,
        }
    }

    /// `Some(session or none)` when the name was read recently enough.
    pub(crate) fn get(&self, name: &str) -> Option<Option<Arc<CheckedSession>>> {
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        let hit = sessions.get(name)?;
        self.max_age
            .is_none_or(|age| hit.at.elapsed() < age)
            .then(|| hit.session.clone())
    }

    /// Remembers what the store holds under a name.
    pub(crate) fn put(&self, name: &str, session: Option<&Arc<CheckedSession>>) {
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= CAPACITY {
            sessions.clear();
        }
        sessions.insert(
            name.to_string(),
            Entry {
                session: session.cloned(),
                at: Instant::now(),
            },
        );
    }

    /// Forgets one name (it changed).
    pub(crate) fn forget(&self, name: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Forgets every session (policies changed, or notices may have been missed). The names
    /// stay: they follow from the key and the hashing settings alone.
    pub(crate) fn forget_all(&self) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The names `key` may be stored under on an API of `org`, computed by `make` once.
    pub(crate) fn names(
        &self,
        org: &str,
        key: &str,
        make: impl FnOnce() -> Vec<String>,
    ) -> Arc<[String]> {
        if let Some(found) = self
            .names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
            .and_then(|keys| keys.get(key))
        {
            return found.clone();
        }
        let names: Arc<[String]> = make().into();
        let mut all = self.names.write().unwrap_or_else(|p| p.into_inner());
        if all.values().map(HashMap::len).sum::<usize>() >= CAPACITY {
            all.clear();
        }
        all.entry(org.to_string())
            .or_default()
            .insert(key.to_string(), names.clone());
        names
    }
}
