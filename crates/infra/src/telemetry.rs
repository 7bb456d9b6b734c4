//! Logging set-up: one subscriber per process, text or JSON, and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, trace export ([`trace`]).
//!
//! Lines are written to stdout by a background thread through a buffer
//! (`tracing-appender`), not by the thread that logs: the request log's
//! one line per request cost a `write` system call on the request path,
//! measured at about a quarter of a health check's time. The buffer blocks
//! rather than drops when full, so no line is lost; [`LogGuard`] flushes it
//! when the process ends.

use tracing::{Event, Subscriber, level_filters::LevelFilter};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    EnvFilter, Layer as _, fmt,
    fmt::{FmtContext, FormatEvent, FormatFields, format},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::{SubscriberInitExt, TryInitError},
};

use crate::config::{LogFormat, OtelSettings, TelemetrySettings};

mod json;
pub mod trace;

tokio::task_local! {
    /// The id of the request being served, set by the web layer around each
    /// request (actix runs a request's middleware, extractors and handler in
    /// one task). Every line logged while serving it carries it, and error
    /// bodies quote it.
    pub static REQUEST_ID: String;
}

/// Puts the current request's id in brackets before a text line. (The JSON
/// line, [`json::JsonLine`], writes it as a field.) A task-local read, where
/// a tracing span per request (the obvious way) cost about a fifth of a
/// health check's throughput: the span's fields were formatted at its
/// creation and parsed back into every event.
struct WithRequestId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if let Ok(written) = REQUEST_ID.try_with(|id| write!(writer, "[{id}] ")) {
            written?;
        }
        self.0.format_event(ctx, writer, event)
    }
}

/// Keeps the log writer and the trace exporter running; dropping it exports
/// the spans still buffered (for at most 5 s) and flushes every pending
/// line. Hold it until the end of `main`, while the runtime still runs.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    _log: WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(err) = provider.shutdown_with_timeout(std::time::Duration::from_secs(5))
        {
            tracing::warn!(error = %err, "buffered spans were not all exported");
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot install the logger: {0}")]
    Install(#[from] TryInitError),
    #[error(transparent)]
    Traces(#[from] trace::TraceError),
}

/// Installs the global subscriber: the log, and the span exporter when
/// `otel` has an endpoint (spans are exported through `runtime`; `service`
/// names them unless `OTEL_SERVICE_NAME` does). Fails if a subscriber is
/// already installed (tests ignore that).
pub fn init(
    settings: &TelemetrySettings,
    otel: &OtelSettings,
    service: &str,
    runtime: tokio::runtime::Handle,
) -> Result<LogGuard, TelemetryError> {
    // `LOG_LEVEL` was checked when the settings were loaded. The spans that
    // only a trace holds (targets `otel`, `otel_root`) are never formatted
    // into the log.
    let filter = EnvFilter::new(&settings.level).add_directive(
        format!("{}=off", trace::CHILD)
            .parse()
            .expect("a valid directive"),
    );
    // Without a hint (never for a parsed filter), assume it logs everything.
    let log_max = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // 16k lines (about 160 ms at 100k requests a second) rather than
        // the default 128k: the queue is allocated and touched whole, and
        // 128k slots kept 4 MB resident for nothing. Full, it blocks.
        .buffered_lines_limit(16 * 1024)
        .thread_name("log-writer")
        // The writer thread drains every queued line, then flushes: with a
        // buffer in between, a burst of lines is one `write` call rather
        // than one per line (stdout alone is line-buffered).
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    // Each layer has its own filter: the log's level does not decide which
    // spans a trace holds.
    let log = match settings.format {
        LogFormat::Pretty => fmt::layer()
            .event_format(WithRequestId(format().with_target(true)))
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .event_format(json::JsonLine)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(log);
    let traces = if let Some((provider, layer)) = trace::start(otel, service, runtime, log_max)? {
        registry.with(layer).try_init()?;
        Some(provider)
    } else {
        registry.try_init()?;
        None
    };
    Ok(LogGuard {
        traces,
        _log: guard,
    })
}
