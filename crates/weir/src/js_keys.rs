//! `TykGetKeyData` / `TykSetKeyData` for JavaScript plugins: the gateway's key store
//! (memory or Redis, as `storage` says), reached from the JS engine's worker threads.

use std::sync::Arc;

use weir_auth::service::KeyService;
use weir_auth::session::Session;

/// The key store as the JS driver's [`weir_plugin_js::KeyAccess`]. JS hooks run on their own
/// threads, outside the async runtime, so each call blocks on the runtime's handle.
pub struct JsKeyAccess {
    keys: Arc<KeyService>,
    runtime: tokio::runtime::Handle,
}

impl JsKeyAccess {
    /// Key access through `keys`, on the runtime of the calling thread.
    pub fn new(keys: Arc<KeyService>) -> Self {
        JsKeyAccess {
            keys,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl weir_plugin_js::KeyAccess for JsKeyAccess {
    fn get(&self, key: &str, _api_id: &str) -> Option<serde_json::Value> {
        // Tyk looks the key up as written (a token, or its hash when keys are hashed).
        let name = self.keys.name_of(key);
        let session = self.runtime.block_on(self.keys.get_named(&name)).ok()?;
        serde_json::to_value(session).ok()
    }

    fn set(&self, key: &str, session: serde_json::Value) -> Result<(), String> {
        let session: Session =
            serde_json::from_value(session).map_err(|e| format!("not a session: {e}"))?;
        self.runtime
            .block_on(self.keys.put(key, session))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
