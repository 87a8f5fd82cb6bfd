//! What every registry backend must do, run against each real database by its test module.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use weir_core::plugin::MessageDirection;

use crate::common::*;
use crate::db::Db;
use crate::proxy::{Mode, Proxy};

/// A camera's first event passes untouched while its lookup runs; the following ones carry the
/// row. NULL columns leave their fields empty; an unknown camera passes unchanged and is
/// remembered as unknown (no second query).
pub fn enriches_handles_nulls_and_unknown_cameras(db: &Db, label: &str) {
    let api = load(label, json!({"dsn": db.dsn()}));

    let (first, untouched) = api.send("cam-1");
    assert!(untouched, "a miss passes the very same bytes");
    assert_eq!(first, event("cam-1"));
    assert_eq!(api.counter("cache_miss"), 1);

    let got = api.until_enriched("cam-1");
    let mut want = event("cam-1");
    want.camera_location = "North Gate".into();
    want.camera_status = "active".into();
    want.install_date = "2023-04-01".into();
    assert_eq!(got, want);

    let got = api.until_enriched("cam-2");
    assert_eq!(got.camera_location, "", "NULL location");
    assert_eq!(got.camera_status, "maintenance");
    assert_eq!(got.install_date, "", "NULL install_date");
    assert_eq!(got.objects, event("cam-2").objects, "the rest is kept");

    // An unknown camera: looked up once, then answered from the negative cache.
    let (_, untouched) = api.send("cam-404");
    assert!(untouched);
    let start = Instant::now();
    while api.counter("unknown_camera") == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never resolved");
        let (got, untouched) = api.send("cam-404");
        assert!(untouched, "an unknown camera's event passes unchanged");
        assert_eq!(got, event("cam-404"));
        thread::sleep(Duration::from_millis(10));
    }
    let queries = api.counter("db_queries");
    assert_eq!(queries, 3, "cam-1, cam-2 and cam-404 once each");
    for _ in 0..20 {
        assert!(api.send("cam-404").1);
    }
    assert_eq!(api.counter("db_queries"), queries, "the absence is cached");
    assert!(api.counter("enriched") >= 2);
    assert_eq!(api.counter("db_errors"), 0);
}

/// 1,000 events of five cameras from four threads at once: the database sees one query per
/// camera, not one per event.
pub fn one_query_per_camera_under_load(db: &Db, label: &str) {
    // What is measured is coalescing, not the timeout: a loaded CI machine may take longer than
    // the default 2 s for a first connection, and a timed-out lookup is retried (a 6th query).
    let config = json!({"dsn": db.dsn(), "cache_ttl_seconds": 60, "query_timeout_ms": 30_000});
    let api = load(label, config);
    let cameras = ["cam-1", "cam-2", "cam-3", "cam-4", "cam-404"];
    thread::scope(|s| {
        for t in 0..4 {
            let api = &api;
            s.spawn(move || {
                for i in 0..250 {
                    api.send(cameras[(t + i) % cameras.len()]);
                    if i % 25 == 0 {
                        // Lets lookups land while the stream goes on.
                        thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
    });
    for camera in &cameras[..4] {
        api.until_enriched(camera);
    }
    // cam-404's lookup is counted when it starts on the plugin's runtime, which may be after
    // the last event above; wait for it to resolve as unknown.
    let start = Instant::now();
    while api.counter("unknown_camera") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "cam-404 never resolved"
        );
        api.send("cam-404");
        thread::sleep(Duration::from_millis(10));
    }
    let queries = api.counter("db_queries");
    let hook = [
        "enriched",
        "cache_miss",
        "unknown_camera",
        "unenriched_db_unavailable",
    ];
    let events: u64 = hook.iter().map(|name| api.counter(name)).sum();
    assert_eq!(queries, 5, "one query per camera for {events} events");
    assert!(events >= 1000, "{events}");
    assert_eq!(api.counter("unenriched_db_unavailable"), 0);
    assert!(api.counter("enriched") > 0);
}

/// A changed row shows once its entry's TTL has passed; until then the cached row is used.
pub fn ttl_expiry_shows_a_changed_row(db: &Db, label: &str) {
    let ttl = Duration::from_secs(1);
    let api = load(label, json!({"dsn": db.dsn(), "cache_ttl_seconds": 1}));
    api.until_enriched("cam-3");
    let enriched_at = Instant::now();
    let misses = api.counter("cache_miss");
    assert_eq!(api.counter("db_queries"), 1);
    db.exec(&[
        "UPDATE CameraRegistry SET location = 'Moved', status = 'inactive' \
               WHERE camera_id = 'cam-3'",
    ]);
    let (got, _) = api.send("cam-3");
    if enriched_at.elapsed() < ttl {
        assert_eq!(got.camera_location, "Dock", "still cached");
    }
    let got = api.send_until("cam-3", Duration::from_secs(10), |e| {
        e.camera_location == "Moved"
    });
    assert!(
        enriched_at.elapsed() >= ttl / 2,
        "changed before the TTL passed"
    );
    assert_eq!(got.camera_status, "inactive");
    // Each event in between was still enriched: the stale row is served while it refreshes.
    assert_eq!(api.counter("cache_miss"), misses);
    assert_eq!(api.counter("db_queries"), 2);
}

/// The database goes away (connections cut, new ones refused), then comes back: events pass
/// unenriched and are counted meanwhile, lookups are retried at most once a second per camera,
/// and enrichment resumes by itself.
pub fn database_down_and_back(db: &Db, label: &str) {
    let proxy = Proxy::start(db.address());
    let config = json!({
        "dsn": db.dsn_via(proxy.port), "cache_ttl_seconds": 1, "query_timeout_ms": 500,
    });
    let api = load(label, config);
    api.until_enriched("cam-1");

    proxy.set(Mode::Down);
    let before = api.counter("db_queries");
    // A camera never seen, and cam-1 once its entry (TTL plus one TTL of grace) is gone.
    let start = Instant::now();
    let mut unenriched = 0;
    while start.elapsed() < Duration::from_secs(3) {
        for camera in ["cam-2", "cam-1"] {
            let (got, untouched) = api.send(camera);
            if start.elapsed() > Duration::from_millis(2500) || camera == "cam-2" {
                assert!(
                    untouched,
                    "{camera} enriched while the database is down: {got:?}"
                );
                unenriched += 1;
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    let down = api.counter("unenriched_db_unavailable");
    assert!(
        down > 100,
        "{down} of {unenriched} unenriched events counted"
    );
    let attempts = api.counter("db_queries") - before;
    // Two cameras for three seconds, at most one attempt a second each (and the first).
    assert!((2..=8).contains(&attempts), "{attempts} lookups in 3 s");
    assert!(api.counter("db_errors") >= 2);

    proxy.set(Mode::Up);
    let back = Instant::now();
    let got = api.until_enriched("cam-2");
    assert_eq!(got.camera_status, "maintenance");
    api.until_enriched("cam-1");
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "{:?}",
        back.elapsed()
    );
}

/// A database that accepts connections but never answers: each lookup ends at
/// `query_timeout_ms`, events pass unenriched and the hook never waits.
pub fn database_slower_than_the_timeout(db: &Db, label: &str) {
    let proxy = Proxy::start(db.address());
    proxy.set(Mode::Stall);
    let config = json!({"dsn": db.dsn_via(proxy.port), "query_timeout_ms": 200});
    let api = load(label, config);
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while api.counter("unenriched_db_unavailable") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the timeout never fired"
        );
        let sent = Instant::now();
        assert!(api.send("cam-1").1);
        slowest = slowest.max(sent.elapsed());
        thread::sleep(Duration::from_millis(10));
    }
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(
        slowest < Duration::from_millis(100),
        "a hook call took {slowest:?}"
    );
    assert!(api.counter("db_errors") >= 1);

    proxy.set(Mode::Up);
    api.until_enriched("cam-1");
}

/// Requests of the call prefetch their camera; other methods and directions pass untouched.
pub fn requests_prefetch_and_other_messages_pass(db: &Db, label: &str) {
    use prost::Message;
    let api = load(label, json!({"dsn": db.dsn()}));
    let request = DetectionRequest {
        camera_id: "cam-4".into(),
    };
    let mut msg = api.message(
        MessageDirection::ToUpstream,
        METHOD,
        request.encode_to_vec(),
    );
    let before = msg.payload.clone();
    api.run(&mut msg);
    assert_eq!(
        msg.payload.as_ptr(),
        before.as_ptr(),
        "requests pass untouched"
    );
    // No event yet: give the lookup time to land, then the first event is enriched.
    thread::sleep(Duration::from_secs(1));
    assert_eq!(api.counter("db_queries"), 1, "the request started a lookup");
    let (got, _) = api.send("cam-4");
    assert_eq!(got.camera_location, "Paint shop");
    assert_eq!(
        api.counter("cache_miss"),
        0,
        "the first event was already enriched"
    );

    let payload = event("cam-4").encode_to_vec();
    for (direction, method, payload) in [
        (
            MessageDirection::FromUpstream,
            "/vision.VisionService/Other",
            payload.clone(),
        ),
        (MessageDirection::ToUpstream, "/other.Svc/M", payload),
        (
            MessageDirection::FromUpstream,
            METHOD,
            vec![0xff, 0xff, 0xff],
        ),
        (MessageDirection::FromUpstream, METHOD, Vec::new()),
    ] {
        let mut msg = api.message(direction, method, payload);
        let before = msg.payload.clone();
        api.run(&mut msg);
        assert_eq!(msg.payload.as_ptr(), before.as_ptr(), "{method}");
    }
}
