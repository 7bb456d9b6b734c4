//! Services: the product's behaviour, written against domain types.
//!
//! A service validates business rules, hashes and checks credentials, issues
//! tokens, and drives repositories (opening transactions where several writes
//! must stand or fall together). It returns [`Error`] values that say what
//! happened in business terms; it must not know about HTTP (actix, status
//! codes, DTOs), which is the web crate's job.
//!
//! [`Services::from_settings`] is how every process starts: it opens the
//! pools (and migrates outside production), builds the cache and Redis
//! pool, and the services; [`Services::worker`] assembles the job worker.
//! The database stays inside: callers get services, never the pool.

mod access;
pub mod cache_tags;
mod error;
pub mod jobs;
pub mod security;
pub mod services;

mod start;

use infra::{cache::Cache, config::AuthSettings, config::JobSettings, redis::RedisPool};
use persistence::Db;

pub use access::Principals;
pub use error::{Error, Result};
pub use security::tokens::{Caller, TokenPair};
pub use services::{auth::AuthService, tasks::TaskService, users::UserService};
pub use start::StartError;

/// Every service, built once at start-up and shared by all requests.
#[derive(Debug, Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
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
    /// Builds the services on an open pool. Computes one password hash (the
    /// decoy that makes unknown-email logins cost as much as real ones).
    /// [`Services::from_settings`] is the usual way in: it opens what this
    /// takes.
    pub async fn new(
        db: Db,
        auth: &AuthSettings,
        job_settings: &JobSettings,
        cache: Cache,
        redis: Option<RedisPool>,
    ) -> Result<Self> {
        let passwords = security::password::PasswordHasher::new().await?;
        let tokens = security::tokens::TokenService::new(auth);
        let jobs = jobs::JobQueue::new(&db, job_settings).map_err(Error::Jobs)?;
        let sessions = security::sessions::Sessions::new(std::time::Duration::from_secs(
            auth.session_recheck_seconds,
        ));
        let auth = AuthService::new(
            db.clone(),
            passwords,
            tokens,
            cache.clone(),
            sessions,
            jobs.clone(),
        );
        Ok(Self {
            jobs,
            users: UserService::new(db.clone(), auth.clone(), cache.clone()),
            tasks: TaskService::new(db.clone(), cache.clone()),
            // new-resource: build services
            auth,
            db,
            redis,
        })
    }

    /// The request-path Redis pool, when `REDIS_URL` is set.
    pub fn redis(&self) -> Option<&RedisPool> {
        self.redis.as_ref()
    }

    /// Sets the `db_pool_connections{pool,state}` gauges from the pools
    /// now (the API at each scrape, the worker on its sampling tick).
    pub fn record_pool_gauges(&self) {
        record_pool_gauges(&self.db);
    }

    /// Closes the database pools (at shutdown, after the last request).
    pub async fn close(self) -> Result<()> {
        Ok(self.db.close().await?)
    }

    /// Checks that the database answers (for readiness).
    pub async fn ping_database(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }
}

/// `db_pool_connections{pool,state}`: idle and in-use connections per pool.
pub(crate) fn record_pool_gauges(db: &Db) {
    for (pool, stats) in db.pool_stats() {
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(stats.idle));
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(stats.open.saturating_sub(stats.idle)));
    }
}
