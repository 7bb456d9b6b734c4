//! The job queue's storage: enqueue (inside the caller's transaction),
//! claim with a lease, heartbeat, and the end of an attempt.
//!
//! Claiming runs in a transaction. On Postgres the candidate rows are locked
//! with `FOR UPDATE SKIP LOCKED`, so concurrent workers take different jobs
//! without waiting on each other; on SQLite the transaction holds the write
//! lock (`BEGIN IMMEDIATE`), which serialises claims the same way. Every
//! state change after the claim is conditioned on `locked_by`, so a worker
//! that lost its lease (and whose job another worker took over) cannot
//! overwrite the new owner's result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DbBackend, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, UpdateMany,
    sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, OnConflict},
};
use uuid::Uuid;

pub use domain::job::{JobRecord, JobStatus};

use crate::{
    Connection, Error, Result,
    entities::job::{self, Entity as Jobs},
};

const ENTITY: &str = "Job";

/// A job about to be enqueued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// Arguments, as JSON.
    pub payload: String,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    /// When set, enqueueing a second job with the same key does nothing.
    pub dedupe_key: Option<String>,
}

impl TryFrom<job::Model> for JobRecord {
    type Error = Error;

    fn try_from(model: job::Model) -> Result<Self> {
        let count = |value: i32| {
            u32::try_from(value).map_err(|_| Error::Corrupt {
                entity: ENTITY,
                reason: format!("negative attempt count {value}"),
            })
        };
        Ok(Self {
            id: model.id,
            status: parse_status(&model.status)?,
            attempts: count(model.attempts)?,
            max_attempts: count(model.max_attempts)?,
            kind: model.kind,
            payload: model.payload,
            run_at: model.run_at,
            last_error: model.last_error,
            dedupe_key: model.dedupe_key,
            created_at: model.created_at,
            finished_at: model.finished_at,
        })
    }
}

/// What a claim found: jobs to run now, and jobs whose worker died on
/// their last allowed attempt (marked dead instead of run again).
#[derive(Debug, Default)]
pub struct Claimed {
    pub jobs: Vec<JobRecord>,
    pub abandoned: Vec<JobRecord>,
}

/// Storage of the job queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobRepository;

impl JobRepository {
    /// Adds a job. Run it on the transaction whose outcome decides whether
    /// the job should exist. Returns `None` when a job with the same
    /// `dedupe_key` already exists (and nothing was added).
    pub async fn enqueue(self, conn: &impl Connection, job: NewJob) -> Result<Option<Uuid>> {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let model = job::ActiveModel {
            id: Set(id),
            kind: Set(job.kind),
            payload: Set(job.payload),
            status: Set(JobStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            max_attempts: Set(i32::try_from(job.max_attempts).unwrap_or(i32::MAX)),
            run_at: Set(job.run_at),
            locked_by: Set(None),
            locked_until: Set(None),
            last_error: Set(None),
            dedupe_key: Set(job.dedupe_key),
            created_at: Set(now),
            updated_at: Set(now),
            finished_at: Set(None),
        };
        let inserted = Jobs::insert(model)
            .on_conflict(
                OnConflict::column(job::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await
            .map_err(|err| Error::from_write(err, ENTITY, &[]))?;
        Ok((inserted == 1).then_some(id))
    }

    /// Claims up to `limit` jobs of the given `kinds` for `worker`: pending
    /// jobs that are due, and running jobs whose lease ran out (their worker
    /// died), except those in `holding` (jobs this worker still runs, whose
    /// lease it failed to renew). Each claim counts as an attempt, and the
    /// attempt number identifies the claim: `complete`, `fail` and
    /// `release` only act while the row is still at that attempt. A job
    /// whose lease ran out on its last allowed attempt is marked dead rather
    /// than run again, so a job that kills its worker cannot take the fleet
    /// down in a loop. Call it in a transaction.
    pub async fn claim(
        self,
        conn: &impl Connection,
        worker: &str,
        kinds: &[&str],
        holding: &[Uuid],
        limit: u64,
        lease: Duration,
    ) -> Result<Claimed> {
        let now = Utc::now();
        let due = Condition::any()
            .add(
                Condition::all()
                    .add(job::Column::Status.eq(JobStatus::Pending.as_str()))
                    .add(job::Column::RunAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(job::Column::Status.eq(JobStatus::Running.as_str()))
                    .add(job::Column::LockedUntil.lt(now)),
            );
        let mut query = Jobs::find()
            .filter(due)
            // A worker without the handler leaves the job to one that has it
            // (a rolling deploy), instead of spending its attempts.
            .filter(job::Column::Kind.is_in(kinds.iter().copied()))
            .filter(job::Column::Id.is_not_in(holding.iter().copied()))
            .order_by(job::Column::RunAt, Order::Asc)
            .limit(limit);
        if conn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut claimed = Claimed::default();
        for model in query.all(conn).await? {
            let mut record = JobRecord::try_from(model)?;
            if record.status == JobStatus::Running && record.attempts >= record.max_attempts {
                let error = format!(
                    "worker stopped responding during attempt {} of {}",
                    record.attempts, record.max_attempts
                );
                self.finish_dead(conn, record.id, None, &error, now).await?;
                record.status = JobStatus::Dead;
                record.last_error = Some(error);
                claimed.abandoned.push(record);
                continue;
            }
            record.attempts += 1;
            record.status = JobStatus::Running;
            claimed.jobs.push(record);
        }
        if !claimed.jobs.is_empty() {
            let lease_end = now + lease;
            Jobs::update_many()
                .col_expr(
                    job::Column::Status,
                    Expr::value(JobStatus::Running.as_str()),
                )
                .col_expr(
                    job::Column::Attempts,
                    Expr::col(job::Column::Attempts).add(1),
                )
                .col_expr(job::Column::LockedBy, Expr::value(worker))
                .col_expr(job::Column::LockedUntil, Expr::value(lease_end))
                .col_expr(job::Column::UpdatedAt, Expr::value(now))
                .filter(job::Column::Id.is_in(claimed.jobs.iter().map(|job| job.id)))
                .exec(conn)
                .await?;
        }
        Ok(claimed)
    }

    /// Up to `limit` waiting jobs (due or not), oldest `run_at` first, for
    /// the relay to hand to Redis (`JOB_BACKEND=redis`). Call it in a
    /// transaction: on Postgres the rows are locked (`SKIP LOCKED`), so
    /// workers relaying at once take different rows.
    pub async fn relay_batch(self, conn: &impl Connection, limit: u64) -> Result<Vec<JobRecord>> {
        let mut query = Jobs::find()
            .filter(job::Column::Status.eq(JobStatus::Pending.as_str()))
            .order_by(job::Column::RunAt, Order::Asc)
            .limit(limit);
        if conn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        records(conn, query).await
    }

    /// Marks waiting jobs as handed to Redis.
    pub async fn mark_relayed(self, conn: &impl Connection, ids: &[Uuid]) -> Result<u64> {
        let result = Jobs::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Relayed.as_str()),
            )
            .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .filter(job::Column::Status.eq(JobStatus::Pending.as_str()))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Extends the lease of the jobs `ids` that `worker` is running, and
    /// only those: a job whose outcome could not be recorded must lose its
    /// lease so another worker retries it. Returns how many were extended.
    pub async fn heartbeat(
        self,
        conn: &impl Connection,
        worker: &str,
        ids: &[Uuid],
        lease: Duration,
    ) -> Result<u64> {
        let now = Utc::now();
        let result = Jobs::update_many()
            .col_expr(job::Column::LockedUntil, Expr::value(now + lease))
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .filter(job::Column::LockedBy.eq(worker))
            .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Records a successful attempt. `false` when `worker` no longer held
    /// the job (its lease ran out and another worker took it over).
    pub async fn complete(
        self,
        conn: &impl Connection,
        id: Uuid,
        worker: &str,
        attempt: u32,
    ) -> Result<bool> {
        let now = Utc::now();
        let result = unlocked(Jobs::update_many(), now)
            .col_expr(job::Column::Status, Expr::value(JobStatus::Done.as_str()))
            .col_expr(job::Column::FinishedAt, Expr::value(now))
            .filter(held_by(id, worker, attempt))
            .exec(conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Records a failed attempt: the job waits until `retry_at`, or is dead
    /// when there is none. `false` when `worker` no longer held the job.
    pub async fn fail(
        self,
        conn: &impl Connection,
        id: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let now = Utc::now();
        let Some(retry_at) = retry_at else {
            return self
                .finish_dead(conn, id, Some((worker, attempt)), error, now)
                .await;
        };
        let result = unlocked(Jobs::update_many(), now)
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Pending.as_str()),
            )
            .col_expr(job::Column::RunAt, Expr::value(retry_at))
            .col_expr(job::Column::LastError, Expr::value(error))
            .filter(held_by(id, worker, attempt))
            .exec(conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Hands a job back without counting the attempt (a worker shutting
    /// down before the job could finish).
    pub async fn release(
        self,
        conn: &impl Connection,
        id: Uuid,
        worker: &str,
        attempt: u32,
    ) -> Result<bool> {
        let now = Utc::now();
        let result = unlocked(Jobs::update_many(), now)
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Pending.as_str()),
            )
            .col_expr(
                job::Column::Attempts,
                Expr::col(job::Column::Attempts).sub(1),
            )
            .col_expr(job::Column::RunAt, Expr::value(now))
            .filter(held_by(id, worker, attempt))
            .exec(conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    async fn finish_dead(
        self,
        conn: &impl Connection,
        id: Uuid,
        holder: Option<(&str, u32)>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut update = unlocked(Jobs::update_many(), now)
            .col_expr(job::Column::Status, Expr::value(JobStatus::Dead.as_str()))
            .col_expr(job::Column::LastError, Expr::value(error))
            .col_expr(job::Column::FinishedAt, Expr::value(now));
        update = match holder {
            Some((worker, attempt)) => update.filter(held_by(id, worker, attempt)),
            None => update.filter(job::Column::Id.eq(id)),
        };
        Ok(update.exec(conn).await?.rows_affected == 1)
    }

    /// One job, whatever its state.
    pub async fn find(self, conn: &impl Connection, id: Uuid) -> Result<Option<JobRecord>> {
        Jobs::find_by_id(id)
            .one(conn)
            .await?
            .map(JobRecord::try_from)
            .transpose()
    }

    /// The jobs of `ids` that have rows, in id order.
    pub async fn find_many(self, conn: &impl Connection, ids: &[Uuid]) -> Result<Vec<JobRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        // Bounded `IN` lists: SQLite allows at most 32766 bound values.
        for chunk in ids.chunks(1000) {
            let query = Jobs::find().filter(job::Column::Id.is_in(chunk.iter().copied()));
            found.extend(records(conn, query).await?);
        }
        found.sort_by_key(|job| job.id);
        Ok(found)
    }

    /// Jobs in one state, oldest first.
    pub async fn list(
        self,
        conn: &impl Connection,
        status: JobStatus,
        limit: u64,
    ) -> Result<Vec<JobRecord>> {
        records(
            conn,
            Jobs::find()
                .filter(job::Column::Status.eq(status.as_str()))
                .order_by(job::Column::CreatedAt, Order::Asc)
                .order_by(job::Column::Id, Order::Asc)
                .limit(limit),
        )
        .await
    }

    /// Jobs of one kind, oldest first (tests and diagnostics).
    pub async fn list_kind(self, conn: &impl Connection, kind: &str) -> Result<Vec<JobRecord>> {
        records(
            conn,
            Jobs::find()
                .filter(job::Column::Kind.eq(kind))
                .order_by(job::Column::CreatedAt, Order::Asc)
                .order_by(job::Column::Id, Order::Asc),
        )
        .await
    }

    /// How many of `ids` are in one of `statuses`.
    pub async fn count_in(
        self,
        conn: &impl Connection,
        ids: &[Uuid],
        statuses: &[JobStatus],
    ) -> Result<u64> {
        let mut found = 0;
        // Bounded `IN` lists: SQLite allows at most 32766 bound values.
        for chunk in ids.chunks(1000) {
            found += Jobs::find()
                .filter(job::Column::Id.is_in(chunk.iter().copied()))
                .filter(job::Column::Status.is_in(statuses.iter().map(|status| status.as_str())))
                .count(conn)
                .await?;
        }
        Ok(found)
    }

    /// Puts a dead job back in the queue with a fresh attempt budget.
    /// `false` when there is no dead job with this id.
    pub async fn requeue_dead(self, conn: &impl Connection, id: Uuid) -> Result<bool> {
        let now = Utc::now();
        let result = Jobs::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Pending.as_str()),
            )
            .col_expr(job::Column::Attempts, Expr::value(0))
            .col_expr(job::Column::RunAt, Expr::value(now))
            .col_expr(
                job::Column::FinishedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(JobStatus::Dead.as_str()))
            .exec(conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// How many jobs are in each state.
    pub async fn counts(self, conn: &impl Connection) -> Result<Vec<(JobStatus, u64)>> {
        let rows: Vec<(String, i64)> = Jobs::find()
            .select_only()
            .column(job::Column::Status)
            .column_as(job::Column::Id.count(), "count")
            .group_by(job::Column::Status)
            .into_tuple()
            .all(conn)
            .await?;
        rows.into_iter()
            .map(|(status, count)| Ok((parse_status(&status)?, u64::try_from(count).unwrap_or(0))))
            .collect()
    }

    /// Deletes jobs that finished successfully before `cutoff`. Dead jobs
    /// stay until someone re-queues or deletes them, and relayed ones
    /// until Redis reports them finished.
    pub async fn delete_done_before(
        self,
        conn: &impl Connection,
        cutoff: DateTime<Utc>,
    ) -> Result<u64> {
        let result = Jobs::delete_many()
            .filter(job::Column::Status.eq(JobStatus::Done.as_str()))
            .filter(job::Column::FinishedAt.lt(cutoff))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Copies the final state of relayed jobs that Redis reports done or
    /// dead (status, attempts, last error, last run and finish times) to
    /// their rows.
    /// Rows no longer relayed are left alone. One statement per distinct
    /// (status, attempts, error), which for a batch of successes is one.
    pub async fn record_finished(self, conn: &impl Connection, jobs: &[JobRecord]) -> Result<()> {
        type Outcome<'a> = (JobStatus, u32, Option<&'a str>);
        let mut groups: Vec<(Outcome<'_>, Vec<&JobRecord>)> = Vec::new();
        for job in jobs {
            let outcome = (job.status, job.attempts, job.last_error.as_deref());
            match groups.iter_mut().find(|(seen, _)| *seen == outcome) {
                Some((_, members)) => members.push(job),
                None => groups.push((outcome, vec![job])),
            }
        }
        let now = Utc::now();
        for ((status, attempts, last_error), members) in groups {
            // Per-job times: `CASE id WHEN .. THEN .. END`.
            let per_job = |column: job::Column, time: &dyn Fn(&JobRecord) -> DateTime<Utc>| {
                members
                    .iter()
                    .fold(sea_orm::sea_query::CaseStatement::new(), |case, job| {
                        case.case(job::Column::Id.eq(job.id), Expr::value(time(job)))
                    })
                    .finally(Expr::col(column))
                    .into()
            };
            Jobs::update_many()
                .col_expr(job::Column::Status, Expr::value(status.as_str()))
                .col_expr(
                    job::Column::Attempts,
                    Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
                )
                .col_expr(job::Column::LastError, Expr::value(last_error))
                .col_expr(
                    job::Column::FinishedAt,
                    per_job(job::Column::FinishedAt, &|job| {
                        job.finished_at.unwrap_or(now)
                    }),
                )
                .col_expr(
                    job::Column::RunAt,
                    per_job(job::Column::RunAt, &|job| job.run_at),
                )
                .col_expr(job::Column::UpdatedAt, Expr::value(now))
                .filter(job::Column::Id.is_in(members.iter().map(|job| job.id)))
                .filter(job::Column::Status.eq(JobStatus::Relayed.as_str()))
                .exec(conn)
                .await?;
        }
        Ok(())
    }

    /// The status of each of `ids` that has a row.
    pub async fn statuses(
        self,
        conn: &impl Connection,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, JobStatus)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let rows: Vec<(Uuid, String)> = Jobs::find()
                .select_only()
                .column(job::Column::Id)
                .column(job::Column::Status)
                .filter(job::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            for (id, status) in rows {
                found.push((id, parse_status(&status)?));
            }
        }
        Ok(found)
    }

    /// Up to `limit` relayed jobs with ids after `after`, in id order: a
    /// page of the jobs Redis should hold.
    pub async fn relayed_after(
        self,
        conn: &impl Connection,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<JobRecord>> {
        let mut query = Jobs::find()
            .filter(job::Column::Status.eq(JobStatus::Relayed.as_str()))
            .order_by(job::Column::Id, Order::Asc)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(job::Column::Id.gt(after));
        }
        records(conn, query).await
    }

    /// Those of `ids` that are relayed, in id order.
    pub async fn relayed_among(
        self,
        conn: &impl Connection,
        ids: &[Uuid],
    ) -> Result<Vec<JobRecord>> {
        records(
            conn,
            Jobs::find()
                .filter(job::Column::Id.is_in(ids.iter().copied()))
                .filter(job::Column::Status.eq(JobStatus::Relayed.as_str()))
                .order_by(job::Column::Id, Order::Asc),
        )
        .await
    }
}

/// The jobs `query` selects.
async fn records(conn: &impl Connection, query: Select<Jobs>) -> Result<Vec<JobRecord>> {
    query
        .all(conn)
        .await?
        .into_iter()
        .map(JobRecord::try_from)
        .collect()
}

/// `update` that also clears the lock (the job leaves its worker) and
/// stamps `updated_at`.
fn unlocked(update: UpdateMany<Jobs>, now: DateTime<Utc>) -> UpdateMany<Jobs> {
    update
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// The job `id`, if `worker` still holds it from the claim that made
/// `attempt` (a later claim, even by the same worker, counts another).
fn held_by(id: Uuid, worker: &str, attempt: u32) -> Condition {
    Condition::all()
        .add(job::Column::Id.eq(id))
        .add(job::Column::LockedBy.eq(worker))
        .add(job::Column::Attempts.eq(i32::try_from(attempt).unwrap_or(i32::MAX)))
        .add(job::Column::Status.eq(JobStatus::Running.as_str()))
}

fn parse_status(raw: &str) -> Result<JobStatus> {
    raw.parse()
        .map_err(|err: domain::job::UnknownJobStatus| Error::Corrupt {
            entity: ENTITY,
            reason: err.to_string(),
        })
}
