//! Composition of the API process: settings → database → migrations →
//! services → HTTP server.
//!
//! `main.rs` and the end-to-end tests both start the app through
//! [`Application::build`], so the tests exercise exactly what ships. This
//! crate holds wiring only, no behaviour of its own.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use application::Services;
use infra::Settings;
use migration::{Migrator, MigratorTrait as _};
use persistence::{Db, DbOptions};

/// A built, not yet running, API server.
pub struct Application {
    address: SocketAddr,
    server: web::Server,
    services: Services,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `HOST:PORT` and builds the app.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let address = settings.bind_address();
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        Self::build_on(settings, listener).await
    }

    /// Builds the app on an already bound listener (tests bind port 0).
    pub async fn build_on(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let services = services(settings).await?;
        let address = listener.local_addr()?;
        let server = web::run(
            listener,
            services.clone(),
            web::WebConfig::from_settings(settings),
        )?;
        Ok(Self {
            address,
            server,
            services,
        })
    }

    /// The services the server runs (tests use them to set up state, such
    /// as an admin, that the API deliberately cannot create).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Connects, applies migrations when `DATABASE_AUTO_MIGRATE` is on, and
/// builds the services.
pub async fn services(settings: &Settings) -> anyhow::Result<Services> {
    let db = connect(settings).await?;
    if settings.database_auto_migrate {
        Migrator::up(db.writer(), None)
            .await
            .context("cannot apply database migrations")?;
    }
    Services::new(db, settings).context("cannot build services")
}

/// Grants the admin role to the account with `email`. If there is none, it
/// is created with `username` and `password`, which are then required. The
/// command-line way to bootstrap the first admin; the API cannot make admins.
pub async fn create_admin(
    settings: &Settings,
    email: &str,
    username: &str,
    password: Option<&str>,
) -> anyhow::Result<(domain::User, bool)> {
    let email = domain::Email::parse(email).map_err(|err| anyhow::anyhow!("EMAIL: {err}"))?;
    let new_account = match password {
        Some(password) => Some((
            domain::Username::parse(username).map_err(|err| anyhow::anyhow!("USERNAME: {err}"))?,
            domain::Password::parse(password)
                .map_err(|err| anyhow::anyhow!("ADMIN_PASSWORD: {err}"))?,
        )),
        None => None,
    };
    let services = services(settings).await?;
    match services.users.create_admin(email, new_account).await {
        Err(application::Error::NotFound { .. }) => anyhow::bail!(
            "no account has this email; set ADMIN_PASSWORD to create one with USERNAME"
        ),
        other => Ok(other?),
    }
}

/// Opens the database pool described by the settings.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&DbOptions {
        url: settings.database_url.clone(),
        read_url: settings.database_read_url.clone(),
        max_connections: settings.database_max_connections,
        acquire_timeout: settings.database_acquire_timeout,
    })
    .await
    .with_context(|| {
        format!(
            "cannot connect to the database at {}",
            redact_url(&settings.database_url)
        )
    })
}

/// A database URL with any password masked, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
        assert_eq!(redact_url("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact_url("sqlite://data/app.db"), "sqlite://data/app.db");
    }
}
