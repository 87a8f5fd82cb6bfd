//! Rate limits exact across nodes: one sliding log per key in Redis, checked and updated by a
//! server-side script, so each request costs one round trip and every node sees the same log
//! (Tyk's default limiter lets each node admit its own share and drifts). The script reads the
//! time from Redis, so nodes with skewed clocks still agree.

use std::time::Duration;

use redis::aio::ConnectionLike;

use crate::limits::Decision;

/// KEYS[1]: the log; ARGV: window (ms), rate, a unique member. Returns {admitted, remaining,
/// ms until a request frees up}.
const SLIDING_LOG: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local per = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
local n = redis.call('ZCARD', KEYS[1])
local admitted = 0
if n < rate then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], per)
  n = n + 1
  admitted = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + per - now end
return {admitted, rate - n, reset}
";

/// The cluster limiter: the script, loaded once per connection and called by its hash.
pub struct RedisRateLimiter {
    script: redis::Script,
}

impl Default for RedisRateLimiter {
    fn default() -> Self {
        RedisRateLimiter {
            script: redis::Script::new(SLIDING_LOG),
        }
    }
}

impl RedisRateLimiter {
    /// Admits a request for `key` (Tyk's `rate-limit-<hash>` names it) if fewer than `rate`
    /// were admitted in the last `per` by any node. `member` must be unique per request (a
    /// request id).
    pub async fn check<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        key: &str,
        rate: u64,
        per: Duration,
        member: &str,
    ) -> redis::RedisResult<Decision> {
        let (admitted, remaining, reset_ms): (i64, i64, i64) = self
            .script
            .key(key)
            .arg(per.as_millis() as u64)
            .arg(rate)
            .arg(member)
            .invoke_async(conn)
            .await?;
        Ok(Decision {
            allowed: admitted == 1,
            remaining: remaining.max(0) as u64,
            reset: Duration::from_millis(reset_ms.max(0) as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_testkit::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_nodes_admit_exactly_the_limit_between_them() {
        let server = RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut nodes = Vec::new();
        for node in 0..3 {
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            nodes.push(tokio::spawn(async move {
                let limiter = RedisRateLimiter::default();
                let mut admitted = 0;
                for i in 0..100 {
                    let d = limiter
                        .check(
                            &mut conn,
                            "rate-limit-k",
                            200,
                            Duration::from_secs(10),
                            &format!("{node}-{i}"),
                        )
                        .await
                        .unwrap();
                    admitted += usize::from(d.allowed);
                }
                admitted
            }));
        }
        let mut total = 0;
        for n in nodes {
            total += n.await.unwrap();
        }
        assert_eq!(total, 200, "300 requests over three nodes at 200 per 10 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_says_when_the_window_frees_up() {
        let server = RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let limiter = RedisRateLimiter::default();
        let per = Duration::from_millis(500);
        let first = limiter.check(&mut conn, "k", 1, per, "a").await.unwrap();
        assert!(first.allowed);
        assert_eq!(first.remaining, 0);
        let second = limiter.check(&mut conn, "k", 1, per, "b").await.unwrap();
        assert!(!second.allowed);
        assert!(
            second.reset <= per && second.reset > Duration::ZERO,
            "{:?}",
            second.reset
        );
        tokio::time::sleep(per + Duration::from_millis(50)).await;
        assert!(
            limiter
                .check(&mut conn, "k", 1, per, "c")
                .await
                .unwrap()
                .allowed
        );
    }
}
