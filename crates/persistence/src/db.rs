//! The connection pool and transactions.

use std::{path::Path, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    TransactionTrait,
};

use crate::Result;

/// How to open the pool. Built by the binaries from the typed settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    pub url: String,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

/// The shared connection pool. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls it back.
#[derive(Debug)]
pub struct Tx {
    inner: DatabaseTransaction,
}

impl Db {
    /// Opens the pool. For a SQLite file, creates its directory first and
    /// switches the file to WAL so readers do not block the writer.
    pub async fn connect(options: &DbOptions) -> Result<Self> {
        let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
        if let Some(path) = sqlite_file_path(&options.url)
            && let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|err| {
                sea_orm::DbErr::Custom(format!("cannot create {}: {err}", dir.display()))
            })?;
        }
        let mut connect = ConnectOptions::new(options.url.clone());
        connect
            .max_connections(if in_memory {
                // Every connection to `:memory:` is a separate, empty database.
                1
            } else {
                options.max_connections
            })
            .min_connections(u32::from(in_memory)) // Keeps the in-memory database alive.
            .acquire_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        let conn = Database::connect(connect).await?;
        if conn.get_database_backend() == DbBackend::Sqlite && !in_memory {
            conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        Ok(Self { conn })
    }

    /// Wraps an already opened connection (used by the migration runner and tests).
    pub fn from_connection(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The pool, for repositories outside a transaction.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Starts a transaction on the primary.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx {
            inner: self.conn.begin().await?,
        })
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.conn.ping().await?)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(self) -> Result<()> {
        Ok(self.conn.close().await?)
    }
}

impl Tx {
    /// The transaction, for repositories.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.inner
    }

    /// Makes the transaction's writes permanent.
    pub async fn commit(self) -> Result<()> {
        Ok(self.inner.commit().await?)
    }
}

/// The file path of a `sqlite:` URL, if it names a file.
fn sqlite_file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_file_path;

    #[test]
    fn finds_the_file_of_sqlite_urls_only() {
        assert_eq!(
            sqlite_file_path("sqlite://data/app.db?mode=rwc"),
            Some("data/app.db")
        );
        assert_eq!(sqlite_file_path("sqlite:app.db"), Some("app.db"));
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
        assert_eq!(sqlite_file_path("postgres://localhost/db"), None);
    }
}
