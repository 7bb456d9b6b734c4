//! `worker jobs ...`: the operator commands for the queue, over River's API.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use application::{
    Services,
    jobs::{InsertOpts, JobQueue, JobState, Ping},
};
use infra::Settings;
use riverqueue::{JobListOrderBy, JobListParams, SortDirection};

pub const USAGE: &str = "\
Usage:
  worker                      run jobs until SIGTERM/SIGINT (settings from the environment and .env)
  worker healthcheck          exit 0 if this worker read its queue lately (its /metrics on METRICS_PORT)
  worker jobs failed [LIMIT]  list discarded jobs (attempts used up), newest first, with their last error
  worker jobs retry ID        run a discarded, cancelled or retryable job again, now, with one more attempt
  worker jobs cancel ID       cancel a job that has not finished (a running one is told to stop)
  worker jobs stats           count jobs by state
  worker jobs ping [COUNT]    enqueue COUNT (default 1) no-op jobs and wait until workers ran them;
                              prints the throughput and the wait from enqueue to start
                              (fails after 60 s if no worker runs them)
River UI (see the README) shows the same jobs in a browser.";

pub async fn run(settings: &Settings, command: &[&str]) -> anyhow::Result<()> {
    let services = Services::from_settings(settings).await?;
    let queue = &services.jobs;
    let result = match command {
        ["failed"] => failed(queue, 100).await,
        ["failed", limit] => failed(queue, limit.parse().context("LIMIT must be a number")?).await,
        ["retry", id] => retry(queue, parse_id(id)?).await,
        ["cancel", id] => cancel(queue, parse_id(id)?).await,
        ["stats"] => stats(queue).await,
        ["ping"] => ping(queue, 1).await,
        ["ping", count] => ping(queue, count.parse().context("COUNT must be a number")?).await,
        _ => Err(anyhow::anyhow!(
            "unknown jobs command {:?}\n\n{USAGE}",
            command.join(" ")
        )),
    };
    services.close().await?;
    result
}

fn parse_id(id: &str) -> anyhow::Result<i64> {
    id.parse()
        .with_context(|| format!("ID must be a job id (a number), got {id:?}"))
}

async fn stats(queue: &JobQueue) -> anyhow::Result<()> {
    let counts = queue.counts_by_state().await?;
    for state in [
        JobState::Available,
        JobState::Scheduled,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ] {
        let count = counts
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n);
        println!("{:<10} {count}", state.as_str());
    }
    Ok(())
}

async fn failed(queue: &JobQueue, limit: u32) -> anyhow::Result<()> {
    let page = queue
        .client()
        .jobs()
        .list(
            JobListParams::default()
                .states([JobState::Discarded])
                .order_by(JobListOrderBy::FinalizedAt)
                .direction(SortDirection::Descending)
                .limit(limit.clamp(1, 10_000)),
        )
        .await?;
    if page.jobs.is_empty() {
        println!("no discarded jobs");
    }
    for job in page.jobs {
        println!(
            "{}  {}  attempts {}/{}  finalized {}\n    {}",
            job.id,
            job.kind,
            job.attempt,
            job.max_attempts,
            job.finalized_at
                .map_or_else(|| "-".to_owned(), |at| at.to_string()),
            job.errors
                .last()
                .map_or("(no error recorded)", |error| error.error.as_str())
        );
    }
    Ok(())
}

async fn retry(queue: &JobQueue, id: i64) -> anyhow::Result<()> {
    let jobs = queue.client().jobs();
    let job = jobs
        .get(id)
        .await
        .with_context(|| format!("cannot find job {id}"))?;
    anyhow::ensure!(
        matches!(
            job.state,
            JobState::Discarded | JobState::Cancelled | JobState::Retryable
        ),
        "job {id} is {}; only discarded, cancelled or retryable jobs are retried",
        job.state.as_str()
    );
    jobs.retry(id)
        .await
        .with_context(|| format!("cannot retry job {id}"))?;
    println!("job {id} ({}) is queued again", job.kind);
    Ok(())
}

async fn cancel(queue: &JobQueue, id: i64) -> anyhow::Result<()> {
    let jobs = queue.client().jobs();
    let job = jobs
        .get(id)
        .await
        .with_context(|| format!("cannot find job {id}"))?;
    anyhow::ensure!(
        !matches!(
            job.state,
            JobState::Completed | JobState::Cancelled | JobState::Discarded
        ),
        "job {id} is already {}; nothing to cancel",
        job.state.as_str()
    );
    let job = jobs
        .cancel(id)
        .await
        .with_context(|| format!("cannot cancel job {id}"))?;
    if job.state == JobState::Running {
        println!(
            "job {id} ({}) is running; it was told to stop and is cancelled when it does",
            job.kind
        );
    } else {
        println!("job {id} ({}) is {}", job.kind, job.state.as_str());
    }
    Ok(())
}

/// Enqueues `count` no-op jobs and waits until they ran: proof that some
/// worker is processing the queue, and a throughput and latency measurement.
async fn ping(queue: &JobQueue, count: usize) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(60);
    anyhow::ensure!(count > 0, "COUNT must be at least 1");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    // In batches, each one insert statement and one notification.
    for batch in (0..count).collect::<Vec<_>>().chunks(1000) {
        let inserted = queue
            .client()
            .insert_many(
                batch
                    .iter()
                    .map(|_| (Ping::default(), InsertOpts::default())),
            )
            .await?;
        ids.extend(inserted.iter().map(riverqueue::InsertResult::id));
    }
    let enqueued = started.elapsed();
    loop {
        let unfinished = queue.unfinished_among(&ids).await?;
        if unfinished == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "{unfinished} of {count} ping jobs were not run within {}s; is a worker running?",
            WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = started.elapsed();
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000) {
        let page = queue
            .client()
            .jobs()
            .list(
                JobListParams::default()
                    .ids(chunk.iter().copied())
                    .limit(u32::try_from(chunk.len()).unwrap_or(10_000)),
            )
            .await?;
        rows.extend(page.jobs);
    }
    let failed = rows
        .iter()
        .filter(|job| job.state != JobState::Completed)
        .count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {count} ping jobs did not complete"
    );
    let mut waits: Vec<f64> = rows
        .iter()
        .filter_map(|job| {
            let started = job.attempted_at?;
            Some(started.duration_since(job.created_at).as_secs_f64() * 1000.0)
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((waits.len() as f64 - 1.0) * p).round() as usize;
        waits.get(index).copied().unwrap_or(0.0)
    };
    // The workers' own rate: from the first start to the last finish.
    let first = rows.iter().filter_map(|job| job.attempted_at).min();
    let last = rows.iter().filter_map(|job| job.finalized_at).max();
    let worked = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let (rate, worked_rate) = (
        count as f64 / total.as_secs_f64(),
        count as f64 / worked.max(0.001),
    );
    println!(
        "{count} ping job(s) enqueued in {:.0} ms and run in {:.0} ms in total: {rate:.0} jobs/s; \
         workers ran them at {worked_rate:.0} jobs/s; enqueue to start p50 {:.1} ms, p95 {:.1} ms",
        enqueued.as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0,
        percentile(0.5),
        percentile(0.95),
    );
    Ok(())
}
