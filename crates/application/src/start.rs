//! Start-up: from the settings to running services and workers.
//!
//! The binaries and the end-to-end tests all come through here, so tests
//! run what ships. Each piece is built by the crate that owns it (the pools
//! by `persistence`, the cache, Redis pool and mailer by `infra`); this
//! module only decides the order and names what failed.

use std::time::Duration;

use infra::{Settings, cache::Cache, redis::RedisPool};
use persistence::{Db, DbOptions};

use crate::{
    Services,
    jobs::{self, JobContext, Worker},
};

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

impl Services {
    /// Everything the settings describe, ready to serve: opens the pools,
    /// applies pending migrations when `DATABASE_AUTO_MIGRATE` is on, and
    /// builds the Redis pool, the cache and the services.
    pub async fn from_settings(settings: &Settings) -> Result<Self, StartError> {
        let db = connect(settings).await?;
        let redis = RedisPool::from_settings(&settings.redis).map_err(StartError::Redis)?;
        let cache =
            Cache::from_settings(&settings.cache, &settings.redis).map_err(StartError::Cache)?;
        Self::new(db, &settings.auth, &settings.jobs, cache, redis)
            .await
            .map_err(StartError::Services)
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
            mailer: infra::mail::from_settings(&settings.mail, settings.environment)
                .map_err(StartError::Mail)?,
        };
        let grace = settings.http.shutdown_grace();
        Worker::new(&self.db, ctx, &settings.jobs, schedule, grace).map_err(StartError::Worker)
    }
}

/// Opens the pools and, when `DATABASE_AUTO_MIGRATE` is on, brings the
/// schema up to date.
async fn connect(settings: &Settings) -> Result<Db, StartError> {
    let database = &settings.database;
    let db = Db::connect(&DbOptions {
        url: database.url.expose().to_owned(),
        read_url: database
            .read_url
            .as_ref()
            .map(|url| url.expose().to_owned()),
        max_connections: database.max_connections,
        acquire_timeout: Duration::from_secs(database.acquire_timeout_seconds),
        statement_timeout: Some(Duration::from_secs(database.statement_timeout_seconds))
            .filter(|timeout| !timeout.is_zero()),
        // Without start-up migrations nothing needs the database before the
        // first request: start anyway and let readiness report it.
        connect_lazy: !database.auto_migrate,
        ping_after_idle: persistence::PING_AFTER_IDLE,
    })
    .await
    .map_err(|source| StartError::Connect {
        url: database.url.to_string(),
        source,
    })?;
    if database.auto_migrate {
        db.migrate().await.map_err(StartError::Migrate)?;
    }
    Ok(db)
}
