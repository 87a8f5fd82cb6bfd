//! Reload on file changes in app_path (`watch_app_path`), debounced so that an editor's
//! write-rename-chmod burst causes one reload.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::reload::Reloader;

/// How long the folder must be quiet before a reload.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Starts watching; the returned watcher must be kept alive for watching to go on.
pub fn watch_app_path(reloader: Arc<Reloader>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(reloader.app_path(), RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Swallow the rest of the burst.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            tracing::info!("app_path changed; reloading");
            reloader.reload().await;
        }
    });
    Ok(watcher)
}
