//! Where cached bytes and generations live.
//!
//! Every call reports whether it reached Redis (`remote`), so answers from
//! the first tier neither close nor keep closed the circuit breaker.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use fred::{
    clients::SubscriberClient,
    prelude::{
        Builder, Client, ClientLike, Config, EventInterface, Expiration, KeysInterface,
        PubsubInterface, ReconnectPolicy, SetOptions,
    },
};

use crate::config::{CacheSettings, RedisSettings, SecretUrl};

/// A backend call that failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid cache configuration: {0}")]
    Config(String),
    #[error("cache backend error: {0}")]
    Backend(String),
}

/// A rustls connector that trusts exactly the CA certificates in `pem`.
fn tls_connector(pem: &[u8]) -> Result<fred::types::config::TlsConnector, CacheError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let invalid = |err: &dyn std::fmt::Display| CacheError::Config(format!("REDIS_CA_CERT: {err}"));
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        roots
            .add(certificate.map_err(|err| invalid(&err))?)
            .map_err(|err| invalid(&err))?;
    }
    if roots.is_empty() {
        return Err(invalid(&"no certificate in the file"));
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config.into())
}

impl From<fred::error::Error> for CacheError {
    fn from(err: fred::error::Error) -> Self {
        Self::Backend(err.to_string())
    }
}

/// A result and whether it needed Redis.
pub(super) type Answer<T> = Result<(T, bool), CacheError>;

/// The longest a value may be cached.
pub(super) const MAX_TTL: Duration = Duration::from_hours(24);

/// How long a generation lives after it is set. A generation that expires
/// (or is evicted) is replaced by a fresh random one, which only makes
/// older entries unreachable: expiry is always safe, so this only needs to
/// outlast most values to keep the hit rate.
const GENERATION_TTL: Duration = Duration::from_hours(25);

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
    /// Bumped by every invalidation message: a reader that fetched
    /// generations from Redis stores them locally only if no message
    /// arrived meanwhile, so a late reader cannot put back what a message
    /// just removed.
    epoch: Arc<AtomicU64>,
    channel: String,
    /// Kept alive for as long as the cache is.
    _subscriber: SubscriberClient,
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

/// A generation never used before: 62 random bits, never 0 (0 would
/// collide with nothing in particular, but random values make a reset
/// counter unable to revive an old key).
fn fresh_generation() -> u64 {
    let random = uuid::Uuid::new_v4().as_u128() >> 66;
    u64::try_from(random).unwrap_or(1) | 1
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

impl Backend {
    pub(super) fn memory(capacity: u64) -> Self {
        Self::Memory {
            values: moka::future::Cache::builder()
                .max_capacity(capacity)
                // Entries also carry their own expiry; this bounds the rest.
                .time_to_live(MAX_TTL)
                .build(),
            generations: moka::future::Cache::builder()
                .max_capacity(capacity.saturating_mul(4))
                .time_to_live(GENERATION_TTL)
                .build(),
        }
    }

    /// On `url`, with a first tier in this process if `CACHE_L1_ENABLED`.
    /// A `rediss://` server's certificate must chain to `REDIS_CA_CERT`
    /// when it is set, to the system's roots otherwise.
    pub(super) fn redis(
        url: &SecretUrl,
        redis: &RedisSettings,
        cache: &CacheSettings,
    ) -> Result<Self, CacheError> {
        let timeout = redis.timeout();
        let mut config =
            Config::from_url(url.expose()).map_err(|err| CacheError::Config(err.to_string()))?;
        if let (Some(tls), Some(pem)) = (
            config.tls.as_mut(),
            redis.ca_pem().map_err(CacheError::Config)?,
        ) {
            tls.connector = tls_connector(&pem)?;
        }
        // Keep trying when Redis is down at start-up, not only after a
        // connection that once worked drops.
        config.fail_fast = false;
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
        let prefix = format!("{}cache:", redis.key_prefix);
        let l1 = if cache.l1_enabled {
            Some(Self::first_tier(&builder, &prefix, cache)?)
        } else {
            None
        };
        Ok(Self::Redis { client, prefix, l1 })
    }

    fn first_tier(
        builder: &Builder,
        prefix: &str,
        cache: &CacheSettings,
    ) -> Result<L1, CacheError> {
        // The longest an entry lives here: the staleness bound if an
        // invalidation message is lost.
        let ttl = Duration::from_secs(cache.l1_ttl_seconds);
        let generations: moka::future::Cache<String, u64> = moka::future::Cache::builder()
            .max_capacity(cache.capacity.saturating_mul(4))
            .time_to_live(ttl)
            .build();
        let values = moka::future::Cache::builder()
            .max_capacity(cache.capacity)
            .time_to_live(ttl)
            .build();
        let epoch = Arc::new(AtomicU64::new(0));
        let channel = format!("{prefix}invalidations");
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|err| CacheError::Config(err.to_string()))?;
        subscriber.connect();
        // Re-subscribes after every reconnect once subscribed.
        subscriber.manage_subscriptions();
        let (on_message, message_epoch) = (generations.clone(), epoch.clone());
        subscriber.on_message(move |message| {
            let (generations, epoch) = (on_message.clone(), message_epoch.clone());
            async move {
                epoch.fetch_add(1, Ordering::SeqCst);
                if let Some(counter) = message.value.as_string() {
                    generations.invalidate(&counter).await;
                }
                Ok(())
            }
        });
        let (on_reconnect, reconnect_epoch) = (generations.clone(), epoch.clone());
        subscriber.on_reconnect(move |_| {
            // Messages may have been missed while disconnected.
            reconnect_epoch.fetch_add(1, Ordering::SeqCst);
            on_reconnect.invalidate_all();
            async { Ok(()) }
        });
        let subscribing = subscriber.clone();
        let subscribe_to = channel.clone();
        // The first subscription, whenever Redis first answers.
        tokio::spawn(async move {
            loop {
                if subscribing.wait_for_connect().await.is_ok() {
                    match subscribing.subscribe(subscribe_to.clone()).await {
                        Ok(()) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot subscribe to cache invalidations; retrying");
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(L1 {
            values,
            generations,
            epoch,
            channel,
            _subscriber: subscriber,
        })
    }

    pub(super) async fn get(&self, key: &str) -> Answer<Option<Vec<u8>>> {
        match self {
            Self::Memory { values, .. } => Ok((
                values
                    .get(key)
                    .await
                    .filter(|(expires, _)| Instant::now() < *expires)
                    .map(|(_, bytes)| bytes.as_ref().clone()),
                false,
            )),
            Self::Redis { client, prefix, l1 } => {
                if let Some(l1) = l1
                    && let Some(bytes) = l1.values.get(key).await
                {
                    return Ok((Some(bytes.as_ref().clone()), false));
                }
                let bytes = client
                    .get::<Option<Vec<u8>>, _>(format!("{prefix}{key}"))
                    .await?;
                if let (Some(l1), Some(bytes)) = (l1, &bytes) {
                    l1.values
                        .insert(key.to_owned(), Arc::new(bytes.clone()))
                        .await;
                }
                Ok((bytes, true))
            }
        }
    }

    pub(super) async fn set(&self, key: &str, bytes: Vec<u8>, ttl: Duration) -> Answer<()> {
        match self {
            Self::Memory { values, .. } => {
                values
                    .insert(key.to_owned(), (Instant::now() + ttl, Arc::new(bytes)))
                    .await;
                Ok(((), false))
            }
            Self::Redis { client, prefix, l1 } => {
                if let Some(l1) = l1 {
                    l1.values
                        .insert(key.to_owned(), Arc::new(bytes.clone()))
                        .await;
                }
                client
                    .set::<(), _, _>(
                        format!("{prefix}{key}"),
                        bytes,
                        Some(Expiration::PX(millis(ttl))),
                        None,
                        false,
                    )
                    .await?;
                Ok(((), true))
            }
        }
    }

    /// The current generation of each counter. A counter with none (never
    /// bumped, expired or evicted) gets a fresh one, atomically, so a lost
    /// counter can never make an old entry reachable again.
    pub(super) async fn generations(&self, counters: &[String]) -> Answer<Vec<u64>> {
        match self {
            Self::Memory { generations, .. } => {
                let mut values = Vec::with_capacity(counters.len());
                for counter in counters {
                    values.push(
                        generations
                            .get_with(counter.clone(), async { fresh_generation() })
                            .await,
                    );
                }
                Ok((values, false))
            }
            Self::Redis { client, prefix, l1 } => {
                let epoch = l1.as_ref().map(|l1| l1.epoch.load(Ordering::SeqCst));
                let mut known = vec![None; counters.len()];
                if let Some(l1) = l1 {
                    for (slot, counter) in known.iter_mut().zip(counters) {
                        *slot = l1.generations.get(counter).await;
                    }
                }
                let missing: Vec<usize> = (0..counters.len())
                    .filter(|i| known[*i].is_none())
                    .collect();
                if missing.is_empty() {
                    return Ok((
                        known.into_iter().map(Option::unwrap_or_default).collect(),
                        false,
                    ));
                }
                let keys: Vec<String> = missing
                    .iter()
                    .map(|i| format!("{prefix}{}", counters[*i]))
                    .collect();
                let values: Vec<Option<u64>> = client.mget(keys.clone()).await?;
                for ((i, key), value) in missing.iter().zip(keys).zip(values) {
                    let value = if let Some(value) = value {
                        value
                    } else {
                        // First writer wins; everyone then reads its value.
                        let _: Option<String> = client
                            .set(
                                &key,
                                fresh_generation(),
                                Some(Expiration::PX(millis(GENERATION_TTL))),
                                Some(SetOptions::NX),
                                false,
                            )
                            .await?;
                        client
                            .get::<Option<u64>, _>(&key)
                            .await?
                            .unwrap_or_default()
                    };
                    known[*i] = Some(value);
                }
                if let (Some(l1), Some(epoch)) = (l1, epoch)
                    && l1.epoch.load(Ordering::SeqCst) == epoch
                {
                    for i in missing {
                        if let Some(value) = known[i] {
                            l1.generations.insert(counters[i].clone(), value).await;
                        }
                    }
                }
                Ok((
                    known.into_iter().map(Option::unwrap_or_default).collect(),
                    true,
                ))
            }
        }
    }

    /// Moves a generation to a fresh value (random, never incremented: a
    /// reset counter must not make an old entry reachable).
    pub(super) async fn bump(&self, counter: &str) -> Answer<()> {
        let fresh = fresh_generation();
        match self {
            Self::Memory { generations, .. } => {
                generations.insert(counter.to_owned(), fresh).await;
                Ok(((), false))
            }
            Self::Redis { client, prefix, l1 } => {
                client
                    .set::<(), _, _>(
                        format!("{prefix}{counter}"),
                        fresh,
                        Some(Expiration::PX(millis(GENERATION_TTL))),
                        None,
                        false,
                    )
                    .await?;
                if let Some(l1) = l1 {
                    l1.generations.insert(counter.to_owned(), fresh).await;
                    // Tell the other instances to forget their copy.
                    client.publish::<(), _, _>(&l1.channel, counter).await?;
                }
                Ok(((), true))
            }
        }
    }
}
