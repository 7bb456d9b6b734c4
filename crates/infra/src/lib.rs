//! Infrastructure the services stand on: the typed settings, process
//! start-up (logs, runtime, the stop signal), metrics, the cache, the
//! request-path Redis pool, rate limiting, and mail.
//!
//! Only [`config::Settings::load`] reads the process environment, and only
//! binaries call it, through [`process::start`]; everything else receives
//! settings as a value. It must not know about storage (persistence) or
//! HTTP (actix, web).

mod breaker;
pub mod cache;
pub mod config;
pub mod mail;
pub mod metrics;
pub mod probe;
pub mod process;
pub mod pseudonym;
pub mod rate_limit;
pub mod redis;
pub mod signal;
pub mod telemetry;

pub use config::{ConfigError, Environment, JwtAlgorithm, LogFormat, Settings};
