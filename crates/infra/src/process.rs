//! What every binary does before its own work: load the settings, start
//! the logs, build the async runtime. A failure is printed to stderr and
//! becomes the exit code (2 for bad configuration), so `main` stays a
//! list of commands.

use std::process::ExitCode;

use crate::{Settings, telemetry};

/// A started process: its settings and runtime, with the log writer kept
/// alive until this is dropped (dropping it flushes the log).
#[derive(Debug)]
pub struct Process {
    pub settings: Settings,
    pub runtime: tokio::runtime::Runtime,
    _log: telemetry::LogGuard,
}

/// Loads the settings, starts logging and builds the multi-threaded runtime.
pub fn start() -> Result<Process, ExitCode> {
    let settings = Settings::load().map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })?;
    let log = telemetry::init(&settings.telemetry).map_err(|err| {
        eprintln!("error: cannot install the logger: {err}");
        ExitCode::FAILURE
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })?;
    Ok(Process {
        settings,
        runtime,
        _log: log,
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
