//! The background worker: runs River's jobs and schedules until SIGTERM
//! or SIGINT, then drains (running jobs get `SHUTDOWN_GRACE_SECONDS`) and
//! exits 0. It also carries the operator commands for the queue (`worker
//! jobs ...`). Settings are the API's: the same environment and `.env`.

mod jobs;

use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context as _;
use application::Services;
use infra::{Settings, metrics::Metrics, signal::shutdown_signal};

fn main() -> ExitCode {
    let process = match infra::process::start("worker") {
        Ok(process) => process,
        Err(code) => return code,
    };
    let (settings, runtime) = (&process.settings, &process.runtime);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => runtime.block_on(run(settings)),
        ["jobs", command @ ..] => runtime.block_on(jobs::run(settings, command)),
        ["healthcheck"] => healthcheck(settings),
        ["-h" | "--help" | "help"] => {
            println!("{}", jobs::USAGE);
            Ok(())
        }
        _ => {
            eprintln!(
                "error: unknown command {:?}\n\n{}",
                args.join(" "),
                jobs::USAGE
            );
            return ExitCode::from(2);
        }
    };
    infra::process::exit_code(result)
}

/// `worker healthcheck`, the liveness probe: `Ok` if the running worker's
/// `/metrics` (on `METRICS_PORT`) says it read its queue within
/// `application::jobs::progress_deadline`; a worker whose loop stalled, or
/// a process that no longer answers, fails it.
fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let port = settings.metrics.own_port().context(
        "worker healthcheck reads the worker's /metrics: set METRICS_PORT (and METRICS_ENABLED)",
    )?;
    let address = infra::probe::own_address(settings.http.ip(), port);
    let (status, body) = infra::probe::get(address, "/metrics", std::time::Duration::from_secs(3))
        .with_context(|| format!("no answer from http://{address}/metrics"))?;
    if status.split(' ').nth(1) != Some("200") {
        anyhow::bail!("http://{address}/metrics answered {:?}", status.trim());
    }
    let gauge = application::jobs::PROGRESS_GAUGE;
    let last: f64 = body
        .lines()
        .find_map(|line| {
            line.strip_prefix(gauge)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("the worker has not read its queue yet ({gauge} is missing)"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs_f64();
    let deadline = application::jobs::progress_deadline(&settings.jobs);
    let stale = now - last;
    if stale > deadline.as_secs_f64() {
        anyhow::bail!(
            "the worker last read its queue {stale:.0} s ago (more than {} s): stuck",
            deadline.as_secs()
        );
    }
    Ok(())
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    let signal = shutdown_signal().context("cannot handle SIGTERM/SIGINT")?;
    // Before anything connects or migrates: a typo stops start-up with
    // nothing done.
    application::jobs::cleanup_schedule(&settings.jobs.cleanup_schedule)
        .map_err(application::StartError::Config)?;
    let services = Services::from_settings(settings).await?;
    let worker = services.worker(settings)?;
    if let Some(port) = settings.metrics.own_port() {
        let address: SocketAddr = format!("{}:{port}", settings.http.host)
            .parse()
            .context("HOST must be an IP address to serve METRICS_PORT")?;
        Metrics::serve(address).map_err(|err| anyhow::anyhow!("METRICS_PORT: {err}"))?;
        tracing::info!(%address, "serving /metrics");
    }
    worker
        .run(async {
            signal.await;
            tracing::info!("shutdown signal received; draining");
        })
        .await
        .context("the job worker failed")?;
    services
        .close()
        .await
        .context("cannot close the database pool")?;
    Ok(())
}
