//! Three gateway nodes sharing one Redis (tyk.conf `storage`), as a Tyk cluster does: a key
//! made on one node works on all, limits and quotas are exact across nodes, a deleted key is
//! refused everywhere within a second, a group reload reaches every node, and a Redis outage
//! answers protected APIs with a clear 5xx while keyless ones keep serving, until Redis is back.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{admin, bin, client};
use weir_testkit::{Gateway, HttpUpstream, RedisServer};

fn api(id: &str, target: &str, keyless: bool) -> Value {
    json!({
        "api_id": id, "name": id, "org_id": "org1", "use_keyless": keyless, "active": true,
        "proxy": { "listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

fn nodes(redis: &RedisServer, apis: &[Value]) -> Vec<Gateway> {
    let files: Vec<(String, Value)> = apis
        .iter()
        .map(|a| (format!("{}.json", a["api_id"].as_str().unwrap()), a.clone()))
        .collect();
    let refs: Vec<(&str, Value)> = files.iter().map(|(f, a)| (f.as_str(), a.clone())).collect();
    let conf = json!({"storage": {"type": "redis", "host": "127.0.0.1", "port": redis.port(),
        "timeout": 1}});
    (0..3)
        .map(|_| Gateway::start(bin(), &refs, conf.clone()))
        .collect()
}

async fn create(gw: &Gateway, session: Value) -> String {
    let (status, body) = admin(gw, "POST", "/tyk/keys", Some(session.to_string())).await;
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().unwrap().to_string()
}

async fn status(gw: &Gateway, path: &str, key: Option<&str>) -> u16 {
    let mut req = client().get(gw.url(path));
    if let Some(k) = key {
        req = req.header("Authorization", k);
    }
    req.send().await.unwrap().status().as_u16()
}

fn rights(api: &str) -> Value {
    json!({ api: { "api_id": api, "api_name": api, "versions": ["Default"] } })
}

/// Sends `n` requests round-robin over the nodes, `concurrency` at a time; counts the 200s.
async fn hammer(nodes: &[Gateway], path: &str, key: &str, n: usize) -> usize {
    let urls: Vec<String> = nodes.iter().map(|g| g.url(path)).collect();
    let c = client();
    let mut tasks = Vec::new();
    for worker in 0..12 {
        let (c, urls, key) = (c.clone(), urls.clone(), key.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in (worker..n).step_by(12) {
                let resp = c
                    .get(&urls[i % urls.len()])
                    .header("Authorization", &key)
                    .send()
                    .await
                    .unwrap();
                ok += usize::from(resp.status() == 200);
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_keys_limits_and_quotas_through_redis() {
    let redis = RedisServer::start();
    let up = HttpUpstream::start();
    let gws = nodes(&redis, &[api("p", &up.url(), false)]);

    // Made on node 1, works on 2 and 3; stored by hash only.
    let key = create(
        &gws[0],
        json!({"org_id": "org1", "access_rights": rights("p")}),
    )
    .await;
    for gw in &gws {
        assert_eq!(status(gw, "/p/echo", Some(&key)).await, 200);
    }
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let stored: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(
        stored.iter().any(|k| k.starts_with("apikey-")),
        "{stored:?}"
    );
    for k in &stored {
        let v: String = redis::cmd("TYPE").arg(k).query(&mut conn).unwrap();
        assert!(!k.contains(&key), "a plaintext key in Redis: {k}");
        if v == "string" {
            let body: String = redis::cmd("GET").arg(k).query(&mut conn).unwrap();
            assert!(!body.contains(&key), "a plaintext key in a stored value");
        }
    }

    // 200 per 10 s, hammered through all three: exactly 200 admitted.
    let limited = create(
        &gws[1],
        json!({"org_id": "org1", "rate": 200, "per": 10,
        "quota_max": -1, "access_rights": rights("p")}),
    )
    .await;
    let admitted = hammer(&gws, "/p/echo", &limited, 300).await;
    assert!(
        (196..=204).contains(&admitted),
        "admitted {admitted} of 300 at 200 per 10 s"
    );

    // A quota of 100 shared exactly.
    let quota = create(
        &gws[2],
        json!({"org_id": "org1", "quota_max": 100,
        "quota_renewal_rate": 3600, "access_rights": rights("p")}),
    )
    .await;
    assert_eq!(hammer(&gws, "/p/echo", &quota, 150).await, 100);

    // Deleted on node 2: refused on every node within 1 s.
    let (code, _) = admin(&gws[1], "DELETE", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(code, 200);
    let deleted = Instant::now();
    for gw in &gws {
        while status(gw, "/p/echo", Some(&key)).await != 403 {
            assert!(
                deleted.elapsed() < Duration::from_secs(1),
                "a deleted key still works after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(deleted.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_reload_reaches_every_node() {
    let redis = RedisServer::start();
    let up = HttpUpstream::start();
    let gws = nodes(&redis, &[api("open", &up.url(), true)]);
    for gw in &gws {
        gw.write_api("late.json", api("late", &up.url(), true));
        assert_eq!(status(gw, "/late/echo", None).await, 404);
    }
    let (code, body) = admin(&gws[0], "GET", "/tyk/reload/group", None).await;
    assert_eq!(
        (code, &body),
        (200, &json!({"status": "ok", "message": ""}))
    );
    let sent = Instant::now();
    for gw in &gws {
        while status(gw, "/late/echo", None).await != 200 {
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "the group reload did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_a_clear_503_and_service_returns_by_itself() {
    let mut redis = RedisServer::start_durable();
    let up = HttpUpstream::start();
    let gws = nodes(
        &redis,
        &[api("p", &up.url(), false), api("open", &up.url(), true)],
    );
    let key = create(
        &gws[0],
        json!({"org_id": "org1", "rate": 1000, "per": 1,
        "access_rights": rights("p")}),
    )
    .await;
    assert_eq!(status(&gws[1], "/p/echo", Some(&key)).await, 200);

    redis.kill();
    for gw in &gws {
        let resp = client()
            .get(gw.url("/p/echo"))
            .header("Authorization", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("key store is unavailable"),
            "{body}"
        );
        assert_eq!(
            status(gw, "/open/echo", None).await,
            200,
            "keyless APIs keep serving"
        );
    }

    redis.restart();
    let back = Instant::now();
    for gw in &gws {
        while status(gw, "/p/echo", Some(&key)).await != 200 {
            assert!(
                back.elapsed() < Duration::from_secs(10),
                "service did not return"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for mut gw in gws {
        assert!(gw.wait_exit(Duration::ZERO).is_none(), "a node exited");
    }
}
