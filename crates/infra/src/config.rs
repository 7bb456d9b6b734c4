//! Typed settings, parsed once at start-up.
//!
//! Every variable is documented in `.env.example`. A missing variable takes
//! its default; a present but unusable one stops start-up with a
//! [`ConfigError`] naming the variable and the problem, because a typo in
//! production config must not silently fall back to a default.

use std::{collections::HashMap, fmt, fmt::Write as _, str::FromStr, time::Duration};

/// The secret shipped for development. Production refuses to start with it.
pub const DEVELOPMENT_SECRET_KEY: &str = "development-secret-key-do-not-use-in-production";

/// Minimum length of `SECRET_KEY` in production: 256 bits for HMAC-SHA256.
pub const MIN_PRODUCTION_SECRET_LEN: usize = 32;

/// The default database: a SQLite file under `data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

/// A setting that could not be used, with the variable's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value, in one sentence.
    pub problem: String,
}

/// Why [`Settings::load`] failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read .env: {0}")]
    DotEnv(String),
    #[error("invalid configuration: {0}")]
    Invalid(ConfigError),
}

/// Where the service runs; decides safe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where background jobs wait and are claimed (`JOB_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobBackend {
    /// The `jobs` table of the application's database (SQLite or Postgres).
    Database,
    /// Redis (`REDIS_URL`). Jobs are still enqueued as rows in the caller's
    /// transaction; workers relay committed rows to Redis and claim there.
    Redis,
}

/// HMAC algorithms for signing tokens. Only symmetric algorithms are offered
/// because the key is `SECRET_KEY`; the algorithm is fixed here and never
/// taken from a token's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

/// A secret value: usable, but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Every setting of the product. Built once per binary and passed down.
///
/// Flat on purpose: one field per environment variable, so the mapping is
/// obvious and grep finds both.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)]
pub struct Settings {
    /// `ENVIRONMENT`: development (default), test or production.
    pub environment: Environment,
    /// `RELEASE_VERSION`: reported by the health endpoint.
    pub release_version: String,
    /// `HOST`, `PORT`: where the API listens.
    pub host: String,
    pub port: u16,
    /// `SECRET_KEY`: signs tokens.
    pub secret_key: Secret,
    /// `JWT_ALGORITHM`: HS256 (default), HS384 or HS512.
    pub jwt_algorithm: JwtAlgorithm,
    /// `JWT_EXPIRE_MINUTES`: lifetime of access tokens (default 15).
    pub jwt_expire_minutes: u32,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: lifetime of refresh tokens (default 7).
    pub refresh_token_expire_days: u32,
    /// `DATABASE_URL`: SQLite (default file under `data/`) or Postgres.
    pub database_url: String,
    /// `DATABASE_READ_URL`: optional read replica; reads outside
    /// transactions go there, writes and transactions to `DATABASE_URL`.
    pub database_read_url: Option<String>,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 10).
    pub database_max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS`: wait for a pooled connection (default 5).
    pub database_acquire_timeout: Duration,
    /// `DATABASE_AUTO_MIGRATE`: apply pending migrations at API start-up
    /// (default on, except in production where `just migrate` runs them once).
    pub database_auto_migrate: bool,
    /// `REDIS_URL`: optional; the cache and rate limits use it when set.
    pub redis_url: Option<String>,
    /// `LOG_FORMAT`: pretty (default) or json.
    pub log_format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,sqlx=warn` (default info).
    pub log_level: String,
    /// `DOCS_ENABLED`: serve `/docs` and `/openapi.json` (default on, except in production).
    pub docs_enabled: bool,
    /// `BODY_LIMIT_BYTES`: largest accepted request body (default 64 KiB).
    pub body_limit_bytes: usize,
    /// `METRICS_ENABLED`: serve Prometheus metrics (default on).
    pub metrics_enabled: bool,
    /// `METRICS_PORT`: serve `/metrics` on this port instead of the API's
    /// (keeps it off the public listener). Default: the API's port.
    pub metrics_port: Option<u16>,
    /// `CORS_ORIGINS`: comma-separated origins allowed to call the API from a
    /// browser (`*` for any). Default: none (no CORS headers).
    pub cors_origins: Vec<String>,
    /// `CORS_ALLOW_CREDENTIALS`: let browsers send cookies and auth headers
    /// cross-origin; only with explicit origins (default false).
    pub cors_allow_credentials: bool,
    /// `TRUSTED_PROXIES`: comma-separated proxy IPs whose `X-Forwarded-For`
    /// is believed for the client address. Default: none (socket address).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `RATE_LIMIT_ENABLED`: limit login, register and refresh per client
    /// IP (default on).
    pub rate_limit_enabled: bool,
    /// `RATE_LIMIT_WINDOW_SECONDS`: length of a rate-limit window (default 60).
    pub rate_limit_window: Duration,
    /// Requests per client IP per window: `RATE_LIMIT_LOGIN` (default 10),
    /// `RATE_LIMIT_REGISTER` (default 5), `RATE_LIMIT_REFRESH` (default 30).
    pub rate_limit_login: u32,
    pub rate_limit_register: u32,
    pub rate_limit_refresh: u32,
    /// `REDIS_KEY_PREFIX`: prefix of every key we write (default `rpt:`), so
    /// several apps or test runs can share one Redis.
    pub redis_key_prefix: String,
    /// `REDIS_TIMEOUT_MS`: connect and command timeout (default 500).
    pub redis_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT_SECONDS`: Postgres cancels longer
    /// statements (default 10; 0 turns it off).
    pub database_statement_timeout: Duration,
    /// `CACHE_ENABLED`: cache reads of users and tasks (default on).
    pub cache_enabled: bool,
    /// `CACHE_TTL_SECONDS`: how long a cached value lives unless a write
    /// invalidates it first (default 60).
    pub cache_ttl: Duration,
    /// `CACHE_CAPACITY`: entries the in-process cache holds (default 10000;
    /// with Redis, Redis's own memory policy applies).
    pub cache_capacity: u64,
    /// `CACHE_L1_ENABLED`: with Redis, keep a small in-process first tier
    /// in front of it, kept coherent by pub/sub (default off).
    pub cache_l1_enabled: bool,
    /// `CACHE_L1_TTL_SECONDS`: longest a first-tier entry lives, the bound on
    /// staleness if an invalidation message is lost (default 5).
    pub cache_l1_ttl: Duration,
    /// `ADMIN_PASSWORD`: the password `api create-admin` gives a new admin
    /// account (read from the environment so it stays out of shell history).
    pub admin_password: Option<Secret>,
    /// `SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long in-flight requests
    /// (and, in a worker, running jobs) may take to finish (default 30).
    pub shutdown_grace: Duration,
    /// `JOB_BACKEND`: `database` (default) or `redis` (needs `REDIS_URL`).
    pub job_backend: JobBackend,
    /// `JOB_WORKER_IN_API`: the API process also runs a job worker, so the
    /// two-command start processes jobs without `just worker` (default on,
    /// except in production where workers scale on their own).
    pub job_worker_in_api: bool,
    /// `JOB_CONCURRENCY`: jobs one worker runs at the same time (default 4).
    pub job_concurrency: u32,
    /// `JOB_POLL_INTERVAL_MS`: how often an idle worker looks for due jobs
    /// (default 1000).
    pub job_poll_interval: Duration,
    /// `JOB_MAX_ATTEMPTS`: attempts before a job is dead, unless the job
    /// type says otherwise (default 5).
    pub job_max_attempts: u32,
    /// `JOB_TIMEOUT_SECONDS`: longest one attempt may run before it counts
    /// as failed (default 60).
    pub job_timeout: Duration,
    /// `JOB_LEASE_SECONDS`: a running job whose worker has not renewed its
    /// lease for this long is taken over by another worker (default 30).
    pub job_lease: Duration,
    /// `JOB_BACKOFF_BASE_MS`, `JOB_BACKOFF_MAX_SECONDS`: retry `n` waits
    /// about `base * 2^(n-1)` (with jitter), at most the maximum
    /// (defaults 1000 ms and 3600 s).
    pub job_backoff_base: Duration,
    pub job_backoff_max: Duration,
    /// `JOB_CLEANUP_SCHEDULE`: cron expression (with seconds) of the
    /// housekeeping job; `off` disables it (default `0 0 * * * *`, hourly).
    pub job_cleanup_schedule: Option<String>,
    /// `JOB_RETENTION_DAYS`: finished jobs are deleted by housekeeping after
    /// this many days; dead jobs are kept (default 7).
    pub job_retention_days: u32,
    /// `SMTP_URL`: where mail goes, e.g.
    /// `smtps://user:password@smtp.example.com` or
    /// `smtp://localhost:1025` (plain, for a local catcher). Unset: mail is
    /// written to `MAIL_DIR`, or to the log.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`: sender of outgoing mail.
    pub mail_from: String,
    /// `MAIL_DIR`: without `SMTP_URL`, write each message to a file here.
    pub mail_dir: Option<String>,
}

impl Settings {
    /// Loads `.env` (when present) into the process environment and parses
    /// the environment. The one place that reads the environment: binaries
    /// call it once in `main` and pass the settings down.
    pub fn load() -> Result<Self, LoadError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            Err(err) => return Err(LoadError::DotEnv(err.to_string())),
        }
        let vars = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)));
        Self::from_vars(vars).map_err(LoadError::Invalid)
    }

    /// Parses settings from `(name, value)` pairs, typically
    /// `std::env::vars()` after `.env` was loaded. Unknown names are ignored.
    // One line per variable reads better than helpers split by topic.
    #[allow(clippy::too_many_lines)]
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        let environment =
            vars.parse_with("ENVIRONMENT", Environment::Development, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "development" | "dev" => Ok(Environment::Development),
                    "test" => Ok(Environment::Test),
                    "production" | "prod" => Ok(Environment::Production),
                    _ => Err("expected development, test or production".to_owned()),
                }
            })?;
        let production = environment == Environment::Production;

        let secret_key = Secret::new(vars.string("SECRET_KEY", DEVELOPMENT_SECRET_KEY)?);
        if production {
            if secret_key.expose() == DEVELOPMENT_SECRET_KEY {
                return Err(ConfigError {
                    variable: "SECRET_KEY",
                    problem: "the development secret must not be used in production; \
                              generate one with `openssl rand -hex 32`"
                        .to_owned(),
                });
            }
            if secret_key.expose().len() < MIN_PRODUCTION_SECRET_LEN {
                return Err(ConfigError {
                    variable: "SECRET_KEY",
                    problem: format!(
                        "must be at least {MIN_PRODUCTION_SECRET_LEN} bytes in production"
                    ),
                });
            }
        }

        let settings = Self {
            environment,
            release_version: vars.string("RELEASE_VERSION", env!("CARGO_PKG_VERSION"))?,
            host: vars.string("HOST", "127.0.0.1")?,
            port: vars.number("PORT", 8000, 0, u16::MAX)?,
            secret_key,
            jwt_algorithm: vars.parse_with(
                "JWT_ALGORITHM",
                JwtAlgorithm::HS256,
                |raw| match raw.to_ascii_uppercase().as_str() {
                    "HS256" => Ok(JwtAlgorithm::HS256),
                    "HS384" => Ok(JwtAlgorithm::HS384),
                    "HS512" => Ok(JwtAlgorithm::HS512),
                    _ => Err(
                        "expected HS256, HS384 or HS512 (tokens are signed with SECRET_KEY)"
                            .to_owned(),
                    ),
                },
            )?,
            jwt_expire_minutes: vars.number("JWT_EXPIRE_MINUTES", 15, 1, 24 * 60)?,
            refresh_token_expire_days: vars.number("REFRESH_TOKEN_EXPIRE_DAYS", 7, 1, 365)?,
            database_url: vars.parse_with(
                "DATABASE_URL",
                DEFAULT_DATABASE_URL.to_owned(),
                database_url,
            )?,
            database_read_url: vars.optional("DATABASE_READ_URL", database_url)?,
            database_max_connections: vars.number("DATABASE_MAX_CONNECTIONS", 10, 1, 10_000)?,
            database_acquire_timeout: Duration::from_secs(vars.number(
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
                5,
                1,
                600,
            )?),
            database_auto_migrate: vars.boolean("DATABASE_AUTO_MIGRATE", !production)?,
            redis_url: vars.optional("REDIS_URL", |raw| {
                if raw.starts_with("redis://") || raw.starts_with("rediss://") {
                    Ok(raw.to_owned())
                } else {
                    Err("expected a redis:// or rediss:// URL".to_owned())
                }
            })?,
            log_format: vars.parse_with("LOG_FORMAT", LogFormat::Pretty, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "pretty" | "text" => Ok(LogFormat::Pretty),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("expected pretty or json".to_owned()),
                }
            })?,
            log_level: vars.parse_with("LOG_LEVEL", "info".to_owned(), |raw| {
                tracing_subscriber::EnvFilter::try_new(raw)
                    .map(|_| raw.to_owned())
                    .map_err(|err| format!("not a valid log filter ({err})"))
            })?,
            docs_enabled: vars.boolean("DOCS_ENABLED", !production)?,
            body_limit_bytes: vars.number("BODY_LIMIT_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024)?,
            metrics_enabled: vars.boolean("METRICS_ENABLED", true)?,
            metrics_port: vars.optional("METRICS_PORT", |raw| {
                raw.parse::<u16>()
                    .map_err(|_| "expected a port from 0 to 65535".to_owned())
            })?,
            cors_origins: vars.parse_with("CORS_ORIGINS", Vec::new(), |raw| {
                let origins: Vec<String> = raw
                    .split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect();
                match origins
                    .iter()
                    .find(|o| *o != "*" && !(o.starts_with("http://") || o.starts_with("https://")))
                {
                    Some(bad) => Err(format!(
                        "{bad:?} is not an origin like https://app.example.com"
                    )),
                    None => Ok(origins),
                }
            })?,
            cors_allow_credentials: vars.boolean("CORS_ALLOW_CREDENTIALS", false)?,
            trusted_proxies: vars.parse_with("TRUSTED_PROXIES", Vec::new(), |raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| {
                        ip.parse()
                            .map_err(|_| format!("{ip:?} is not an IP address"))
                    })
                    .collect()
            })?,
            rate_limit_enabled: vars.boolean("RATE_LIMIT_ENABLED", true)?,
            rate_limit_window: Duration::from_secs(vars.number(
                "RATE_LIMIT_WINDOW_SECONDS",
                60,
                1,
                86_400,
            )?),
            rate_limit_login: vars.number("RATE_LIMIT_LOGIN", 10, 1, 1_000_000)?,
            rate_limit_register: vars.number("RATE_LIMIT_REGISTER", 5, 1, 1_000_000)?,
            rate_limit_refresh: vars.number("RATE_LIMIT_REFRESH", 30, 1, 1_000_000)?,
            redis_key_prefix: vars.string("REDIS_KEY_PREFIX", "rpt:")?,
            redis_timeout: Duration::from_millis(vars.number(
                "REDIS_TIMEOUT_MS",
                500,
                10,
                60_000,
            )?),
            database_statement_timeout: Duration::from_secs(vars.number(
                "DATABASE_STATEMENT_TIMEOUT_SECONDS",
                10,
                0,
                3600,
            )?),
            shutdown_grace: Duration::from_secs(vars.number(
                "SHUTDOWN_GRACE_SECONDS",
                30,
                0,
                3600,
            )?),
            cache_enabled: vars.boolean("CACHE_ENABLED", true)?,
            cache_ttl: Duration::from_secs(vars.number("CACHE_TTL_SECONDS", 60, 1, 86_400)?),
            cache_capacity: vars.number("CACHE_CAPACITY", 10_000, 1, 100_000_000)?,
            cache_l1_enabled: vars.boolean("CACHE_L1_ENABLED", false)?,
            cache_l1_ttl: Duration::from_secs(vars.number("CACHE_L1_TTL_SECONDS", 5, 1, 3600)?),
            admin_password: vars.optional("ADMIN_PASSWORD", |raw| Ok(Secret::new(raw)))?,
            job_backend: vars.parse_with("JOB_BACKEND", JobBackend::Database, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "database" | "db" => Ok(JobBackend::Database),
                    "redis" => Ok(JobBackend::Redis),
                    _ => Err("expected database or redis".to_owned()),
                }
            })?,
            job_worker_in_api: vars.boolean("JOB_WORKER_IN_API", !production)?,
            job_concurrency: vars.number("JOB_CONCURRENCY", 4, 1, 1024)?,
            job_poll_interval: Duration::from_millis(vars.number(
                "JOB_POLL_INTERVAL_MS",
                1000,
                10,
                600_000,
            )?),
            job_max_attempts: vars.number("JOB_MAX_ATTEMPTS", 5, 1, 1000)?,
            job_timeout: Duration::from_secs(vars.number("JOB_TIMEOUT_SECONDS", 60, 1, 86_400)?),
            job_lease: Duration::from_secs(vars.number("JOB_LEASE_SECONDS", 30, 1, 86_400)?),
            job_backoff_base: Duration::from_millis(vars.number(
                "JOB_BACKOFF_BASE_MS",
                1000,
                1,
                3_600_000,
            )?),
            job_backoff_max: Duration::from_secs(vars.number(
                "JOB_BACKOFF_MAX_SECONDS",
                3600,
                1,
                7 * 86_400,
            )?),
            job_cleanup_schedule: vars.parse_with(
                "JOB_CLEANUP_SCHEDULE",
                Some("0 0 * * * *".to_owned()),
                |raw| {
                    if raw.eq_ignore_ascii_case("off") {
                        return Ok(None);
                    }
                    crate::jobs::Schedule::parse(raw)
                        .map(|_| Some(raw.to_owned()))
                        .map_err(|err| err.to_string())
                },
            )?,
            job_retention_days: vars.number("JOB_RETENTION_DAYS", 7, 1, 3650)?,
            smtp_url: vars.optional("SMTP_URL", |raw| {
                if raw.starts_with("smtp://") || raw.starts_with("smtps://") {
                    Ok(Secret::new(raw))
                } else {
                    Err("expected an smtp:// or smtps:// URL".to_owned())
                }
            })?,
            mail_from: vars.parse_with(
                "MAIL_FROM",
                "Rust Production Template <noreply@localhost>".to_owned(),
                |raw| {
                    crate::mail::parse_mailbox(raw)
                        .map(|_| raw.to_owned())
                        .map_err(|err| err.to_string())
                },
            )?,
            mail_dir: vars.optional("MAIL_DIR", |raw| Ok(raw.to_owned()))?,
        };

        if settings.job_backend == JobBackend::Redis && settings.redis_url.is_none() {
            return Err(ConfigError {
                variable: "JOB_BACKEND",
                problem: "is redis but REDIS_URL is not set".to_owned(),
            });
        }
        if settings.cors_allow_credentials && settings.cors_origins.iter().any(|o| o == "*") {
            return Err(ConfigError {
                variable: "CORS_ALLOW_CREDENTIALS",
                problem: "cannot be true while CORS_ORIGINS allows any origin (*); \
                          list the origins instead"
                    .to_owned(),
            });
        }
        Ok(settings)
    }

    /// The effective settings, one `NAME=value` line each, with secrets and
    /// URL passwords masked: safe to print or log (`api --print-config`).
    #[allow(clippy::too_many_lines)] // One line per variable, as in from_vars.
    pub fn describe(&self) -> String {
        let or_unset = |v: Option<String>| v.unwrap_or_else(|| "(unset)".to_owned());
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join(",")
            }
        };
        let lines = [
            (
                "ENVIRONMENT",
                format!("{:?}", self.environment).to_lowercase(),
            ),
            ("RELEASE_VERSION", self.release_version.clone()),
            ("HOST", self.host.clone()),
            ("PORT", self.port.to_string()),
            (
                "SECRET_KEY",
                if self.uses_development_secret() {
                    "(development secret)".to_owned()
                } else {
                    format!("**** ({} bytes)", self.secret_key.expose().len())
                },
            ),
            ("JWT_ALGORITHM", format!("{:?}", self.jwt_algorithm)),
            ("JWT_EXPIRE_MINUTES", self.jwt_expire_minutes.to_string()),
            (
                "REFRESH_TOKEN_EXPIRE_DAYS",
                self.refresh_token_expire_days.to_string(),
            ),
            ("DATABASE_URL", mask_url(&self.database_url)),
            (
                "DATABASE_READ_URL",
                or_unset(self.database_read_url.as_deref().map(mask_url)),
            ),
            (
                "DATABASE_MAX_CONNECTIONS",
                self.database_max_connections.to_string(),
            ),
            (
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
                self.database_acquire_timeout.as_secs().to_string(),
            ),
            (
                "DATABASE_STATEMENT_TIMEOUT_SECONDS",
                self.database_statement_timeout.as_secs().to_string(),
            ),
            (
                "DATABASE_AUTO_MIGRATE",
                self.database_auto_migrate.to_string(),
            ),
            (
                "REDIS_URL",
                or_unset(self.redis_url.as_deref().map(mask_url)),
            ),
            ("REDIS_KEY_PREFIX", self.redis_key_prefix.clone()),
            (
                "REDIS_TIMEOUT_MS",
                self.redis_timeout.as_millis().to_string(),
            ),
            (
                "LOG_FORMAT",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
            ("LOG_LEVEL", self.log_level.clone()),
            ("DOCS_ENABLED", self.docs_enabled.to_string()),
            ("BODY_LIMIT_BYTES", self.body_limit_bytes.to_string()),
            ("METRICS_ENABLED", self.metrics_enabled.to_string()),
            (
                "METRICS_PORT",
                or_unset(self.metrics_port.map(|p| p.to_string())),
            ),
            ("CORS_ORIGINS", list(self.cors_origins.clone())),
            (
                "CORS_ALLOW_CREDENTIALS",
                self.cors_allow_credentials.to_string(),
            ),
            (
                "TRUSTED_PROXIES",
                list(
                    self.trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                ),
            ),
            ("RATE_LIMIT_ENABLED", self.rate_limit_enabled.to_string()),
            (
                "RATE_LIMIT_WINDOW_SECONDS",
                self.rate_limit_window.as_secs().to_string(),
            ),
            ("RATE_LIMIT_LOGIN", self.rate_limit_login.to_string()),
            ("RATE_LIMIT_REGISTER", self.rate_limit_register.to_string()),
            ("RATE_LIMIT_REFRESH", self.rate_limit_refresh.to_string()),
            (
                "SHUTDOWN_GRACE_SECONDS",
                self.shutdown_grace.as_secs().to_string(),
            ),
            (
                "JOB_BACKEND",
                match self.job_backend {
                    JobBackend::Database => "database",
                    JobBackend::Redis => "redis",
                }
                .to_owned(),
            ),
            ("JOB_WORKER_IN_API", self.job_worker_in_api.to_string()),
            ("JOB_CONCURRENCY", self.job_concurrency.to_string()),
            (
                "JOB_POLL_INTERVAL_MS",
                self.job_poll_interval.as_millis().to_string(),
            ),
            ("JOB_MAX_ATTEMPTS", self.job_max_attempts.to_string()),
            (
                "JOB_TIMEOUT_SECONDS",
                self.job_timeout.as_secs().to_string(),
            ),
            ("JOB_LEASE_SECONDS", self.job_lease.as_secs().to_string()),
            (
                "JOB_BACKOFF_BASE_MS",
                self.job_backoff_base.as_millis().to_string(),
            ),
            (
                "JOB_BACKOFF_MAX_SECONDS",
                self.job_backoff_max.as_secs().to_string(),
            ),
            (
                "JOB_CLEANUP_SCHEDULE",
                self.job_cleanup_schedule
                    .clone()
                    .unwrap_or_else(|| "off".to_owned()),
            ),
            ("JOB_RETENTION_DAYS", self.job_retention_days.to_string()),
            (
                "SMTP_URL",
                or_unset(self.smtp_url.as_ref().map(|url| mask_url(url.expose()))),
            ),
            ("MAIL_FROM", self.mail_from.clone()),
            ("MAIL_DIR", or_unset(self.mail_dir.clone())),
        ];
        let mut out = String::new();
        for (name, value) in lines {
            let _ = writeln!(out, "{name}={value}");
        }
        out
    }

    /// Whether the development secret is in use (worth a warning outside tests).
    pub fn uses_development_secret(&self) -> bool {
        self.secret_key.expose() == DEVELOPMENT_SECRET_KEY
    }

    /// `host:port`, for binding.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A URL with any password replaced by `****`, safe to log.
pub fn mask_url(url: &str) -> String {
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

fn database_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("sqlite:")
        || raw.starts_with("postgres://")
        || raw.starts_with("postgresql://")
    {
        Ok(raw.to_owned())
    } else {
        Err("expected a sqlite:, postgres:// or postgresql:// URL".to_owned())
    }
}

/// The raw variables, with one parser per kind of value.
struct Vars(HashMap<String, String>);

impl Vars {
    /// The value if the variable is set and not blank.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn parse_with<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse(raw).map_err(|problem| ConfigError {
                variable: name,
                // URLs may carry a password: never echo it.
                problem: format!("{problem}, got {:?}", mask_url(raw)),
            }),
        }
    }

    fn optional<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.parse_with(name, None, |raw| parse(raw).map(Some))
    }

    fn string(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        self.parse_with(name, default.to_owned(), |raw| Ok(raw.to_owned()))
    }

    fn number<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        self.parse_with(name, default, |raw| {
            raw.parse::<T>()
                .ok()
                .filter(|n| *n >= min && *n <= max)
                .ok_or_else(|| format!("expected a whole number from {min} to {max}"))
        })
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parse_with(name, default, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err("expected true or false".to_owned()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars.iter().copied())
    }

    #[test]
    fn defaults_serve_the_embedded_development_setup() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.bind_address(), "127.0.0.1:8000");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.jwt_algorithm, JwtAlgorithm::HS256);
        assert_eq!(s.jwt_expire_minutes, 15);
        assert_eq!(s.refresh_token_expire_days, 7);
        assert!(s.database_auto_migrate);
        assert!(s.docs_enabled);
        assert!(s.redis_url.is_none());
        assert!(s.uses_development_secret());
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_problem() {
        let err = settings(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert_eq!(
            err.to_string(),
            "PORT: expected a whole number from 0 to 65535, got \"eighty\""
        );
        assert_eq!(settings(&[("PORT", "70000")]).unwrap_err().variable, "PORT");
        assert_eq!(
            settings(&[("JWT_ALGORITHM", "none")]).unwrap_err().variable,
            "JWT_ALGORITHM"
        );
        assert_eq!(
            settings(&[("JWT_ALGORITHM", "RS256")])
                .unwrap_err()
                .variable,
            "JWT_ALGORITHM"
        );
        assert_eq!(
            settings(&[("DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            settings(&[("REDIS_URL", "localhost:6379")])
                .unwrap_err()
                .variable,
            "REDIS_URL"
        );
        assert_eq!(
            settings(&[("DOCS_ENABLED", "maybe")]).unwrap_err().variable,
            "DOCS_ENABLED"
        );
        assert_eq!(
            settings(&[("LOG_LEVEL", "info,[")]).unwrap_err().variable,
            "LOG_LEVEL"
        );
        assert_eq!(
            settings(&[("JWT_EXPIRE_MINUTES", "0")])
                .unwrap_err()
                .variable,
            "JWT_EXPIRE_MINUTES"
        );
    }

    #[test]
    fn production_refuses_the_development_secret_and_short_secrets() {
        let err = settings(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
        assert!(err.problem.contains("development secret"));

        let err = settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
        assert!(err.problem.contains("32 bytes"));

        let strong = "k".repeat(32);
        let s = settings(&[("ENVIRONMENT", "production"), ("SECRET_KEY", &strong)]).unwrap();
        assert!(!s.docs_enabled, "docs are off in production by default");
        assert!(!s.database_auto_migrate);
        let s = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", &strong),
            ("DOCS_ENABLED", "true"),
        ])
        .unwrap();
        assert!(s.docs_enabled);
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let s = settings(&[("SECRET_KEY", "hunter2-hunter2")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn job_and_mail_settings_are_checked_at_start_up() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.job_cleanup_schedule.as_deref(), Some("0 0 * * * *"));
        assert!(s.job_worker_in_api);
        let off = settings(&[("JOB_CLEANUP_SCHEDULE", "off")]).unwrap();
        assert!(off.job_cleanup_schedule.is_none());
        let production = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(
            !production.job_worker_in_api,
            "workers scale on their own in production"
        );
        for (variable, value) in [
            ("JOB_CLEANUP_SCHEDULE", "every hour"),
            ("JOB_CLEANUP_SCHEDULE", "0 * * * *"), // no seconds field
            ("SMTP_URL", "mail.example.com:25"),
            ("MAIL_FROM", "not an address"),
            ("JOB_MAX_ATTEMPTS", "0"),
            ("JOB_CONCURRENCY", "0"),
            ("JOB_BACKEND", "rabbitmq"),
            ("JOB_BACKEND", "redis"), // without REDIS_URL
        ] {
            assert_eq!(
                settings(&[(variable, value)]).unwrap_err().variable,
                variable,
                "{variable}={value}"
            );
        }
        assert_eq!(s.job_backend, JobBackend::Database);
        let redis = settings(&[("JOB_BACKEND", "Redis"), ("REDIS_URL", "redis://localhost")]);
        assert_eq!(redis.unwrap().job_backend, JobBackend::Redis);
        let smtp = settings(&[("SMTP_URL", "smtps://user:hunter2@smtp.example.com")]).unwrap();
        let described = smtp.describe();
        assert!(
            described.contains("SMTP_URL=smtps://user:****@smtp.example.com"),
            "{described}"
        );
        assert!(!described.contains("hunter2"));
    }

    #[test]
    fn described_settings_mask_secrets() {
        let s = settings(&[
            ("SECRET_KEY", "hunter2-hunter2-hunter2-hunter2-hunter2"),
            ("DATABASE_URL", "postgres://app:pa55word@db/app"),
            ("REDIS_URL", "redis://:redispass@cache:6379"),
        ])
        .unwrap();
        let text = s.describe();
        for secret in ["hunter2", "pa55word", "redispass"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("DATABASE_URL=postgres://app:****@db/app"),
            "{text}"
        );
        assert!(text.contains("PORT=8000"));
    }

    #[test]
    fn a_rejected_url_is_echoed_without_its_password() {
        let err =
            settings(&[("DATABASE_URL", "postgresql+asyncpg://app:S3cret@db/app")]).unwrap_err();
        assert!(!err.to_string().contains("S3cret"), "{err}");
        assert!(err.to_string().contains("app:****@db"), "{err}");
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
        assert_eq!(mask_url("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(mask_url("sqlite://data/app.db"), "sqlite://data/app.db");
    }

    #[test]
    fn cors_and_proxies_are_validated() {
        let s = settings(&[
            (
                "CORS_ORIGINS",
                "https://app.example.com/, http://localhost:3000",
            ),
            ("TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ])
        .unwrap();
        assert_eq!(
            s.cors_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(
            settings(&[("CORS_ORIGINS", "app.example.com")])
                .unwrap_err()
                .variable,
            "CORS_ORIGINS"
        );
        assert_eq!(
            settings(&[("TRUSTED_PROXIES", "proxy")])
                .unwrap_err()
                .variable,
            "TRUSTED_PROXIES"
        );
        let err =
            settings(&[("CORS_ORIGINS", "*"), ("CORS_ALLOW_CREDENTIALS", "true")]).unwrap_err();
        assert_eq!(err.variable, "CORS_ALLOW_CREDENTIALS");
    }

    #[test]
    fn blank_values_mean_unset() {
        let s = settings(&[("PORT", ""), ("REDIS_URL", "  ")]).unwrap();
        assert_eq!(s.port, 8000);
        assert!(s.redis_url.is_none());
    }
}
