//! The background worker: runs queued jobs and cron schedules until SIGTERM
//! or SIGINT, then drains (running jobs get `SHUTDOWN_GRACE_SECONDS`) and
//! exits 0. It also carries the operator commands for the queue (`worker
//! jobs ...`). Settings are the API's: the same environment and `.env`.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use application::jobs::{JobQueue, JobStatus, Ping};
use infra::{Settings, telemetry};
use persistence::Db;
use uuid::Uuid;

const USAGE: &str = "\
Usage:
  worker                      run jobs until SIGTERM/SIGINT (settings from the environment and .env)
  worker jobs failed [LIMIT]  list dead jobs (attempts used up) with their last error
  worker jobs retry ID        put a dead job back in the queue with a fresh attempt budget
  worker jobs stats           count jobs by state
  worker jobs ping [COUNT]    enqueue COUNT (default 1) no-op jobs and wait until workers ran them;
                              prints the throughput (fails after 60 s if no worker runs them)";

fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of main: dropping it flushes the log.
    let _log_guard = match telemetry::init(settings.log_format, &settings.log_level) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => runtime.block_on(run(settings)),
        ["jobs", command @ ..] => runtime.block_on(jobs(settings, command)),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("error: unknown command {:?}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let signal = api::shutdown_signal().context("cannot handle SIGTERM/SIGINT")?;
    let services = api::services(&settings).await?;
    let worker = api::worker(&settings, &services)?;
    // With METRICS_PORT the worker serves its job counters like the API.
    let metrics = match settings.metrics_port.filter(|_| settings.metrics_enabled) {
        Some(port) => {
            let bind = format!("{}:{port}", settings.host);
            let listener = std::net::TcpListener::bind(&bind)
                .with_context(|| format!("cannot listen on {bind} (METRICS_PORT)"))?;
            tracing::info!(address = %listener.local_addr()?, "serving /metrics");
            let deps = api::web_deps(&settings)?;
            Some(tokio::spawn(web::run_metrics(
                listener,
                services.clone(),
                deps,
            )?))
        }
        None => None,
    };
    worker
        .run(async {
            signal.await;
            tracing::info!("shutdown signal received; draining");
        })
        .await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    services
        .close()
        .await
        .context("cannot close the database pool")?;
    Ok(())
}

async fn jobs(settings: Settings, command: &[&str]) -> anyhow::Result<()> {
    // The queue alone: no password hasher, cache or other services.
    let db = api::database(&settings).await?;
    let queue = JobQueue::from_settings(db.clone(), &settings)?;
    let result = match command {
        ["failed"] => failed(&queue, 100).await,
        ["failed", limit] => failed(&queue, limit.parse().context("LIMIT must be a number")?).await,
        ["retry", id] => {
            let id: Uuid = id.parse().context("ID must be a job id (a UUID)")?;
            queue
                .retry(id)
                .await
                .with_context(|| format!("cannot retry job {id}"))?;
            println!("job {id} is queued again");
            Ok(())
        }
        ["stats"] => {
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
        ["ping"] => ping(&queue, &db, 1).await,
        ["ping", count] => {
            ping(
                &queue,
                &db,
                count.parse().context("COUNT must be a number")?,
            )
            .await
        }
        _ => Err(anyhow::anyhow!(
            "unknown jobs command {:?}\n\n{USAGE}",
            command.join(" ")
        )),
    };
    db.close().await?;
    result
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
async fn ping(queue: &JobQueue, db: &Db, count: usize) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(queue.enqueue(db.writer(), &Ping::default()).await?);
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
