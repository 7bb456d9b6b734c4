//! The app under test: built by the same [`web::Application`] the binary
//! runs, on a random port and a database of the test's own, with a client.

use std::{net::TcpListener, sync::Once};

use serde_json::{Value, json};

use crate::{TestDatabase, redis::test_redis_url, redis::unique_prefix};

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

/// Spawns a second instance on `first`'s database (as several instances of
/// one deployment share it), with its own caches and `extra` settings.
pub async fn spawn_app_beside(first: &TestApp, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDatabase::beside(&first.database), extra).await
}

/// Spawns the app on `db` (a [`TestDatabase`] the test made, to reach it
/// through a proxy, say) with `extra` settings.
pub async fn spawn_app_on(db: TestDatabase, extra: &[(&str, &str)]) -> TestApp {
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

/// What production requires besides its secret, for tests that run the
/// app as production: a public URL for the links in mails, and a mail
/// server. Nothing is sent there (production runs no worker in the API),
/// and were it sent, the closed port fails the job, never the test.
pub const PRODUCTION: [(&str, &str); 3] = [
    ("ENVIRONMENT", "production"),
    ("PUBLIC_BASE_URL", "https://app.example.com"),
    ("SMTP_URL", "smtp://127.0.0.1:9"),
];

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

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // As the binaries do (`infra::process::start`): TLS clients that
        // ask for the default provider get ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // The writer lives as long as the test process.
            let settings = infra::config::TelemetrySettings {
                format: infra::LogFormat::Pretty,
                level: "debug,sqlx=warn".to_owned(),
            };
            let otel = infra::config::OtelSettings::default();
            if let Ok(guard) = infra::telemetry::init(&settings, &otel, "tests", runtime) {
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
        send(self.client.get(self.url(path)), token).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        send(self.client.post(self.url(path)).json(body), token).await
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
        let registration = application::services::auth::Registration {
            email: domain::Email::parse(&format!("{name}@example.com")).expect("email"),
            username: domain::Username::parse(name).expect("username"),
            password: domain::Password::parse(PASSWORD).expect("password"),
        };
        self.services
            .users
            .create_admin(registration)
            .await
            .expect("create admin");
        self.login(name).await
    }

    pub async fn patch_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        send(self.client.patch(self.url(path)).json(body), token).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        send(self.client.delete(self.url(path)), token).await
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

/// Sends `request`, with `token` as its bearer token when there is one.
async fn send(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::Response {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("request sent")
}
