//! Where cached bytes and generation counters live.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use fred::{
    clients::SubscriberClient,
    prelude::{
        Builder, Client, ClientLike, Config, EventInterface, Expiration, KeysInterface,
        PubsubInterface, ReconnectPolicy,
    },
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
        /// The optional in-process first tier.
        l1: Option<L1>,
    },
}

/// Two-tier mode: recent values and generations kept in this process in
/// front of Redis. Instances tell each other about invalidations over Redis
/// pub/sub; a message lost to a disconnect is covered by the short TTL and
/// by dropping all local generations on reconnect.
#[derive(Clone)]
pub(super) struct L1 {
    values: moka::future::Cache<String, Arc<Vec<u8>>>,
    generations: moka::future::Cache<String, u64>,
    channel: String,
    /// Kept alive for as long as the cache is.
    _subscriber: SubscriberClient,
}

/// Settings of the first tier.
#[derive(Debug, Clone, Copy)]
pub struct L1Config {
    /// Longest an entry lives locally: the staleness bound if an
    /// invalidation message is lost.
    pub ttl: Duration,
    pub capacity: u64,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory { .. } => f.write_str("Backend::Memory"),
            Self::Redis { prefix, l1, .. } => {
                write!(f, "Backend::Redis({prefix}, two-tier: {})", l1.is_some())
            }
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

    pub(super) fn redis(
        url: &str,
        prefix: &str,
        timeout: Duration,
        l1: Option<L1Config>,
    ) -> Result<Self, CacheError> {
        let config = Config::from_url(url).map_err(|err| CacheError::Config(err.to_string()))?;
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|connection| {
                connection.connection_timeout = timeout;
                connection.internal_command_timeout = timeout;
                // Fail fast; the breaker decides about retrying.
                connection.max_command_attempts = 1;
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2));
        let client = builder
            .build()
            .map_err(|err| CacheError::Config(err.to_string()))?;
        // Connects (and reconnects) in the background.
        client.connect();
        let prefix = format!("{prefix}cache:");
        let l1 = match l1 {
            Some(config) => Some(Self::first_tier(&builder, &prefix, config)?),
            None => None,
        };
        Ok(Self::Redis { client, prefix, l1 })
    }

    fn first_tier(builder: &Builder, prefix: &str, config: L1Config) -> Result<L1, CacheError> {
        let generations: moka::future::Cache<String, u64> = moka::future::Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .build();
        let values = moka::future::Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .build();
        let channel = format!("{prefix}invalidations");
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|err| CacheError::Config(err.to_string()))?;
        subscriber.connect();
        // Re-subscribes after every reconnect.
        subscriber.manage_subscriptions();
        let on_message = generations.clone();
        subscriber.on_message(move |message| {
            let generations = on_message.clone();
            async move {
                if let Some(counter) = message.value.as_string() {
                    generations.invalidate(&counter).await;
                }
                Ok(())
            }
        });
        let on_reconnect = generations.clone();
        subscriber.on_reconnect(move |_| {
            // Messages may have been missed while disconnected.
            on_reconnect.invalidate_all();
            async { Ok(()) }
        });
        let subscribing = subscriber.clone();
        let subscribe_to = channel.clone();
        tokio::spawn(async move {
            if subscribing.wait_for_connect().await.is_ok()
                && let Err(err) = subscribing.subscribe(subscribe_to).await
            {
                tracing::warn!(error = %err, "cannot subscribe to cache invalidations");
            }
        });
        Ok(L1 {
            values,
            generations,
            channel,
            _subscriber: subscriber,
        })
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Self::Memory { values, .. } => Ok(values
                .get(key)
                .await
                .filter(|(expires, _)| Instant::now() < *expires)
                .map(|(_, bytes)| bytes.as_ref().clone())),
            Self::Redis { client, prefix, l1 } => {
                if let Some(l1) = l1
                    && let Some(bytes) = l1.values.get(key).await
                {
                    return Ok(Some(bytes.as_ref().clone()));
                }
                let bytes = client
                    .get::<Option<Vec<u8>>, _>(format!("{prefix}{key}"))
                    .await?;
                if let (Some(l1), Some(bytes)) = (l1, &bytes) {
                    l1.values
                        .insert(key.to_owned(), Arc::new(bytes.clone()))
                        .await;
                }
                Ok(bytes)
            }
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
            Self::Redis { client, prefix, l1 } => {
                let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
                if let Some(l1) = l1 {
                    l1.values
                        .insert(key.to_owned(), Arc::new(bytes.clone()))
                        .await;
                }
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
            Self::Redis { client, prefix, l1 } => {
                let mut known = vec![None; counters.len()];
                if let Some(l1) = l1 {
                    for (slot, counter) in known.iter_mut().zip(counters) {
                        *slot = l1.generations.get(counter).await;
                    }
                }
                let missing: Vec<usize> = (0..counters.len())
                    .filter(|i| known[*i].is_none())
                    .collect();
                if !missing.is_empty() {
                    let keys: Vec<String> = missing
                        .iter()
                        .map(|i| format!("{prefix}{}", counters[*i]))
                        .collect();
                    let values: Vec<Option<u64>> = client.mget(keys).await?;
                    for (i, value) in missing.into_iter().zip(values) {
                        let value = value.unwrap_or_default();
                        if let Some(l1) = l1 {
                            l1.generations.insert(counters[i].clone(), value).await;
                        }
                        known[i] = Some(value);
                    }
                }
                Ok(known.into_iter().map(Option::unwrap_or_default).collect())
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
            Self::Redis { client, prefix, l1 } => {
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
                if let Some(l1) = l1 {
                    l1.generations.insert(counter.to_owned(), fresh).await;
                    // Tell the other instances to forget their copy.
                    client.publish::<(), _, _>(&l1.channel, counter).await?;
                }
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
