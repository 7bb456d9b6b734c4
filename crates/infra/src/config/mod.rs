//! Typed settings, loaded once at start-up from the environment and `.env`.
//!
//! Loading is the `config` crate's: each section below is a plain serde
//! struct, deserialized from the variables that start with its prefix
//! (`DATABASE_URL` is [`DatabaseSettings::url`]). A field is declared once,
//! with its doc comment; its default sits in the section's `Default`; its
//! rule is its type or a `deserialize_with` bound. Every variable is
//! documented in `.env.example`, and a test checks that the two lists match.
//!
//! A missing variable takes its default. A present but unusable one stops
//! start-up with a [`ConfigError`] naming the variable and what it expects,
//! because a typo in production config must not silently fall back to a
//! default. Blank values count as unset, so `PORT=` in a `.env` file is
//! harmless.
//!
//! Each layer receives only its section (`TokenService::new(&settings.auth)`),
//! so what a component can be configured by is visible in its signature.

use std::{collections::HashMap, fmt, net::IpAddr, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

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
    pub variable: String,
    /// What is wrong with its value, in one sentence.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        // One line, whatever the parser underneath wrote: start-up failures
        // are read in logs, one line per event.
        let problem: String = problem.into();
        Self {
            variable: variable.into(),
            problem: problem.lines().map(str::trim).collect::<Vec<_>>().join(" "),
        }
    }
}

/// Why [`Settings::load`] failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read .env: {0}")]
    DotEnv(String),
    #[error("invalid configuration: {0}")]
    Invalid(ConfigError),
}

/// Every setting of the product, one section per concern. Built once per
/// binary and handed down section by section.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `ENVIRONMENT`: development (default), test or production.
    pub environment: Environment,
    pub http: HttpSettings,
    pub cors: CorsSettings,
    pub auth: AuthSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub rate_limits: RateLimitSettings,
    pub jobs: JobSettings,
    pub mail: MailSettings,
    pub telemetry: TelemetrySettings,
    pub metrics: MetricsSettings,
}

/// The HTTP server (no prefix: `HOST`, `PORT`, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpSettings {
    /// `RELEASE_VERSION`: reported by the health endpoint (default: the
    /// crate version).
    pub release_version: String,
    /// `HOST`: the address to listen on (default 127.0.0.1).
    pub host: String,
    /// `PORT` (default 8000).
    #[serde(deserialize_with = "within::<_, _, 0, 65_535>")]
    pub port: u16,
    /// `BODY_LIMIT_BYTES`: largest accepted request body (default 64 KiB).
    #[serde(deserialize_with = "within::<_, _, 1024, 67_108_864>")]
    pub body_limit_bytes: usize,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed for the
    /// client address. Default: none (the socket address).
    pub trusted_proxies: CommaList<IpAddr>,
    /// `SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long in-flight requests
    /// (and running jobs) may take to finish (default 30).
    #[serde(deserialize_with = "within::<_, _, 0, 3600>")]
    pub shutdown_grace_seconds: u64,
    /// `DOCS_ENABLED`: serve `/docs` and `/openapi.json` (default on, except
    /// in production).
    pub docs_enabled: bool,
    /// `HSTS_MAX_AGE_SECONDS`: send `Strict-Transport-Security` with this
    /// max-age on every response. Unset (default): no HSTS, since only a
    /// deployment served over HTTPS may ask browsers to insist on it.
    #[serde(default, deserialize_with = "within_opt::<_, _, 1, 63_072_000>")]
    pub hsts_max_age_seconds: Option<u64>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            release_version: env!("CARGO_PKG_VERSION").to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 8000,
            body_limit_bytes: 64 * 1024,
            trusted_proxies: CommaList::default(),
            shutdown_grace_seconds: 30,
            docs_enabled: true,
            hsts_max_age_seconds: None,
        }
    }
}

impl HttpSettings {
    /// Whether `HOST` is a loopback address (`127.0.0.1`, `::1`,
    /// `localhost`), so only this machine can connect.
    pub fn listens_on_loopback_only(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port`, for binding.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// Browsers on other origins (`CORS_*`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsSettings {
    /// `CORS_ORIGINS`: origins allowed to call the API from a browser (`*`
    /// for any). Default: none (no CORS headers).
    pub origins: CommaList<Origin>,
    /// `CORS_ALLOW_CREDENTIALS`: let browsers send cookies and auth headers
    /// cross-origin; only with listed origins (default false).
    pub allow_credentials: bool,
}

/// Tokens and accounts (no prefix).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// `SECRET_KEY`: signs every token. Production refuses the default.
    pub secret_key: Secret,
    /// `JWT_ALGORITHM`: HS256 (default), HS384 or HS512.
    #[serde(deserialize_with = "any_case")]
    pub jwt_algorithm: JwtAlgorithm,
    /// `JWT_EXPIRE_MINUTES`: lifetime of access tokens (default 15).
    #[serde(deserialize_with = "within::<_, _, 1, 1440>")]
    pub jwt_expire_minutes: u32,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: lifetime of refresh tokens (default 7).
    #[serde(deserialize_with = "within::<_, _, 1, 365>")]
    pub refresh_token_expire_days: u32,
    /// `SESSION_RECHECK_SECONDS`: how long one instance trusts its last look
    /// at a login (is it logged out? is the user still there, still an
    /// admin?) before asking the database again (default 5; 0 asks on every
    /// request). The bound on how late another instance notices a logout,
    /// a password change, a demotion or a deletion.
    #[serde(deserialize_with = "within::<_, _, 0, 300>")]
    pub session_recheck_seconds: u64,
    /// `ADMIN_PASSWORD`: the password `api create-admin` gives a new admin
    /// account (from the environment, so it stays out of shell history).
    pub admin_password: Option<Secret>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            secret_key: Secret::new(DEVELOPMENT_SECRET_KEY),
            jwt_algorithm: JwtAlgorithm::HS256,
            jwt_expire_minutes: 15,
            refresh_token_expire_days: 7,
            session_recheck_seconds: 5,
            admin_password: None,
        }
    }
}

impl AuthSettings {
    /// Whether the development secret is in use (worth a warning outside tests).
    pub fn uses_development_secret(&self) -> bool {
        self.secret_key.expose() == DEVELOPMENT_SECRET_KEY
    }
}

/// The database pools (`DATABASE_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: SQLite (default, a file under `data/`) or Postgres.
    pub url: SecretUrl,
    /// `DATABASE_READ_URL`: optional read replica; reads outside
    /// transactions go there, writes and transactions to `DATABASE_URL`.
    pub read_url: Option<SecretUrl>,
    /// `DATABASE_MAX_CONNECTIONS`: pool size, per pool (default 10).
    #[serde(deserialize_with = "within::<_, _, 1, 10_000>")]
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS`: wait for a pooled connection
    /// (default 5).
    #[serde(deserialize_with = "within::<_, _, 1, 600>")]
    pub acquire_timeout_seconds: u64,
    /// `DATABASE_STATEMENT_TIMEOUT_SECONDS`: Postgres cancels longer
    /// statements (default 10; 0 turns it off).
    #[serde(deserialize_with = "within::<_, _, 0, 3600>")]
    pub statement_timeout_seconds: u64,
    /// `DATABASE_AUTO_MIGRATE`: apply pending migrations at start-up
    /// (default on, except in production, where `just migrate` runs them).
    pub auto_migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new(DEFAULT_DATABASE_URL),
            read_url: None,
            max_connections: 10,
            acquire_timeout_seconds: 5,
            statement_timeout_seconds: 10,
            auto_migrate: true,
        }
    }
}

/// Redis (`REDIS_*`), optional.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `REDIS_URL`: when set, the cache, rate limits and readiness use it.
    pub url: Option<SecretUrl>,
    /// `REDIS_KEY_PREFIX`: prefix of every key we write (default `rpt:`), so
    /// several apps or test runs can share one Redis.
    pub key_prefix: String,
    /// `REDIS_TIMEOUT_MS`: connect and command timeout (default 500).
    #[serde(deserialize_with = "within::<_, _, 10, 60_000>")]
    pub timeout_ms: u64,
    /// `REDIS_CA_CERT`: with a `rediss://` URL, a PEM file of the CA the
    /// server's certificate must chain to (a private CA, as managed Redis
    /// services give you). Unset: the system's roots.
    pub ca_cert: Option<String>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "rpt:".to_owned(),
            timeout_ms: 500,
            ca_cert: None,
        }
    }
}

impl RedisSettings {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }

    /// The contents of `REDIS_CA_CERT`, if set.
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, String> {
        self.ca_cert
            .as_ref()
            .map(|path| {
                std::fs::read(path)
                    .map_err(|err| format!("REDIS_CA_CERT: cannot read {path}: {err}"))
            })
            .transpose()
    }
}

/// The read cache (`CACHE_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CacheSettings {
    /// `CACHE_ENABLED`: cache reads of users and tasks (default on).
    pub enabled: bool,
    /// `CACHE_TTL_SECONDS`: how long a value lives unless a write
    /// invalidates it first (default 60).
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub ttl_seconds: u64,
    /// `CACHE_CAPACITY`: entries the in-process cache (or first tier) holds
    /// (default 10000).
    #[serde(deserialize_with = "within::<_, _, 1, 100_000_000>")]
    pub capacity: u64,
    /// `CACHE_L1_ENABLED`: with Redis, keep an in-process first tier kept
    /// coherent by pub/sub (default off).
    pub l1_enabled: bool,
    /// `CACHE_L1_TTL_SECONDS`: longest a first-tier entry lives, the bound on
    /// staleness if an invalidation message is lost (default 5).
    #[serde(deserialize_with = "within::<_, _, 1, 3600>")]
    pub l1_ttl_seconds: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_seconds: 60,
            capacity: 10_000,
            l1_enabled: false,
            l1_ttl_seconds: 5,
        }
    }
}

/// Per-client-IP limits on the endpoints that guess at secrets
/// (`RATE_LIMIT_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED` (default on).
    pub enabled: bool,
    /// `RATE_LIMIT_WINDOW_SECONDS`: length of a window (default 60).
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub window_seconds: u64,
    /// `RATE_LIMIT_LOGIN`: logins per client address per window (default
    /// 10; IPv6 addresses count per /64).
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub login: u32,
    /// `RATE_LIMIT_LOGIN_ACCOUNT`: logins per account (email) per window,
    /// from all addresses together (default 10): guessing one account's
    /// password from many addresses.
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub login_account: u32,
    /// `RATE_LIMIT_REGISTER`: registrations per window (default 5).
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub register: u32,
    /// `RATE_LIMIT_REFRESH`: token refreshes per window (default 30).
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub refresh: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window_seconds: 60,
            login: 10,
            login_account: 10,
            register: 5,
            refresh: 30,
        }
    }
}

/// Background jobs (`JOB_*`), run by River in the application's database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct JobSettings {
    /// `JOB_WORKER_IN_API`: the API process also runs a worker (default on,
    /// except in production, where workers scale on their own).
    pub worker_in_api: bool,
    /// `JOB_CONCURRENCY`: jobs one worker runs at once (default 100; jobs
    /// are tasks on the runtime, not threads).
    #[serde(deserialize_with = "within::<_, _, 1, 10_000>")]
    pub concurrency: u32,
    /// `JOB_POLL_INTERVAL_MS`: how often a worker looks for jobs when no
    /// notification arrives, and how often scheduled jobs and retries are
    /// made due (default 1000). New jobs are announced at once on Postgres
    /// (LISTEN/NOTIFY) and through River's outbox on SQLite.
    #[serde(deserialize_with = "within::<_, _, 10, 600_000>")]
    pub poll_interval_ms: u64,
    /// `JOB_FETCH_COOLDOWN_MS`: the shortest time between two fetches of a
    /// busy worker (default 10). With `JOB_CONCURRENCY` it bounds a worker's
    /// throughput; no more than `JOB_POLL_INTERVAL_MS`.
    #[serde(deserialize_with = "within::<_, _, 1, 600_000>")]
    pub fetch_cooldown_ms: u64,
    /// `JOB_MAX_ATTEMPTS`: attempts before a job is discarded, unless its
    /// type says otherwise (default 5).
    #[serde(deserialize_with = "within::<_, _, 1, 1000>")]
    pub max_attempts: u32,
    /// `JOB_TIMEOUT_SECONDS`: longest one attempt may run (default 60).
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub timeout_seconds: u64,
    /// `JOB_RESCUE_AFTER_SECONDS`: a job still running after this long
    /// belongs to a worker that died; it is retried. Unset: the timeout
    /// plus 60 s (a live worker stops an attempt at its timeout, and River
    /// aborts it 10 s later). Never less than `JOB_TIMEOUT_SECONDS`.
    #[serde(deserialize_with = "within_opt::<_, _, 1, 604_800>")]
    pub rescue_after_seconds: Option<u64>,
    /// `JOB_BACKOFF_BASE_MS`: retry `n` waits about `base * 2^(n-1)`, with
    /// jitter (default 1000).
    #[serde(deserialize_with = "within::<_, _, 1, 3_600_000>")]
    pub backoff_base_ms: u64,
    /// `JOB_BACKOFF_MAX_SECONDS`: the longest retry wait (default 3600).
    #[serde(deserialize_with = "within::<_, _, 1, 604_800>")]
    pub backoff_max_seconds: u64,
    /// `JOB_CLEANUP_SCHEDULE`: when housekeeping runs, as five-field cron
    /// (`0 * * * *`), a descriptor (`@hourly`, `@every 90s`), or `off`
    /// (default `@hourly`). Once per tick across all workers.
    pub cleanup_schedule: CronSchedule,
    /// `JOB_COMPLETED_RETENTION_HOURS`: completed jobs are deleted after
    /// this long; 0 keeps them (default 24).
    #[serde(deserialize_with = "within::<_, _, 0, 87_600>")]
    pub completed_retention_hours: u64,
    /// `JOB_CANCELLED_RETENTION_HOURS`: the same for cancelled jobs
    /// (default 24).
    #[serde(deserialize_with = "within::<_, _, 0, 87_600>")]
    pub cancelled_retention_hours: u64,
    /// `JOB_DISCARDED_RETENTION_HOURS`: the same for discarded jobs (failed
    /// their last attempt), kept longer for inspection (default 168).
    #[serde(deserialize_with = "within::<_, _, 0, 87_600>")]
    pub discarded_retention_hours: u64,
}

impl JobSettings {
    /// `JOB_RESCUE_AFTER_SECONDS`, or the timeout plus 60 s.
    pub fn rescue_after(&self) -> u64 {
        self.rescue_after_seconds
            .unwrap_or(self.timeout_seconds.saturating_add(60))
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            worker_in_api: true,
            concurrency: 100,
            poll_interval_ms: 1000,
            fetch_cooldown_ms: 10,
            max_attempts: 5,
            timeout_seconds: 60,
            rescue_after_seconds: None,
            backoff_base_ms: 1000,
            backoff_max_seconds: 3600,
            cleanup_schedule: CronSchedule(Some(
                riverqueue::CronSchedule::parse("@hourly").expect("@hourly is a schedule"),
            )),
            completed_retention_hours: 24,
            cancelled_retention_hours: 24,
            discarded_retention_hours: 168,
        }
    }
}

/// Settings that no longer exist, and what replaced them. Setting one stops
/// start-up rather than being silently ignored.
const RETIRED: &[(&str, &str)] = &[
    (
        "JOB_BACKEND",
        "jobs now run on River in the application's database; Redis is no longer a job \
         backend. Unset JOB_BACKEND",
    ),
    (
        "JOB_LEASE_SECONDS",
        "replaced by JOB_RESCUE_AFTER_SECONDS (how long a job may run before it counts \
         as abandoned)",
    ),
    (
        "JOB_RETENTION_DAYS",
        "replaced by JOB_COMPLETED_RETENTION_HOURS, JOB_CANCELLED_RETENTION_HOURS and \
         JOB_DISCARDED_RETENTION_HOURS",
    ),
];

/// Outgoing mail (no prefix: `SMTP_URL`, `MAIL_FROM`, `MAIL_DIR`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MailSettings {
    /// `SMTP_URL`: e.g. `smtps://user:password@smtp.example.com`, or
    /// `smtp://localhost:1025` for a local catcher. Unset: `MAIL_DIR` or the log.
    pub smtp_url: Option<SecretUrl>,
    /// `MAIL_FROM`: sender of outgoing mail.
    #[serde(deserialize_with = "mailbox")]
    pub mail_from: String,
    /// `MAIL_DIR`: without `SMTP_URL`, write each message to a file here.
    pub mail_dir: Option<String>,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            mail_from: "Rust Production Template <noreply@localhost>".to_owned(),
            mail_dir: None,
        }
    }
}

/// Logs (`LOG_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `LOG_FORMAT`: pretty (default) or json.
    #[serde(deserialize_with = "any_case")]
    pub format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,sqlx=warn`
    /// (default info).
    #[serde(deserialize_with = "log_filter")]
    pub level: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

/// Prometheus metrics (`METRICS_*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// `METRICS_ENABLED`: serve Prometheus metrics (default on).
    pub enabled: bool,
    /// `METRICS_PORT`: serve `/metrics` on this port (on `HOST`) instead of
    /// the API's, to keep it off the public listener.
    #[serde(default, deserialize_with = "within_opt::<_, _, 0, 65_535>")]
    pub port: Option<u16>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
        }
    }
}

impl MetricsSettings {
    /// The port `/metrics` is served on apart from the API, if any.
    pub fn own_port(&self) -> Option<u16> {
        self.port.filter(|_| self.enabled)
    }
}

/// `ENVIRONMENT` alone, read before the sections: their defaults depend
/// on it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Runtime {
    #[serde(deserialize_with = "any_case")]
    environment: Environment,
}

/// Where the service runs; decides safe defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    #[serde(alias = "dev")]
    Development,
    Test,
    #[serde(alias = "prod")]
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[serde(alias = "text")]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// HMAC algorithms for signing tokens. Only symmetric algorithms are offered
/// because the key is `SECRET_KEY`; the algorithm is fixed here and never
/// taken from a token's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all(deserialize = "lowercase"))]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

/// A secret value: usable, but never printed, logged or serialized.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
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

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

/// A connection URL that may carry a password: usable, but its `Debug`,
/// `Display` and serialization mask the password. Which schemes a setting
/// accepts is checked in [`Settings::check`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, password included, for the client that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", mask_url(&self.0))
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A comma-separated list (`a, b,c`); blank items are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommaList<T>(pub Vec<T>);

impl<T> Default for CommaList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> std::ops::Deref for CommaList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: FromStr> Deserialize<'de> for CommaList<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(serde::de::Error::custom))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl<T: fmt::Display> Serialize for CommaList<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        serializer.serialize_str(&items.join(","))
    }
}

/// A browser origin (`https://app.example.com`, no trailing slash) or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `*`, any origin.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let origin = raw.trim_end_matches('/');
        if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://") {
            Ok(Self(origin.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an origin like https://app.example.com"
            ))
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A River cron schedule (five fields, or `@hourly`, `@every 90s`), parsed
/// once here, or `off` (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule(pub Option<riverqueue::CronSchedule>);

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        let schedule = riverqueue::CronSchedule::parse(&raw).map_err(|err| {
            serde::de::Error::custom(format!(
                "expected five-field cron (`0 * * * *`), `@hourly`, `@every 90s` or `off`: {err}"
            ))
        })?;
        Ok(Self(Some(schedule)))
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(schedule) => serializer.collect_str(schedule),
            None => serializer.serialize_str("off"),
        }
    }
}

/// A whole number from `MIN` to `MAX`, for `deserialize_with`.
fn within<'de, D, T, const MIN: u64, const MAX: u64>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    // Read as text (the environment's own type) so the message can quote it.
    let raw = String::deserialize(deserializer)?;
    raw.parse::<u64>()
        .ok()
        .filter(|n| (MIN..=MAX).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            serde::de::Error::custom(expected(
                &format!("a whole number from {MIN} to {MAX}"),
                &raw,
            ))
        })
}

/// An optional whole number from `MIN` to `MAX`, for `deserialize_with`.
fn within_opt<'de, D, T, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    within::<D, T, MIN, MAX>(deserializer).map(Some)
}

/// An enum's name in any letter case (`Production`, `JSON`, `hs256`).
fn any_case<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<T, D::Error> {
    use serde::de::IntoDeserializer as _;
    let raw = String::deserialize(deserializer)?.to_ascii_lowercase();
    T::deserialize(raw.into_deserializer())
        .map_err(|err: serde::de::value::Error| serde::de::Error::custom(err))
}

fn mailbox<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    crate::mail::parse_mailbox(&raw).map_err(serde::de::Error::custom)?;
    Ok(raw)
}

fn log_filter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    tracing_subscriber::EnvFilter::try_new(&raw)
        .map_err(|err| serde::de::Error::custom(format!("not a valid log filter ({err})")))?;
    Ok(raw)
}

fn expected(what: &str, got: &str) -> String {
    format!("expected {what}, got {got:?}")
}

/// The variables a section reads start with this prefix and `_`.
fn section<T: DeserializeOwned>(
    vars: &HashMap<String, String>,
    prefix: &str,
) -> Result<T, ConfigError> {
    let source = if prefix.is_empty() {
        config::Environment::default()
    } else {
        config::Environment::with_prefix(prefix).prefix_separator("_")
    };
    config::Config::builder()
        .add_source(source.source(Some(vars.clone())))
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|err| config_error(err, prefix))
}

/// Names the variable at fault in the `config` crate's error, whose key is
/// the field name (the variable's name, lowercased, without the prefix).
fn config_error(err: config::ConfigError, prefix: &str) -> ConfigError {
    let variable = |key: Option<&String>| {
        let key = key.map_or_else(String::new, |key| key.to_ascii_uppercase());
        match (prefix.is_empty(), key.is_empty()) {
            (true, _) => key,
            (false, true) => format!("{prefix}_*"),
            (false, false) => format!("{prefix}_{key}"),
        }
    };
    match err {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => ConfigError::new(
            variable(key.as_ref()),
            format!("expected {expected}, got {unexpected}"),
        ),
        config::ConfigError::At { error, key, .. } => {
            let problem = match *error {
                config::ConfigError::Type {
                    unexpected,
                    expected,
                    ..
                } => format!("expected {expected}, got {unexpected}"),
                other => other.to_string(),
            };
            ConfigError::new(variable(key.as_ref()), problem)
        }
        other => ConfigError::new(variable(None), other.to_string()),
    }
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
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        // Names are exact: `config` compares keys in lower case, so `port`
        // would otherwise count as `PORT` (and which of the two won would
        // depend on hash order).
        let mut vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into().trim().to_owned()))
            .filter(|(k, v)| !v.is_empty() && !k.bytes().any(|b| b.is_ascii_lowercase()))
            .collect();
        if let Some((name, replacement)) = RETIRED.iter().find(|(name, _)| vars.contains_key(*name))
        {
            return Err(ConfigError::new(
                *name,
                format!("is no longer a setting: {replacement}"),
            ));
        }
        let Runtime { environment } = section(&vars, "")?;
        let production = environment == Environment::Production;
        // Safe defaults that depend on where we run.
        for name in ["DOCS_ENABLED", "DATABASE_AUTO_MIGRATE", "JOB_WORKER_IN_API"] {
            vars.entry(name.to_owned())
                .or_insert_with(|| (!production).to_string());
        }

        let settings = Self {
            environment,
            http: section(&vars, "")?,
            cors: section(&vars, "CORS")?,
            auth: section(&vars, "")?,
            database: section(&vars, "DATABASE")?,
            redis: section(&vars, "REDIS")?,
            cache: section(&vars, "CACHE")?,
            rate_limits: section(&vars, "RATE_LIMIT")?,
            jobs: section(&vars, "JOB")?,
            mail: section(&vars, "")?,
            telemetry: section(&vars, "LOG")?,
            metrics: section(&vars, "METRICS")?,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Rules that span fields or depend on the environment.
    fn check(&self) -> Result<(), ConfigError> {
        const DATABASE: &[&str] = &["sqlite:", "postgres://", "postgresql://"];
        let urls = [
            ("DATABASE_URL", Some(&self.database.url), DATABASE),
            (
                "DATABASE_READ_URL",
                self.database.read_url.as_ref(),
                DATABASE,
            ),
            (
                "REDIS_URL",
                self.redis.url.as_ref(),
                &["redis://", "rediss://"],
            ),
            (
                "SMTP_URL",
                self.mail.smtp_url.as_ref(),
                &["smtp://", "smtps://"],
            ),
        ];
        for (variable, url, schemes) in urls {
            if let Some(url) = url
                && !schemes
                    .iter()
                    .any(|scheme| url.expose().starts_with(scheme))
            {
                // Displayed with the password masked: never echo it.
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "expected a URL starting {}, got \"{url}\"",
                        schemes.join(" or ")
                    ),
                ));
            }
        }
        if self.environment == Environment::Production {
            if self.auth.uses_development_secret() {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    "the development secret must not be used in production; \
                     generate one with `openssl rand -hex 32`",
                ));
            }
            if self.auth.secret_key.expose().len() < MIN_PRODUCTION_SECRET_LEN {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!("must be at least {MIN_PRODUCTION_SECRET_LEN} bytes in production"),
                ));
            }
        }
        // Anyone who has read this repository knows the development secret
        // and can sign tokens for any user: never serve it to a network.
        if self.auth.uses_development_secret() && !self.http.listens_on_loopback_only() {
            return Err(ConfigError::new(
                "SECRET_KEY",
                format!(
                    "the development secret must not be used while listening on {} \
                     (reachable from other machines); set SECRET_KEY (`openssl rand -hex 32`) \
                     or HOST=127.0.0.1",
                    self.http.host
                ),
            ));
        }
        if self.redis.ca_cert.is_some()
            && !self
                .redis
                .url
                .as_ref()
                .is_some_and(|url| url.expose().starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "REDIS_CA_CERT",
                "is set but REDIS_URL is not a rediss:// (TLS) URL",
            ));
        }
        if self.jobs.rescue_after() < self.jobs.timeout_seconds {
            return Err(ConfigError::new(
                "JOB_RESCUE_AFTER_SECONDS",
                format!(
                    "must be at least JOB_TIMEOUT_SECONDS ({}): a job within its timeout \
                     is not abandoned",
                    self.jobs.timeout_seconds
                ),
            ));
        }
        if self.jobs.fetch_cooldown_ms > self.jobs.poll_interval_ms {
            return Err(ConfigError::new(
                "JOB_FETCH_COOLDOWN_MS",
                format!(
                    "must be at most JOB_POLL_INTERVAL_MS ({})",
                    self.jobs.poll_interval_ms
                ),
            ));
        }
        if self.cors.allow_credentials && self.cors.origins.iter().any(Origin::is_any) {
            return Err(ConfigError::new(
                "CORS_ALLOW_CREDENTIALS",
                "cannot be true while CORS_ORIGINS allows any origin (*); list the origins instead",
            ));
        }
        Ok(())
    }

    /// The effective settings as `(VARIABLE, value)` pairs, derived from the
    /// sections' serialization: secrets and URL passwords come out masked,
    /// unset options as `None`. Also the list of every variable there is.
    pub fn variables(&self) -> Vec<(String, Option<String>)> {
        // (field of Settings, prefix of its variables)
        const SECTIONS: [(&str, &str); 11] = [
            ("http", ""),
            ("cors", "CORS_"),
            ("auth", ""),
            ("database", "DATABASE_"),
            ("redis", "REDIS_"),
            ("cache", "CACHE_"),
            ("rate_limits", "RATE_LIMIT_"),
            ("jobs", "JOB_"),
            ("mail", ""),
            ("telemetry", "LOG_"),
            ("metrics", "METRICS_"),
        ];
        let tree = serde_json::to_value(self).expect("settings serialize to JSON");
        let value = |value: &serde_json::Value| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let mut out = vec![("ENVIRONMENT".to_owned(), value(&tree["environment"]))];
        for (field, prefix) in SECTIONS {
            let section = tree[field]
                .as_object()
                .unwrap_or_else(|| panic!("settings section {field} is not serialized"));
            for (key, v) in section {
                out.push((format!("{prefix}{}", key.to_ascii_uppercase()), value(v)));
            }
        }
        out
    }

    /// The effective settings, one `NAME=value` line each, with secrets and
    /// URL passwords masked: safe to print or log (`api print-config`).
    pub fn describe(&self) -> String {
        self.variables()
            .into_iter()
            .map(|(name, value)| match value {
                Some(value) => format!("{name}={value}\n"),
                None => format!("{name}=(unset)\n"),
            })
            .collect()
    }
}

/// A URL with every password replaced by `****`, safe to log: the one in
/// `user:password@host`, and query parameters that carry secrets
/// (`?password=`, `sslpassword=`, `secret=`, `token=`, `key=`...).
pub fn mask_url(url: &str) -> String {
    // The user-info first, up to the last `@`, as a password may hold `?`
    // or `/`; query parameters only after it.
    let (mut masked, rest) = match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let user_info = match url[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => format!("{user}:****"),
                None => url[scheme_end + 3..at].to_owned(),
            };
            (format!("{}{user_info}", &url[..scheme_end + 3]), &url[at..])
        }
        _ => (String::new(), url),
    };
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (rest, None),
    };
    masked.push_str(base);
    if let Some(query) = query {
        let secret = |name: &str| {
            let name = name.to_ascii_lowercase();
            ["pass", "pwd", "secret", "token", "key"]
                .iter()
                .any(|word| name.contains(word))
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if secret(name) => format!("{name}=****"),
                _ => pair.to_owned(),
            })
            .collect();
        masked.push('?');
        masked.push_str(&pairs.join("&"));
    }
    masked
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
        assert_eq!(s.http.bind_address(), "127.0.0.1:8000");
        assert_eq!(s.database.url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.auth.jwt_algorithm, JwtAlgorithm::HS256);
        assert_eq!(s.auth.jwt_expire_minutes, 15);
        assert_eq!(s.auth.refresh_token_expire_days, 7);
        assert!(s.database.auto_migrate);
        assert!(s.http.docs_enabled);
        assert!(s.redis.url.is_none());
        assert!(s.auth.uses_development_secret());
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_problem() {
        let err = settings(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PORT: expected a whole number from 0 to 65535, got \"eighty\""
        );
        let err = settings(&[("JWT_EXPIRE_MINUTES", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "JWT_EXPIRE_MINUTES: expected a whole number from 1 to 1440, got \"0\""
        );
        for (variable, value) in [
            ("PORT", "70000"),
            ("ENVIRONMENT", "staging"),
            ("JWT_ALGORITHM", "none"),
            ("JWT_ALGORITHM", "RS256"),
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("REDIS_URL", "localhost:6379"),
            ("REDIS_TIMEOUT_MS", "5"),
            ("DOCS_ENABLED", "maybe"),
            ("LOG_LEVEL", "info,["),
            ("LOG_FORMAT", "xml"),
            ("CACHE_L1_TTL_SECONDS", "0"),
            ("RATE_LIMIT_LOGIN", "-1"),
            ("METRICS_PORT", "x"),
            ("BODY_LIMIT_BYTES", "10"),
        ] {
            assert_eq!(
                settings(&[(variable, value)]).unwrap_err().variable,
                variable,
                "{variable}={value}"
            );
        }
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
        let s = settings(&[("ENVIRONMENT", "prod"), ("SECRET_KEY", &strong)]).unwrap();
        assert!(
            !s.http.docs_enabled,
            "docs are off in production by default"
        );
        assert!(!s.database.auto_migrate);
        let s = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", &strong),
            ("DOCS_ENABLED", "true"),
        ])
        .unwrap();
        assert!(s.http.docs_enabled);
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let s = settings(&[
            ("SECRET_KEY", "hunter2-hunter2"),
            ("ADMIN_PASSWORD", "hunter3"),
            ("DATABASE_URL", "postgres://app:hunter4@db/app"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn job_and_mail_settings_are_checked_at_start_up() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.jobs.cleanup_schedule.0.map(|c| c.to_string()).as_deref(),
            Some("@hourly")
        );
        assert!(s.jobs.worker_in_api);
        let off = settings(&[("JOB_CLEANUP_SCHEDULE", "off")]).unwrap();
        assert!(off.jobs.cleanup_schedule.0.is_none());
        let production = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(
            !production.jobs.worker_in_api,
            "workers scale on their own in production"
        );
        for (variable, value) in [
            ("JOB_CLEANUP_SCHEDULE", "every hour"),
            ("JOB_CLEANUP_SCHEDULE", "0 0 * * * *"), // six fields: not River's cron
            ("SMTP_URL", "mail.example.com:25"),
            ("MAIL_FROM", "not an address"),
            ("JOB_MAX_ATTEMPTS", "0"),
            ("JOB_CONCURRENCY", "0"),
            ("JOB_BACKEND", "database"), // retired: named, never ignored
            ("JOB_LEASE_SECONDS", "30"),
            ("JOB_RETENTION_DAYS", "7"),
            ("JOB_RESCUE_AFTER_SECONDS", "30"), // under the 60 s timeout
            ("JOB_FETCH_COOLDOWN_MS", "2000"),  // over the 1 s poll interval
        ] {
            assert_eq!(
                settings(&[(variable, value)]).unwrap_err().variable,
                variable,
                "{variable}={value}"
            );
        }
        let retired = settings(&[("JOB_BACKEND", "redis")])
            .unwrap_err()
            .to_string();
        assert!(retired.contains("River"), "{retired}");
        let cron = settings(&[("JOB_CLEANUP_SCHEDULE", "*/5 * * * *")]).unwrap();
        assert_eq!(
            cron.jobs
                .cleanup_schedule
                .0
                .map(|c| c.to_string())
                .as_deref(),
            Some("*/5 * * * *")
        );
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
            ("ADMIN_PASSWORD", "adminpass"),
        ])
        .unwrap();
        let text = s.describe();
        for secret in ["hunter2", "pa55word", "redispass", "adminpass"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("DATABASE_URL=postgres://app:****@db/app\n"),
            "{text}"
        );
        assert!(text.contains("SECRET_KEY=****\n"), "{text}");
        assert!(text.contains("PORT=8000\n"), "{text}");
        assert!(text.contains("JWT_ALGORITHM=HS256\n"), "{text}");
        assert!(text.contains("DATABASE_READ_URL=(unset)\n"), "{text}");
        assert!(text.contains("CACHE_L1_TTL_SECONDS=5\n"), "{text}");
        assert!(text.contains("JOB_CLEANUP_SCHEDULE=@hourly\n"), "{text}");
    }

    #[test]
    fn described_settings_read_back_as_the_same_settings() {
        // print-config's output is itself a valid .env: feeding it back in
        // (secrets aside) gives the same settings.
        let s = settings(&[
            ("CORS_ORIGINS", "https://a.example, https://b.example/"),
            ("TRUSTED_PROXIES", "10.0.0.1,::1"),
            ("JOB_CLEANUP_SCHEDULE", "off"),
            ("LOG_FORMAT", "json"),
        ])
        .unwrap();
        let vars: Vec<(String, String)> = s
            .variables()
            .into_iter()
            .filter(|(name, _)| name != "SECRET_KEY")
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        let again = Settings::from_vars(vars).unwrap();
        assert_eq!(again.describe(), s.describe());
    }

    #[test]
    fn a_rejected_url_is_echoed_without_its_password() {
        let err =
            settings(&[("DATABASE_URL", "postgresql+asyncpg://app:S3cret@db/app")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
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
        assert_eq!(
            mask_url("postgres://db/app?user=app&password=s3cret&sslmode=require"),
            "postgres://db/app?user=app&password=****&sslmode=require"
        );
        assert_eq!(
            mask_url("postgres://u:p@db/app?sslpassword=k3y&application_name=x"),
            "postgres://u:****@db/app?sslpassword=****&application_name=x"
        );
        assert_eq!(
            mask_url("sqlite://data/app.db?mode=rwc"),
            "sqlite://data/app.db?mode=rwc"
        );
        assert_eq!(
            mask_url("postgres://app:pa?ss/w@db/app?sslmode=require"),
            "postgres://app:****@db/app?sslmode=require"
        );
    }

    #[test]
    fn names_are_exact_and_ports_are_numbers() {
        let s = settings(&[("port", "9999"), ("secret_key", "x")]).unwrap();
        assert_eq!(s.http.port, 8000, "lower-case names are not settings");
        assert!(s.auth.uses_development_secret());
        for value in ["off", "true", "no", "70000"] {
            let err = settings(&[("METRICS_PORT", value)]).unwrap_err();
            assert_eq!(err.variable, "METRICS_PORT", "{value}");
        }
        assert_eq!(
            settings(&[("METRICS_PORT", "9100")]).unwrap().metrics.port,
            Some(9100)
        );
    }

    #[test]
    fn query_passwords_never_reach_print_config_or_errors() {
        let s = settings(&[("DATABASE_URL", "postgres://db/app?password=hunter2")]).unwrap();
        assert!(!s.describe().contains("hunter2"), "{}", s.describe());
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = settings(&[("REDIS_URL", "redis+x://cache?password=hunter2")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_development_secret_is_never_served_to_a_network() {
        for host in ["0.0.0.0", "192.168.1.10", "::", "api.example.com"] {
            let err = settings(&[("HOST", host)]).unwrap_err();
            assert_eq!(err.variable, "SECRET_KEY", "{host}");
        }
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            assert!(settings(&[("HOST", host)]).is_ok(), "{host}");
        }
        let own = "k".repeat(32);
        assert!(settings(&[("HOST", "0.0.0.0"), ("SECRET_KEY", &own)]).is_ok());
    }

    #[test]
    fn a_redis_ca_needs_a_tls_url() {
        let err = settings(&[("REDIS_CA_CERT", "/etc/ca.pem")]).unwrap_err();
        assert_eq!(err.variable, "REDIS_CA_CERT");
        let err = settings(&[
            ("REDIS_URL", "redis://cache"),
            ("REDIS_CA_CERT", "/etc/ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "REDIS_CA_CERT");
        let s = settings(&[
            ("REDIS_URL", "rediss://cache"),
            ("REDIS_CA_CERT", "/etc/ca.pem"),
        ]);
        assert_eq!(s.unwrap().redis.ca_cert.as_deref(), Some("/etc/ca.pem"));
    }

    #[test]
    fn hsts_is_off_unless_asked_for() {
        assert_eq!(settings(&[]).unwrap().http.hsts_max_age_seconds, None);
        let s = settings(&[("HSTS_MAX_AGE_SECONDS", "31536000")]).unwrap();
        assert_eq!(s.http.hsts_max_age_seconds, Some(31_536_000));
        let err = settings(&[("HSTS_MAX_AGE_SECONDS", "soon")]).unwrap_err();
        assert_eq!(err.variable, "HSTS_MAX_AGE_SECONDS");
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
        let origins: Vec<&str> = s.cors.origins.iter().map(Origin::as_str).collect();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.http.trusted_proxies.len(), 2);
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
        assert_eq!(s.http.port, 8000);
        assert!(s.redis.url.is_none());
    }

    #[test]
    fn env_example_lists_exactly_the_settings() {
        let example = include_str!("../../../../.env.example");
        let documented: std::collections::BTreeSet<&str> = example
            .lines()
            .map(|line| line.trim_start_matches('#').trim_start())
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .filter(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect();
        let s = settings(&[]).unwrap();
        let variables = s.variables();
        let settings: std::collections::BTreeSet<&str> =
            variables.iter().map(|(name, _)| name.as_str()).collect();
        let undocumented: Vec<_> = settings.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&settings).collect();
        assert!(
            undocumented.is_empty(),
            "settings missing from .env.example: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            ".env.example names variables that are not settings: {unknown:?}"
        );
    }
}
