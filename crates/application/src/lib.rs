//! Services: the product's behaviour, written against domain types.
//!
//! A service validates business rules, hashes and checks credentials, issues
//! tokens, and drives repositories (opening transactions where several writes
//! must stand or fall together). It returns [`Error`] values that say what
//! happened in business terms; it must not know about HTTP (actix, status
//! codes, DTOs), which is the web crate's job.

mod access;
pub mod cache_tags;
mod error;
pub mod jobs;
pub mod security;
pub mod services;

use infra::Settings;
use persistence::Db;

pub use access::Principals;
pub use error::{Error, Result};
pub use persistence::{Page, Sort, TaskFilter};
pub use security::tokens::{Caller, TokenPair};
pub use services::{auth::AuthService, tasks::TaskService, users::UserService};

/// Every service, built once at start-up and shared by all requests.
#[derive(Debug, Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub tasks: TaskService,
    /// The job queue, for enqueueing outside a service and for operators.
    pub jobs: jobs::JobQueue,
    db: Db,
}

impl Services {
    /// Builds the services on an open pool. Computes one password hash (the
    /// decoy that makes unknown-email logins cost as much as real ones).
    pub async fn new(db: Db, settings: &Settings, cache: infra::cache::Cache) -> Result<Self> {
        let passwords = security::password::PasswordHasher::new().await?;
        let tokens = security::tokens::TokenService::new(settings);
        let jobs = jobs::JobQueue::from_settings(db.clone(), settings)?;
        let auth = AuthService::new(db.clone(), passwords, tokens, cache.clone(), jobs.clone());
        Ok(Self {
            jobs,
            users: UserService::new(db.clone(), auth.clone(), cache.clone()),
            tasks: TaskService::new(db.clone(), cache),
            auth,
            db,
        })
    }

    /// Open and idle connections per pool, for the metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, persistence::PoolStats)> {
        self.db.pool_stats()
    }

    /// The database the services run on (for the job worker).
    pub fn db(&self) -> &Db {
        &self.db
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
