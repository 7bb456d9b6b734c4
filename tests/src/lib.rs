//! Helpers for the end-to-end suite, one module per concern:
//!
//! - [`app`]: each test gets the real app, built by the same
//!   [`web::Application`] builder the binary uses, on a random port and
//!   its own fresh database, and a client with the API's common calls;
//! - [`database`]: that database: in-memory SQLite by default; with
//!   `TEST_DATABASE_URL` set to a Postgres server URL (e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`), a new database there,
//!   dropped afterwards, so tests run in parallel without sharing state;
//! - [`redis`]: with `TEST_REDIS_URL` the app uses that Redis (cache, rate
//!   limits) under a key prefix of its own; tests that stop Redis start one
//!   of their own;
//! - [`jobs`]: enqueueing a job directly, as an operator would;
//! - [`process`]: scratch directories, child processes' logs, signals, and
//!   waiting on state without sleeps that hope;
//! - [`fixtures`]: domain values to insert directly;
//! - [`smtp`]: SMTP servers that misbehave on purpose;
//! - [`mail`]: reading what was delivered (`MAIL_DIR`, or [`smtp`]'s
//!   server), decoded, and the tokens in its links;
//! - [`otlp`]: a receiver of exported spans (OTLP/HTTP), decoded;
//! - [`proxy`]: a TCP proxy in front of Redis or Postgres that hangs or
//!   cuts its connections on demand.
//!
//! Set `TEST_LOG=1` to see the app's logs.

pub mod app;
pub mod database;
pub mod fixtures;
pub mod jobs;
pub mod mail;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod smtp;

pub use app::{
    PASSWORD, PRODUCTION, TestApp, settings_for, spawn_app, spawn_app_beside, spawn_app_on,
    spawn_app_with, spawn_shared_app_with,
};
pub use database::TestDatabase;
pub use process::{LogLines, files_in, scratch_dir, wait_for};
pub use redis::{OwnRedis, TlsRedis, redis_cache, test_redis_url, unique_prefix};
