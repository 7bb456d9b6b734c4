//! The queue as services and operators see it: enqueue (inside a unit of
//! work), inspect, and re-queue dead jobs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use infra::jobs::Schedule;
use persistence::{Connection, Db, JobRecord, JobRepository, JobStatus, NewJob};
use uuid::Uuid;

use super::Job;
use crate::{Error, Result};

/// Enqueues jobs and answers questions about them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue {
    db: Db,
    repo: JobRepository,
    default_max_attempts: u32,
}

impl JobQueue {
    /// `default_max_attempts` applies to jobs whose type does not set
    /// [`Job::MAX_ATTEMPTS`] (`JOB_MAX_ATTEMPTS`).
    pub fn new(db: Db, default_max_attempts: u32) -> Self {
        Self {
            db,
            repo: JobRepository,
            default_max_attempts,
        }
    }

    /// Enqueues `job` to run as soon as a worker is free.
    ///
    /// Pass the transaction of the write that causes the job
    /// (`tx.conn()` inside `db.transaction(..)`): the job then exists if and
    /// only if that transaction commits. Passing the pool enqueues at once.
    pub async fn enqueue<J: Job>(&self, conn: &impl Connection, job: &J) -> Result<Uuid> {
        let new = self.new_job(job, Utc::now(), None)?;
        self.repo
            .enqueue(conn, new)
            .await?
            .ok_or(Error::NotFound { entity: "job" })
    }

    /// Enqueues `job` to run at `run_at` unless a job with the same
    /// `dedupe_key` was ever enqueued (and not yet deleted by housekeeping);
    /// `None` when it was. This is how a cron tick seen by several workers
    /// becomes one job.
    pub async fn enqueue_unique<J: Job>(
        &self,
        conn: &impl Connection,
        job: &J,
        dedupe_key: String,
        run_at: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        let new = self.new_job(job, run_at, Some(dedupe_key))?;
        Ok(self.repo.enqueue(conn, new).await?)
    }

    fn new_job<J: Job>(
        &self,
        job: &J,
        run_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> Result<NewJob> {
        let payload = serde_json::to_string(job).map_err(|source| Error::JobEncoding {
            kind: J::KIND,
            source,
        })?;
        Ok(NewJob {
            kind: J::KIND.to_owned(),
            payload,
            max_attempts: J::MAX_ATTEMPTS.unwrap_or(self.default_max_attempts),
            run_at,
            dedupe_key,
        })
    }

    /// One job by id.
    pub async fn get(&self, id: Uuid) -> Result<JobRecord> {
        self.repo
            .find(self.db.writer(), id)
            .await?
            .ok_or(Error::NotFound { entity: "job" })
    }

    /// Dead jobs (attempts used up), oldest first.
    pub async fn dead(&self, limit: u64) -> Result<Vec<JobRecord>> {
        Ok(self
            .repo
            .list(self.db.writer(), JobStatus::Dead, limit)
            .await?)
    }

    /// Every job of one kind, oldest first.
    pub async fn of_kind(&self, kind: &str) -> Result<Vec<JobRecord>> {
        Ok(self.repo.list_kind(self.db.writer(), kind).await?)
    }

    /// Puts a dead job back in the queue with a fresh attempt budget. A job
    /// that is not dead is [`Error::NotFound`]: re-running a pending or
    /// running job would run it twice.
    pub async fn retry(&self, id: Uuid) -> Result<()> {
        if self.repo.requeue_dead(self.db.writer(), id).await? {
            Ok(())
        } else {
            Err(Error::NotFound { entity: "dead job" })
        }
    }

    /// How many of `ids` are still waiting or running.
    pub async fn count_unfinished(&self, ids: &[Uuid]) -> Result<u64> {
        let waiting = [JobStatus::Pending, JobStatus::Running];
        Ok(self.repo.count_in(self.db.writer(), ids, &waiting).await?)
    }

    /// How many of `ids` are dead.
    pub async fn count_dead(&self, ids: &[Uuid]) -> Result<u64> {
        Ok(self
            .repo
            .count_in(self.db.writer(), ids, &[JobStatus::Dead])
            .await?)
    }

    /// How many jobs are in each state.
    pub async fn counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        Ok(self.repo.counts(self.db.writer()).await?)
    }
}

type MakeJob = Arc<dyn Fn(&JobQueue, DateTime<Utc>) -> Result<NewJobAt> + Send + Sync>;

/// A job a schedule produced for one tick.
pub(super) struct NewJobAt {
    pub(super) job: NewJob,
}

/// A job enqueued on a cron schedule. Every worker runs the schedule; the
/// tick's time is part of a unique key, so each tick is enqueued (and run)
/// once however many workers saw it.
#[derive(Clone)]
pub struct Scheduled {
    pub(super) name: &'static str,
    pub(super) schedule: Schedule,
    pub(super) make: MakeJob,
}

impl std::fmt::Debug for Scheduled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduled")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl Scheduled {
    /// Runs the job `make(tick)` returns at every tick of `schedule`.
    pub fn new<J: Job>(
        schedule: Schedule,
        make: impl Fn(DateTime<Utc>) -> J + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: J::KIND,
            schedule,
            make: Arc::new(move |queue, tick| {
                let key = format!("cron:{}:{}", J::KIND, tick.timestamp());
                Ok(NewJobAt {
                    job: queue.new_job(&make(tick), tick, Some(key))?,
                })
            }),
        }
    }
}

impl JobQueue {
    /// Enqueues a schedule's job for `tick`, unless another worker did.
    pub(super) async fn enqueue_tick(
        &self,
        scheduled: &Scheduled,
        tick: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        let NewJobAt { job } = (scheduled.make)(self, tick)?;
        Ok(self.repo.enqueue(self.db.writer(), job).await?)
    }
}
