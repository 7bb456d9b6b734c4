//! The settings' sections, one per concern. Each field is written once:
//! its variable and meaning in the doc comment (`.env.example` says more),
//! its default in `#[default(...)]` (none: the type's own), its rule in its
//! type or `deserialize_with`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

use super::{
    parse::{
        CommaList, IpRange, KeyValue, Origin, any_case, base_url, base_url_opt, log_filter,
        mailbox, ratio, within, within_opt,
    },
    secret::{Secret, SecretUrl},
};

/// The secret shipped for development. Production refuses to start with it.
pub const DEVELOPMENT_SECRET_KEY: &str = "development-secret-key-do-not-use-in-production";

/// The default database: a SQLite file under `data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

/// The HTTP server (no prefix: `HOST`, `PORT`, ...).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpSettings {
    /// `RELEASE_VERSION`: reported by the health endpoint.
    #[default(env!("CARGO_PKG_VERSION").to_owned())]
    pub release_version: String,
    /// `HOST`: the address to listen on.
    #[default("127.0.0.1")]
    pub host: String,
    /// `PORT`.
    #[default(8000)]
    #[serde(deserialize_with = "within::<_, _, 0, 65_535>")]
    pub port: u16,
    /// `BODY_LIMIT_BYTES`: largest accepted request body.
    #[default(64 * 1024)]
    #[serde(deserialize_with = "within::<_, _, 1024, 67_108_864>")]
    pub body_limit_bytes: usize,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed,
    /// as addresses or ranges (`10.0.0.0/8`).
    pub trusted_proxies: CommaList<IpRange>,
    /// `BODY_TIMEOUT_SECONDS`: longest a client may take to send a request
    /// body once its headers are in; a slower one gets 408 (a trickled body
    /// would otherwise hold a connection open for ever).
    #[default(10)]
    #[serde(deserialize_with = "within::<_, _, 1, 3600>")]
    pub body_timeout_seconds: u64,
    /// `SHUTDOWN_GRACE_SECONDS`: how long requests and jobs may finish after SIGTERM.
    #[default(30)]
    #[serde(deserialize_with = "within::<_, _, 0, 3600>")]
    pub shutdown_grace_seconds: u64,
    /// `DOCS_ENABLED`: serve `/docs` and `/openapi.json` (off in production).
    #[default(true)]
    pub docs_enabled: bool,
    /// `HSTS_MAX_AGE_SECONDS`: unset by default, since only a deployment
    /// served over HTTPS may ask browsers to insist on it.
    #[serde(default, deserialize_with = "within_opt::<_, _, 1, 63_072_000>")]
    pub hsts_max_age_seconds: Option<u64>,
}

impl HttpSettings {
    /// `host:port`, for binding.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `HOST` as an IP address (brackets allowed: `[::1]`); `None` for a
    /// name such as `localhost`.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .ok()
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// Browsers on other origins (`CORS_*`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsSettings {
    /// `CORS_ORIGINS`: origins allowed to call the API from a browser (`*`: any).
    pub origins: CommaList<Origin>,
    /// `CORS_ALLOW_CREDENTIALS`: only with listed origins.
    pub allow_credentials: bool,
}

/// Tokens and accounts (no prefix).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// `SECRET_KEY`: signs every token. Production refuses the default.
    #[default(Secret::new(DEVELOPMENT_SECRET_KEY))]
    pub secret_key: Secret,
    /// `SECRET_KEY_PREVIOUS`: the key before the current one; tokens it
    /// signed still verify, nothing new is signed with it (key rotation).
    pub secret_key_previous: Option<Secret>,
    /// `JWT_ALGORITHM`.
    #[default(JwtAlgorithm::HS256)]
    #[serde(deserialize_with = "any_case")]
    pub jwt_algorithm: JwtAlgorithm,
    /// `JWT_EXPIRE_MINUTES`: lifetime of access tokens.
    #[default(15)]
    #[serde(deserialize_with = "within::<_, _, 1, 1440>")]
    pub jwt_expire_minutes: u32,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: lifetime of refresh tokens.
    #[default(7)]
    #[serde(deserialize_with = "within::<_, _, 1, 365>")]
    pub refresh_token_expire_days: u32,
    /// `SESSION_MAX_DAYS`: a login ends this long after it began, however
    /// often its refresh tokens are rotated.
    #[default(30)]
    #[serde(deserialize_with = "within::<_, _, 1, 3650>")]
    pub session_max_days: u32,
    /// `SESSION_RECHECK_SECONDS`: how long one instance trusts its last look
    /// at a login: the bound on how late it notices another's logout,
    /// password change, demotion or deletion (0: asks on every request).
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 0, 300>")]
    pub session_recheck_seconds: u64,
    /// `ADMIN_PASSWORD`: the password `api create-admin` gives a new admin
    /// account (from the environment, so it stays out of shell history).
    pub admin_password: Option<Secret>,
    /// `PASSWORD_RESET_EXPIRE_MINUTES`: how long a password reset link
    /// works (5 to 1440, default 30).
    #[default(30)]
    #[serde(deserialize_with = "within::<_, _, 5, 1440>")]
    pub password_reset_expire_minutes: u32,
    /// `EMAIL_VERIFICATION_EXPIRE_HOURS`: how long an email verification
    /// link works (1 to 720, default 48).
    #[default(48)]
    #[serde(deserialize_with = "within::<_, _, 1, 720>")]
    pub email_verification_expire_hours: u32,
    /// `REQUIRE_VERIFIED_EMAIL`: accounts whose address is not verified
    /// cannot sign in (default false).
    pub require_verified_email: bool,
    /// `LOGIN_TRUST_DAYS`: how long an account remembers a client that
    /// logged in to it (its device token, its address): login limits never
    /// cap a remembered client (1 to 365, default 30).
    #[default(30)]
    #[serde(deserialize_with = "within::<_, _, 1, 365>")]
    pub login_trust_days: u32,
}

impl AuthSettings {
    /// Whether the development secret is in use (worth a warning outside tests).
    pub fn uses_development_secret(&self) -> bool {
        self.secret_key.expose() == DEVELOPMENT_SECRET_KEY
    }
}

/// The database pools (`DATABASE_*`).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: SQLite or Postgres.
    #[default(SecretUrl::new(DEFAULT_DATABASE_URL))]
    pub url: SecretUrl,
    /// `DATABASE_READ_URL`: a read replica, for reads outside transactions.
    pub read_url: Option<SecretUrl>,
    /// `DATABASE_MIGRATION_URL`: the role that changes the schema, for
    /// `api migrate` and start-up migrations; unset, `DATABASE_URL`'s. In
    /// production the API's own role then has no DDL rights.
    pub migration_url: Option<SecretUrl>,
    /// `DATABASE_MAX_CONNECTIONS`: pool size, per pool.
    #[default(10)]
    #[serde(deserialize_with = "within::<_, _, 1, 10_000>")]
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS`: wait for a pooled connection.
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 1, 600>")]
    pub acquire_timeout_seconds: u64,
    /// `DATABASE_STATEMENT_TIMEOUT_SECONDS`: Postgres cancels longer ones (0: off).
    #[default(10)]
    #[serde(deserialize_with = "within::<_, _, 0, 3600>")]
    pub statement_timeout_seconds: u64,
    /// `DATABASE_AUTO_MIGRATE`: migrate at start-up (off in production).
    #[default(true)]
    pub auto_migrate: bool,
}

/// Redis (`REDIS_*`), optional.
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `REDIS_URL`: when set, the cache, rate limits and readiness use it.
    pub url: Option<SecretUrl>,
    /// `REDIS_KEY_PREFIX`: of every key, so apps and test runs can share a Redis.
    #[default("rpt:")]
    pub key_prefix: String,
    /// `REDIS_TIMEOUT_MS`: connect and command timeout.
    #[default(500)]
    #[serde(deserialize_with = "within::<_, _, 10, 60_000>")]
    pub timeout_ms: u64,
    /// `REDIS_CA_CERT`: PEM file of the CA a `rediss://` server chains to.
    pub ca_cert: Option<String>,
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
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
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct CacheSettings {
    /// `CACHE_ENABLED`: cache reads of users and tasks.
    #[default(true)]
    pub enabled: bool,
    /// `CACHE_TTL_SECONDS`: how long a value lives unless a write invalidates it.
    #[default(60)]
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub ttl_seconds: u64,
    /// `CACHE_CAPACITY`: entries the in-process cache (or first tier) holds.
    #[default(10_000)]
    #[serde(deserialize_with = "within::<_, _, 1, 100_000_000>")]
    pub capacity: u64,
    /// `CACHE_L1_ENABLED`: with Redis, an in-process first tier (pub/sub).
    pub l1_enabled: bool,
    /// `CACHE_L1_TTL_SECONDS`: longest a first-tier entry lives, the bound on
    /// staleness if an invalidation message is lost.
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 1, 3600>")]
    pub l1_ttl_seconds: u64,
}

/// Per-client-IP limits on the endpoints that guess at secrets
/// (`RATE_LIMIT_*`).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED`.
    #[default(true)]
    pub enabled: bool,
    /// `RATE_LIMIT_WINDOW_SECONDS`: length of a window.
    #[default(60)]
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub window_seconds: u64,
    /// `RATE_LIMIT_LOGIN`: failed logins per client address (IPv6: per
    /// /64), whatever the account; successful ones spend nothing.
    #[default(10)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub login: u32,
    /// `RATE_LIMIT_LOGIN_ACCOUNT`: failed logins on one email per client
    /// address; past as many from all addresses, the account is under
    /// attack (`web::middleware::LoginGate`).
    #[default(10)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub login_account: u32,
    /// `RATE_LIMIT_LOGIN_UNTRUSTED`: logins per window on an account under
    /// attack from clients it does not know, all of them together; clients
    /// it knows are never capped (default 3).
    #[default(3)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub login_untrusted: u32,
    /// `RATE_LIMIT_REGISTER`: registrations.
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub register: u32,
    /// `RATE_LIMIT_REFRESH`: token refreshes.
    #[default(30)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub refresh: u32,
    /// `RATE_LIMIT_ACCOUNT_MAIL`: mails asked for (password reset requests
    /// and verification resends), per client address and per account, so
    /// that no one can flood a mailbox or the mail server (default 5).
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 1, 1_000_000>")]
    pub account_mail: u32,
    /// `RATE_LIMIT_RESET_MAILS_PER_ADDRESS`: reset mails one address gets
    /// per reset link lifetime (at most an hour), however many clients ask;
    /// more requests are answered alike and mail nothing (default 3).
    #[default(3)]
    #[serde(deserialize_with = "within::<_, _, 1, 1000>")]
    pub reset_mails_per_address: u32,
}

/// Background jobs (`JOB_*`), run by River. The rest of River's knobs keep
/// its defaults or are constants in `application::jobs`, with the reason.
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct JobSettings {
    /// `JOB_WORKER_IN_API`: the API also runs a worker (off in production,
    /// where workers scale on their own).
    #[default(true)]
    pub worker_in_api: bool,
    /// `JOB_CONCURRENCY`: jobs one worker runs at once (tasks, not threads).
    #[default(100)]
    #[serde(deserialize_with = "within::<_, _, 1, 10_000>")]
    pub concurrency: u32,
    /// `JOB_POLL_INTERVAL_MS`: how often a worker looks for jobs unannounced.
    #[default(1000)]
    #[serde(deserialize_with = "within::<_, _, 10, 600_000>")]
    pub poll_interval_ms: u64,
    /// `JOB_MAX_ATTEMPTS`: attempts before a job is discarded.
    #[default(5)]
    #[serde(deserialize_with = "within::<_, _, 1, 1000>")]
    pub max_attempts: u32,
    /// `JOB_TIMEOUT_SECONDS`: longest one attempt may run.
    #[default(60)]
    #[serde(deserialize_with = "within::<_, _, 1, 86_400>")]
    pub timeout_seconds: u64,
    /// `JOB_RESCUE_AFTER_SECONDS`: a running job whose worker died is retried
    /// after this long ([`JobSettings::rescue_after`]).
    #[serde(deserialize_with = "within_opt::<_, _, 1, 604_800>")]
    pub rescue_after_seconds: Option<u64>,
    /// `JOB_BACKOFF_BASE_MS`: retry `n` waits about `base * 2^(n-1)`.
    #[default(1000)]
    #[serde(deserialize_with = "within::<_, _, 1, 3_600_000>")]
    pub backoff_base_ms: u64,
    /// `JOB_CLEANUP_SCHEDULE`: when housekeeping runs, or `off`. Kept as
    /// text here and parsed where workers are built (`application`), so
    /// that settings do not link River, and with it a database driver.
    #[default("@hourly")]
    pub cleanup_schedule: String,
}

impl JobSettings {
    /// `JOB_RESCUE_AFTER_SECONDS`, or the timeout plus 60 s: a live worker
    /// stops an attempt at its timeout, and River aborts it 10 s later.
    pub fn rescue_after(&self) -> u64 {
        self.rescue_after_seconds
            .unwrap_or(self.timeout_seconds.saturating_add(60))
    }
}

/// Outgoing mail (no prefix: `SMTP_URL`, `MAIL_FROM`, `MAIL_DIR`,
/// `PUBLIC_BASE_URL`, `PRODUCT_NAME`).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct MailSettings {
    /// `SMTP_URL`. Unset: `MAIL_DIR` or the log.
    pub smtp_url: Option<SecretUrl>,
    /// `MAIL_FROM`: sender of outgoing mail.
    #[default("Rust Production Template <noreply@localhost>")]
    #[serde(deserialize_with = "mailbox")]
    pub mail_from: String,
    /// `MAIL_DIR`: without `SMTP_URL`, write each message to a file here.
    pub mail_dir: Option<String>,
    /// `PUBLIC_BASE_URL`: where users open the links mails carry (the
    /// front end serving `/verify-email` and `/reset-password`), default
    /// `http://localhost:8000`. An `http://` or `https://` URL, kept without
    /// a trailing slash. Production refuses the default.
    #[default("http://localhost:8000")]
    #[serde(deserialize_with = "base_url")]
    pub public_base_url: String,
    /// `PRODUCT_NAME`: how mails name the product, default
    /// `Rust Production Template`. Never empty: a blank value counts as
    /// unset, like any other.
    #[default("Rust Production Template")]
    pub product_name: String,
}

/// Logs (`LOG_*`).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `LOG_FORMAT`.
    #[default(LogFormat::Pretty)]
    #[serde(deserialize_with = "any_case")]
    pub format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,sqlx=warn`.
    #[default("info")]
    #[serde(deserialize_with = "log_filter")]
    pub level: String,
}

/// Traces exported over OTLP (`OTEL_*`, OpenTelemetry's own names). Off
/// unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; every value reaches the
/// exporter from here (no library reads the environment behind it).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct OtelSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/HTTP receiver's base URL
    /// (`http://localhost:4318`); spans go to `{endpoint}/v1/traces`.
    /// Unset: no exporter, and no span per request.
    #[serde(default, deserialize_with = "base_url_opt")]
    pub exporter_otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the one built in.
    #[default(OtlpProtocol::HttpProtobuf)]
    pub exporter_otlp_protocol: OtlpProtocol,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,...` sent with every export
    /// (often an API key, so kept secret).
    pub exporter_otlp_headers: Option<Secret>,
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` compresses each export
    /// (several times smaller; OTLP receivers accept it), `none` does not.
    #[serde(deserialize_with = "any_case")]
    pub exporter_otlp_compression: OtlpCompression,
    /// `OTEL_SERVICE_NAME`: the `service.name` of every span; unset, the
    /// binary's name (`api`, `worker`).
    pub service_name: Option<String>,
    /// `OTEL_TRACES_SAMPLER`: which traces are kept.
    #[default(TracesSampler::ParentbasedAlwaysOn)]
    #[serde(deserialize_with = "any_case")]
    pub traces_sampler: TracesSampler,
    /// `OTEL_TRACES_SAMPLER_ARG`: the ratio (0 to 1) of the ratio samplers.
    #[default(1.0)]
    #[serde(deserialize_with = "ratio")]
    pub traces_sampler_arg: f64,
    /// `OTEL_RESOURCE_ATTRIBUTES`: `key=value,...` on every span
    /// (`deployment.environment.name=production`, say).
    pub resource_attributes: CommaList<KeyValue>,
    /// `OTEL_CLIENT_ADDRESS`: the client's address on request spans, which
    /// is personal data: `truncated` (the default: its /24, or /64 for
    /// IPv6), `full`, or `off`.
    #[serde(deserialize_with = "any_case")]
    pub client_address: ClientAddress,
}

/// `OTEL_CLIENT_ADDRESS`'s values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAddress {
    /// The network, not the host: an IPv4 /24, an IPv6 /64.
    #[default]
    Truncated,
    Full,
    Off,
}

impl ClientAddress {
    /// What a span records of `ip`.
    pub fn of(self, ip: std::net::IpAddr) -> Option<String> {
        use std::net::IpAddr;
        match (self, ip.to_canonical()) {
            (Self::Off, _) => None,
            (Self::Full, ip) => Some(ip.to_string()),
            (Self::Truncated, IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                Some(format!("{a}.{b}.{c}.0/24"))
            }
            (Self::Truncated, IpAddr::V6(v6)) => {
                let network = u128::from(v6) & !u128::from(u64::MAX);
                Some(format!("{}/64", std::net::Ipv6Addr::from(network)))
            }
        }
    }
}

impl OtelSettings {
    /// `OTEL_EXPORTER_OTLP_HEADERS` as `(name, value)` pairs; an item that is
    /// not `name=value` is an error that does not quote the value.
    pub fn headers(&self) -> Result<Vec<(String, String)>, String> {
        let Some(raw) = &self.exporter_otlp_headers else {
            return Ok(Vec::new());
        };
        raw.expose()
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .enumerate()
            .map(|(n, item)| match item.split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok((name.trim().to_owned(), value.trim().to_owned()))
                }
                _ => Err(format!("item {} is not name=value", n + 1)),
            })
            .collect()
    }

    /// Where spans go, if anywhere: `{endpoint}/v1/traces`.
    pub fn traces_url(&self) -> Option<String> {
        self.exporter_otlp_endpoint
            .as_ref()
            .map(|endpoint| format!("{endpoint}/v1/traces"))
    }
}

/// OTLP's transports; only `http/protobuf` is built in (`grpc` would add
/// tonic and a second HTTP stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum OtlpProtocol {
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION`'s values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpCompression {
    #[default]
    None,
    Gzip,
}

/// OpenTelemetry's sampler names (`OTEL_TRACES_SAMPLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TracesSampler {
    AlwaysOn,
    AlwaysOff,
    Traceidratio,
    ParentbasedAlwaysOn,
    ParentbasedAlwaysOff,
    ParentbasedTraceidratio,
}

/// Prometheus metrics (`METRICS_*`).
#[derive(Debug, Clone, SmartDefault, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// `METRICS_ENABLED`.
    #[default(true)]
    pub enabled: bool,
    /// `METRICS_PORT`: serve `/metrics` on this port (on `HOST`) instead of
    /// the API's, to keep it off the public listener. In production the
    /// API's port never serves it: this port or nowhere.
    #[serde(default, deserialize_with = "within_opt::<_, _, 0, 65_535>")]
    pub port: Option<u16>,
}

impl MetricsSettings {
    /// The port `/metrics` is served on apart from the API, if any.
    pub fn own_port(&self) -> Option<u16> {
        self.port.filter(|_| self.enabled)
    }
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
