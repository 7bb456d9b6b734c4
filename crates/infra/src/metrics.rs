//! Prometheus metrics: one recorder per process, rendered on demand.
//!
//! Code anywhere records with the `metrics` macros (`counter!`,
//! `histogram!`, `gauge!`); the HTTP layer serves [`Metrics::render`] at
//! `/metrics`. Names follow Prometheus conventions (`_total`, `_seconds`).

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds) for request durations: fine below 100 ms,
/// where a healthy API lives, coarse above.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Renders the process's metrics in the Prometheus text format.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

impl Metrics {
    /// Installs the global recorder the first time; later calls (a second
    /// app in the same test process) share it.
    ///
    /// Histograms keep every sample until the next upkeep folds them into
    /// their buckets. The exporter runs upkeep only when it serves, so a
    /// thread does it here every [`UPKEEP_INTERVAL`]: without it, memory grew
    /// by eight bytes per request until `/metrics` was next scraped (for ever,
    /// if nothing scrapes it).
    pub fn install() -> Result<Self, String> {
        HANDLE
            .get_or_init(|| {
                let handle = Self::builder()?
                    .install_recorder()
                    .map_err(|err| err.to_string())?;
                let upkeep = handle.clone();
                std::thread::Builder::new()
                    .name("metrics-upkeep".to_owned())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(UPKEEP_INTERVAL);
                            upkeep.run_upkeep();
                        }
                    })
                    .map_err(|err| format!("cannot start the metrics upkeep thread: {err}"))?;
                Ok(handle)
            })
            .clone()
            .map(|handle| Self { handle })
    }

    /// Installs the global recorder and serves it at `address` with the
    /// exporter's own small HTTP listener (any path answers), for processes
    /// that have no HTTP server of their own: the worker. Binds at once, so
    /// a port in use is an error here. Needs a Tokio runtime.
    pub fn serve(address: SocketAddr) -> Result<Self, String> {
        let mut served = Err("the metrics recorder was already installed".to_owned());
        let handle = HANDLE.get_or_init(|| {
            let (recorder, exporter) = Self::builder()?
                .with_http_listener(address)
                .build()
                .map_err(|err| format!("cannot serve metrics on {address}: {err}"))?;
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|err| err.to_string())?;
            served = Ok(());
            tokio::spawn(async move {
                if let Err(err) = exporter.await {
                    tracing::error!(error = ?err, "the metrics listener stopped");
                }
            });
            Ok(handle)
        });
        let handle = handle.clone()?;
        served.map(|()| Self { handle })
    }

    fn builder() -> Result<PrometheusBuilder, String> {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .map_err(|err| err.to_string())
    }

    /// The current values, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}
