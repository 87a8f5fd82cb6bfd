//! The control plane: Tyk's control API (`/tyk/apis`, `/tyk/apis/oas`, `/tyk/reload`),
//! health, readiness and metrics endpoints, and the reload machinery behind them (on request,
//! on SIGHUP via the binary, and on file changes when watching is on).

pub mod control;
pub mod keys;
pub mod policies;
pub mod reload;
pub mod watch;

pub use control::{ControlApi, ControlHandle};
pub use reload::{ReloadReport, Reloader, load_plugins};
pub use watch::watch_app_path;
