//! `worker jobs ...`: the operator commands for the queue.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use application::{
    Services,
    jobs::{JobQueue, JobStatus, Ping},
};
use infra::Settings;
use uuid::Uuid;

pub const USAGE: &str = "\
Usage:
  worker                      run jobs until SIGTERM/SIGINT (settings from the environment and .env)
  worker jobs failed [LIMIT]  list dead jobs (attempts used up) with their last error
  worker jobs retry ID        put a dead job back in the queue with a fresh attempt budget
  worker jobs stats           count jobs by state
  worker jobs ping [COUNT]    enqueue COUNT (default 1) no-op jobs and wait until workers ran them;
                              prints the throughput (fails after 60 s if no worker runs them)";

pub async fn run(settings: &Settings, command: &[&str]) -> anyhow::Result<()> {
    let services = Services::from_settings(settings).await?;
    let queue = &services.jobs;
    let result = match command {
        ["failed"] => failed(queue, 100).await,
        ["failed", limit] => failed(queue, limit.parse().context("LIMIT must be a number")?).await,
        ["retry", id] => {
            let id: Uuid = id.parse().context("ID must be a job id (a UUID)")?;
            queue
                .retry(id)
                .await
                .with_context(|| format!("cannot retry job {id}"))?;
            println!("job {id} is queued again");
            Ok(())
        }
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

async fn stats(queue: &JobQueue) -> anyhow::Result<()> {
    let counts = queue.counts().await?;
    println!("{:<8} {}", "backend", queue.backend());
    for status in [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Dead,
    ] {
        let count = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        println!("{:<8} {count}", status.as_str());
    }
    if let Some((_, relayed)) = counts.iter().find(|(s, _)| *s == JobStatus::Relayed) {
        // Rows Redis should hold (its pending, running, and finished
        // ones not yet recorded); more means it lost some.
        println!("{:<8} {relayed}", "relayed");
    }
    Ok(())
}

async fn failed(queue: &JobQueue, limit: u64) -> anyhow::Result<()> {
    let dead = queue.dead(limit).await?;
    if dead.is_empty() {
        println!("no dead jobs");
    }
    for job in dead {
        println!(
            "{}  {}  attempts {}/{}  finished {}\n    {}",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            job.finished_at
                .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339()),
            job.last_error.as_deref().unwrap_or("(no error recorded)")
        );
    }
    Ok(())
}

/// Enqueues `count` no-op jobs and waits until they ran: proof that some
/// worker is processing the queue, and a throughput measurement.
async fn ping(queue: &JobQueue, count: usize) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(queue.enqueue_alone(&Ping::default()).await?);
    }
    let enqueued = started.elapsed();
    loop {
        let unfinished = queue.count_unfinished(&ids).await?;
        if unfinished == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "{unfinished} of {count} ping jobs were not run within {}s; is a worker running?",
            WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let dead = queue.count_dead(&ids).await?;
    anyhow::ensure!(dead == 0, "{dead} of {count} ping jobs failed and are dead");
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let rate = count as f64 / total.as_secs_f64();
    println!(
        "{count} ping job(s) enqueued in {:.0} ms and run in {:.0} ms in total: {rate:.0} jobs/s",
        enqueued.as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0
    );
    Ok(())
}
