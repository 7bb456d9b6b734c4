//! The background worker. It loads the same settings as the API, checks the
//! database, and waits for jobs; job handlers arrive with the job queue.
//! SIGTERM or SIGINT stops it cleanly with exit code 0.

use std::process::ExitCode;

use anyhow::Context as _;
use infra::{Settings, telemetry};
use persistence::{Db, DbOptions};

fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = telemetry::init(settings.log_format, &settings.log_level) {
        eprintln!("error: invalid configuration: {err}");
        return ExitCode::from(2);
    }
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
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = Db::connect(&DbOptions {
        url: settings.database_url.clone(),
        read_url: settings.database_read_url.clone(),
        max_connections: settings.database_max_connections,
        acquire_timeout: settings.database_acquire_timeout,
        statement_timeout: Some(settings.database_statement_timeout)
            .filter(|timeout| !timeout.is_zero()),
        // Without start-up migrations nothing needs the database before the
        // first request: start anyway and let readiness report it.
        connect_lazy: !settings.database_auto_migrate,
    })
    .await
    .context("cannot connect to the database")?;
    db.ping().await.context("the database does not answer")?;
    tracing::info!("worker started; waiting for jobs (none are registered yet)");
    shutdown_signal().await?;
    tracing::info!("shutdown signal received; stopping");
    db.close().await.context("cannot close the database pool")?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
