//! A River client that works jobs: its queue, timeouts, retry backoff,
//! housekeeping schedule, an attempt log line and metrics, and a graceful
//! stop, read from `JobSettings`; the rest is River's defaults.

use std::{future::Future, time::Duration};

use infra::{ConfigError, config::JobSettings, telemetry::trace};
use persistence::Db;
use riverqueue::{
    CronSchedule, JobListOrderBy, JobListParams, JobRow, JobState, MaintenanceConfig, PeriodicJob,
    PeriodicJobOpts, QueueConfig, RetryPolicy, WorkContext, WorkError, WorkMiddleware, WorkNext,
    WorkOutcome, jiff::Timestamp,
};
use tracing::Instrument as _;

use super::{Housekeeping, JobContext};

/// The one queue the product's jobs use.
const QUEUE: &str = "default";

/// The shortest time between two fetches of a busy worker. With River's
/// default (100 ms) a worker did 470–500 no-op jobs/s at concurrency 100,
/// with this 2,250–2,530 (BENCHMARKS.md, job throughput); a fetch costs one
/// query per 10 ms only while jobs wait. `JOB_CONCURRENCY` is the knob a
/// deployment turns. River refuses a poll interval under the cooldown, and
/// `JOB_POLL_INTERVAL_MS` is at least 10.
pub(super) const FETCH_COOLDOWN: Duration = Duration::from_millis(10);

/// The longest retry wait. The default attempts and base never reach it
/// (the fourth retry waits 8 s at most); it caps a job given many attempts,
/// where an hour apart is patient enough for any outage a retry can outlast.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// `JOB_CLEANUP_SCHEDULE` parsed: five-field cron, a descriptor, or `off`
/// (`None`). Every process that runs jobs parses it as it builds its worker,
/// so a bad schedule stops its start-up, naming the variable.
pub fn cleanup_schedule(raw: &str) -> Result<Option<CronSchedule>, ConfigError> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    CronSchedule::parse(raw).map(Some).map_err(|err| {
        ConfigError::new(
            "JOB_CLEANUP_SCHEDULE",
            format!(
                "expected five-field cron (`0 * * * *`), `@hourly`, `@every 90s` or `off`: {err}"
            ),
        )
    })
}

/// A job worker, not yet started.
#[derive(Debug)]
pub struct Worker {
    client: riverqueue::Client,
    concurrency: usize,
    db: Db,
    /// How often the backlog and pool gauges are sampled.
    sample_every: Duration,
}

impl Worker {
    /// A worker configured by the `JOB_*` settings, its housekeeping on
    /// `schedule` ([`cleanup_schedule`]); running jobs may finish within
    /// `grace` after a stop before they are cancelled.
    pub(crate) fn new(
        db: &Db,
        ctx: JobContext,
        settings: &JobSettings,
        schedule: Option<CronSchedule>,
        grace: Duration,
    ) -> Result<Self, riverqueue::Error> {
        let workers = super::workers(ctx)?;
        let concurrency = settings.concurrency as usize;
        let poll_interval = Duration::from_millis(settings.poll_interval_ms);
        let rescue_after = Duration::from_secs(settings.rescue_after());
        // Finished jobs are deleted on River's default retention: completed
        // and cancelled after 24 hours, discarded after 168.
        let maintenance = MaintenanceConfig::default()
            .with_rescue_after(rescue_after)
            .with_rescuer_interval(rescue_after.min(Duration::from_secs(30)))
            // Retries and scheduled jobs become due at most this late; at
            // least 100 ms, as on SQLite each pass takes the write lock.
            .with_scheduler_interval(
                poll_interval.clamp(Duration::from_millis(100), Duration::from_secs(5)),
            );
        let periodic = schedule.map(|schedule| {
            PeriodicJob::with_options(
                schedule,
                Housekeeping::default,
                PeriodicJobOpts::new().with_id("housekeeping"),
            )
        });
        let client = db.job_client(|builder| {
            let builder = builder
                .workers(workers)
                .queue(
                    QUEUE,
                    QueueConfig::new(concurrency).with_fetch_poll_interval(poll_interval),
                )
                .fetch_cooldown(FETCH_COOLDOWN)
                .default_max_attempts(i32::try_from(settings.max_attempts).unwrap_or(i32::MAX))
                .job_timeout(Duration::from_secs(settings.timeout_seconds))
                .soft_stop_timeout(grace.max(Duration::from_millis(1)))
                .retry_policy(Backoff {
                    base: Duration::from_millis(settings.backoff_base_ms),
                    max: BACKOFF_MAX,
                })
                .maintenance(maintenance)
                .insert_middleware(super::CarryTrace)
                .work_middleware(Observe);
            match periodic {
                Some(job) => builder.periodic_job(job),
                None => builder,
            }
        })?;
        Ok(Self {
            client,
            concurrency,
            db: db.clone(),
            sample_every: sample_interval(settings),
        })
    }

    /// Works jobs until `stop` resolves, then stops fetching, lets running
    /// jobs finish within the grace period (cancelling what is left), and
    /// returns; at once, with the error, if River fails before.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), riverqueue::Error> {
        let run = self.client.start_with_graceful_stop(stop)?;
        self.started(run).wait().await
    }

    /// Starts working jobs in the background.
    pub fn spawn(self) -> Result<WorkerHandle, riverqueue::Error> {
        let run = self.client.start()?;
        Ok(self.started(run))
    }

    fn started(self, run: riverqueue::RunHandle) -> WorkerHandle {
        let gauges = tokio::spawn(sample_gauges(self.db, self.client, self.sample_every));
        tracing::info!(concurrency = self.concurrency, "job worker started");
        WorkerHandle { run, gauges }
    }
}

/// A worker running in the background.
#[derive(Debug)]
pub struct WorkerHandle {
    run: riverqueue::RunHandle,
    gauges: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Something that starts the drain from another task (a signal
    /// handler) without waiting for it.
    pub fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let stopper = self.run.stopper();
        move || stopper.stop()
    }

    /// Stops fetching, lets running jobs finish within the grace period,
    /// and waits until the worker has stopped.
    pub async fn shutdown(self) {
        self.run.stopper().stop();
        if let Err(err) = self.wait().await {
            tracing::error!(error = %err, "the job worker failed");
        }
    }

    async fn wait(mut self) -> Result<(), riverqueue::Error> {
        let result = self.run.wait().await;
        self.gauges.abort();
        tracing::info!("job worker stopped");
        result
    }
}

/// Samples the backlog for the metrics every `every`: `jobs_available{queue}`
/// (jobs ready that no worker has taken) and
/// `jobs_oldest_available_age_seconds{queue}` (how long the oldest of them
/// has waited), and the pools' `db_pool_connections{pool,state}` as the
/// API's `/metrics` reports them (the worker's has no scrape hook).
async fn sample_gauges(db: Db, client: riverqueue::Client, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        crate::record_pool_gauges(&db);
        match sample_backlog(&db, &client).await {
            Ok(()) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                metrics::gauge!(PROGRESS_GAUGE).set(now.as_secs_f64());
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot sample the job queue for the metrics");
            }
        }
    }
}

/// When this worker last read its queue from the database (Unix seconds):
/// what `worker healthcheck` reads. The loop runs on the runtime the jobs
/// run on and queries the database they use, so a stalled runtime, a hung
/// pool or an unreachable database stop it.
pub const PROGRESS_GAUGE: &str = "job_worker_progress_timestamp_seconds";

/// How stale [`PROGRESS_GAUGE`] may be before the worker counts as stuck:
/// three sampling intervals, plus the database's own timeouts.
pub fn progress_deadline(settings: &JobSettings) -> Duration {
    sample_interval(settings) * 3 + Duration::from_secs(10)
}

/// How often the gauges are sampled: the poll interval, between 1 and 15 s.
fn sample_interval(settings: &JobSettings) -> Duration {
    Duration::from_millis(settings.poll_interval_ms)
        .clamp(Duration::from_secs(1), Duration::from_secs(15))
}

async fn sample_backlog(db: &Db, client: &riverqueue::Client) -> Result<(), crate::Error> {
    let mut available = persistence::JobStats
        .available_by_queue(db.reader())
        .await?;
    if !available.iter().any(|(queue, _)| queue == QUEUE) {
        available.push((QUEUE.to_owned(), 0));
    }
    for (queue, count) in available {
        let oldest = client
            .jobs()
            .list(
                JobListParams::default()
                    .states([JobState::Available])
                    .queues([queue.clone()])
                    .order_by(JobListOrderBy::ScheduledAt)
                    .limit(1),
            )
            .await
            .map_err(crate::Error::Jobs)?;
        let age = oldest.jobs.first().map_or(0.0, |job| {
            Timestamp::now()
                .duration_since(job.scheduled_at)
                .as_secs_f64()
                .max(0.0)
        });
        #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
        metrics::gauge!("jobs_available", "queue" => queue.clone()).set(count as f64);
        metrics::gauge!("jobs_oldest_available_age_seconds", "queue" => queue).set(age);
    }
    Ok(())
}

/// Retry `n` waits between half and all of `base * 2^(n-1)`, at most `max`
/// (`JOB_BACKOFF_BASE_MS`, an hour).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The longest wait before retry `retry` (1 for the first).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
        self.base
            .saturating_mul(factor)
            .min(self.max.max(self.base))
    }
}

impl RetryPolicy for Backoff {
    fn next_retry(&self, job: &JobRow, _error: &WorkError, _now: Timestamp) -> Duration {
        let retry = u32::try_from(job.attempt).unwrap_or(1);
        self.ceiling(retry).mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// Logs every attempt (job id, kind, attempt, duration, outcome) and counts
/// it in the metrics: `jobs_total{kind,outcome}` and
/// `job_duration_seconds{kind}`.
struct Observe;

impl WorkMiddleware for Observe {
    async fn work(
        &self,
        _context: &WorkContext,
        job: JobRow,
        next: WorkNext<'_>,
    ) -> Result<WorkOutcome, WorkError> {
        // The attempt's trace span: a child of the request that enqueued
        // the job, when it was traced (its context is in the metadata).
        let carrier = job.metadata.get(super::TRACE_METADATA).ok().flatten();
        let trace_span = trace::job_span(&job.kind, job.id, job.attempt, carrier.as_ref());
        // The log's span, made inside the trace's: in a sampled trace it is
        // in the trace too, so statements run under it (on SQLite, on a
        // thread of sqlx's that enters it) find their trace.
        let span = trace_span.in_scope(|| {
            tracing::info_span!(
                "job",
                job_id = job.id,
                kind = %job.kind,
                attempt = job.attempt,
                max_attempts = job.max_attempts,
            )
        });
        let (kind, attempt, max_attempts) = (job.kind.clone(), job.attempt, job.max_attempts);
        let traced = trace_span.clone();
        async move {
            let started = std::time::Instant::now();
            let result = next.run(job).await;
            let elapsed = started.elapsed();
            let duration_ms = elapsed.as_millis();
            metrics::histogram!("job_duration_seconds", "kind" => kind.clone())
                .record(elapsed.as_secs_f64());
            let outcome = match &result {
                Ok(WorkOutcome::Complete) => {
                    tracing::info!(duration_ms, "job succeeded");
                    "succeeded"
                }
                Ok(WorkOutcome::Snooze(delay)) => {
                    tracing::info!(duration_ms, snooze_ms = delay.as_millis(), "job snoozed");
                    "snoozed"
                }
                Ok(WorkOutcome::Cancel) => {
                    tracing::warn!(duration_ms, "job cancelled itself");
                    "cancelled"
                }
                Ok(WorkOutcome::Discard) => {
                    tracing::warn!(duration_ms, "job discarded itself");
                    "failed"
                }
                Ok(_) => {
                    tracing::info!(duration_ms, "job finished");
                    "other"
                }
                Err(err) if riverqueue::WorkCancelled::is_in_chain(err.get_ref()) => {
                    // A timeout, `jobs cancel`, or the end of the shutdown
                    // grace period; River decides what follows.
                    tracing::warn!(duration_ms, "job interrupted (timeout, cancel or shutdown)");
                    "interrupted"
                }
                Err(err) if attempt >= max_attempts => {
                    tracing::error!(duration_ms, error = %err, "job failed its last attempt; discarded");
                    "failed"
                }
                Err(err) => {
                    tracing::warn!(duration_ms, error = %err, "job failed; it will be retried");
                    "retried"
                }
            };
            metrics::counter!("jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
            traced.record("job.outcome", outcome);
            if let Err(err) = &result {
                trace::fail(&traced, &error_chain(err.get_ref()));
            }
            result
        }
        .instrument(span)
        .instrument(trace_span)
        .await
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_maximum() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(4), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(5), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    }
}
