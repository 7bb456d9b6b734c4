//! A database per test: in-memory SQLite, a shared SQLite file, or a new
//! Postgres database on the `TEST_DATABASE_URL` server, dropped afterwards.

use sea_orm::{ConnectionTrait as _, Database};

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
            ping_after_idle: persistence::PING_AFTER_IDLE,
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

    /// Another handle on `other`'s database, for a second app on it; it
    /// leaves the cleanup to `other`.
    pub fn beside(other: &Self) -> Self {
        Self {
            url: other.url.clone(),
            postgres: None,
            sqlite_dir: None,
        }
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
