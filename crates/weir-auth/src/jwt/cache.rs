//! Verified tokens by the SHA-256 of the whole token (header, claims and signature, so a
//! signature cannot be paired with other claims), in shards so that readers rarely meet.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest, Sha256};

use super::Verified;

const SHARDS: usize = 16;

type Shard = RwLock<HashMap<[u8; 32], Arc<Verified>>>;

/// A bounded map of verified tokens; a full shard is emptied (simple, and a flood of new
/// tokens cannot grow it).
pub(super) struct TokenCache {
    shards: Vec<Shard>,
    per_shard: usize,
}

/// The cache key of a token.
pub(super) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// A cache of about `capacity` tokens.
    pub(super) fn new(capacity: usize) -> Self {
        TokenCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    pub(super) fn get(&self, digest: &[u8; 32]) -> Option<Arc<Verified>> {
        let shard = self.shard(digest).read();
        // A panic elsewhere cannot leave a half-written map: inserts are single calls.
        let shard = shard.unwrap_or_else(PoisonError::into_inner);
        shard.get(digest).cloned()
    }

    pub(super) fn insert(&self, digest: [u8; 32], verified: Arc<Verified>) {
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.clear();
        }
        shard.insert(digest, verified);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let len = |s: &Shard| s.read().unwrap_or_else(PoisonError::into_inner).len();
        self.shards.iter().map(len).sum()
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }
}
