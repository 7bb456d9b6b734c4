//! Fixed-window rate limiting: at most `limit` hits per key per window.
//!
//! With Redis configured the counters live there (one atomic script per hit),
//! so every instance behind the load balancer shares them; otherwise they
//! live in this process. If Redis fails (an error, a timeout, a pool that
//! cannot hand out a connection), the hit is counted in this process
//! instead: the limit then holds per instance, which is looser by the
//! number of instances but never off. An outage of Redis must neither lock
//! every user out of login nor open it to unlimited guessing. A hung Redis
//! costs the timeout only until a circuit breaker (the cache's kind) opens:
//! then the limiter counts in this process without asking Redis, and one
//! call probes it after a cool-down.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use deadpool_redis::redis::Script;

use crate::{
    breaker::Breaker,
    redis::{RedisError, RedisPool},
};

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Time until the window resets (for `Retry-After`).
    pub reset_after: Duration,
}

/// The counters of every rate limit (see the module's documentation).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// This process's counters: the embedded default's, and the fallback.
    local: Arc<Mutex<Windows>>,
    /// Counters shared by all instances, when configured.
    redis: Option<RedisPool>,
    /// Skips Redis while it keeps failing.
    breaker: Arc<Breaker>,
}

/// This process's counters, and when to sweep out expired ones next.
#[derive(Debug, Default)]
struct Windows {
    by_key: HashMap<String, Window>,
    /// Sweep once the map grows past this; after a sweep, twice what was
    /// left. So sweeping costs O(1) per hit on average, however many keys
    /// clients make up (a login budget per email is one per address).
    sweep_at: usize,
}

/// One key's current window (in-process backend).
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    hits: u32,
}

/// Increments the key and, when it has no expiry (the first hit of a
/// window), sets one, in one atomic step; returns the count and the
/// milliseconds left.
const HIT_SCRIPT: &str = r"
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
";

/// Above this many tracked keys, expired windows are swept on the next hit.
const SWEEP_THRESHOLD: usize = 10_000;

impl RateLimiter {
    /// Counters in Redis when there is a pool, in this process otherwise.
    pub fn new(redis: Option<RedisPool>) -> Self {
        Self {
            local: Arc::default(),
            redis,
            breaker: Arc::new(Breaker::new("rate limiter's Redis")),
        }
    }

    /// Redis, unless there is none or its breaker is open.
    fn shared(&self) -> Option<&RedisPool> {
        self.redis.as_ref().filter(|_| self.breaker.allow())
    }

    /// Records the outcome of a Redis call: the breaker's input.
    fn outcome<T>(&self, result: Result<T, RedisError>) -> Option<T> {
        match result {
            Ok(value) => {
                self.breaker.succeeded();
                Some(value)
            }
            Err(err) => {
                metrics::counter!("rate_limit_errors_total").increment(1);
                tracing::debug!(error = %err, "rate limiter's Redis failed; counting in this process");
                self.breaker.failed();
                None
            }
        }
    }

    /// Records a hit on `key` (e.g. `login:203.0.113.9`) and decides.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> Decision {
        let Some(pool) = self.shared() else {
            return Self::hit_memory(&self.local, key, limit, window);
        };
        let redis_key = format!("{}ratelimit:{key}", pool.prefix);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let result = pool
            .run(|mut conn| async move {
                Script::new(HIT_SCRIPT)
                    .key(redis_key)
                    .arg(window_ms)
                    .invoke_async::<(u64, i64)>(&mut conn)
                    .await
            })
            .await;
        match self.outcome(result) {
            Some((hits, ttl_ms)) => decide(
                hits,
                limit,
                Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
            ),
            None => Self::hit_memory(&self.local, key, limit, window),
        }
    }

    /// How many hits `key` has in its current window, adding none: for a
    /// budget spent only by some outcomes (failed logins), checked before
    /// the outcome is known. Falls back to this process's count as `hit`.
    pub async fn hits(&self, key: &str, window: Duration) -> u64 {
        let local = || {
            let windows = self
                .local
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            windows
                .by_key
                .get(key)
                .filter(|w| w.started.elapsed() < window)
                .map_or(0, |w| u64::from(w.hits))
        };
        let Some(pool) = self.shared() else {
            return local();
        };
        let redis_key = format!("{}ratelimit:{key}", pool.prefix);
        let result = pool
            .run(|mut conn| async move {
                deadpool_redis::redis::cmd("GET")
                    .arg(redis_key)
                    .query_async::<Option<u64>>(&mut conn)
                    .await
            })
            .await;
        match self.outcome(result) {
            Some(hits) => hits.unwrap_or(0),
            None => local(),
        }
    }

    fn hit_memory(windows: &Mutex<Windows>, key: &str, limit: u32, window: Duration) -> Decision {
        let now = Instant::now();
        // A poisoned lock only means another thread panicked mid-update of a
        // counter; the map is still usable.
        let mut windows = windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Windows { by_key, sweep_at } = &mut *windows;
        if by_key.len() > (*sweep_at).max(SWEEP_THRESHOLD) {
            by_key.retain(|_, w| now.duration_since(w.started) < window);
            *sweep_at = by_key.len().saturating_mul(2);
        }
        let entry = by_key.entry(key.to_owned()).or_insert(Window {
            started: now,
            hits: 0,
        });
        if now.duration_since(entry.started) >= window {
            *entry = Window {
                started: now,
                hits: 0,
            };
        }
        entry.hits = entry.hits.saturating_add(1);
        let reset_after = window.saturating_sub(now.duration_since(entry.started));
        decide(u64::from(entry.hits), limit, reset_after)
    }
}

fn decide(hits: u64, limit: u32, reset_after: Duration) -> Decision {
    Decision {
        allowed: hits <= u64::from(limit),
        reset_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_limiter_allows_up_to_the_limit_per_window() {
        let limiter = RateLimiter::new(None);
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.hit("login:1.2.3.4", 3, window).await.allowed);
        }
        let refused = limiter.hit("login:1.2.3.4", 3, window).await;
        assert!(!refused.allowed);
        assert!(refused.reset_after <= window && refused.reset_after > Duration::ZERO);
        assert!(
            limiter.hit("login:5.6.7.8", 3, window).await.allowed,
            "keys are separate"
        );
    }

    #[tokio::test]
    async fn without_redis_the_limit_still_holds_in_this_process() {
        // A Redis nobody listens on: every command fails fast.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let settings = crate::config::RedisSettings {
            url: Some(crate::config::SecretUrl::new(format!(
                "redis://127.0.0.1:{port}"
            ))),
            timeout_ms: 200,
            ..Default::default()
        };
        let pool = RedisPool::from_settings(&settings).expect("a pool");
        let limiter = RateLimiter::new(pool);
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.hit("login:1.2.3.4", 3, window).await.allowed);
        }
        assert!(
            !limiter.hit("login:1.2.3.4", 3, window).await.allowed,
            "a Redis outage must not lift the limit"
        );
    }

    #[tokio::test]
    async fn hits_reads_a_count_without_adding_to_it() {
        let limiter = RateLimiter::new(None);
        let window = Duration::from_secs(60);
        assert_eq!(limiter.hits("k", window).await, 0);
        limiter.hit("k", 5, window).await;
        limiter.hit("k", 5, window).await;
        assert_eq!(limiter.hits("k", window).await, 2);
        assert_eq!(limiter.hits("k", window).await, 2);
    }

    #[tokio::test]
    async fn a_new_window_starts_afresh() {
        let limiter = RateLimiter::new(None);
        let window = Duration::from_millis(1);
        assert!(limiter.hit("k", 1, window).await.allowed);
        // The window is a millisecond; waiting past it is the behaviour under test.
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.hit("k", 1, window).await.allowed);
    }
}
