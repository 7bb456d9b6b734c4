//! The worker loop: claim due jobs, run them with a timeout, record the
//! outcome, keep leases alive, enqueue cron ticks, and drain on shutdown.
//!
//! Why a lease and not just a `running` flag: a worker killed with SIGKILL
//! (or cut off from the database) never says so. It renews the lease of
//! the jobs it runs every third of `JOB_LEASE_SECONDS`; a job whose lease
//! ran out is claimed again by any worker, which is how a crash loses no
//! job. Each claim counts as an attempt, so a job that crashes its worker
//! every time ends up dead instead of cycling forever.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use futures_util::FutureExt as _;
use infra::{
    config::JobSettings,
    jobs::{Backoff, Schedule, ScheduleError},
};
use persistence::{Claimed, JobRecord};
use tokio::{sync::watch, task::JoinSet};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{Housekeeping, JobContext, JobError, JobQueue, Registry, Scheduled, queue::Relayed};

/// Longest stored error message; the rest is cut (a handler that returns a
/// whole response body should not bloat the table).
const MAX_ERROR_LEN: usize = 2000;

/// How a worker behaves; from the `JOB_*` settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at the same time.
    pub concurrency: u32,
    /// Pause between looks at an empty queue.
    pub poll_interval: Duration,
    /// Longest one attempt may run.
    pub timeout: Duration,
    /// How long a claim holds without renewal.
    pub lease: Duration,
    pub backoff: Backoff,
    /// On shutdown, how long running jobs may take to finish.
    pub grace: Duration,
    /// Cron jobs this worker helps enqueue.
    pub schedules: Vec<Scheduled>,
}

impl WorkerConfig {
    /// The configuration the settings describe, with the housekeeping
    /// schedule unless `JOB_CLEANUP_SCHEDULE=off`.
    pub fn from_settings(settings: &JobSettings, grace: Duration) -> Result<Self, ScheduleError> {
        let mut schedules = Vec::new();
        if let Some(raw) = &settings.cleanup_schedule.0 {
            schedules.push(Scheduled::new(Schedule::parse(raw)?, |tick| Housekeeping {
                tick,
            }));
        }
        Ok(Self {
            concurrency: settings.concurrency,
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            timeout: Duration::from_secs(settings.timeout_seconds),
            lease: Duration::from_secs(settings.lease_seconds),
            backoff: Backoff::new(
                Duration::from_millis(settings.backoff_base_ms),
                Duration::from_secs(settings.backoff_max_seconds),
            ),
            grace,
            schedules,
        })
    }
}

/// Runs jobs until told to stop.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    queue: JobQueue,
    config: WorkerConfig,
}

/// What every job task of one worker needs.
#[derive(Debug)]
struct Shared {
    /// Unique per process start; jobs are locked under it.
    id: String,
    queue: JobQueue,
    ctx: Arc<JobContext>,
    registry: Registry,
    timeout: Duration,
    backoff: Backoff,
    /// Jobs this worker runs, with the attempt of their claim: the
    /// heartbeat renews exactly these, claims skip them, and shutdown hands
    /// back the unfinished.
    in_flight: Mutex<HashMap<Uuid, u32>>,
}

/// A worker running in the background of another process (the API).
#[derive(Debug)]
pub struct WorkerHandle {
    stop: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Tells the worker to stop claiming and start draining, without
    /// waiting (a shutdown signal's handler calls it, so the worker drains
    /// while the HTTP server does, within one grace period).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Something that can call [`WorkerHandle::stop`] from elsewhere.
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = self.stop.clone();
        move || {
            let _ = stop.send(true);
        }
    }

    /// Stops fetching, lets running jobs finish within the grace period,
    /// and returns when the worker has stopped.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the job worker task failed");
        }
    }
}

impl Worker {
    pub fn new(queue: JobQueue, ctx: JobContext, registry: Registry, config: WorkerConfig) -> Self {
        let id = format!(
            "worker-{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            shared: Arc::new(Shared {
                id,
                queue: queue.clone(),
                ctx: Arc::new(ctx),
                registry,
                timeout: config.timeout,
                backoff: config.backoff,
                in_flight: Mutex::new(HashMap::new()),
            }),
            queue,
            config,
        }
    }

    /// This worker's id, as stored in `jobs.locked_by`.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Runs on the current runtime until [`WorkerHandle::shutdown`].
    pub fn spawn(self) -> WorkerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        WorkerHandle {
            stop: Arc::new(stop),
            task,
        }
    }

    /// Runs until `shutdown` resolves, then drains: no new claims, running
    /// jobs get `grace` to finish, and jobs still running after it are
    /// cancelled and handed back to the queue (their attempt not counted).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self {
            shared,
            queue,
            config,
        } = self;
        tracing::info!(worker = %shared.id, concurrency = config.concurrency, "job worker started");
        let mut schedulers = JoinSet::new();
        for scheduled in config.schedules.clone() {
            schedulers.spawn(run_schedule(queue.clone(), scheduled));
        }
        let heartbeat = tokio::spawn(heartbeat(shared.clone(), config.lease));
        // With Redis, moving jobs between the table and Redis runs beside
        // the claim loop, so claims never wait on the database.
        let (stop_relay, relay_stopped) = watch::channel(false);
        let relay = queue
            .relays()
            .then(|| tokio::spawn(relay(queue.clone(), config.poll_interval, relay_stopped)));
        let mut running = JoinSet::new();
        let concurrency = usize::try_from(config.concurrency)
            .unwrap_or(usize::MAX)
            .max(1);
        tokio::pin!(shutdown);
        loop {
            while let Some(finished) = running.try_join_next() {
                report_join(finished);
            }
            let free = concurrency - running.len();
            if free == 0 {
                tokio::select! {
                    () = &mut shutdown => break,
                    finished = running.join_next() => {
                        if let Some(finished) = finished {
                            report_join(finished);
                        }
                        continue;
                    }
                }
            }
            let claimed = match claim(&shared, free, config.lease).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    metrics::counter!("job_claim_errors_total").increment(1);
                    tracing::warn!(error = %err, "cannot claim jobs; retrying after the poll interval");
                    Claimed::default()
                }
            };
            for job in &claimed.abandoned {
                metrics::counter!("jobs_total", "kind" => job.kind.clone(), "outcome" => "failed")
                    .increment(1);
                tracing::error!(
                    job_id = %job.id,
                    kind = %job.kind,
                    attempt = job.attempts,
                    error = job.last_error.as_deref().unwrap_or_default(),
                    "job is dead: its worker stopped responding on the last attempt"
                );
            }
            let batch_was_full = claimed.jobs.len() == free;
            for job in claimed.jobs {
                // Tracked before the task starts, so the heartbeat renews it
                // and a drain hands it back even if the task never ran.
                lock(&shared.in_flight).insert(job.id, job.attempts);
                running.spawn(run_one(shared.clone(), job));
            }
            if batch_was_full {
                // More may be due; look again at once unless told to stop.
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = std::future::ready(()) => {}
                }
            } else {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(config.poll_interval) => {}
                }
            }
        }
        schedulers.abort_all();
        let deadline = tokio::time::Instant::now() + config.grace;
        drain(&shared, &mut running, config.grace).await;
        heartbeat.abort();
        // With Redis, record what finished during the drain, so the table
        // is current once the last worker is gone; within the same grace.
        if let Some(mut relay) = relay {
            // Stopped between two relays, not in one: a relay cut short
            // leaves the finished jobs it took hidden from the next.
            let _ = stop_relay.send(true);
            let last = async {
                let _ = (&mut relay).await;
                queue.relay().await
            };
            match tokio::time::timeout_at(deadline, last).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "cannot record finished jobs at shutdown");
                }
                Err(_) => {
                    relay.abort();
                    tracing::warn!("grace period over; another worker records the finished jobs");
                }
            }
        }
        tracing::info!(worker = %shared.id, "job worker stopped");
    }
}

/// With Redis: relays (see [`JobQueue::relay`]) again at once while
/// there is something to move, else after the poll interval, until
/// `stop` turns true. A relay that fails is retried after the interval.
async fn relay(queue: JobQueue, interval: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match queue.relay().await {
            Ok(relayed) if relayed != Relayed::default() => {
                tracing::debug!(
                    recovered = relayed.recovered,
                    pushed = relayed.pushed,
                    finished = relayed.finished,
                    "relayed jobs to and from Redis"
                );
                continue;
            }
            Ok(_) => {}
            Err(err) => {
                metrics::counter!("job_relay_errors_total").increment(1);
                tracing::warn!(error = %err, "cannot relay jobs; retrying after the poll interval");
            }
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    return; // The worker is gone.
                }
            }
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Claims up to `limit` due jobs this worker has handlers for.
async fn claim(shared: &Shared, limit: usize, lease: Duration) -> crate::Result<Claimed> {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let kinds = shared.registry.kinds();
    let holding: Vec<Uuid> = lock(&shared.in_flight).keys().copied().collect();
    shared
        .queue
        .claim(&shared.id, &kinds, &holding, limit, lease)
        .await
}

/// Lets running jobs finish within `grace`; then cancels the rest and
/// hands their jobs back so another worker runs them at once.
async fn drain(shared: &Shared, running: &mut JoinSet<()>, grace: Duration) {
    if running.is_empty() {
        return;
    }
    tracing::info!(
        jobs = running.len(),
        ?grace,
        "waiting for running jobs to finish"
    );
    let finished = tokio::time::timeout(grace, async {
        while let Some(finished) = running.join_next().await {
            report_join(finished);
        }
    })
    .await;
    if finished.is_ok() {
        return;
    }
    // Read before aborting: a cancelled task's guard removes its entry.
    let unfinished: Vec<(Uuid, u32)> = lock(&shared.in_flight)
        .iter()
        .map(|(id, attempt)| (*id, *attempt))
        .collect();
    running.abort_all();
    while running.join_next().await.is_some() {}
    for (id, attempt) in unfinished {
        let released = shared.queue.release(id, &shared.id, attempt).await;
        match released {
            Ok(true) => tracing::warn!(job_id = %id, "job cancelled at shutdown and handed back"),
            Ok(false) => tracing::warn!(
                job_id = %id,
                "job cancelled at shutdown; it had already finished or been taken over"
            ),
            Err(err) => tracing::error!(
                job_id = %id,
                error = %err,
                "cannot hand back a cancelled job; it runs again when its lease runs out"
            ),
        }
    }
}

fn report_join(finished: Result<(), tokio::task::JoinError>) {
    if let Err(err) = finished
        && !err.is_cancelled()
    {
        tracing::error!(error = %err, "a job task failed outside its handler");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The set stays consistent even if a holder panicked (no invariant
    // spans more than one call), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Renews the lease of this worker's running jobs every third of the lease.
async fn heartbeat(shared: Arc<Shared>, lease: Duration) {
    let every = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let held: Vec<(Uuid, u32)> = lock(&shared.in_flight)
            .iter()
            .map(|(id, attempt)| (*id, *attempt))
            .collect();
        if held.is_empty() {
            continue;
        }
        let renewed = shared.queue.heartbeat(&shared.id, &held, lease).await;
        // Jobs that finished meanwhile had nothing to renew.
        let running = {
            let in_flight = lock(&shared.in_flight);
            held.iter()
                .filter(|(id, attempt)| in_flight.get(id) == Some(attempt))
                .count()
        };
        match renewed {
            Ok(renewed) if renewed < u64::try_from(running).unwrap_or(u64::MAX) => {
                tracing::warn!(
                    running,
                    renewed,
                    "some running jobs lost their lease; another worker may run them as well"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "cannot renew job leases"),
        }
    }
}

/// Enqueues `scheduled`'s job at each tick. Every worker does this; the
/// unique key makes the first one win.
async fn run_schedule(queue: JobQueue, scheduled: Scheduled) {
    let mut after = Utc::now();
    while let Some(tick) = scheduled.schedule.next_after(after) {
        let wait = (tick - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        after = tick;
        match queue.enqueue_tick(&scheduled, tick).await {
            Ok(Some(id)) => {
                tracing::info!(job_id = %id, kind = scheduled.name, %tick, "scheduled job enqueued");
            }
            Ok(None) => {
                tracing::debug!(kind = scheduled.name, %tick, "another worker enqueued this tick");
            }
            Err(err) => tracing::error!(
                kind = scheduled.name,
                %tick,
                error = %err,
                "cannot enqueue a scheduled job; this tick is skipped"
            ),
        }
    }
}

/// Removes a job from `in_flight` when its task ends, however it ends.
struct InFlight<'a> {
    shared: &'a Shared,
    id: Uuid,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.shared.in_flight).remove(&self.id);
    }
}

async fn run_one(shared: Arc<Shared>, job: JobRecord) {
    let _in_flight = InFlight {
        shared: &shared,
        id: job.id,
    };
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        kind = %job.kind,
        attempt = job.attempts,
        max_attempts = job.max_attempts,
    );
    async {
        let started = Instant::now();
        let outcome = attempt(&shared, &job).await;
        let elapsed = started.elapsed();
        metrics::histogram!("job_duration_seconds", "kind" => job.kind.clone())
            .record(elapsed.as_secs_f64());
        let duration_ms = elapsed.as_millis();
        let (recorded, label) = match outcome {
            Ok(()) => {
                let recorded = shared.queue.complete(job.id, &shared.id, job.attempts).await;
                if matches!(recorded, Ok(true)) {
                    tracing::info!(duration_ms, "job succeeded");
                }
                (recorded, "succeeded")
            }
            Err(err) => {
                let error = error_chain(&*err);
                if job.attempts >= job.max_attempts {
                    let recorded = shared
                        .queue
                        .fail(job.id, &shared.id, job.attempts, &error, None)
                        .await;
                    if matches!(recorded, Ok(true)) {
                        tracing::error!(duration_ms, error, "job failed its last attempt and is dead");
                    }
                    (recorded, "failed")
                } else {
                    let delay = shared.backoff.delay(job.attempts, fastrand::f64());
                    let recorded = shared
                        .queue
                        .fail(job.id, &shared.id, job.attempts, &error, Some(delay))
                        .await;
                    if matches!(recorded, Ok(true)) {
                        tracing::warn!(
                            duration_ms,
                            error,
                            retry_in_ms = delay.as_millis(),
                            "job failed; it will be retried"
                        );
                    }
                    (recorded, "retried")
                }
            }
        };
        match recorded {
            Ok(true) => {
                metrics::counter!("jobs_total", "kind" => job.kind.clone(), "outcome" => label)
                    .increment(1);
            }
            Ok(false) => tracing::warn!(
                "job ended after its lease ran out; the worker that took it over decides its outcome"
            ),
            Err(err) => tracing::error!(
                error = %err,
                "cannot record the job's outcome; it runs again when its lease runs out"
            ),
        }
    }
    .instrument(span)
    .await;
}

/// One attempt: the handler, bounded by the timeout, with panics caught.
async fn attempt(shared: &Shared, job: &JobRecord) -> Result<(), JobError> {
    let Some(handler) = shared.registry.get(&job.kind) else {
        // Claims only take registered kinds, so this is a registry that
        // changed under a running worker; fail the attempt like any other.
        return Err(format!("no handler for job kind {:?} in this worker", job.kind).into());
    };
    let run = AssertUnwindSafe(handler(job.payload.clone(), shared.ctx.clone())).catch_unwind();
    match tokio::time::timeout(shared.timeout, run).await {
        Err(_) => Err(format!("timed out after {}s", shared.timeout.as_secs_f64()).into()),
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(format!("handler panicked: {message}").into())
        }
        Ok(Ok(result)) => result,
    }
}

/// The error and its causes on one line, cut to [`MAX_ERROR_LEN`].
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    if out.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}
