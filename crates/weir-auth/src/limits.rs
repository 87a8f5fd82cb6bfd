//! Rate limits and quotas on one node, exact: a sliding log per key (Tyk's "rolling" limiter:
//! a request is admitted when fewer than `rate` were admitted in the last `per`), and a quota
//! counted in windows of `quota_renewal_rate` that start at a key's first request.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys a limiter tracks before it forgets idle ones.
const MAX_KEYS: usize = 100_000;

/// What a limiter says of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Admitted or not.
    pub allowed: bool,
    /// Requests left in the window after this one (0 when refused).
    pub remaining: u64,
    /// Time until the window frees a request (rate) or renews (quota).
    pub reset: Duration,
}

/// Sliding-log rate limits, per limiter key.
#[derive(Default)]
pub struct RateLimiter(Mutex<HashMap<String, VecDeque<Instant>>>);

impl RateLimiter {
    /// Admits a request for `key` at `now` if fewer than `rate` were admitted in the `per`
    /// before it. `rate` 0 means no limit.
    pub fn check(&self, key: &str, rate: u64, per: Duration, now: Instant) -> Decision {
        if rate == 0 {
            return Decision {
                allowed: true,
                remaining: u64::MAX,
                reset: Duration::ZERO,
            };
        }
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // The key is copied only the first time it is seen, not on every request.
        if !all.contains_key(key) {
            // Many callers (JWT identities are unbounded): forget those idle for a window.
            if all.len() >= MAX_KEYS {
                all.retain(|_, log| {
                    log.back()
                        .is_some_and(|t| now.saturating_duration_since(*t) < per)
                });
            }
            all.insert(key.to_string(), VecDeque::new());
        }
        let Some(log) = all.get_mut(key) else {
            return Decision {
                allowed: false,
                remaining: 0,
                reset: per,
            };
        };
        while log
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= per)
        {
            log.pop_front();
        }
        let allowed = (log.len() as u64) < rate;
        if allowed {
            log.push_back(now);
        }
        let reset = log
            .front()
            .map(|t| per.saturating_sub(now.saturating_duration_since(*t)))
            .unwrap_or_default();
        Decision {
            allowed,
            remaining: rate.saturating_sub(log.len() as u64),
            reset,
        }
    }
}

/// Quotas, per quota key: `max` requests per window of `renewal`, the window starting at the
/// first request after the last one ended.
#[derive(Default)]
pub struct Quotas(Mutex<HashMap<String, (Instant, u64)>>);

impl Quotas {
    /// Counts a request for `key` at `now`; refused once `max` were counted in this window.
    /// `max` below 0 means no quota.
    pub fn check(&self, key: &str, max: i64, renewal: Duration, now: Instant) -> Decision {
        let Ok(max) = u64::try_from(max) else {
            return Decision {
                allowed: true,
                remaining: u64::MAX,
                reset: Duration::ZERO,
            };
        };
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !all.contains_key(key) {
            if all.len() >= MAX_KEYS {
                all.retain(|_, (start, _)| now.saturating_duration_since(*start) < renewal);
            }
            all.insert(key.to_string(), (now, 0));
        }
        let Some((start, used)) = all.get_mut(key) else {
            return Decision {
                allowed: false,
                remaining: 0,
                reset: renewal,
            };
        };
        if now.saturating_duration_since(*start) >= renewal {
            *start = now;
            *used = 0;
        }
        let allowed = *used < max;
        if allowed {
            *used += 1;
        }
        Decision {
            allowed,
            remaining: max.saturating_sub(*used),
            reset: renewal.saturating_sub(now.saturating_duration_since(*start)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliding_log_admits_rate_per_window_exactly() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let per = Duration::from_secs(10);
        let admitted = (0..250)
            .filter(|i| {
                l.check("k", 200, per, t0 + Duration::from_millis(*i))
                    .allowed
            })
            .count();
        assert_eq!(admitted, 200);
        // The first admitted request leaves the window 10 s after it: one more fits.
        assert!(
            !l.check("k", 200, per, t0 + Duration::from_millis(9_999))
                .allowed
        );
        let d = l.check("k", 200, per, t0 + per);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        // Other keys are counted apart; rate 0 is no limit.
        assert!(l.check("other", 1, per, t0).allowed);
        assert!(l.check("free", 0, per, t0).allowed);
    }

    #[test]
    fn a_refusal_says_when_a_request_frees_up() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let per = Duration::from_secs(1);
        assert!(l.check("k", 1, per, t0).allowed);
        let d = l.check("k", 1, per, t0 + Duration::from_millis(300));
        assert!(!d.allowed);
        assert_eq!(d.reset, Duration::from_millis(700));
    }

    #[test]
    fn a_quota_counts_per_window_and_renews() {
        let q = Quotas::default();
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        for i in 0..100 {
            let d = q.check("k", 100, hour, t0 + Duration::from_secs(i));
            assert!(d.allowed);
            assert_eq!(d.remaining, 99 - i);
        }
        let d = q.check("k", 100, hour, t0 + Duration::from_secs(100));
        assert!(!d.allowed);
        assert_eq!(d.reset, Duration::from_secs(3500));
        assert!(q.check("k", 100, hour, t0 + hour).allowed);
        assert!(q.check("free", -1, hour, t0).allowed);
    }
}
