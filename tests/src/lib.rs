//! Helpers for the end-to-end suite: each test gets the real app, built by
//! the same [`web::Application`] builder the binary uses, on a random port
//! and its own fresh database.
//!
//! The database is in-memory SQLite by default. With `TEST_DATABASE_URL`
//! set to a Postgres server URL (e.g. `postgres://postgres@127.0.0.1:5432/postgres`),
//! each test creates its own database there and drops it afterwards, so
//! tests run in parallel without sharing state. With `TEST_REDIS_URL` the
//! app uses that Redis (cache, rate limits) under a key prefix of its own.
//! Set `TEST_LOG=1` to see the app's logs.

pub mod smtp;

use std::{net::TcpListener, sync::Once};

use sea_orm::{ConnectionTrait as _, Database};
use serde_json::{Value, json};

/// A password that satisfies every strength rule.
pub const PASSWORD: &str = "Str0ng!pass";

/// One running app and a client for it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub client: reqwest::Client,
    /// The settings the app was built with.
    pub settings: infra::Settings,
    /// The app's services, for setting up what the API cannot (admins).
    pub services: application::Services,
    /// `http://127.0.0.1:PORT` of the metrics server, with `METRICS_PORT`.
    pub metrics_address: Option<String>,
    /// The app's database.
    pub database: TestDatabase,
}

/// Spawns the app with test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra settings (`("JWT_EXPIRE_MINUTES", "1")`, ...).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDatabase::create().await, extra).await
}

/// Spawns the app on a database the test can open too ([`TestApp::pool`]).
pub async fn spawn_shared_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDatabase::create_shared().await, extra).await
}

async fn spawn_app_on(db: TestDatabase, extra: &[(&str, &str)]) -> TestApp {
    // The cache (and, when enabled, rate limits) on the real Redis, under a
    // prefix of this test's own; `extra` comes last, so it can override.
    let redis = test_redis_url().map(|url| {
        [
            ("REDIS_URL".to_owned(), url),
            ("REDIS_KEY_PREFIX".to_owned(), unique_prefix()),
        ]
    });
    let mut vars: Vec<(&str, &str)> = redis
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    vars.extend_from_slice(extra);
    let settings = settings_for(&db.url, &vars);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let app = web::Application::build_on(&settings, listener)
        .await
        .expect("the app builds");
    let address = format!("http://{}", app.address());
    let services = app.services().clone();
    let metrics_address = app.metrics_address().map(|a| format!("http://{a}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build client"),
        settings,
        services,
        metrics_address,
        database: db,
    }
}

/// Test settings on `database_url` with `extra` on top: what
/// [`spawn_app_with`] uses, for tests that build parts of the app (a job
/// worker, the services) themselves.
pub fn settings_for(database_url: &str, extra: &[(&str, &str)]) -> infra::Settings {
    init_logging();
    let mut vars: Vec<(String, String)> = vec![
        ("ENVIRONMENT".into(), "test".into()),
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("LOG_LEVEL".into(), "info,sqlx=warn".into()),
        // Tests register and log in far faster than people; the rate-limit
        // tests turn it back on.
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    infra::Settings::from_vars(vars).expect("test settings are valid")
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test
/// with `what` after `timeout`. For waiting on state that another task or
/// process produces, without sleeps that hope.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Files in `dir` (none if it does not exist).
pub fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            // The writer lives as long as the test process.
            let settings = infra::config::TelemetrySettings {
                format: infra::LogFormat::Pretty,
                level: "debug,sqlx=warn".to_owned(),
            };
            if let Ok(guard) = infra::telemetry::init(&settings) {
                std::mem::forget(guard);
            }
        }
    });
}

impl TestApp {
    /// A pool of the test's own on the app's database (the app hands its
    /// own to no one), for arranging and inspecting rows directly. Needs
    /// [`spawn_shared_app_with`]: an in-memory database is the app's alone.
    pub async fn pool(&self) -> persistence::Db {
        assert!(
            !self.database.url.contains(":memory:"),
            "spawn the app with spawn_shared_app_with to open its database"
        );
        persistence::Db::connect(&self.database.options())
            .await
            .expect("connect to the app's database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Registers `name` (email `name@example.com`) and asserts 201.
    pub async fn register(&self, name: &str) -> Value {
        let response = self
            .post_json(
                "/v1/users/",
                &json!({"email": format!("{name}@example.com"), "password": PASSWORD, "username": name}),
                None,
            )
            .await;
        assert_eq!(response.status(), 201, "register {name}");
        response.json().await.expect("json body")
    }

    /// Logs `name` in and returns `(access_token, refresh_token)`.
    pub async fn login(&self, name: &str) -> (String, String) {
        let response = self
            .post_json(
                "/v1/users/login",
                &json!({"email": format!("{name}@example.com"), "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "login {name}");
        let body: Value = response.json().await.expect("json body");
        (
            body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        )
    }

    /// Registers `name` as an admin (the way `api create-admin` does) and
    /// logs in.
    pub async fn signed_up_admin(&self, name: &str) -> (String, String) {
        let email = domain::Email::parse(&format!("{name}@example.com")).expect("email");
        let account = (
            domain::Username::parse(name).expect("username"),
            domain::Password::parse(PASSWORD).expect("password"),
        );
        let (_, created) = self
            .services
            .users
            .create_admin(email, Some(account))
            .await
            .expect("create admin");
        assert!(created);
        self.login(name).await
    }

    pub async fn patch_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Creates a task as the owner of `token`; returns its body.
    pub async fn create_task(&self, token: &str, title: &str) -> Value {
        let response = self
            .post_json(
                "/v1/tasks/",
                &json!({"title": title, "description": format!("about {title}")}),
                Some(token),
            )
            .await;
        assert_eq!(response.status(), 201, "create task {title}");
        response.json().await.expect("json body")
    }

    /// Registers and logs in; returns the access and refresh tokens.
    pub async fn signed_up(&self, name: &str) -> (String, String) {
        self.register(name).await;
        self.login(name).await
    }
}

/// The Redis server for tests that need one (`TEST_REDIS_URL`), if any.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Where a job test's queue lives. Job tests run once per backend; see
/// [`on_each_job_backend!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobBackend {
    Database,
    Redis,
}

impl JobBackend {
    /// The `JOB_BACKEND` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Redis => "redis",
        }
    }

    /// Settings selecting this backend; for Redis, `TEST_REDIS_URL` under
    /// a key prefix of this test's own.
    ///
    /// # Panics
    /// For Redis when `TEST_REDIS_URL` is not set.
    pub fn settings(self) -> Vec<(String, String)> {
        match self {
            Self::Database => vec![("JOB_BACKEND".into(), self.name().into())],
            Self::Redis => vec![
                ("JOB_BACKEND".into(), self.name().into()),
                (
                    "REDIS_URL".into(),
                    test_redis_url().expect("TEST_REDIS_URL is set"),
                ),
                ("REDIS_KEY_PREFIX".into(), unique_prefix()),
            ],
        }
    }
}

/// Turns `async fn name(backend: JobBackend)` test bodies into two tests
/// each: `database::name` and `redis::name`. The Redis ones run where
/// `TEST_REDIS_URL` is set (as in CI) and return at once elsewhere.
#[macro_export]
macro_rules! on_each_job_backend {
    ($($name:ident),+ $(,)?) => {
        mod database {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($crate::JobBackend::Database).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    if $crate::test_redis_url().is_none() {
                        eprintln!("skipped: set TEST_REDIS_URL to run the Redis job backend");
                        return;
                    }
                    super::$name($crate::JobBackend::Redis).await;
                }
            )+
        }
    };
}

/// A key prefix no other test uses, so tests share one Redis safely.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// A database only this test uses: in-memory SQLite, or a new database on
/// the `TEST_DATABASE_URL` Postgres server, dropped when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Where to connect.
    pub url: String,
    /// For Postgres: the server URL and the name to drop afterwards.
    postgres: Option<(String, String)>,
    /// For a shared SQLite file: its directory, removed afterwards.
    sqlite_dir: Option<std::path::PathBuf>,
}

impl TestDatabase {
    /// Pool options for connecting to this database directly (persistence
    /// tests without the app); adjust fields with struct update syntax.
    pub fn options(&self) -> persistence::DbOptions {
        persistence::DbOptions {
            url: self.url.clone(),
            read_url: None,
            max_connections: 4,
            acquire_timeout: std::time::Duration::from_secs(10),
            statement_timeout: None,
            connect_lazy: false,
        }
    }

    /// A pool on this database with every migration applied.
    pub async fn migrated(&self) -> persistence::Db {
        let db = persistence::Db::connect(&self.options())
            .await
            .expect("connect to the test database");
        db.migrate().await.expect("migrations apply");
        db
    }

    /// A database other processes can open too: a SQLite file in a fresh
    /// temporary directory (removed when this is dropped), or a new
    /// Postgres database with `TEST_DATABASE_URL`.
    pub async fn create_shared() -> Self {
        let mut db = Self::create().await;
        if db.postgres.is_none() {
            let dir =
                std::env::temp_dir().join(format!("rpt-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("create a scratch directory");
            db.url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
            db.sqlite_dir = Some(dir);
        }
        db
    }

    pub async fn create() -> Self {
        let Some(server) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return Self {
                url: "sqlite::memory:".into(),
                postgres: None,
                sqlite_dir: None,
            };
        };
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&server)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            postgres: Some((server, name)),
            sqlite_dir: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself;
        // a short-lived thread with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&server).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    admin.close().await.ok();
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A Redis server of a test's own, so it can be stopped, paused and
/// restarted without disturbing other tests. Needs `redis-server` on PATH.
#[derive(Debug)]
pub struct OwnRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts `redis-server` on `port` (0: any free port) and waits until it
    /// accepts connections; `None` if it cannot be started.
    pub fn start(port: u16) -> Option<Self> {
        let port = if port == 0 {
            TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port()
        } else {
            port
        };
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut redis = Self {
            port,
            child: Some(child),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Ours must still be running: if another process took the port,
            // redis-server exits and the port answers someone else.
            if let Some(child) = redis.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server exited ({status}); port {port} taken?");
            }
            if redis_answers(port) {
                return Some(redis);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Makes the server ignore every client for `millis` while keeping its
    /// data: an outage without data loss.
    pub fn pause(&self, millis: u64) {
        let status = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "CLIENT",
                "PAUSE",
                &millis.to_string(),
                "ALL",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success());
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a Redis answers PING on `port`.
fn redis_answers(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
    let mut reply = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
