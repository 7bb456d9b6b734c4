//! Background jobs, on River (`riverqueue`) in the application's own
//! database.
//!
//! A job is a struct of arguments that derives River's [`JobArgs`] (its
//! `kind` is the stable name stored with each job) plus a handler
//! ([`Job::run`]). Services enqueue it with [`JobQueue::enqueue`] on the
//! transaction of the write that caused it, so the job exists if and only
//! if that write commits. Workers ([`Worker`]) run them.
//!
//! Delivery is at least once: a worker that dies mid-job leaves the job
//! running until River's rescuer retries it (`JOB_RESCUE_AFTER_SECONDS`).
//! Handlers must therefore be idempotent (safe to run twice).
//!
//! Adding a job: a struct deriving `JobArgs`, `impl Job for` it, and one
//! `add::<YourJob>` line in [`workers`].

mod account_mail;
mod housekeeping;
mod ping;
mod welcome_email;
mod worker;

use std::{future::Future, sync::Arc};

use infra::telemetry::trace;
use infra::{config::JobSettings, mail::Mailer};
use persistence::{Db, Tx};
use riverqueue::{
    InsertContext, InsertMiddleware, InsertNext, InsertedJob, WorkCancelled, WorkContext,
    WorkOutcome, Workers,
};

pub use account_mail::{EmailChangeNotice, PasswordResetEmail, TokenLifetimes, VerificationEmail};
pub use housekeeping::Housekeeping;
pub use ping::Ping;
pub use riverqueue::{InsertOpts, JobArgs, JobRow, JobState};
pub use welcome_email::WelcomeEmail;
pub use worker::{PROGRESS_GAUGE, Worker, WorkerHandle, cleanup_schedule, progress_deadline};

use crate::Error;

/// What a handler returns when an attempt fails: any error. It is logged
/// and stored with the job's attempt errors, so it must not contain secrets.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// A kind of background job: its arguments (the struct) and its handler.
pub trait Job: JobArgs {
    /// Runs one attempt. Must be idempotent: after a crash it can run again.
    fn run(self, ctx: &JobContext) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// What handlers may use.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub db: Db,
    pub mailer: Arc<dyn Mailer>,
    /// What the mails say: jobs render, the mailer only delivers.
    pub templates: crate::mails::MailTemplates,
    /// How long the tokens that account mails carry stay valid.
    pub token_lifetimes: TokenLifetimes,
}

/// Every job the product ships, one line each.
pub(crate) fn workers(ctx: JobContext) -> Result<Workers, riverqueue::Error> {
    let ctx = Arc::new(ctx);
    let mut workers = Workers::new();
    add::<WelcomeEmail>(&mut workers, &ctx)?;
    add::<VerificationEmail>(&mut workers, &ctx)?;
    add::<PasswordResetEmail>(&mut workers, &ctx)?;
    add::<EmailChangeNotice>(&mut workers, &ctx)?;
    add::<Housekeeping>(&mut workers, &ctx)?;
    add::<Ping>(&mut workers, &ctx)?;
    Ok(workers)
}

/// Registers `J`'s handler. An attempt stops at its first await point once
/// River cancels it (timeout, `jobs cancel`, or the end of the shutdown
/// grace period).
fn add<J: Job>(workers: &mut Workers, ctx: &Arc<JobContext>) -> Result<(), riverqueue::Error> {
    let ctx = Arc::clone(ctx);
    workers.add_fn(move |work: WorkContext, job: riverqueue::Job<J>| {
        let ctx = Arc::clone(&ctx);
        async move {
            tokio::select! {
                () = work.cancellation_token().cancelled() => Err(JobError::from(WorkCancelled)),
                result = job.args.run(&ctx) => result.map(|()| WorkOutcome::Complete),
            }
        }
    })?;
    Ok(())
}

/// The key of a job's metadata that carries the trace of the request that
/// enqueued it (`traceparent`, `tracestate`).
const TRACE_METADATA: &str = "trace";

/// Puts the current trace, if one is sampled, in the metadata of every job
/// inserted (in a transaction or not, by a service, an operator or River's
/// scheduler), so the attempt that runs it later joins that trace. Per-call
/// metadata is resolved before this runs: the key is added to it.
struct CarryTrace;

impl InsertMiddleware for CarryTrace {
    async fn insert_many(
        &self,
        mut jobs: Vec<InsertContext>,
        next: InsertNext<'_>,
    ) -> Result<Vec<InsertedJob>, riverqueue::Error> {
        if let Some(carrier) = trace::inject() {
            for job in &mut jobs {
                if let Err(err) = job.opts.metadata.insert(TRACE_METADATA, &carrier) {
                    tracing::warn!(error = %err, "trace context not added to a job");
                }
            }
        }
        next.run(jobs).await
    }
}

/// Where services put jobs: River's client on the application's database.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue {
    client: riverqueue::Client,
    db: Db,
}

impl JobQueue {
    /// An insert-only client (workers are [`Worker`]s), with `JOB_MAX_ATTEMPTS`
    /// for job types that set none.
    pub fn new(db: &Db, settings: &JobSettings) -> Result<Self, riverqueue::Error> {
        // River skips an insert notification within the fetch cooldown of
        // the previous one: keep it the workers' cooldown.
        let client = db.job_client(|builder| {
            builder
                .default_max_attempts(i32::try_from(settings.max_attempts).unwrap_or(i32::MAX))
                .fetch_cooldown(worker::FETCH_COOLDOWN)
                .insert_middleware(CarryTrace)
        })?;
        Ok(Self {
            client,
            db: db.clone(),
        })
    }

    /// Enqueues `job` in the caller's transaction: it exists, and runs, only
    /// if that transaction commits. Returns the job's id.
    pub async fn enqueue<J: JobArgs>(&self, tx: &Tx, job: J) -> Result<i64, Error> {
        self.enqueue_with(tx, job, InsertOpts::default()).await
    }

    /// [`JobQueue::enqueue`] with options: a later start
    /// (`with_scheduled_at`), a priority, uniqueness. (Workers work the
    /// `default` queue only: a job put in another queue waits until a
    /// worker is configured for it.)
    pub async fn enqueue_with<J: JobArgs>(
        &self,
        tx: &Tx,
        job: J,
        opts: InsertOpts,
    ) -> Result<i64, Error> {
        Ok(tx.insert_job(&self.client, job, opts).await?.id())
    }

    /// River's client: get, list, retry and cancel jobs (`worker jobs`).
    pub fn client(&self) -> &riverqueue::Client {
        &self.client
    }

    /// Jobs by state, for `worker jobs stats`.
    pub async fn counts_by_state(&self) -> Result<Vec<(String, u64)>, Error> {
        Ok(persistence::JobStats.by_state(self.db.writer()).await?)
    }

    /// How many of `ids` may still run (not completed, cancelled or
    /// discarded).
    pub async fn unfinished_among(&self, ids: &[i64]) -> Result<u64, Error> {
        Ok(persistence::JobStats
            .unfinished_among(self.db.writer(), ids)
            .await?)
    }
}
