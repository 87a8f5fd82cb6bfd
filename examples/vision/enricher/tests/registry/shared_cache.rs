//! The Redis shared cache on this machine's server (127.0.0.1:6379): a second plugin instance
//! (another gateway node) is served from Redis without asking the database, the negative cache
//! is shared too, and a Redis that is down only costs the shared cache.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::common::*;
use crate::db::Db;

const REDIS: &str = "redis://127.0.0.1:6379";

fn redis() -> redis::Connection {
    redis::Client::open(REDIS)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {REDIS} ({e}): start it (`service redis-server \
                 start`); these tests need it and never skip"
            )
        })
}

/// Deletes the test's keys, also when it fails.
struct Keys(Vec<String>);

impl Drop for Keys {
    fn drop(&mut self) {
        let mut conn = redis();
        for key in &self.0 {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
    }
}

#[test]
fn a_second_node_is_served_from_redis_without_a_query() {
    let db = Db::postgres();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let camera = format!("cam-redis-{}-{nanos}", std::process::id());
    let ghost = format!("cam-ghost-{}-{nanos}", std::process::id());
    let _keys = Keys(vec![
        format!("weir:vision:camera:{camera}"),
        format!("weir:vision:camera:{ghost}"),
    ]);
    let mut conn = redis();
    db.exec(&[&format!(
        "INSERT INTO CameraRegistry VALUES ('{camera}', 'Roof', NULL, '2024-02-29')"
    )]);
    let config = json!({"dsn": db.dsn(), "redis_url": REDIS, "cache_ttl_seconds": 30});

    let first = load("redis-a", config.clone());
    let got = first.until_enriched(&camera);
    assert_eq!(got.camera_location, "Roof");
    assert_eq!(got.install_date, "2024-02-29");
    first.send_until(&ghost, Duration::from_secs(10), |_| {
        first.counter("unknown_camera") > 0
    });
    assert_eq!(first.counter("db_queries"), 2);
    assert_eq!(first.counter("redis_hits"), 0);

    // What the first node stored, with the same TTL.
    let key = format!("weir:vision:camera:{camera}");
    let stored: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        stored,
        json!({"location": "Roof", "status": null, "install_date": "2024-02-29"})
    );
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
    assert!((1..=30_000).contains(&pttl), "{pttl}");
    let ghost_key = format!("weir:vision:camera:{ghost}");
    let absent: String = redis::cmd("GET").arg(&ghost_key).query(&mut conn).unwrap();
    assert_eq!(absent, r#"{"absent":true}"#);

    let second = load("redis-b", config);
    let got = second.until_enriched(&camera);
    assert_eq!(got.camera_location, "Roof");
    assert_eq!(got.camera_status, "", "NULL status, through Redis too");
    second.send_until(&ghost, Duration::from_secs(10), |_| {
        second.counter("unknown_camera") > 0
    });
    assert_eq!(second.counter("db_queries"), 0, "served from Redis");
    assert_eq!(second.counter("redis_hits"), 2);
    assert_eq!(second.counter("redis_errors"), 0);
}

#[test]
fn redis_down_falls_back_to_the_database() {
    let db = Db::sqlite();
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = json!({
        "dsn": db.dsn(), "redis_url": format!("redis://127.0.0.1:{port}"), "query_timeout_ms": 500,
    });
    let api = load("redis-down", config);
    assert_eq!(api.until_enriched("cam-1").camera_location, "North Gate");
    assert!(api.counter("redis_errors") >= 1);
    assert_eq!(api.counter("db_queries"), 1);
    assert_eq!(api.counter("unenriched_db_unavailable"), 0);
}
