//! The request-path Redis pool (deadpool-redis): short commands shared by
//! every instance, such as rate-limit counters. Every command is bounded by
//! `REDIS_TIMEOUT_MS`, so a slow or absent Redis never holds a request.

use std::time::Duration;

use deadpool_redis::{
    Pool, Runtime,
    redis::{Client, IntoConnectionInfo as _, TlsCertificates},
};

/// A pool of Redis connections with the configured timeout and key prefix.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    timeout: Duration,
    /// `REDIS_KEY_PREFIX`, put before every key.
    pub(crate) prefix: String,
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
    /// Connections are opened lazily, so this does not fail when Redis is
    /// down (readiness reports that instead). A `rediss://` server's
    /// certificate must chain to `REDIS_CA_CERT` or, without one, to the
    /// system's roots.
    pub fn from_settings(
        settings: &crate::config::RedisSettings,
    ) -> Result<Option<Self>, RedisError> {
        let Some(url) = &settings.url else {
            return Ok(None);
        };
        let ca_pem = settings.ca_pem().map_err(RedisError::Pool)?;
        let (url, timeout) = (url.expose(), settings.timeout());
        let info = if url.starts_with("rediss://") {
            // The roots travel inside the connection info; deadpool's own
            // `Config` would drop them, so the manager is built from it.
            let certificates = TlsCertificates {
                client_tls: None,
                root_cert: ca_pem,
            };
            Client::build_with_tls(url, certificates)
                .map(|client| client.get_connection_info().clone())
        } else {
            url.into_connection_info()
        }
        .map_err(|err| RedisError::Pool(format!("invalid REDIS_URL or TLS set-up: {err}")))?;
        let manager =
            deadpool_redis::Manager::new(info).map_err(|err| RedisError::Pool(err.to_string()))?;
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| RedisError::Pool(err.to_string()))?;
        Ok(Some(Self {
            pool,
            timeout,
            prefix: settings.key_prefix.clone(),
        }))
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
