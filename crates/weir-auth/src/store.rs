//! Where sessions live: a [`Store`] named by key hash (`apikey-<hash>` in Tyk's layout). One
//! node keeps them in memory; a cluster will keep them in Redis behind the same trait.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::session::Session;

/// A session store, by the key's stored name (see [`crate::token::stored_name`]).
pub trait Store: Send + Sync {
    /// The session of a key, if any.
    fn get(&self, name: &str) -> Option<Session>;
    /// Creates or replaces a key's session.
    fn put(&self, name: &str, session: Session);
    /// Deletes a key; true when it existed.
    fn delete(&self, name: &str) -> bool;
    /// Every stored name.
    fn names(&self) -> Vec<String>;
}

/// Sessions in this process's memory.
#[derive(Default)]
pub struct MemoryStore(RwLock<HashMap<String, Session>>);

impl Store for MemoryStore {
    fn get(&self, name: &str) -> Option<Session> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn put(&self, name: &str, session: Session) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), session);
    }

    fn delete(&self, name: &str) -> bool {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .is_some()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{HashAlgorithm, generate, stored_name};

    #[test]
    fn the_store_holds_sessions_by_hash_never_by_key() {
        let store = MemoryStore::default();
        let key = generate("org", None, Some(HashAlgorithm::Murmur64));
        let name = stored_name(&key, true);
        store.put(
            &name,
            Session {
                org_id: "org".into(),
                ..Session::default()
            },
        );
        assert_eq!(store.get(&name).unwrap().org_id, "org");
        assert!(store.get(&key).is_none());
        assert_eq!(store.names(), std::slice::from_ref(&name));
        assert!(!store.names().iter().any(|n| n.contains(&key)));
        assert!(store.delete(&name));
        assert!(!store.delete(&name));
    }
}
