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
