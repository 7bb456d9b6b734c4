//! Typed settings, loaded once at start-up from the environment and `.env`.
//!
//! Loading is the `config` crate's: each section (`sections.rs`) is a serde
//! struct read from the variables with its prefix (`SECTIONS`). Every
//! variable is documented in `.env.example`, and a test checks the list.
//!
//! A missing variable takes its default. A present but unusable one stops
//! start-up with a [`ConfigError`] naming the variable and what it expects,
//! because a typo in production config must not silently fall back to a
//! default. Blank values count as unset, so `PORT=` in a `.env` file is
//! harmless.
//!
//! Each layer receives only its section (`TokenService::new(&settings.auth)`),
//! so what a component can be configured by is visible in its signature.

mod parse;
mod secret;
mod sections;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use parse::{CommaList, IpRange, KeyValue, Origin};
pub use secret::{Secret, SecretUrl, mask_url};
pub use sections::{
    AuthSettings, CacheSettings, CorsSettings, DEFAULT_DATABASE_URL, DEVELOPMENT_SECRET_KEY,
    DatabaseSettings, Environment, HttpSettings, JobSettings, JwtAlgorithm, LogFormat,
    MailSettings, MetricsSettings, OtelSettings, OtlpCompression, OtlpProtocol, RateLimitSettings,
    RedisSettings, TelemetrySettings, TracesSampler,
};

use parse::{any_case, config_error};

/// Minimum length of `SECRET_KEY` in production: 256 bits for HMAC-SHA256.
pub const MIN_PRODUCTION_SECRET_LEN: usize = 32;

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
    /// `variable: problem`, the problem on one line.
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// `ENVIRONMENT`: development (default), test or production.
    #[serde(deserialize_with = "any_case")]
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
    pub otel: OtelSettings,
    pub metrics: MetricsSettings,
}

/// Each section of [`Settings`] and the prefix of its variables
/// (`DATABASE_URL` is `database.url`): the one list that loading and
/// [`Settings::variables`] read.
const SECTIONS: [(&str, &str); 12] = [
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
    ("otel", "OTEL_"),
    ("metrics", "METRICS_"),
];

/// What applies instead of the job retention settings.
const RIVER_RETENTION: &str = "River's defaults apply: completed and cancelled jobs are deleted \
     after 24 hours, discarded ones after 168 hours";

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
    // Retention equal to River's defaults, which now apply (no one set them).
    ("JOB_RETENTION_DAYS", RIVER_RETENTION),
    ("JOB_COMPLETED_RETENTION_HOURS", RIVER_RETENTION),
    ("JOB_CANCELLED_RETENTION_HOURS", RIVER_RETENTION),
    ("JOB_DISCARDED_RETENTION_HOURS", RIVER_RETENTION),
    // Constants in `application::jobs` now, each with its reason.
    (
        "JOB_FETCH_COOLDOWN_MS",
        "a busy worker fetches at most every 10 ms",
    ),
    ("JOB_BACKOFF_MAX_SECONDS", "a retry waits at most one hour"),
];

impl Settings {
    /// Loads `.env` (when present) into the process environment and parses
    /// the environment. The one place that reads the environment: binaries
    /// call it once in `main` and pass the settings down.
    pub fn load() -> Result<Self, LoadError> {
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(LoadError::DotEnv(err.to_string()));
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
        // depend on hash order), and reads `.` or `[` in a key as a path.
        let mut vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into().trim().to_owned()))
            .filter(|(k, v)| {
                !v.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        read_files(&mut vars)?;
        if let Some((name, replacement)) = RETIRED.iter().find(|(name, _)| vars.contains_key(*name))
        {
            return Err(ConfigError::new(
                *name,
                format!("is no longer a setting: {replacement}"),
            ));
        }
        // The exporter reads the per-signal forms itself, ahead of the ones
        // in the settings: refused, rather than obeyed or ignored unseen.
        if let Some(name) = vars
            .keys()
            .find(|name| name.starts_with("OTEL_EXPORTER_OTLP_TRACES_"))
        {
            return Err(ConfigError::new(
                name,
                format!(
                    "is not read: traces are the one signal exported, so set {} (an endpoint \
                     is the base URL; spans go to {{endpoint}}/v1/traces)",
                    name.replace("_TRACES_", "_")
                ),
            ));
        }
        // Each variable as `section.field` in every section whose prefix it
        // has (no-prefix sections see them all and ignore what is not theirs).
        let mut keys = HashMap::new();
        if let Some(environment) = vars.get("ENVIRONMENT") {
            keys.insert("environment".to_owned(), environment.clone());
        }
        for (name, value) in &vars {
            for (section, prefix) in SECTIONS {
                if let Some(field) = name.strip_prefix(prefix) {
                    let key = format!("{section}.{}", field.to_ascii_lowercase());
                    keys.insert(key, value.clone());
                }
            }
        }
        let mut settings: Settings = config::Config::builder()
            .add_source(config::Environment::default().source(Some(keys)))
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(config_error)?;
        // Safe defaults that depend on where we run: in production, off
        // unless set.
        if settings.environment == Environment::Production {
            for (name, on) in [
                ("DOCS_ENABLED", &mut settings.http.docs_enabled),
                ("DATABASE_AUTO_MIGRATE", &mut settings.database.auto_migrate),
                ("JOB_WORKER_IN_API", &mut settings.jobs.worker_in_api),
            ] {
                *on &= vars.contains_key(name);
            }
        }
        settings.check()?;
        // The headers are secret: the problem never quotes them.
        if let Err(problem) = settings.otel.headers() {
            return Err(ConfigError::new("OTEL_EXPORTER_OTLP_HEADERS", problem));
        }
        // The default links every mail to localhost, useless to a user on
        // another machine: production must say where it is served.
        if settings.environment == Environment::Production && !vars.contains_key("PUBLIC_BASE_URL")
        {
            return Err(ConfigError::new(
                "PUBLIC_BASE_URL",
                "must be set in production: mails link to it (verification, password reset), \
                 and the default is http://localhost:8000",
            ));
        }
        Ok(settings)
    }

    /// Every URL setting starts with a scheme its client speaks.
    fn check_schemes(&self) -> Result<(), ConfigError> {
        const DATABASE: &[&str] = &["sqlite:", "postgres://", "postgresql://"];
        const REDIS: &[&str] = &["redis://", "rediss://"];
        const SMTP: &[&str] = &["smtp://", "smtps://"];
        let database = &self.database;
        let urls = [
            ("DATABASE_URL", Some(&database.url), DATABASE),
            ("DATABASE_READ_URL", database.read_url.as_ref(), DATABASE),
            (
                "DATABASE_MIGRATION_URL",
                database.migration_url.as_ref(),
                DATABASE,
            ),
            ("REDIS_URL", self.redis.url.as_ref(), REDIS),
            ("SMTP_URL", self.mail.smtp_url.as_ref(), SMTP),
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
        Ok(())
    }

    /// Rules that span fields or depend on the environment.
    fn check(&self) -> Result<(), ConfigError> {
        self.check_schemes()?;
        // Anyone who has read this repository knows the development secret
        // and can sign tokens for any user: never serve it to a network.
        // Loopback (`127.0.0.1`, `::1`, `localhost`): only this machine connects.
        let host = &self.http.host;
        let loopback = host.eq_ignore_ascii_case("localhost")
            || self.http.ip().is_some_and(|ip| ip.is_loopback());
        let production = self.environment == Environment::Production;
        let auth = &self.auth;
        // The previous key verifies tokens, so it is refused alike; but it
        // may be short, so that rotating away from a short key logs no one out.
        let keys = [
            ("SECRET_KEY", Some(&auth.secret_key)),
            ("SECRET_KEY_PREVIOUS", auth.secret_key_previous.as_ref()),
        ];
        for (variable, key) in keys {
            let Some(key) = key.map(Secret::expose) else {
                continue;
            };
            if production && key == DEVELOPMENT_SECRET_KEY {
                return Err(ConfigError::new(
                    variable,
                    "the development secret must not be used in production; \
                     generate one with `openssl rand -hex 32`",
                ));
            }
            if key == DEVELOPMENT_SECRET_KEY && !loopback {
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "the development secret must not be used while listening on {host} \
                         (reachable from other machines); use a key of your own \
                         (`openssl rand -hex 32`) or HOST=127.0.0.1"
                    ),
                ));
            }
        }
        if production && auth.secret_key.expose().len() < MIN_PRODUCTION_SECRET_LEN {
            return Err(ConfigError::new(
                "SECRET_KEY",
                format!("must be at least {MIN_PRODUCTION_SECRET_LEN} bytes in production"),
            ));
        }
        // Password reset and verification mails must reach users: the log
        // is no place for them in production.
        if production && self.mail.smtp_url.is_none() && self.mail.mail_dir.is_none() {
            return Err(ConfigError::new(
                "SMTP_URL",
                "must be set in production (or MAIL_DIR, to write mails to files): password \
                 reset and verification mails must reach users",
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
        let tree = serde_json::to_value(self).expect("settings serialize to JSON");
        let value = |value: &serde_json::Value| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let mut out = vec![("ENVIRONMENT".to_owned(), value(&tree["environment"]))];
        for (section, prefix) in SECTIONS {
            let fields = tree[section]
                .as_object()
                .unwrap_or_else(|| panic!("settings section {section} is not serialized"));
            for (key, v) in fields {
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

/// Replaces each `NAME_FILE` whose `NAME` is a setting with `NAME` set to
/// the file's content, trimmed like any value: how Docker and Kubernetes
/// hand out secrets. Any setting may be read this way, not only secrets:
/// the loader sees names before types, and a list of the secret ones would
/// be one more place a new secret must remember.
fn read_files(vars: &mut HashMap<String, String>) -> Result<(), ConfigError> {
    let names: Vec<String> = Settings::default()
        .variables()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in names {
        let file_variable = format!("{name}_FILE");
        let Some(path) = vars.remove(&file_variable) else {
            continue;
        };
        if vars.contains_key(&name) {
            return Err(ConfigError::new(
                file_variable,
                format!("cannot be set together with {name}; set one of them"),
            ));
        }
        // The error names the path, never the content.
        let value = std::fs::read_to_string(&path).map_err(|err| {
            ConfigError::new(&file_variable, format!("cannot read {path}: {err}"))
        })?;
        let value = value.trim();
        if !value.is_empty() {
            vars.insert(name, value.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars.iter().copied())
    }

    /// Production settings with what production requires besides a secret
    /// (a public URL, somewhere for mail to go); `vars` come last and win.
    fn production(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let required = [
            ("ENVIRONMENT", "production"),
            ("PUBLIC_BASE_URL", "https://app.example.com"),
            ("MAIL_DIR", "/var/lib/app/mail"),
        ];
        Settings::from_vars(required.into_iter().chain(vars.iter().copied()))
    }

    #[test]
    fn spans_carry_the_client_network_unless_told_otherwise() {
        use sections::ClientAddress;
        let ip = |raw: &str| raw.parse().unwrap();
        let of = |mode: ClientAddress, raw: &str| mode.of(ip(raw));
        let default = settings(&[]).unwrap().otel.client_address;
        assert_eq!(
            of(default, "203.0.113.9").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            of(default, "2001:db8:1:2::9").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(
            of(ClientAddress::Full, "::ffff:203.0.113.9").as_deref(),
            Some("203.0.113.9")
        );
        let off = settings(&[("OTEL_CLIENT_ADDRESS", "OFF")])
            .unwrap()
            .otel
            .client_address;
        assert_eq!(of(off, "203.0.113.9"), None);
        assert_eq!(
            settings(&[("OTEL_CLIENT_ADDRESS", "hashed")])
                .unwrap_err()
                .variable,
            "OTEL_CLIENT_ADDRESS"
        );
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
            ("PASSWORD_RESET_EXPIRE_MINUTES", "4"),
            ("EMAIL_VERIFICATION_EXPIRE_HOURS", "721"),
            ("REQUIRE_VERIFIED_EMAIL", "maybe"),
            ("RATE_LIMIT_ACCOUNT_MAIL", "0"),
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
        let err = production(&[]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
        assert!(err.problem.contains("development secret"));

        let err = production(&[("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
        assert!(err.problem.contains("32 bytes"));

        let strong = "k".repeat(32);
        let s = production(&[("ENVIRONMENT", "prod"), ("SECRET_KEY", &strong)]).unwrap();
        assert!(
            !s.http.docs_enabled,
            "docs are off in production by default"
        );
        assert!(!s.database.auto_migrate);
        let s = production(&[("SECRET_KEY", &strong), ("DOCS_ENABLED", "true")]).unwrap();
        assert!(s.http.docs_enabled);
    }

    #[test]
    fn production_refuses_to_link_to_localhost_or_to_keep_mail_in_the_log() {
        let strong = "k".repeat(32);
        let without = |name: &str| {
            let vars = [
                ("ENVIRONMENT", "production"),
                ("SECRET_KEY", strong.as_str()),
                ("PUBLIC_BASE_URL", "https://app.example.com"),
                ("MAIL_DIR", "/var/lib/app/mail"),
            ];
            Settings::from_vars(vars.into_iter().filter(|(n, _)| *n != name))
        };
        let err = without("PUBLIC_BASE_URL").unwrap_err();
        assert_eq!(err.variable, "PUBLIC_BASE_URL");
        let err = without("MAIL_DIR").unwrap_err();
        assert_eq!(err.variable, "SMTP_URL");
        assert!(err.problem.contains("MAIL_DIR"), "{err}");
        let smtp = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", &strong),
            ("PUBLIC_BASE_URL", "https://app.example.com"),
            ("SMTP_URL", "smtps://smtp.example.com"),
        ])
        .unwrap();
        assert!(smtp.mail.mail_dir.is_none() && smtp.mail.smtp_url.is_some());
        // Elsewhere the defaults serve: the log and localhost.
        let s = settings(&[]).unwrap();
        assert_eq!(s.mail.public_base_url, "http://localhost:8000");
        assert!(s.mail.smtp_url.is_none() && s.mail.mail_dir.is_none());
    }

    #[test]
    fn the_public_base_url_is_http_and_has_no_trailing_slash() {
        for (raw, kept) in [
            ("https://app.example.com/", "https://app.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("https://example.com/app//", "https://example.com/app"),
        ] {
            let s = settings(&[("PUBLIC_BASE_URL", raw)]).unwrap();
            assert_eq!(s.mail.public_base_url, kept, "{raw}");
        }
        for raw in ["app.example.com", "ftp://example.com", "https://", "/app"] {
            let err = settings(&[("PUBLIC_BASE_URL", raw)]).unwrap_err();
            assert_eq!(err.variable, "PUBLIC_BASE_URL", "{raw}");
        }
        let s = settings(&[("PRODUCT_NAME", "Acme Tasks")]).unwrap();
        assert_eq!(s.mail.product_name, "Acme Tasks");
        assert_eq!(
            settings(&[("PRODUCT_NAME", " ")])
                .unwrap()
                .mail
                .product_name,
            "Rust Production Template",
            "blank is unset"
        );
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
        // The schedule is parsed where workers are built (application's
        // `jobs::cleanup_schedule`, tested there): here it is text.
        let s = settings(&[]).unwrap();
        assert_eq!(s.jobs.cleanup_schedule, "@hourly");
        assert!(s.jobs.worker_in_api);
        let production = production(&[("SECRET_KEY", "0123456789abcdef0123456789abcdef")]).unwrap();
        assert!(
            !production.jobs.worker_in_api,
            "workers scale on their own in production"
        );
        for (variable, value) in [
            ("SMTP_URL", "mail.example.com:25"),
            ("MAIL_FROM", "not an address"),
            ("JOB_MAX_ATTEMPTS", "0"),
            ("JOB_CONCURRENCY", "0"),
            ("JOB_BACKEND", "database"), // retired: named, never ignored
            ("JOB_LEASE_SECONDS", "30"),
            ("JOB_RETENTION_DAYS", "7"),
            ("JOB_COMPLETED_RETENTION_HOURS", "24"),
            ("JOB_CANCELLED_RETENTION_HOURS", "24"),
            ("JOB_DISCARDED_RETENTION_HOURS", "168"),
            ("JOB_FETCH_COOLDOWN_MS", "10"),
            ("JOB_BACKOFF_MAX_SECONDS", "3600"),
            ("JOB_RESCUE_AFTER_SECONDS", "30"), // under the 60 s timeout
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
        let retired = settings(&[("JOB_DISCARDED_RETENTION_HOURS", "1")])
            .unwrap_err()
            .to_string();
        assert!(retired.contains("168 hours"), "{retired}");
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
            ("TRUSTED_PROXIES", "10.0.0.1, ::1, 10.0.0.0/8, fd00::/8"),
        ])
        .unwrap();
        let origins: Vec<&str> = s.cors.origins.iter().map(Origin::as_str).collect();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.http.trusted_proxies.len(), 4);
        let ranges = &s.http.trusted_proxies;
        let trusted = |ip: &str| {
            ranges
                .iter()
                .any(|range| range.contains(ip.parse().unwrap()))
        };
        assert!(trusted("10.42.7.9") && trusted("::ffff:10.1.2.3") && trusted("fd00::1"));
        assert!(!trusted("11.0.0.1") && !trusted("::2"));
        assert_eq!(
            settings(&[("TRUSTED_PROXIES", "10.0.0.0/33")])
                .unwrap_err()
                .variable,
            "TRUSTED_PROXIES"
        );
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
    fn settings_can_be_read_from_files() {
        let dir = std::env::temp_dir().join(format!("rpt-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, url) = (dir.join("secret_key"), dir.join("database_url"));
        std::fs::write(&key, "k3y-from-a-file-k3y-from-a-file-\n").unwrap();
        std::fs::write(&url, "postgres://app:pa55@db/app\n").unwrap();
        let (key, url) = (key.to_str().unwrap(), url.to_str().unwrap());
        let s = production(&[("SECRET_KEY_FILE", key), ("DATABASE_URL_FILE", url)]).unwrap();
        assert_eq!(
            s.auth.secret_key.expose(),
            "k3y-from-a-file-k3y-from-a-file-"
        );
        assert_eq!(s.database.url.expose(), "postgres://app:pa55@db/app");
        assert!(!s.describe().contains("pa55") && !s.describe().contains("k3y"));

        let err = settings(&[("SECRET_KEY", "x"), ("SECRET_KEY_FILE", key)]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY_FILE");
        assert!(err.problem.contains("SECRET_KEY;"), "{err}");
        let missing = dir.join("missing");
        let missing = missing.to_str().unwrap();
        let err = settings(&[("REDIS_URL_FILE", missing)]).unwrap_err();
        assert_eq!(err.variable, "REDIS_URL_FILE");
        assert!(err.problem.contains(missing), "{err}");
        // The content never reaches an error: here, a URL refused by its scheme.
        let err = settings(&[("SMTP_URL_FILE", url)]).unwrap_err();
        assert_eq!(err.variable, "SMTP_URL");
        assert!(!err.to_string().contains("pa55"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_previous_secret_key_is_held_to_the_development_secret_rules() {
        let own = "k".repeat(32);
        for extra in [("ENVIRONMENT", "production"), ("HOST", "0.0.0.0")] {
            let err = production(&[
                ("ENVIRONMENT", "development"),
                extra,
                ("SECRET_KEY", &own),
                ("SECRET_KEY_PREVIOUS", DEVELOPMENT_SECRET_KEY),
            ])
            .unwrap_err();
            assert_eq!(err.variable, "SECRET_KEY_PREVIOUS", "{extra:?}");
        }
        // A short one may be rotated away from without logging anyone out.
        let s = production(&[("SECRET_KEY", &own), ("SECRET_KEY_PREVIOUS", "short")]).unwrap();
        assert_eq!(s.auth.secret_key_previous.unwrap().expose(), "short");
    }

    #[test]
    fn blank_values_mean_unset() {
        let s = settings(&[("PORT", ""), ("REDIS_URL", "  ")]).unwrap();
        assert_eq!(s.http.port, 8000);
        assert!(s.redis.url.is_none());
    }

    #[test]
    fn traces_are_off_by_default_and_read_opentelemetrys_own_names() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.otel.traces_url(), None);
        assert_eq!(s.otel.traces_sampler, TracesSampler::ParentbasedAlwaysOn);
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s3cret, x-team = core",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,team=core",
            ),
            ("OTEL_SERVICE_NAME", "orders"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
        ])
        .unwrap();
        assert_eq!(s.otel.exporter_otlp_compression, OtlpCompression::Gzip);
        assert_eq!(
            s.otel.traces_url().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            s.otel.headers().unwrap(),
            [
                ("x-api-key".to_owned(), "s3cret".to_owned()),
                ("x-team".to_owned(), "core".to_owned())
            ]
        );
        assert!((s.otel.traces_sampler_arg - 0.1).abs() < f64::EPSILON);
        assert_eq!(s.otel.resource_attributes.len(), 2);
        assert!(
            !s.describe().contains("s3cret"),
            "the headers are masked in print-config"
        );
        for (variable, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ] {
            let err = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
        }
        let err = settings(&[("OTEL_EXPORTER_OTLP_HEADERS", "k3y-without-name")]).unwrap_err();
        assert_eq!(err.variable, "OTEL_EXPORTER_OTLP_HEADERS");
        assert!(!err.problem.contains("k3y"), "{err}");
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
        // `NAME_FILE` is the file form of the setting `NAME`.
        let unknown: Vec<_> = documented
            .iter()
            .filter(|name| {
                let setting = name.strip_suffix("_FILE").unwrap_or(name);
                !settings.contains(setting)
            })
            .collect();
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
