//! The API process: services, the HTTP server, `/metrics` on its own port
//! when asked, and the in-process job worker (`JOB_WORKER_IN_API`).
//!
//! `bins/api` and the end-to-end tests both start the app through
//! [`Application::build_on`], so the tests exercise exactly what ships.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use application::{Services, StartError, jobs::WorkerHandle};
use infra::{Settings, metrics::Metrics, signal::shutdown_signal};

use crate::{WebDeps, run, run_metrics};

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {address}{which}")]
    Listen {
        address: String,
        /// ` (METRICS_PORT)` for the metrics listener.
        which: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve on the bound listener")]
    Serve(#[source] std::io::Error),
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(String),
}

/// A built, not yet running, API server (and, with `METRICS_PORT`, its
/// metrics server).
pub struct Application {
    address: SocketAddr,
    server: Server,
    metrics: Option<(SocketAddr, Server)>,
    services: Services,
    /// The in-process job worker (`JOB_WORKER_IN_API`).
    worker: Option<WorkerHandle>,
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
    pub async fn build(settings: &Settings) -> Result<Self, AppError> {
        Self::build_on(settings, listen(&settings.http.bind_address(), "")?).await
    }

    /// Builds the app on an already bound listener (tests bind port 0).
    pub async fn build_on(settings: &Settings, listener: TcpListener) -> Result<Self, AppError> {
        if settings.jobs.worker_in_api {
            // Before anything connects or migrates: a typo stops start-up
            // with nothing done.
            application::jobs::cleanup_schedule(&settings.jobs.cleanup_schedule)
                .map_err(StartError::Config)?;
        }
        let services = Services::from_settings(settings).await?;
        let metrics = if settings.metrics.enabled {
            Some(Metrics::install().map_err(AppError::Metrics)?)
        } else {
            None
        };
        let deps = WebDeps::new(settings, &services, metrics);
        let address = listener.local_addr().map_err(AppError::Serve)?;
        let metrics = match settings.metrics.own_port() {
            Some(port) => {
                let listener =
                    listen(&format!("{}:{port}", settings.http.host), " (METRICS_PORT)")?;
                let metrics_address = listener.local_addr().map_err(AppError::Serve)?;
                let server = run_metrics(listener, services.clone(), deps.clone())
                    .map_err(AppError::Serve)?;
                Some((metrics_address, server))
            }
            None => None,
        };
        let server =
            run(listener, services.clone(), settings.clone(), deps).map_err(AppError::Serve)?;
        let worker = if settings.jobs.worker_in_api {
            Some(
                services
                    .worker(settings)?
                    .spawn()
                    .map_err(StartError::Worker)?,
            )
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

fn listen(address: &str, which: &'static str) -> Result<TcpListener, AppError> {
    TcpListener::bind(address).map_err(|source| AppError::Listen {
        address: address.to_owned(),
        which,
        source,
    })
}
