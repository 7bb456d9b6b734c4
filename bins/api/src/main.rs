//! The API server. Configuration comes from the environment and `.env`
//! (see `.env.example`); with none, it serves on 127.0.0.1:8000 from a
//! SQLite file under `data/`.

use std::process::ExitCode;

use api::{Application, redact_url};
use infra::{Environment, Settings, telemetry};

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
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.uses_development_secret() && settings.environment != Environment::Test {
        tracing::warn!("SECRET_KEY is the development secret; set your own before deploying");
    }
    let app = Application::build(&settings).await?;
    let base = format!("http://{}", app.address());
    tracing::info!(
        database = %redact_url(&settings.database_url),
        environment = ?settings.environment,
        "listening on {base}"
    );
    if settings.docs_enabled {
        tracing::info!("API docs at {base}/docs (OpenAPI at {base}/openapi.json)");
    }
    app.run_until_stopped().await?;
    tracing::info!("server stopped");
    Ok(())
}
