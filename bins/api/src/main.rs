//! The API server. Configuration comes from the environment and `.env`
//! (see `.env.example`); with none, it serves on 127.0.0.1:8000 from a
//! SQLite file under `data/`.

use std::process::ExitCode;

use api::Application;
use infra::{Environment, Settings, telemetry};

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
    let command = match args.first().map(String::as_str) {
        None => runtime.block_on(serve(settings)),
        Some("create-admin") => runtime.block_on(create_admin(&settings, &args[1..])),
        Some("print-config" | "--print-config") => {
            print!("{}", settings.describe());
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("error: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
Usage:
  api                                      serve the API (settings from the environment and .env)
  api create-admin EMAIL USERNAME          make EMAIL an admin, creating the account if needed;
                                           a new account's password is read from ADMIN_PASSWORD
  api print-config                         show the effective settings, secrets masked";

async fn create_admin(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    let [email, username] = args else {
        anyhow::bail!("create-admin takes EMAIL and USERNAME\n\n{USAGE}");
    };
    // ADMIN_PASSWORD comes from the environment, not the command line, so
    // it stays out of shell history and process listings.
    let password = settings.admin_password.as_ref().map(infra::Secret::expose);
    let (admin, created) = api::create_admin(settings, email, username, password).await?;
    tracing::info!(
        uuid = %admin.uuid,
        email = %admin.email,
        "{}",
        if created { "admin account created" } else { "existing account is now an admin" }
    );
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.uses_development_secret() && settings.environment != Environment::Test {
        tracing::warn!("SECRET_KEY is the development secret; set your own before deploying");
    }
    let app = Application::build(&settings).await?;
    let base = format!("http://{}", app.address());
    tracing::info!(
        database = %infra::config::mask_url(&settings.database_url),
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
