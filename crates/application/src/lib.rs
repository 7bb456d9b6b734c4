//! Services: the product's behaviour, written against domain types.
//!
//! A service validates business rules, hashes and checks credentials, issues
//! tokens, and drives repositories (opening transactions where several writes
//! must stand or fall together). It returns [`Error`] values that say what
//! happened in business terms; it must not know about HTTP (actix, status
//! codes, DTOs), which is the web crate's job.
//!
//! [`Services::from_settings`] is how every process starts (the binaries
//! and the end-to-end tests, so tests run what ships), and
//! [`Services::worker`] assembles the job worker. The database stays
//! inside: callers get services, never the pool.

mod access;
pub mod cache_tags;
mod error;
pub mod jobs;
pub mod mails;
pub mod security;
pub mod services;

use std::time::Duration;

use infra::{Settings, cache::Cache, redis::RedisPool};
use persistence::{Db, DbOptions};

use crate::jobs::{JobContext, Worker};

pub use access::Principals;
pub use error::{Error, Result};
pub use security::{
    password::Admission,
    tokens::{Caller, TokenPair},
};
pub use services::{
    accounts::AccountService,
    auth::{AuthService, LoginAttempt},
    tasks::TaskService,
    users::UserService,
};

/// Every service, built once at start-up and shared by all requests.
#[derive(Debug, Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub accounts: AccountService,
    pub tasks: TaskService,
    // new-resource: services
    /// The job queue, for enqueueing outside a service and for operators.
    pub jobs: jobs::JobQueue,
    db: Db,
    /// The request-path Redis pool (rate limits, readiness), when
    /// `REDIS_URL` is set.
    redis: Option<RedisPool>,
}

impl Services {
    /// Everything the settings describe, ready to serve: opens the pools,
    /// applies pending migrations when `DATABASE_AUTO_MIGRATE` is on, and
    /// builds the Redis pool, the cache and the services.
    pub async fn from_settings(settings: &Settings) -> Result<Self, StartError> {
        let db = connect(settings, settings.database.auto_migrate).await?;
        let redis = RedisPool::from_settings(&settings.redis).map_err(StartError::Redis)?;
        let cache =
            Cache::from_settings(&settings.cache, &settings.redis).map_err(StartError::Cache)?;
        let jobs = jobs::JobQueue::new(&db, &settings.jobs)
            .map_err(|err| StartError::Services(Error::Jobs(err)))?;
        let auth = AuthService::new(db.clone(), &settings.auth, cache.clone(), jobs.clone())
            .await
            .map_err(StartError::Services)?;
        Ok(Self {
            users: UserService::new(db.clone(), auth.clone(), cache.clone(), jobs.clone()),
            accounts: AccountService::new(db.clone(), auth.clone(), cache.clone(), jobs.clone()),
            tasks: TaskService::new(db.clone(), cache.clone()),
            // new-resource: build services
            jobs,
            auth,
            db,
            redis,
        })
    }

    /// A job worker on these services' database, running every job the
    /// product ships, configured by the `JOB_*` settings (tests pass
    /// settings with shorter timings). The API runs one in-process
    /// (`JOB_WORKER_IN_API`); `bins/worker` runs one alone. Both stop here
    /// on a bad `JOB_CLEANUP_SCHEDULE`.
    pub fn worker(&self, settings: &Settings) -> Result<Worker, StartError> {
        let schedule =
            jobs::cleanup_schedule(&settings.jobs.cleanup_schedule).map_err(StartError::Config)?;
        let ctx = JobContext {
            db: self.db.clone(),
            mailer: infra::mail::from_settings(&settings.mail).map_err(StartError::Mail)?,
            templates: mails::MailTemplates::new(&settings.mail, &settings.auth),
            token_lifetimes: jobs::TokenLifetimes::from_settings(&settings.auth),
        };
        let grace = settings.http.shutdown_grace();
        Worker::new(&self.db, ctx, &settings.jobs, schedule, grace).map_err(StartError::Worker)
    }

    /// The request-path Redis pool, when `REDIS_URL` is set.
    pub fn redis(&self) -> Option<&RedisPool> {
        self.redis.as_ref()
    }

    /// Sets the `db_pool_connections{pool,state}` gauges from the pools
    /// now (the API at each scrape).
    pub fn record_pool_gauges(&self) {
        record_pool_gauges(&self.db);
    }

    /// Connections of the primary pool in use now (what the
    /// `db_pool_connections{state="in_use"}` gauge reports).
    pub fn primary_connections_in_use(&self) -> u32 {
        self.db
            .pool_stats()
            .first()
            .map_or(0, |(_, open, idle)| open.saturating_sub(*idle))
    }

    /// Closes the database pools (at shutdown, after the last request).
    pub async fn close(self) -> Result<()> {
        Ok(self.db.close().await?)
    }

    /// For readiness: whether the database can serve this build. Every pool
    /// must answer (else the error) and the primary's schema must have every
    /// migration of this build (else `false`: the deploy has not migrated).
    pub async fn database_ready(&self) -> Result<bool> {
        self.db.ping().await?;
        Ok(self.db.schema_is_current().await?)
    }
}

/// `db_pool_connections{pool,state}`: idle and in-use connections per pool.
pub(crate) fn record_pool_gauges(db: &Db) {
    for (pool, open, idle) in db.pool_stats() {
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(idle));
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(open.saturating_sub(idle)));
    }
}

/// Why the application could not start. Each message names the settings
/// to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot connect to the database at {url}")]
    Connect {
        /// `DATABASE_URL`, password masked.
        url: String,
        #[source]
        source: persistence::Error,
    },
    #[error("cannot apply database migrations")]
    Migrate(#[source] persistence::Error),
    #[error("cannot set up the Redis pool (REDIS_URL)")]
    Redis(#[source] infra::redis::RedisError),
    #[error("cannot set up the cache (REDIS_URL)")]
    Cache(#[source] infra::cache::CacheError),
    #[error("cannot set up mail (SMTP_URL, MAIL_FROM)")]
    Mail(#[source] infra::mail::MailError),
    #[error("invalid configuration: {0}")]
    Config(infra::ConfigError),
    #[error("cannot set up the job worker (JOB_*)")]
    Worker(#[source] riverqueue::Error),
    #[error("cannot build services")]
    Services(#[source] crate::Error),
}

/// Applies the pending migrations, ours and River's, whatever
/// `DATABASE_AUTO_MIGRATE` says: `api migrate`, the step a deploy runs once
/// before the new version serves. It connects as `DATABASE_MIGRATION_URL`
/// (the role that may change the schema) when set, else `DATABASE_URL`.
pub async fn migrate(settings: &Settings) -> Result<(), StartError> {
    let database = &settings.database;
    let url = database.migration_url.as_ref().unwrap_or(&database.url);
    let db = open(settings, url, None, false).await?;
    db.migrate().await.map_err(StartError::Migrate)?;
    db.close().await.map_err(StartError::Migrate)
}

/// Opens the pools and, when `migrate`, brings the schema up to date
/// first: as `DATABASE_MIGRATION_URL` on a pool of its own, closed before
/// the app's opens, when set; else on the app's pool.
async fn connect(settings: &Settings, migrate: bool) -> Result<Db, StartError> {
    let database = &settings.database;
    let read_url = database.read_url.as_ref();
    if migrate && database.migration_url.is_some() {
        self::migrate(settings).await?;
        return open(settings, &database.url, read_url, false).await;
    }
    // Without start-up migrations nothing needs the database before the
    // first request: start anyway and let readiness report it.
    let db = open(settings, &database.url, read_url, !migrate).await?;
    if migrate {
        db.migrate().await.map_err(StartError::Migrate)?;
    }
    Ok(db)
}

/// Pools on `url` (and `read_url`) with the database settings.
async fn open(
    settings: &Settings,
    url: &infra::config::SecretUrl,
    read_url: Option<&infra::config::SecretUrl>,
    connect_lazy: bool,
) -> Result<Db, StartError> {
    let database = &settings.database;
    Db::connect(&DbOptions {
        url: url.expose().to_owned(),
        read_url: read_url.map(|url| url.expose().to_owned()),
        max_connections: database.max_connections,
        acquire_timeout: Duration::from_secs(database.acquire_timeout_seconds),
        statement_timeout: Some(Duration::from_secs(database.statement_timeout_seconds))
            .filter(|timeout| !timeout.is_zero()),
        connect_lazy,
        ping_after_idle: persistence::PING_AFTER_IDLE,
    })
    .await
    .map_err(|source| StartError::Connect {
        url: url.to_string(),
        source,
    })
}
