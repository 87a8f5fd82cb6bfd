//! Two gateway nodes sharing Redis in each shape tyk.conf `storage` can name besides one
//! plain server: TLS (`use_ssl`, a private CA in `ca_file`, a client certificate, or
//! `ssl_insecure_skip_verify`), Sentinel (`master_name`, followed through a failover) and
//! Redis Cluster (`enable_cluster`). In each: a key made on one node works on the other, a
//! rate limit of 20 per 10 s through both admits exactly 20, and a key deleted on one node is
//! refused on the other within 1 s.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{admin, bin, client};
use weir_testkit::{Gateway, HttpUpstream, RedisCluster, RedisSentinel, RedisTls};

fn api(target: &str) -> Value {
    json!({
        "api_id": "p", "name": "p", "org_id": "org1", "use_keyless": false, "active": true,
        "proxy": { "listen_path": "/p/", "target_url": target, "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

/// One node per `storage` block given.
fn nodes(up: &HttpUpstream, storages: &[Value]) -> Vec<Gateway> {
    storages
        .iter()
        .map(|storage| {
            let conf = json!({"storage": storage, "enable_hashed_keys_listing": true});
            Gateway::start(bin(), &[("p.json", api(&up.url()))], conf)
        })
        .collect()
}

/// Makes a key through `gw`; returns it and its hash, or the answer when that fails.
async fn try_create(gw: &Gateway, extra: Value) -> Result<(String, String), (u16, Value)> {
    let mut session = json!({"org_id": "org1", "access_rights":
        {"p": {"api_id": "p", "api_name": "p", "versions": ["Default"]}}});
    if let (Some(s), Value::Object(extra)) = (session.as_object_mut(), extra) {
        s.extend(extra);
    }
    let (status, body) = admin(gw, "POST", "/tyk/keys", Some(session.to_string())).await;
    if status != 200 {
        return Err((status, body));
    }
    let field = |f: &str| body[f].as_str().unwrap_or_default().to_string();
    Ok((field("key"), field("key_hash")))
}

async fn create(gw: &Gateway, extra: Value) -> (String, String) {
    try_create(gw, extra)
        .await
        .unwrap_or_else(|e| panic!("creating a key: {e:?}\n{}", gw.logs()))
}

async fn status(gw: &Gateway, key: &str) -> u16 {
    client()
        .get(gw.url("/p/echo"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `key` answers `want` on `gw`; panics after `within`.
async fn until_status(gw: &Gateway, key: &str, want: u16, within: Duration) {
    let start = Instant::now();
    loop {
        let got = status(gw, key).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "still {got} (not {want}) after {within:?}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` requests, alternating between the nodes, six at a time; counts each status.
async fn hammer(gws: &[Gateway], key: &str, n: usize) -> Vec<(u16, usize)> {
    let urls: Vec<String> = gws.iter().map(|g| g.url("/p/echo")).collect();
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (c, urls, key) = (client(), urls.clone(), key.to_string());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for i in (worker..n).step_by(6) {
                let resp = c.get(&urls[i % urls.len()]).header("Authorization", &key);
                codes.push(resp.send().await.unwrap().status().as_u16());
            }
            codes
        }));
    }
    let mut counts: Vec<(u16, usize)> = Vec::new();
    for t in tasks {
        for code in t.await.unwrap() {
            match counts.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => counts.push((code, 1)),
            }
        }
    }
    counts.sort();
    counts
}

/// What every mode must do: keys shared, a limit exact across nodes, deletions heard at once.
async fn share_keys_limits_and_deletions(gws: &[Gateway]) {
    let (key, _) = create(&gws[0], json!({})).await;
    for gw in gws {
        assert_eq!(status(gw, &key).await, 200, "{}", gw.logs());
    }

    let (limited, _) = create(&gws[1], json!({"rate": 20, "per": 10, "quota_max": -1})).await;
    assert_eq!(
        hammer(gws, &limited, 40).await,
        [(200, 20), (429, 20)],
        "40 requests through both nodes at 20 per 10 s"
    );

    let (code, body) = admin(&gws[1], "DELETE", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(code, 200, "{body}");
    for gw in gws {
        until_status(gw, &key, 403, Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_a_client_certificate_or_no_verification() {
    let redis = RedisTls::start();
    let up = HttpUpstream::start();
    let path = |p: std::path::PathBuf| p.display().to_string();
    let tls = json!({"type": "redis", "host": "127.0.0.1", "port": redis.port(), "timeout": 1,
        "use_ssl": true, "cert_file": path(redis.client_cert_file()),
        "key_file": path(redis.client_key_file())});
    let mut verified = tls.clone();
    verified["ca_file"] = json!(path(redis.ca_file()));
    let mut unverified = tls.clone();
    unverified["ssl_insecure_skip_verify"] = json!(true);
    // The third node trusts only the system's roots, which did not issue Redis's certificate.
    let gws = nodes(&up, &[verified, unverified, tls]);
    share_keys_limits_and_deletions(&gws[..2]).await;

    let (key, hash) = create(&gws[0], json!({})).await;
    let stored = redis.cli(&["EXISTS", &format!("apikey-{hash}")]);
    assert_eq!(stored.trim(), "1", "the key is in the TLS Redis: {stored}");
    assert_eq!(
        status(&gws[2], &key).await,
        503,
        "a node that cannot verify Redis's certificate must not reach it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_nodes_follow_the_master_through_a_failover() {
    let redis = RedisSentinel::start();
    let up = HttpUpstream::start();
    let storage = json!({"type": "redis", "addrs": [redis.sentinel_addr()],
        "master_name": RedisSentinel::MASTER_NAME, "timeout": 1});
    let gws = nodes(&up, &[storage.clone(), storage]);
    share_keys_limits_and_deletions(&gws).await;
    let (before, _) = create(&gws[0], json!({})).await;
    let old = redis.master_port();

    redis.failover();
    let new = redis.master_port();
    assert_ne!(old, new);
    // Each node writes to the new master within 5 s: the old one still answers, as a
    // master, for some 10 s after the failover (until the sentinel demotes it), and what is
    // written there meanwhile is lost.
    for gw in &gws {
        let start = Instant::now();
        loop {
            if let Ok((_, hash)) = try_create(gw, json!({})).await
                && redis
                    .cli(new, &["EXISTS", &format!("apikey-{hash}")])
                    .trim()
                    == "1"
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "a node still writes elsewhere than the new master {new}\n{}",
                gw.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for gw in &gws {
        assert_eq!(
            status(gw, &before).await,
            200,
            "a key made before the failover"
        );
    }
    // And keep serving: limits counted on the new master, deletions heard through it.
    share_keys_limits_and_deletions(&gws).await;
    let limits = redis.cli(new, &["--scan", "--pattern", "rate-limit-*"]);
    assert!(!limits.trim().is_empty(), "no rate log on the new master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_shares_keys_and_lists_them_from_every_master() {
    let cluster = RedisCluster::start();
    let up = HttpUpstream::start();
    let storage = json!({"type": "redis", "addrs": cluster.addrs(), "enable_cluster": true,
        "timeout": 1});
    let gws = nodes(&up, &[storage.clone(), storage]);
    share_keys_limits_and_deletions(&gws).await;

    // Keys until every master holds one; each node then lists them all.
    let holds = |node: usize| {
        let keys = cluster.cli(node, &["--scan", "--pattern", "apikey-*"]);
        !keys.trim().is_empty()
    };
    let mut hashes = Vec::new();
    while !(0..3).all(holds) {
        assert!(hashes.len() < 60, "60 keys and still a master without one");
        let (_, hash) = create(&gws[hashes.len() % 2], json!({})).await;
        hashes.push(hash);
    }
    for gw in &gws {
        let (code, list) = admin(gw, "GET", "/tyk/keys", None).await;
        assert_eq!(code, 200, "{list}");
        let listed: Vec<&str> = list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for h in &hashes {
            assert!(listed.contains(&h.as_str()), "{h} not listed: {listed:?}");
        }
    }
}
