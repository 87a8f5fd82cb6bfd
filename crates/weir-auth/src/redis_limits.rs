//! Rate limits exact across nodes: one sliding log per key in Redis, checked and updated by a
//! server-side script, so each request costs one round trip and every node sees the same log
//! (Tyk's default limiter lets each node admit its own share and drifts). The script reads the
//! time from Redis, so nodes with skewed clocks still agree.

use std::time::Duration;

use redis::aio::ConnectionLike;

use crate::limits::Decision;

/// KEYS[1]: the rate log, KEYS[2]: the quota counter; ARGV: window (ms), rate (0: none), a
/// unique member, quota max (below 0: none), quota renewal (ms), permits wanted (1 for one
/// request; more when a node leases a batch, see [`crate::service`]). Returns {rate permits
/// granted, remaining, ms until a request frees up (for an admitted request: at most the
/// window), quota permits granted, remaining, ms until renewal}. Permits the rate limit refuses
/// are not counted against the quota (Tyk checks the rate first).
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local per = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local qmax = tonumber(ARGV[4])
local renewal = tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local r = {want, -1, 0}
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
  local n = redis.call('ZCARD', KEYS[1])
  r[1] = math.max(0, math.min(want, rate - n))
  for i = 1, r[1] do
    redis.call('ZADD', KEYS[1], now, ARGV[3] .. '.' .. i)
  end
  if r[1] > 0 then
    redis.call('PEXPIRE', KEYS[1], per)
    n = n + r[1]
  end
  r[2] = rate - n
  -- When the request got in, the window frees one within `per`; the exact moment is only
  -- worth a lookup for a refusal.
  r[3] = per
  if r[1] == 0 then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if oldest[2] then r[3] = tonumber(oldest[2]) + per - now end
  end
end
local q = {r[1], -1, 0}
if qmax >= 0 and r[1] > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 0 then
    used = 0
    ttl = renewal
  end
  q[1] = math.max(0, math.min(r[1], qmax - used))
  if q[1] > 0 then
    used = used + q[1]
    redis.call('SET', KEYS[2], used, 'PX', ttl)
  end
  q[2] = qmax - used
  q[3] = ttl
end
return {r[1], r[2], r[3], q[1], q[2], q[3]}
";

/// What one request asks of the limits of its key.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The rate log's name (`rate-limit-[<scope>-]<hash>`).
    pub rate_key: &'a str,
    /// Requests per window; 0: no rate limit.
    pub rate: u64,
    /// The rate window.
    pub per: Duration,
    /// The quota counter's name (`quota-[<scope>-]<hash>`).
    pub quota_key: &'a str,
    /// Requests per quota period; below 0: no quota.
    pub quota_max: i64,
    /// The quota period.
    pub renewal: Duration,
}

/// The cluster limiter: the script, loaded once per connection and called by its hash.
pub struct RedisRateLimiter {
    script: redis::Script,
}

impl Default for RedisRateLimiter {
    fn default() -> Self {
        RedisRateLimiter {
            script: redis::Script::new(ADMIT),
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
        let ask = Ask {
            rate_key: key,
            rate,
            per,
            quota_key: key,
            quota_max: -1,
            renewal: Duration::ZERO,
        };
        Ok(self.admit(conn, &ask, member).await?.0)
    }

    /// Checks the rate limit and then counts the quota of one request, in one round trip;
    /// returns the rate's and the quota's decisions.
    pub async fn admit<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        ask: &Ask<'_>,
        member: &str,
    ) -> redis::RedisResult<(Decision, Decision)> {
        let (rate, quota, _) = self.lease(conn, ask, member, 1).await?;
        Ok((rate, quota))
    }

    /// Takes up to `want` permits at once (both limits counted as if `want` requests came);
    /// returns the decisions for the first of them and how many were granted by both limits.
    pub async fn lease<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        ask: &Ask<'_>,
        member: &str,
        want: u64,
    ) -> redis::RedisResult<(Decision, Decision, u64)> {
        let v: (i64, i64, i64, i64, i64, i64) = self
            .script
            .key(ask.rate_key)
            .key(ask.quota_key)
            .arg(ask.per.as_millis() as u64)
            .arg(ask.rate)
            .arg(member)
            .arg(ask.quota_max)
            .arg(ask.renewal.as_millis() as u64)
            .arg(want)
            .invoke_async(conn)
            .await?;
        let decision = |granted: i64, remaining: i64, reset: i64| Decision {
            allowed: granted > 0,
            // -1: no limit of that kind.
            remaining: u64::try_from(remaining).unwrap_or(u64::MAX),
            reset: Duration::from_millis(reset.max(0) as u64),
        };
        let granted = u64::try_from(v.3).unwrap_or(0);
        Ok((decision(v.0, v.1, v.2), decision(v.3, v.4, v.5), granted))
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
        // A quota of 2 shared by every caller of the key; a rate refusal is not counted.
        let ask = Ask {
            rate_key: "r",
            rate: 0,
            per,
            quota_key: "q",
            quota_max: 2,
            renewal: Duration::from_secs(60),
        };
        let (_, q) = limiter.admit(&mut conn, &ask, "m1").await.unwrap();
        assert!(q.allowed && q.remaining == 1);
        let (_, q) = limiter.admit(&mut conn, &ask, "m2").await.unwrap();
        assert!(q.allowed && q.remaining == 0);
        let (_, q) = limiter.admit(&mut conn, &ask, "m3").await.unwrap();
        assert!(!q.allowed && q.reset > Duration::from_secs(59));
        assert!(
            limiter
                .check(&mut conn, "k", 1, per, "c")
                .await
                .unwrap()
                .allowed
        );
    }
}
