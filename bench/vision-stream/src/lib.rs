//! Shared by the `origin` and `load` binaries: the seed's `vision` package and the clock.
//!
//! The bench reuses `DetectionEvent.timestamp_ms` for the origin's send time in
//! **microseconds** since the Unix epoch (not milliseconds, as the name says): per-message
//! latency through a proxy on loopback is well under a millisecond.

use std::time::{SystemTime, UNIX_EPOCH};

pub mod pb {
    tonic::include_proto!("vision");
}

/// Wall-clock microseconds since the Unix epoch. Wall clock, not `Instant`, because the
/// origin and the load generator are separate processes (same machine, same clock).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
