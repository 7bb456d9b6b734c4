//! Infrastructure the services stand on: typed configuration, telemetry,
//! metrics, the request-path Redis pool and rate limiting (later also the
//! cache, mail and the job queue plumbing).
//!
//! Only [`config::Settings::load`] reads the process environment, and only
//! binaries call it, once in `main`; everything else receives settings as a
//! value. Tests build settings from a plain list with
//! [`config::Settings::from_vars`]. It must not know about
//! storage (persistence) or HTTP (actix, web).

pub mod cache;
pub mod config;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod process;
pub mod rate_limit;
pub mod redis;
pub mod signal;
pub mod telemetry;

pub use config::{
    ConfigError, Environment, JobBackend, JwtAlgorithm, LoadError, LogFormat, Secret, Settings,
};
