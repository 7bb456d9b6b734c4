//! The API server. Configuration comes from the environment and `.env`
//! (see `.env.example`); with none, it serves on 127.0.0.1:8000 from a
//! SQLite file under `data/`.

mod admin;
mod healthcheck;

use std::process::ExitCode;

use infra::{Environment, Settings};
use web::Application;

const USAGE: &str = "\
Usage:
  api                                      serve the API (settings from the environment and .env)
  api create-admin EMAIL USERNAME          create a new admin account, its password read from
                                           ADMIN_PASSWORD; refuses an email that has an account
  api create-admin --promote-existing EMAIL
                                           make EMAIL's existing account an admin: its logins end,
                                           its password stops working, and a reset link is mailed
                                           to EMAIL, so only that mailbox's owner gets in
  api revoke-admin EMAIL                   take the admin role from EMAIL (every instance stops
                                           honouring it within SESSION_RECHECK_SECONDS)
  api delete-user EMAIL                    delete EMAIL's account and everything it owns
  api migrate                              apply pending database migrations, then exit
  api healthcheck                          exit 0 if this instance's readiness answers 200
                                           within 3 s (the container's health check)
  api print-config                         show the effective settings, secrets masked
  api openapi                              print the OpenAPI document (what /openapi.json serves)";

fn main() -> ExitCode {
    let process = match infra::process::start("api") {
        Ok(process) => process,
        Err(code) => return code,
    };
    let (settings, runtime) = (&process.settings, &process.runtime);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => runtime.block_on(serve(settings)),
        ["create-admin", "--promote-existing", email] => {
            runtime.block_on(admin::promote_existing(settings, email))
        }
        ["create-admin", email, username] => {
            runtime.block_on(admin::create(settings, email, username))
        }
        ["revoke-admin", email] => runtime.block_on(admin::revoke(settings, email)),
        ["delete-user", email] => runtime.block_on(admin::delete_user(settings, email)),
        ["create-admin", ..] => Err(anyhow::anyhow!(
            "create-admin takes EMAIL and USERNAME, or --promote-existing EMAIL\n\n{USAGE}"
        )),
        ["migrate"] => runtime.block_on(migrate(settings)),
        ["healthcheck"] => healthcheck::check(settings),
        ["print-config" | "--print-config"] => {
            print!("{}", settings.describe());
            Ok(())
        }
        ["openapi"] => web::openapi::document()
            .to_pretty_json()
            .map(|json| println!("{json}"))
            .map_err(Into::into),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("error: unknown command {:?}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    infra::process::exit_code(result)
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    application::migrate(settings).await?;
    tracing::info!(database = %settings.database.url, "the database schema is current");
    Ok(())
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    if settings.auth.uses_development_secret() && settings.environment != Environment::Test {
        tracing::warn!("SECRET_KEY is the development secret; set your own before deploying");
    }
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.address());
    tracing::info!(database = %settings.database.url, environment = ?settings.environment, "listening on {base}");
    if settings.http.docs_enabled {
        tracing::info!("API docs at {base}/docs (OpenAPI at {base}/openapi.json)");
    }
    // Boxed: the server's future holds every resource's services, and
    // grows with each a fork adds (clippy's large_futures).
    Box::pin(app.run_until_stopped()).await?;
    tracing::info!("server stopped");
    Ok(())
}
