//! The queue as services and operators see it: enqueue (inside a unit of
//! work), inspect, and re-queue dead jobs.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use infra::{
    JobBackend,
    config::JobSettings,
    jobs::{
        Schedule,
        redis::{Epoch, RedisJobs},
    },
    redis::{RedisError, RedisPool},
};
use persistence::{
    Claimed, Connection, Db, JobRecord, JobRepository, JobStatus, NewJob, UnitOfWork as _,
};
use uuid::Uuid;

use super::Job;
use crate::{Error, Result};

/// Rows the relay hands to Redis per transaction.
const RELAY_BATCH: u64 = 500;

/// How long finished jobs a relay took stay hidden from other relays; a
/// relay that died with them lets them reappear after this.
const FINISHED_HIDE: Duration = Duration::from_secs(30);

/// The lock that lets one recovery run at a time, and how long a holder
/// keeps it without renewing (it renews every page).
const RECOVERY_LOCK: &str = "recovery";
const RECOVERY_LEASE: Duration = Duration::from_secs(60);

/// Enqueues jobs and answers questions about them, on whichever backend
/// `JOB_BACKEND` chose. Cheap to clone.
///
/// Jobs are always enqueued as rows of the `jobs` table, on the caller's
/// transaction. With the database backend, workers claim those rows. With
/// Redis, the rows are an outbox: workers relay committed rows to Redis
/// ([`JobQueue::relay`]) and claim there. The row stays (status
/// `relayed`) as the record of the job and its unique key, and gets the
/// job's final state back when Redis reports it done or dead, so the
/// table always knows which jobs Redis must hold ([`JobQueue::recover`]).
#[derive(Debug, Clone)]
pub struct JobQueue {
    db: Db,
    repo: JobRepository,
    redis: Option<RedisJobs>,
    default_max_attempts: u32,
}

impl JobQueue {
    /// A queue on the database's `jobs` table. `default_max_attempts`
    /// applies to jobs whose type does not set [`Job::MAX_ATTEMPTS`]
    /// (`JOB_MAX_ATTEMPTS`).
    pub fn new(db: Db, default_max_attempts: u32) -> Self {
        Self {
            db,
            repo: JobRepository,
            redis: None,
            default_max_attempts,
        }
    }

    /// A queue whose workers claim from Redis, fed from the `jobs` table.
    pub fn with_redis(db: Db, default_max_attempts: u32, redis: RedisJobs) -> Self {
        Self {
            redis: Some(redis),
            ..Self::new(db, default_max_attempts)
        }
    }

    /// The queue `JOB_BACKEND` describes, on the process's Redis pool when
    /// that is Redis. Redis connections are opened lazily, so this does not
    /// fail when Redis is down.
    pub fn from_settings(db: Db, settings: &JobSettings, redis: Option<RedisPool>) -> Result<Self> {
        let max_attempts = settings.max_attempts;
        match (settings.backend, redis) {
            (JobBackend::Redis, Some(pool)) => {
                Ok(Self::with_redis(db, max_attempts, RedisJobs::new(pool)))
            }
            (JobBackend::Redis, None) => Err(Error::Queue(RedisError::Pool(
                "JOB_BACKEND=redis needs REDIS_URL".to_owned(),
            ))),
            (JobBackend::Database, _) => Ok(Self::new(db, max_attempts)),
        }
    }

    /// Whether workers must [`JobQueue::relay`] (the Redis backend).
    pub(super) fn relays(&self) -> bool {
        self.redis.is_some()
    }

    /// Which backend workers claim from: `database` or `redis`.
    pub fn backend(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "database"
        }
    }

    /// Enqueues `job` on its own, outside any transaction (operators' and
    /// tests' jobs; a service enqueues on its unit of work instead).
    pub async fn enqueue_alone<J: Job>(&self, job: &J) -> Result<Uuid> {
        self.enqueue(self.db.writer(), job).await
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
        let job = match (&self.redis, self.repo.find(self.db.writer(), id).await?) {
            (_, Some(row)) => self.with_live_state(vec![row]).await?.pop(),
            // A job in Redis whose row was deleted.
            (Some(redis), None) => redis.get_many(&[id]).await?.pop().flatten(),
            (None, None) => None,
        };
        job.ok_or(Error::NotFound { entity: "job" })
    }

    /// Dead jobs (attempts used up), oldest first.
    pub async fn dead(&self, limit: u64) -> Result<Vec<JobRecord>> {
        // With Redis: dead jobs the relay has not recorded yet. Read first,
        // so one the relay records meanwhile is found in the table.
        let live = match &self.redis {
            Some(redis) => redis.dead(limit).await?,
            None => Vec::new(),
        };
        let mut dead = self
            .repo
            .list(self.db.writer(), JobStatus::Dead, limit)
            .await?;
        if !live.is_empty() {
            let ids: Vec<Uuid> = live.iter().map(|job| job.id).collect();
            let rows = self.repo.find_many(self.db.writer(), &ids).await?;
            let recorded: Vec<Uuid> = dead.iter().map(|job| job.id).collect();
            for job in live {
                if !recorded.contains(&job.id) {
                    dead.push(match rows.iter().find(|row| row.id == job.id) {
                        Some(row) => merge(row.clone(), job),
                        None => job,
                    });
                }
            }
            dead.sort_by_key(|job| (job.created_at, job.id));
            dead.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(dead)
    }

    /// Every job of one kind still recorded in the table, oldest first,
    /// with its current state (tests and diagnostics).
    pub async fn of_kind(&self, kind: &str) -> Result<Vec<JobRecord>> {
        let rows = self.repo.list_kind(self.db.writer(), kind).await?;
        self.with_live_state(rows).await
    }

    /// `rows` with the state Redis holds for the relayed ones. A relayed
    /// row Redis has no state for is read again: the relay may have just
    /// recorded the job's end in it (if still relayed, Redis lost it).
    async fn with_live_state(&self, rows: Vec<JobRecord>) -> Result<Vec<JobRecord>> {
        let Some(redis) = &self.redis else {
            return Ok(rows);
        };
        let relayed: Vec<Uuid> = rows
            .iter()
            .filter(|row| row.status == JobStatus::Relayed)
            .map(|row| row.id)
            .collect();
        let live = redis.get_many(&relayed).await?;
        let unknown: Vec<Uuid> = relayed
            .iter()
            .zip(&live)
            .filter(|(_, state)| state.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut reread = if unknown.is_empty() {
            Vec::new()
        } else {
            self.repo.find_many(self.db.writer(), &unknown).await?
        };
        let mut live = live.into_iter();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                if row.status != JobStatus::Relayed {
                    return Some(row);
                }
                match live.next().flatten() {
                    Some(state) => Some(merge(row, state)),
                    // Gone if deleted meanwhile (housekeeping).
                    None => reread
                        .iter()
                        .position(|fresh| fresh.id == row.id)
                        .map(|at| reread.swap_remove(at)),
                }
            })
            .collect())
    }

    /// Puts a dead job back in the queue with a fresh attempt budget. A job
    /// that is not dead is [`Error::NotFound`]: re-running a pending or
    /// running job would run it twice.
    ///
    /// Dead jobs are re-queued in the table. With Redis, a job Redis
    /// reports dead and the relay has not recorded yet is recorded first,
    /// and the dead job is dropped from Redis before its row waits again,
    /// so the relay pushes it afresh.
    pub async fn retry(&self, id: Uuid) -> Result<()> {
        if let Some(redis) = &self.redis
            && let Some(job) = redis.get_many(&[id]).await?.pop().flatten()
            && job.status == JobStatus::Dead
        {
            let dead = std::slice::from_ref(&job);
            self.repo.record_finished(self.db.writer(), dead).await?;
            let row = self.repo.find(self.db.writer(), id).await?;
            if row.is_some_and(|row| row.status == JobStatus::Dead) {
                redis.forget(dead).await?;
            }
        }
        if self.repo.requeue_dead(self.db.writer(), id).await? {
            Ok(())
        } else {
            Err(Error::NotFound { entity: "dead job" })
        }
    }

    /// How many of `ids` are still waiting or running.
    pub async fn count_unfinished(&self, ids: &[Uuid]) -> Result<u64> {
        self.count_in(ids, &[JobStatus::Pending, JobStatus::Running])
            .await
    }

    /// How many of `ids` are dead.
    pub async fn count_dead(&self, ids: &[Uuid]) -> Result<u64> {
        self.count_in(ids, &[JobStatus::Dead]).await
    }

    async fn count_in(&self, ids: &[Uuid], statuses: &[JobStatus]) -> Result<u64> {
        if self.redis.is_none() {
            return Ok(self.repo.count_in(self.db.writer(), ids, statuses).await?);
        }
        let mut found = 0;
        for chunk in ids.chunks(1000) {
            let rows = self.repo.find_many(self.db.writer(), chunk).await?;
            found += self
                .with_live_state(rows)
                .await?
                .iter()
                .filter(|job| statuses.contains(&job.status))
                .count() as u64;
        }
        Ok(found)
    }

    /// How many jobs are in each state (with Redis: the table's plus what
    /// Redis holds, and as `Relayed` how many rows Redis should hold; more
    /// of those than Redis counts means it lost some, until recovery).
    pub async fn counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        let mut counts = self.repo.counts(self.db.writer()).await?;
        if let Some(redis) = &self.redis {
            for (status, count) in redis.counts().await? {
                match counts.iter_mut().find(|(s, _)| *s == status) {
                    Some((_, total)) => *total += count,
                    None => counts.push((status, count)),
                }
            }
        }
        Ok(counts)
    }

    /// Deletes finished jobs older than `cutoff` (housekeeping); returns
    /// how many. With Redis too, finished jobs are rows by then.
    pub async fn delete_finished_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .repo
            .delete_done_before(self.db.writer(), cutoff)
            .await?)
    }

    /// With Redis: moves jobs between the table and Redis, a batch per
    /// transaction, until there is nothing left to move; without Redis,
    /// nothing to do. Each worker runs it every poll interval. In order:
    ///
    /// 1. If Redis may have lost jobs (the mark of the last complete
    ///    recovery is gone, or was left on an earlier server run),
    ///    [`JobQueue::recover`] pushes back what it held.
    /// 2. Committed waiting rows are pushed and marked relayed. Pushing is
    ///    idempotent, so a relay that dies between the push and the commit
    ///    only pushes the same rows again.
    /// 3. Jobs Redis has finished get their final state written to their
    ///    rows, and are then dropped from Redis.
    ///
    /// A step that fails does not stop the next; the first error is
    /// returned after all three ran.
    pub(super) async fn relay(&self) -> Result<Relayed> {
        let Some(redis) = &self.redis else {
            return Ok(Relayed::default());
        };
        let mut failure = None;
        let mut note = |result: Result<u64>| match result {
            Ok(count) => count,
            Err(err) => {
                if failure.is_some() {
                    tracing::warn!(error = %err, "relay step failed");
                } else {
                    failure = Some(err);
                }
                0
            }
        };
        // The epoch read here is the one the first push happens in, unless
        // a recovery changes it.
        let mut current = None;
        let recovered = note(match redis.epoch().await {
            Ok(epoch) if recovered_on(&epoch) => {
                current = Some(epoch);
                Ok(0)
            }
            Ok(_) => self.recover().await,
            Err(err) => Err(err.into()),
        });
        let pushed = note(self.push_pending(redis, current).await);
        let finished = note(self.record_finished(redis).await);
        match failure {
            Some(err) => Err(err),
            None => Ok(Relayed {
                recovered,
                pushed,
                finished,
            }),
        }
    }

    /// Pushes waiting rows, a batch per transaction. `before` is the epoch
    /// (see [`RedisJobs::epoch`]) read last, if any; it is read again after
    /// each commit, and a batch whose push and commit straddle a change is
    /// pushed again: a recovery may have missed its rows (not yet relayed
    /// when it read them). Pushing again is harmless.
    async fn push_pending(&self, redis: &RedisJobs, mut before: Option<Epoch>) -> Result<u64> {
        let mut relayed = 0;
        loop {
            let (rows, pushed_in) = self
                .db
                .transaction(async |tx| {
                    let rows = self.repo.relay_batch(tx.conn(), RELAY_BATCH).await?;
                    if rows.is_empty() {
                        return Ok((rows, None));
                    }
                    let epoch = match &before {
                        Some(epoch) => epoch.clone(),
                        None => redis.epoch().await?,
                    };
                    redis.push(&rows).await?;
                    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
                    self.repo.mark_relayed(tx.conn(), &ids).await?;
                    Ok::<_, Error>((rows, Some(epoch)))
                })
                .await?;
            let Some(pushed_in) = pushed_in else {
                return Ok(relayed);
            };
            let after = redis.epoch().await?;
            if after != pushed_in {
                redis.push(&rows).await?;
            }
            before = Some(after);
            let moved = rows.len() as u64;
            relayed += moved;
            if moved < RELAY_BATCH {
                return Ok(relayed);
            }
        }
    }

    /// Writes the final state of jobs Redis finished to their rows, then
    /// drops them from Redis; returns how many. A crash between the two
    /// steps writes the same state again once the jobs reappear (after
    /// [`FINISHED_HIDE`]); concurrent relays take different jobs.
    async fn record_finished(&self, redis: &RedisJobs) -> Result<u64> {
        let mut recorded = 0;
        loop {
            let finished = redis.finished(RELAY_BATCH, FINISHED_HIDE).await?;
            if finished.is_empty() {
                return Ok(recorded);
            }
            let taken = finished.len() as u64;
            let ids: Vec<Uuid> = finished.iter().map(|job| job.id).collect();
            let rows = self
                .db
                .transaction(async |tx| {
                    self.repo.record_finished(tx.conn(), &finished).await?;
                    Ok::<_, Error>(self.repo.statuses(tx.conn(), &ids).await?)
                })
                .await?;
            // Forget a job once its row holds an end (this one, or one
            // recorded before: the table is the record), or when it has no
            // row (deleted by hand): nothing would ever record it. A row
            // still pending was pushed by a relay that has not committed;
            // its job comes back later.
            let settled: Vec<JobRecord> = finished
                .into_iter()
                .filter(|job| {
                    rows.iter()
                        .find(|(id, _)| *id == job.id)
                        .is_none_or(|(_, status)| {
                            !matches!(status, JobStatus::Pending | JobStatus::Relayed)
                        })
                })
                .collect();
            recorded += redis.forget(&settled).await?;
            if taken < RELAY_BATCH {
                return Ok(recorded);
            }
        }
    }

    /// With Redis: pushes back every relayed job Redis does not hold, and
    /// returns how many. Workers call it when Redis may have lost data
    /// (the mark of the last completed recovery is gone, or names an
    /// earlier server run), and housekeeping calls it every run to catch a
    /// partial loss. One recovery runs at a time (a Redis lock; the
    /// others return 0). A recovered job starts again with the attempts
    /// its row records; a job that was running when the data was lost runs
    /// again, which idempotent handlers allow.
    pub async fn recover(&self) -> Result<u64> {
        let Some(redis) = &self.redis else {
            return Ok(0);
        };
        let token = Uuid::new_v4().to_string();
        if !redis
            .hold_lock(RECOVERY_LOCK, &token, RECOVERY_LEASE)
            .await?
        {
            return Ok(0);
        }
        let recovered = self.push_back_lost(redis, &token).await;
        if let Err(err) = redis.release_lock(RECOVERY_LOCK, &token).await {
            tracing::warn!(error = %err, "cannot release the recovery lock; it runs out by itself");
        }
        // On failure the mark still says "recovering": the next relay
        // (once the lock is free) tries again.
        let recovered = recovered?;
        if recovered > 0 {
            metrics::counter!("jobs_recovered_total").increment(recovered);
            tracing::warn!(
                jobs = recovered,
                "Redis had lost jobs; pushed them back from the jobs table"
            );
        }
        Ok(recovered)
    }

    async fn push_back_lost(&self, redis: &RedisJobs, token: &str) -> Result<u64> {
        // Marked before the scan and completed after it: a loss or a
        // restart meanwhile, or a recovery that dies, leaves a mark that
        // is not a completed one on this server run.
        let run_id = redis.epoch().await?.run_id;
        let recovering = format!("recovering:{token}");
        redis.set_mark(&recovering).await?;
        let mut recovered = 0;
        let mut after = None;
        loop {
            // Only the holder pushes relayed rows; stop if the lock was lost.
            if !redis
                .hold_lock(RECOVERY_LOCK, token, RECOVERY_LEASE)
                .await?
            {
                return Err(Error::Queue(RedisError::Command(
                    "lost the job recovery lock".to_owned(),
                )));
            }
            let page = self
                .repo
                .relayed_after(self.db.writer(), after, RELAY_BATCH)
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.id);
            let ids: Vec<Uuid> = page.iter().map(|job| job.id).collect();
            let missing = redis.missing(&ids).await?;
            if !missing.is_empty() {
                // Read again: a job the relay recorded and dropped after
                // the page was read is no longer relayed.
                let gone = self.repo.relayed_among(self.db.writer(), &missing).await?;
                recovered += redis.push(&gone).await?;
            }
            if (page.len() as u64) < RELAY_BATCH {
                break;
            }
        }
        // Only if nothing happened to the mark meanwhile (a flush removes
        // it): else the next relay recovers again.
        let done = format!("done:{run_id}:{token}");
        if !redis.swap_mark(&recovering, &done).await? {
            tracing::warn!("Redis changed during job recovery; recovering again");
        }
        Ok(recovered)
    }

    /// Claims up to `limit` due jobs of `kinds` for `worker`, except
    /// `holding`. See [`JobRepository::claim`] for the rules; Redis
    /// follows the same ones.
    pub(super) async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        holding: &[Uuid],
        limit: u64,
        lease: Duration,
    ) -> Result<Claimed> {
        if let Some(redis) = &self.redis {
            let (jobs, abandoned) = redis.claim(worker, kinds, holding, limit, lease).await?;
            return Ok(Claimed { jobs, abandoned });
        }
        Ok(self
            .db
            .transaction(async |tx| {
                self.repo
                    .claim(tx.conn(), worker, kinds, holding, limit, lease)
                    .await
            })
            .await?)
    }

    /// Renews the lease of `held` (id, attempt) that `worker` still holds.
    pub(super) async fn heartbeat(
        &self,
        worker: &str,
        held: &[(Uuid, u32)],
        lease: Duration,
    ) -> Result<u64> {
        if let Some(redis) = &self.redis {
            return Ok(redis.heartbeat(worker, held, lease).await?);
        }
        let ids: Vec<Uuid> = held.iter().map(|(id, _)| *id).collect();
        Ok(self
            .repo
            .heartbeat(self.db.writer(), worker, &ids, lease)
            .await?)
    }

    /// Records success; `false` when `worker` no longer held the job.
    pub(super) async fn complete(&self, id: Uuid, worker: &str, attempt: u32) -> Result<bool> {
        if let Some(redis) = &self.redis {
            return Ok(redis.complete(id, worker, attempt).await?);
        }
        Ok(self
            .repo
            .complete(self.db.writer(), id, worker, attempt)
            .await?)
    }

    /// Records a failed attempt, retried after `retry_in` or dead.
    pub(super) async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool> {
        if let Some(redis) = &self.redis {
            return Ok(redis.fail(id, worker, attempt, error, retry_in).await?);
        }
        let retry_at = retry_in.map(|delay| {
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
        });
        Ok(self
            .repo
            .fail(self.db.writer(), id, worker, attempt, error, retry_at)
            .await?)
    }

    /// Hands a job back without counting the attempt.
    pub(super) async fn release(&self, id: Uuid, worker: &str, attempt: u32) -> Result<bool> {
        if let Some(redis) = &self.redis {
            return Ok(redis.release(id, worker, attempt).await?);
        }
        Ok(self
            .repo
            .release(self.db.writer(), id, worker, attempt)
            .await?)
    }
}

/// Whether `epoch` shows a recovery that completed on the server's
/// current run: then Redis holds every job relayed since.
fn recovered_on(epoch: &Epoch) -> bool {
    epoch.mark.as_deref().is_some_and(|mark| {
        mark.strip_prefix("done:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(run_id, _)| run_id == epoch.run_id)
    })
}

/// What one [`JobQueue::relay`] moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Relayed {
    /// Jobs Redis had lost, pushed back.
    pub(super) recovered: u64,
    /// Waiting rows pushed.
    pub(super) pushed: u64,
    /// Finished jobs recorded in their rows.
    pub(super) finished: u64,
}

/// A job as its table row and Redis state together: what a job is comes
/// from its row (Redis keeps times in ms and drops a done job's payload);
/// where it is, from Redis.
fn merge(row: JobRecord, live: JobRecord) -> JobRecord {
    JobRecord {
        status: live.status,
        attempts: live.attempts,
        run_at: live.run_at,
        last_error: live.last_error,
        finished_at: live.finished_at,
        ..row
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

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(mark: Option<&str>) -> Epoch {
        Epoch {
            mark: mark.map(str::to_owned),
            run_id: "run1".to_owned(),
        }
    }

    #[test]
    fn only_a_recovery_completed_on_this_server_run_counts() {
        assert!(recovered_on(&epoch(Some("done:run1:token"))));
        assert!(!recovered_on(&epoch(None)), "data lost");
        assert!(!recovered_on(&epoch(Some("recovering:token"))), "cut short");
        assert!(!recovered_on(&epoch(Some("done:run0:token"))), "restarted");
        assert!(!recovered_on(&epoch(Some("done:run1"))), "malformed");
    }
}
