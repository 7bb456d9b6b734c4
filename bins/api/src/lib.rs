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

/// A built, not yet running, API server (and, with `METRICS_PORT`, its
/// metrics server).
pub struct Application {
    address: SocketAddr,
    server: web::Server,
    metrics: Option<(SocketAddr, web::Server)>,
    services: Services,
    /// The in-process job worker (`JOB_WORKER_IN_API`).
    worker: Option<application::jobs::WorkerHandle>,
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
        let deps = web_deps(settings)?;
        let address = listener.local_addr()?;
        let metrics = match settings.metrics_port.filter(|_| settings.metrics_enabled) {
            Some(port) => {
                let bind = format!("{}:{port}", settings.host);
                let listener = TcpListener::bind(&bind)
                    .with_context(|| format!("cannot listen on {bind} (METRICS_PORT)"))?;
                let address = listener.local_addr()?;
                Some((
                    address,
                    web::run_metrics(listener, services.clone(), deps.clone())?,
                ))
            }
            None => None,
        };
        let server = web::run(
            listener,
            services.clone(),
            web::WebConfig::from_settings(settings),
            deps,
        )?;
        let worker = if settings.job_worker_in_api {
            Some(worker(settings, &services)?.spawn())
        } else {
            None
        };
        Ok(Self {
            address,
            server,
            metrics,
            services,
            worker,
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

    /// Where `/metrics` is served when `METRICS_PORT` is set.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(address, _)| *address)
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting, lets in-flight
    /// requests finish within `SHUTDOWN_GRACE_SECONDS`, drains the
    /// in-process job worker (same grace), and closes the database pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The worker starts draining on the same signal as the server, so
        // both finish within one grace period rather than one after the
        // other.
        let signal_watch = match &self.worker {
            Some(worker) => {
                let (signal, stop) = (shutdown_signal()?, worker.stopper());
                Some(tokio::spawn(async move {
                    signal.await;
                    stop();
                }))
            }
            None => None,
        };
        let served = match self.metrics {
            // Both stop on the same SIGINT/SIGTERM; polled together so both serve.
            Some((_, metrics)) => tokio::try_join!(self.server, metrics).map(|_| ()),
            None => self.server.await,
        };
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        if let Some(watch) = signal_watch {
            watch.abort();
        }
        if let Err(err) = self.services.close().await {
            tracing::warn!(error = %err, "closing the database pools failed");
        }
        served
    }
}

/// A future that resolves on the first SIGINT or SIGTERM. The handlers are
/// installed before this returns, not when the future is first polled: a
/// signal that arrives while the process is still starting must not kill
/// it with the default action.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// A job worker over the services' database, running every job the
/// product ships, configured by the `JOB_*` settings.
pub fn worker(
    settings: &Settings,
    services: &Services,
) -> anyhow::Result<application::jobs::Worker> {
    use application::jobs;
    let config = jobs::WorkerConfig::from_settings(settings).context("JOB_CLEANUP_SCHEDULE")?;
    let ctx = jobs::JobContext {
        db: services.db().clone(),
        queue: services.jobs.clone(),
        mailer: infra::mail::from_settings(settings)
            .context("cannot set up mail (SMTP_URL, MAIL_FROM)")?,
        job_retention: chrono::Duration::days(i64::from(settings.job_retention_days)),
    };
    Ok(jobs::Worker::new(
        services.jobs.clone(),
        ctx,
        jobs::registry(),
        config,
    ))
}

/// The HTTP layer's shared clients: Redis (when configured) for readiness
/// and shared rate-limit counters, the metrics recorder (when enabled).
pub fn web_deps(settings: &Settings) -> anyhow::Result<web::WebDeps> {
    let redis = settings
        .redis_url
        .as_deref()
        .map(|url| {
            infra::redis::RedisPool::new(url, settings.redis_timeout, &settings.redis_key_prefix)
                .context("cannot set up the Redis pool (REDIS_URL)")
        })
        .transpose()?;
    let rate_limiter = match &redis {
        Some(pool) => infra::rate_limit::RateLimiter::redis(pool.clone()),
        None => infra::rate_limit::RateLimiter::in_memory(),
    };
    let metrics = if settings.metrics_enabled {
        Some(
            infra::metrics::Metrics::install()
                .map_err(|err| anyhow::anyhow!("cannot install the metrics recorder: {err}"))?,
        )
    } else {
        None
    };
    Ok(web::WebDeps {
        rate_limiter,
        redis,
        metrics,
    })
}

/// Connects, applies migrations when `DATABASE_AUTO_MIGRATE` is on, and
/// builds the services.
pub async fn services(settings: &Settings) -> anyhow::Result<Services> {
    Services::new(database(settings).await?, settings, cache(settings)?)
        .await
        .context("cannot build services")
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

/// The cache: off with `CACHE_ENABLED=false`; in Redis with `REDIS_URL`
/// (two-tier with `CACHE_L1_ENABLED`); in-process otherwise.
pub fn cache(settings: &Settings) -> anyhow::Result<infra::cache::Cache> {
    use infra::cache::Cache;
    if !settings.cache_enabled {
        return Ok(Cache::disabled());
    }
    let (prefix, timeout, ttl) = (
        settings.redis_key_prefix.as_str(),
        settings.redis_timeout,
        settings.cache_ttl,
    );
    let cache = match &settings.redis_url {
        Some(url) if settings.cache_l1_enabled => {
            let l1 = infra::cache::L1Config {
                ttl: settings.cache_l1_ttl,
                capacity: settings.cache_capacity,
            };
            Cache::two_tier(url, prefix, timeout, ttl, l1)
        }
        Some(url) => Cache::redis(url, prefix, timeout, ttl),
        None => return Ok(Cache::in_memory(ttl, settings.cache_capacity)),
    };
    cache.context("cannot set up the cache (REDIS_URL)")
}

/// Opens the database pool and applies migrations when
/// `DATABASE_AUTO_MIGRATE` is on: what every command needs before it
/// touches a table.
pub async fn database(settings: &Settings) -> anyhow::Result<Db> {
    let db = connect(settings).await?;
    if settings.database_auto_migrate {
        Migrator::up(db.writer(), None)
            .await
            .context("cannot apply database migrations")?;
    }
    Ok(db)
}

/// Opens the database pool described by the settings.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&DbOptions {
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
    .with_context(|| {
        format!(
            "cannot connect to the database at {}",
            infra::config::mask_url(&settings.database_url)
        )
    })
}
