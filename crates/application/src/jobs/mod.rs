//! Background jobs: typed job definitions, the queue services enqueue them
//! on, and the worker that runs them.
//!
//! A job is a serialisable struct plus its handler ([`Job`]). Services
//! enqueue it with [`JobQueue::enqueue`] on the transaction of the write
//! that caused it, so the job exists if and only if that write commits.
//! Workers ([`Worker`], in `bins/worker` and, by default, inside the API
//! process) claim due jobs, run them with a timeout, and retry failures
//! with exponential backoff until the job's attempts are used up; then the
//! job is kept as dead with its last error until re-queued.
//!
//! Delivery is at least once: a worker that dies mid-job loses its lease
//! and another worker runs the job again. Handlers must therefore be
//! idempotent (safe to run twice).
//!
//! Adding a job: define the struct, implement [`Job`], and add one
//! `.register::<YourJob>()` line to [`registry`].

mod housekeeping;
mod ping;
mod queue;
mod welcome_email;
mod worker;

use std::{collections::HashMap, fmt, future::Future, pin::Pin, sync::Arc};

use infra::mail::Mailer;
use persistence::Db;
use serde::{Serialize, de::DeserializeOwned};

pub use housekeeping::Housekeeping;
pub use ping::Ping;
pub use queue::{JobQueue, Scheduled};
pub use welcome_email::WelcomeEmail;
pub use worker::{Worker, WorkerConfig, WorkerHandle};

pub use domain::job::{JobRecord, JobStatus};

/// What a handler returns when an attempt fails: any error. It is logged
/// and stored as the job's `last_error`, so it must not contain secrets.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// A kind of background job: its arguments (the struct) and its handler.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name stored with each job. Renaming it strands jobs that
    /// are already queued under the old name.
    const KIND: &'static str;

    /// Attempts before the job is dead; `None` uses `JOB_MAX_ATTEMPTS`.
    const MAX_ATTEMPTS: Option<u32> = None;

    /// Runs one attempt. Must be idempotent: after a crash it can run again.
    fn run(self, ctx: &JobContext) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// What handlers may use.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub db: Db,
    /// The queue, for jobs that enqueue jobs (and housekeeping).
    pub queue: JobQueue,
    pub mailer: Arc<dyn Mailer>,
    /// Finished jobs older than this are deleted by housekeeping.
    pub job_retention: chrono::Duration,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Handler =
    Arc<dyn Fn(String, Arc<JobContext>) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// The job kinds a worker can run, by [`Job::KIND`].
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<_> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Registry").field("kinds", &kinds).finish()
    }
}

impl Registry {
    /// Adds a job kind.
    ///
    /// # Panics
    /// When another job already uses the same [`Job::KIND`]: two handlers
    /// for one name is a programming error, caught at start-up.
    #[must_use]
    pub fn register<J: Job>(mut self) -> Self {
        let handler: Handler = Arc::new(|payload, ctx| {
            Box::pin(async move {
                let job: J = serde_json::from_str(&payload).map_err(|err| {
                    format!("cannot decode the {} job's arguments: {err}", J::KIND)
                })?;
                job.run(&ctx).await
            })
        });
        let previous = self.handlers.insert(J::KIND, handler);
        assert!(
            previous.is_none(),
            "two job types share the kind {:?}",
            J::KIND
        );
        self
    }

    /// The kinds this registry can run (a worker claims only these).
    pub fn kinds(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }

    fn get(&self, kind: &str) -> Option<&Handler> {
        self.handlers.get(kind)
    }
}

/// Every job the product ships.
pub fn registry() -> Registry {
    Registry::default()
        .register::<WelcomeEmail>()
        .register::<Housekeeping>()
        .register::<Ping>()
}
