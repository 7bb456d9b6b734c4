//! Where cached bytes and generation counters live.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use fred::prelude::{
    Builder, Client, ClientLike, Config, Expiration, KeysInterface, ReconnectPolicy,
};

/// A backend call that failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid cache configuration: {0}")]
    Config(String),
    #[error("cache backend error: {0}")]
    Backend(String),
}

impl From<fred::error::Error> for CacheError {
    fn from(err: fred::error::Error) -> Self {
        Self::Backend(err.to_string())
    }
}

#[derive(Clone)]
pub(super) enum Backend {
    Memory {
        values: moka::future::Cache<String, (Instant, Arc<Vec<u8>>)>,
        generations: moka::future::Cache<String, u64>,
    },
    Redis {
        client: Client,
        prefix: String,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory { .. } => f.write_str("Backend::Memory"),
            Self::Redis { prefix, .. } => write!(f, "Backend::Redis({prefix})"),
        }
    }
}

impl Backend {
    pub(super) fn memory(capacity: u64) -> Self {
        Self::Memory {
            values: moka::future::Cache::builder()
                .max_capacity(capacity)
                // Entries also carry their own expiry; this bounds the rest.
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            generations: moka::future::Cache::builder()
                .time_to_live(GENERATION_TTL)
                .build(),
        }
    }

    pub(super) fn redis(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CacheError> {
        let config = Config::from_url(url).map_err(|err| CacheError::Config(err.to_string()))?;
        let client = Builder::from_config(config)
            .with_connection_config(|connection| {
                connection.connection_timeout = timeout;
                connection.internal_command_timeout = timeout;
                // Fail fast; the breaker decides about retrying.
                connection.max_command_attempts = 1;
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(|err| CacheError::Config(err.to_string()))?;
        // Connects (and reconnects) in the background.
        client.connect();
        Ok(Self::Redis {
            client,
            prefix: format!("{prefix}cache:"),
        })
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Self::Memory { values, .. } => Ok(values
                .get(key)
                .await
                .filter(|(expires, _)| Instant::now() < *expires)
                .map(|(_, bytes)| bytes.as_ref().clone())),
            Self::Redis { client, prefix } => Ok(client
                .get::<Option<Vec<u8>>, _>(format!("{prefix}{key}"))
                .await?),
        }
    }

    pub(super) async fn set(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        match self {
            Self::Memory { values, .. } => {
                values
                    .insert(key.to_owned(), (Instant::now() + ttl, Arc::new(bytes)))
                    .await;
                Ok(())
            }
            Self::Redis { client, prefix } => {
                let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
                client
                    .set::<(), _, _>(
                        format!("{prefix}{key}"),
                        bytes,
                        Some(Expiration::PX(millis)),
                        None,
                        false,
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// The current value of each generation (0 if never bumped).
    pub(super) async fn generations(&self, counters: &[String]) -> Result<Vec<u64>, CacheError> {
        match self {
            Self::Memory { generations, .. } => {
                let mut values = Vec::with_capacity(counters.len());
                for counter in counters {
                    values.push(generations.get(counter).await.unwrap_or(0));
                }
                Ok(values)
            }
            Self::Redis { client, prefix } => {
                let keys: Vec<String> = counters.iter().map(|c| format!("{prefix}{c}")).collect();
                let values: Vec<Option<u64>> = client.mget(keys).await?;
                Ok(values.into_iter().map(Option::unwrap_or_default).collect())
            }
        }
    }

    /// Moves a generation to a new value never used before (random, not
    /// incremented): a counter that expired and started again must not
    /// make an old entry reachable. Generations outlive any cached value.
    pub(super) async fn bump(&self, counter: &str) -> Result<(), CacheError> {
        // 62 random bits: stays a positive integer for Redis and fred.
        let fresh = (uuid::Uuid::new_v4().as_u128() >> 66) as u64 | 1;
        match self {
            Self::Memory { generations, .. } => {
                generations.insert(counter.to_owned(), fresh).await;
                Ok(())
            }
            Self::Redis { client, prefix } => {
                let millis = i64::try_from(GENERATION_TTL.as_millis()).unwrap_or(i64::MAX);
                client
                    .set::<(), _, _>(
                        format!("{prefix}{counter}"),
                        fresh,
                        Some(Expiration::PX(millis)),
                        None,
                        false,
                    )
                    .await?;
                Ok(())
            }
        }
    }
}

/// How long a generation lives after its last bump: longer than any value
/// (`MAX_TTL`), so no entry outlives the generation it was stored under.
const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest a value may be cached.
pub(super) const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
