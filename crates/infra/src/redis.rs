//! The request-path Redis pool (deadpool-redis): short commands shared by
//! every instance, such as rate-limit counters. Every command is bounded by
//! `REDIS_TIMEOUT_MS`, so a slow or absent Redis never holds a request.

use std::time::Duration;

use deadpool_redis::{Config, Pool, Runtime, Timeouts};

/// A pool of Redis connections with the configured timeout and key prefix.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    timeout: Duration,
    prefix: String,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Why a Redis command failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("no redis connection: {0}")]
    Pool(String),
    #[error("redis command failed: {0}")]
    Command(String),
}

impl RedisPool {
    /// The pool for `REDIS_URL`, or `None` when Redis is not configured.
    pub fn from_settings(
        settings: &crate::config::RedisSettings,
    ) -> Result<Option<Self>, RedisError> {
        settings
            .url
            .as_ref()
            .map(|url| Self::new(url.expose(), settings.timeout(), &settings.key_prefix))
            .transpose()
    }

    /// Builds the pool; connections are opened lazily, so this does not
    /// fail when Redis is down (readiness reports that instead).
    pub fn new(url: &str, timeout: Duration, prefix: &str) -> Result<Self, RedisError> {
        let mut config = Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(16);
        pool_config.timeouts = Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        };
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|err| RedisError::Pool(err.to_string()))?;
        Ok(Self {
            pool,
            timeout,
            prefix: prefix.to_owned(),
        })
    }

    /// `key` with the configured prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `command` on a pooled connection within the timeout.
    pub async fn run<T, F, Fut>(&self, command: F) -> Result<T, RedisError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = Result<T, deadpool_redis::redis::RedisError>>,
    {
        let work = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|err| RedisError::Pool(err.to_string()))?;
            command(conn)
                .await
                .map_err(|err| RedisError::Command(err.to_string()))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| RedisError::Timeout(self.timeout))?
    }

    /// A round trip, for readiness.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.run(|mut conn| async move {
            deadpool_redis::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
        })
        .await
    }
}
