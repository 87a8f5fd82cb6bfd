//! The enricher as the gateway runs it: `libweir_vision_enricher.so` loaded by Weir's native
//! driver, its hook called message by message, against real SQLite, PostgreSQL and MariaDB
//! registries and the machine's Redis. The lookups' query counts come from the plugin's own
//! counters, read where `/metrics` reads them (weir-core's plugin counters).

mod common;
mod db;
mod proxy;
mod scenarios;
mod shared_cache;

use db::Db;
use scenarios::*;

mod sqlite {
    use super::*;

    #[test]
    fn enriches_handles_nulls_and_unknown_cameras() {
        scenarios::enriches_handles_nulls_and_unknown_cameras(&Db::sqlite(), "sqlite");
    }

    #[test]
    fn one_query_per_camera_under_1000_messages() {
        one_query_per_camera_under_load(&Db::sqlite(), "sqlite-load");
    }

    #[test]
    fn ttl_expiry_shows_a_changed_row() {
        scenarios::ttl_expiry_shows_a_changed_row(&Db::sqlite(), "sqlite-ttl");
    }

    #[test]
    fn requests_prefetch_and_other_messages_pass() {
        scenarios::requests_prefetch_and_other_messages_pass(&Db::sqlite(), "sqlite-pass");
    }
}

mod postgres {
    use super::*;

    #[test]
    fn enriches_handles_nulls_and_unknown_cameras() {
        scenarios::enriches_handles_nulls_and_unknown_cameras(&Db::postgres(), "pg");
    }

    #[test]
    fn one_query_per_camera_under_1000_messages() {
        one_query_per_camera_under_load(&Db::postgres(), "pg-load");
    }

    #[test]
    fn ttl_expiry_shows_a_changed_row() {
        scenarios::ttl_expiry_shows_a_changed_row(&Db::postgres(), "pg-ttl");
    }

    #[test]
    fn database_down_and_back() {
        scenarios::database_down_and_back(&Db::postgres(), "pg-down");
    }

    #[test]
    fn database_slower_than_the_timeout() {
        scenarios::database_slower_than_the_timeout(&Db::postgres(), "pg-slow");
    }
}

mod mariadb {
    use super::*;

    #[test]
    fn enriches_handles_nulls_and_unknown_cameras() {
        scenarios::enriches_handles_nulls_and_unknown_cameras(&Db::mariadb(), "maria");
    }

    #[test]
    fn one_query_per_camera_under_1000_messages() {
        one_query_per_camera_under_load(&Db::mariadb(), "maria-load");
    }

    #[test]
    fn ttl_expiry_shows_a_changed_row() {
        scenarios::ttl_expiry_shows_a_changed_row(&Db::mariadb(), "maria-ttl");
    }

    #[test]
    fn database_down_and_back() {
        scenarios::database_down_and_back(&Db::mariadb(), "maria-down");
    }

    #[test]
    fn database_slower_than_the_timeout() {
        scenarios::database_slower_than_the_timeout(&Db::mariadb(), "maria-slow");
    }
}

/// Loading: bad configuration fails the load naming the key; the seed's `MyInit` pre hook runs.
mod loading {
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use bytes::Bytes;
    use http::HeaderMap;
    use serde_json::json;
    use weir_core::plugin::{ApiSpecInfo, HookContext, HookKind, HookRequest, ReturnOverrides};

    use super::common::*;
    use super::*;

    #[test]
    fn bad_config_fails_the_load_naming_the_key() {
        let db = Db::sqlite();
        let missing = db.dsn().replace("registry.db", "nope.db");
        for (config, key) in [
            (json!({}), "sql_server_dsn"),
            (json!({"dsn": "oracle://h/db"}), "`dsn`"),
            (json!({"sql_server_dsn": missing}), "`sql_server_dsn`"),
            (
                json!({"dsn": db.dsn(), "cache_ttl_seconds": -5}),
                "cache_ttl_seconds",
            ),
            (
                json!({"dsn": db.dsn(), "cache_capacity": "many"}),
                "cache_capacity",
            ),
            (
                json!({"dsn": db.dsn(), "query_timeout_ms": 0}),
                "query_timeout_ms",
            ),
            (
                json!({"dsn": db.dsn(), "redis_url": "localhost:6379"}),
                "redis_url",
            ),
            (json!({"dsn": "postgres://u:pw@[::1/db"}), "`dsn`"),
        ] {
            let err = try_load(&api_id("bad"), &config)
                .err()
                .expect("a load error");
            assert!(err.contains(key), "{config}: {err}");
            assert!(!err.contains(":pw@"), "the password is not shown: {err}");
        }
    }

    #[test]
    fn the_seeds_config_key_and_its_my_init_hook() {
        let db = Db::sqlite();
        let api = load("seed", json!({"sql_server_dsn": db.dsn()}));
        let mut ctx = HookContext {
            kind: HookKind::Pre,
            name: "MyInit".into(),
            request: HookRequest {
                method: "POST".into(),
                url: "/vision.VisionService/StreamDetections".into(),
                request_uri: "/vision.VisionService/StreamDetections".into(),
                scheme: "http".into(),
                headers: HeaderMap::new(),
                body: Bytes::new(),
                return_overrides: ReturnOverrides::none(),
            },
            response: None,
            session: None,
            metadata: Default::default(),
            spec: Arc::new(ApiSpecInfo::default()),
            driver_state: Default::default(),
        };
        let mut fut = api.plugin.call(&mut ctx);
        let result = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a native hook did not complete synchronously"),
        };
        drop(fut);
        assert_eq!(result, Ok(()));
        assert_eq!(ctx.request.return_overrides, ReturnOverrides::none());
        assert_eq!(api.until_enriched("cam-1").camera_location, "North Gate");
    }

    /// What the hook costs the gateway's thread on a cache hit (decode, cache, re-encode,
    /// counters, through the driver). Printed for the record; bounded loosely for slow CI.
    #[test]
    fn a_cache_hit_costs_microseconds() {
        use prost::Message;
        use std::time::{Duration, Instant};
        use weir_core::plugin::MessageDirection;

        let db = Db::sqlite();
        let api = load("cost", json!({"dsn": db.dsn()}));
        api.until_enriched("cam-1");
        let payload = event("cam-1").encode_to_vec();
        let n = 20_000u32;
        let start = Instant::now();
        for _ in 0..n {
            let mut msg = api.message(MessageDirection::FromUpstream, METHOD, payload.clone());
            api.run(&mut msg);
        }
        let each = start.elapsed() / n;
        eprintln!("stream hook on a cache hit: {each:?} per message over {n} messages");
        assert!(each < Duration::from_millis(1), "{each:?}");
    }
}
