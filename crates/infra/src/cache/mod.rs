//! The cache: typed get-or-compute with tag and prefix invalidation, on
//! Redis (fred) when `REDIS_URL` is set and in-process (moka) otherwise.
//!
//! The Rust form of the template's `@Cache.cached(prefix, tag, ttl)`:
//!
//! ```ignore
//! let key = CacheKey::new("users:me", user_id).tag(format!("user:{user_id}"));
//! let me = cache.get_or_compute(&key, None, || repo.get(conn, user_id)).await?;
//! cache.invalidate_tags(&[format!("user:{user_id}")]).await;
//! ```
//!
//! **Invalidation without scanning.** Every tag, every prefix and the cache
//! as a whole have a generation; a value's storage key includes the current
//! generations of its prefix and tags. Invalidating a tag sets a fresh
//! generation (one `SET`), so every key that depended on it becomes
//! unreachable at once, on every instance sharing the Redis, and the old
//! entries expire by their TTL. No `KEYS`, no `SCAN`.
//!
//! **Outages degrade, never fail.** Any backend error counts as a miss: the
//! value is computed and returned, with a warning and a metric. After five
//! failures in a row a circuit breaker skips the backend for five seconds,
//! so requests do not each wait out a timeout while Redis is down, then
//! lets one request probe it. While an invalidation lost during an outage is
//! pending, every call first moves the cache-wide generation on, so nothing
//! stored before the outage is served after it. (The pending flag lives in
//! the process that lost the invalidation; if that process exits first,
//! entries written before the outage live out their TTL.)
//!
//! **Decoding.** Values are stored as a format byte plus JSON; a value that
//! no longer decodes into the requested type (a deploy changed it) is a miss.
//!
//! **Single flight.** Concurrent misses of one key in one process compute
//! once; the others wait and read the stored result.

mod backend;

use std::{
    collections::HashMap,
    fmt::Display,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument as _;

use backend::Backend;

use crate::breaker::Breaker;
pub use backend::CacheError;

/// Format of stored values; bump when the encoding itself changes.
const FORMAT: u8 = 1;

/// Which cached computation, for which arguments, invalidated by which tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    prefix: String,
    args: String,
    tags: Vec<String>,
}

impl CacheKey {
    /// A key for `prefix` (the computation, e.g. `users:me`) and its
    /// arguments, rendered with `Display` (the template's key maker).
    pub fn new(prefix: impl Into<String>, args: impl Display) -> Self {
        Self {
            prefix: prefix.into(),
            args: args.to_string(),
            tags: Vec::new(),
        }
    }

    /// Adds a tag; invalidating it drops this entry.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
}

/// The shared cache. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Cache {
    /// `None` when `CACHE_ENABLED=false`: every call computes.
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    default_ttl: Duration,
    breaker: Breaker,
    /// One lock per key being computed in this process.
    flights: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl Cache {
    /// The cache the settings describe: off with `CACHE_ENABLED=false`; in
    /// Redis with `REDIS_URL` (two-tier with `CACHE_L1_ENABLED`);
    /// in-process otherwise.
    pub fn from_settings(
        cache: &crate::config::CacheSettings,
        redis: &crate::config::RedisSettings,
    ) -> Result<Self, CacheError> {
        if !cache.enabled {
            return Ok(Self { inner: None });
        }
        let backend = match &redis.url {
            None => Backend::memory(cache.capacity),
            Some(url) => Backend::redis(url, redis, cache)?,
        };
        Ok(Self {
            inner: Some(Arc::new(Inner {
                backend,
                default_ttl: Duration::from_secs(cache.ttl_seconds),
                breaker: Breaker::new("cache backend"),
                flights: Mutex::default(),
            })),
        })
    }

    /// The cached value of `key`, or `compute`'s, stored for `ttl` (default
    /// `CACHE_TTL_SECONDS`). Errors of `compute` are returned and not cached.
    /// In a sampled trace, the call is a span (`cache get_or_compute`, with
    /// the key's prefix and `hit`, `miss` or `error`); a miss's computation
    /// is inside it.
    pub async fn get_or_compute<T, E, F, Fut>(
        &self,
        key: &CacheKey,
        ttl: Option<Duration>,
        compute: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Target `otel`: a trace's span only (`telemetry::trace::CHILD`).
        let span = tracing::info_span!(
            target: "otel",
            "cache",
            otel.name = "cache get_or_compute",
            cache.key_prefix = %key.prefix,
            cache.result = tracing::field::Empty,
        );
        let counted = |result: &'static str| {
            metrics::counter!("cache_requests_total", "result" => result).increment(1);
            span.record("cache.result", result);
        };
        async {
            let Some(inner) = &self.inner else {
                return compute().await;
            };
            let Some(storage_key) = inner.storage_key(key).await else {
                counted("error");
                return compute().await;
            };
            if let Some(value) = inner.read::<T>(&storage_key).await {
                counted("hit");
                return Ok(value);
            }
            // Single flight: the first miss computes while holding the key's
            // lock; the others wait for it and then find the value stored. If
            // it is not there (the leader failed, or could not store it), they
            // compute side by side rather than one after another.
            let flight = inner.flight(&storage_key);
            let _leader = if let Ok(guard) = flight.try_lock() {
                Some(guard)
            } else {
                drop(flight.lock().await);
                if let Some(value) = inner.read::<T>(&storage_key).await {
                    counted("hit");
                    return Ok(value);
                }
                None
            };
            counted("miss");
            let value = compute().await?;
            let ttl = ttl.unwrap_or(inner.default_ttl).min(backend::MAX_TTL);
            inner.write(&storage_key, &value, ttl).await;
            Ok(value)
        }
        .instrument(span.clone())
        .await
    }

    /// Drops every entry tagged with one of `tags`, on every instance.
    pub async fn invalidate_tags<S: AsRef<str>>(&self, tags: &[S]) {
        if let Some(inner) = &self.inner {
            for tag in tags {
                inner.bump(&format!("gen:tag:{}", tag.as_ref())).await;
            }
        }
    }

    /// Drops every entry whose key has this prefix, on every instance.
    pub async fn invalidate_prefix(&self, prefix: &str) {
        if let Some(inner) = &self.inner {
            inner.bump(&format!("gen:prefix:{prefix}")).await;
        }
    }
}

impl Inner {
    /// The key the value is stored under: the prefix, the arguments and the
    /// current generations of the cache, the prefix and each tag.
    async fn storage_key(&self, key: &CacheKey) -> Option<String> {
        let mut counters = vec!["gen:all".to_owned(), format!("gen:prefix:{}", key.prefix)];
        counters.extend(key.tags.iter().map(|tag| format!("gen:tag:{tag}")));
        let generations = self
            .guarded(Box::pin(self.backend.generations(&counters)))
            .await?;
        let generations: Vec<String> = generations.iter().map(u64::to_string).collect();
        Some(format!(
            "val:{}:{}@{}",
            key.prefix,
            key.args,
            generations.join(".")
        ))
    }

    async fn read<T: DeserializeOwned>(&self, storage_key: &str) -> Option<T> {
        let bytes = self
            .guarded(Box::pin(self.backend.get(storage_key)))
            .await??;
        match bytes.split_first() {
            Some((&FORMAT, json)) => serde_json::from_slice(json).ok().or_else(|| {
                tracing::debug!(
                    key = storage_key,
                    "cached value no longer decodes; treating as a miss"
                );
                None
            }),
            _ => None,
        }
    }

    async fn write<T: Serialize>(&self, storage_key: &str, value: &T, ttl: Duration) {
        let mut bytes = vec![FORMAT];
        if serde_json::to_writer(&mut bytes, value).is_err() {
            return;
        }
        let _ = self
            .guarded(Box::pin(self.backend.set(storage_key, bytes, ttl)))
            .await;
    }

    async fn bump(&self, counter: &str) {
        if self
            .guarded(Box::pin(self.backend.bump(counter)))
            .await
            .is_none()
        {
            // The invalidation is lost; the breaker flushes everything once
            // the backend is back.
            self.breaker.note_lost_invalidation();
        }
    }

    /// Runs a backend call unless the breaker is open; errors are logged,
    /// counted and become `None`. While an invalidation lost in an outage
    /// is pending, the cache-wide generation is moved on first, so nothing
    /// stored before the outage is read after it.
    async fn guarded<T>(&self, call: impl Future<Output = backend::Answer<T>>) -> Option<T> {
        if !self.breaker.allow() {
            return None;
        }
        if self.breaker.flush_pending() {
            // Boxed: fred futures are large, and this sits in every request.
            match Box::pin(self.backend.bump("gen:all")).await {
                Ok(_) => self.breaker.flushed(),
                Err(err) => {
                    self.report(&err);
                    return None;
                }
            }
        }
        match call.await {
            Ok((value, remote)) => {
                // Only a call that reached Redis says anything about it.
                if remote {
                    self.breaker.succeeded();
                }
                Some(value)
            }
            Err(err) => {
                self.report(&err);
                None
            }
        }
    }

    fn report(&self, err: &CacheError) {
        metrics::counter!("cache_errors_total").increment(1);
        tracing::warn!(error = %err, "cache unavailable; computing without it");
        self.breaker.failed();
    }

    fn flight(&self, storage_key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = flights.get(storage_key).and_then(Weak::upgrade) {
            return existing;
        }
        flights.retain(|_, flight| flight.strong_count() > 0);
        let flight = Arc::new(tokio::sync::Mutex::new(()));
        flights.insert(storage_key.to_owned(), Arc::downgrade(&flight));
        flight
    }
}
