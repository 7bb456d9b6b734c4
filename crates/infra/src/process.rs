//! What every binary does before its own work: load the settings, start
//! the logs, build the async runtime. A failure is printed to stderr and
//! becomes the exit code (2 for bad configuration), so `main` stays a
//! list of commands.

use std::process::ExitCode;

use crate::{Settings, telemetry};

/// A started process: its settings and runtime, with the log writer (and
/// span exporter) kept alive until this is dropped. The guard is dropped
/// first, so buffered spans are exported while the runtime still runs.
#[derive(Debug)]
pub struct Process {
    _log: telemetry::LogGuard,
    pub settings: Settings,
    pub runtime: tokio::runtime::Runtime,
}

/// Loads the settings, builds the multi-threaded runtime and starts
/// logging (and trace export, with `service` as the service's name unless
/// `OTEL_SERVICE_NAME` says otherwise).
pub fn start(service: &str) -> Result<Process, ExitCode> {
    let settings = Settings::load().map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })?;
    // Every TLS client of the process (Redis, SMTP, the span exporter)
    // uses ring; one installed default keeps any that asks for "the"
    // provider from failing or picking another.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })?;
    let log = telemetry::init(
        &settings.telemetry,
        &settings.otel,
        service,
        runtime.handle().clone(),
    )
    .map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::FAILURE
    })?;
    Ok(Process {
        _log: log,
        settings,
        runtime,
    })
}

/// The exit code of a command's result: success, or the error (with its
/// causes, as `{:#}` shows them) logged and 1.
pub fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
