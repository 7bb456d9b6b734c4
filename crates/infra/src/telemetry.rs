//! Logging set-up: one subscriber per process, text or JSON.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{ConfigError, LogFormat};

/// Installs the global subscriber. Fails if the filter does not parse, or if
/// a subscriber is already installed (tests ignore that).
pub fn init(format: LogFormat, level: &str) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(level).map_err(|err| ConfigError {
        variable: "LOG_LEVEL",
        problem: format!("not a valid filter ({err}), got {level:?}"),
    })?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
    result.map_err(|err| ConfigError {
        variable: "LOG_FORMAT",
        problem: format!("cannot install the logger: {err}"),
    })
}
