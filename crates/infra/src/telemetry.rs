//! Logging set-up: one subscriber per process, text or JSON.
//!
//! Lines are written to stdout by a background thread through a buffer
//! (`tracing-appender`), not by the thread that logs: the request log's
//! one line per request cost a `write` system call on the request path,
//! measured at about a quarter of a health check's time. The buffer blocks
//! rather than drops when full, so no line is lost; [`LogGuard`] flushes it
//! when the process ends.

use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    EnvFilter, fmt,
    fmt::{FmtContext, FormatEvent, FormatFields, format},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::{SubscriberInitExt, TryInitError},
};

use crate::config::{LogFormat, TelemetrySettings};

mod json;

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

/// Keeps the log writer running; dropping it flushes every pending line.
/// Hold it until the end of `main`.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber. Fails if a subscriber is already
/// installed (tests ignore that).
pub fn init(settings: &TelemetrySettings) -> Result<LogGuard, TryInitError> {
    // `LOG_LEVEL` was checked when the settings were loaded.
    let filter = EnvFilter::new(&settings.level);
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
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .event_format(WithRequestId(format().with_target(true)))
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .event_format(json::JsonLine)
                    .with_writer(writer),
            )
            .try_init(),
    };
    result?;
    Ok(LogGuard(guard))
}
