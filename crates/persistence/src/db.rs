//! The connection pools, read/write routing (the template's routing
//! session), and units of work (its `@Transactional`).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use tracing::Instrument as _;

use crate::{
    Result,
    tx::{Inner, TxConn, on_tx},
};

/// How to open the pools. Built by the binaries from the typed settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The primary: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    pub url: String,
    /// An optional read replica for reads outside transactions.
    pub read_url: Option<String>,
    /// Upper bound of pooled connections (per pool).
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Postgres cancels statements that run longer (`None`: no limit).
    /// SQLite has no statement timeout; its busy timeout (5 s) bounds waits
    /// for the write lock.
    pub statement_timeout: Option<Duration>,
    /// Open connections on first use instead of at start-up, so the process
    /// starts (and reports not-ready) while the database is down.
    pub connect_lazy: bool,
    /// A pooled connection idle at least this long is pinged before it is
    /// handed out, so one that the server, a proxy or a firewall dropped
    /// meanwhile is replaced instead of failing a request
    /// ([`PING_AFTER_IDLE`] in the binaries).
    pub ping_after_idle: Duration,
}

/// When a pooled connection has been idle long enough to be pinged before
/// use. sqlx pings on every acquire by default: with its ping on release,
/// a one-query request made three round trips (three hand-offs to the
/// connection's thread on SQLite) instead of two. Connections in steady use
/// skip it (HikariCP skips its check for connections used in the last
/// 500 ms, for the same reason). The cost: when the server drops
/// connections that were busy a moment ago (a restart), each of those
/// fails one request with a 503 before the pool replaces it.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The primary pool and, when `DATABASE_READ_URL` is set, a replica pool.
/// Cheap to clone: clones share the pools.
#[derive(Debug, Clone)]
pub struct Db {
    primary: DatabaseConnection,
    replica: Option<DatabaseConnection>,
    /// For in-memory SQLite: one idle connection that keeps the database
    /// alive. An in-memory database lives only while a connection to it is
    /// open, and the pool closes its connection whenever a query is
    /// cancelled (a client hanging up mid-request), which would otherwise
    /// silently start an empty database.
    _keepalive: Vec<DatabaseConnection>,
    /// Set once the primary's schema was found current: migrations are
    /// not undone under a running build, so it is not asked again.
    schema_current: Arc<AtomicBool>,
}

/// An open transaction on the primary. Dropping it without [`Tx::commit`]
/// (an early return, a `?`, a panic) rolls it back.
#[derive(Debug)]
pub struct Tx {
    conn: TxConn,
    db: Db,
}

impl Db {
    /// Applies the migrations the primary has not run yet (the schema these
    /// repositories read). Outside production this runs at start-up;
    /// production runs `just migrate` once per deploy.
    pub async fn migrate(&self) -> Result<()> {
        use migration::MigratorTrait as _;
        migration::Migrator::up(&self.primary, None).await?;
        // River's own later schema versions (River keeps their history).
        migration::river_up(&sea_orm::DatabaseExecutor::Connection(&self.primary)).await?;
        Ok(())
    }

    /// Opens the pools. For a SQLite file, creates its directory first and
    /// switches the file to WAL so readers do not block the writer.
    pub async fn connect(options: &DbOptions) -> Result<Self> {
        let mut keepalive = Vec::new();
        let primary = open(&options.url, options, &mut keepalive).await?;
        let replica = match &options.read_url {
            Some(url) => Some(open(url, options, &mut keepalive).await?),
            None => None,
        };
        Ok(Self {
            primary,
            replica,
            _keepalive: keepalive,
            schema_current: Arc::default(),
        })
    }

    /// Where reads outside a transaction go: the replica if configured.
    pub fn reader(&self) -> &DatabaseConnection {
        self.replica.as_ref().unwrap_or(&self.primary)
    }

    /// Where writes go, and reads that must see the latest writes (logging
    /// in right after registering, migrations): always the primary, like
    /// every transaction.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.primary
    }

    /// Starts a transaction on the primary. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), waiting up to the busy timeout for
    /// it: a transaction that read first and wrote later would instead fail
    /// outright when another writer got in between.
    ///
    /// The transaction is sqlx's, begun by River's helpers (which are safe
    /// to abandon halfway, unlike sqlx's `begin`), so River can insert jobs
    /// into it ([`Tx::insert_job`]).
    ///
    /// Services use [`UnitOfWork::transaction`] instead: it commits or rolls
    /// back for them, and a sampled trace shows it as a span holding its
    /// statements.
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match self.primary.get_database_backend() {
            DbBackend::Postgres => Inner::Postgres(
                riverqueue::database::begin_postgres(self.primary.get_postgres_connection_pool())
                    .await
                    .map_err(begin_err)?,
            ),
            _ => Inner::Sqlite(
                riverqueue::database::begin_sqlite_write(self.primary.get_sqlite_connection_pool())
                    .await
                    .map_err(begin_err)?,
            ),
        };
        Ok(Tx {
            conn: TxConn::new(inner),
            db: self.clone(),
        })
    }

    /// River's client on the primary pool: jobs live in this database.
    /// `configure` adds workers, queues and maintenance; an unconfigured
    /// client only inserts.
    pub fn job_client(
        &self,
        configure: impl FnOnce(riverqueue::ClientBuilder) -> riverqueue::ClientBuilder,
    ) -> Result<riverqueue::Client, riverqueue::Error> {
        let builder = match self.primary.get_database_backend() {
            DbBackend::Postgres => {
                riverqueue::Client::builder(self.primary.get_postgres_connection_pool().clone())
            }
            _ => riverqueue::Client::builder(self.primary.get_sqlite_connection_pool().clone()),
        };
        configure(builder).build()
    }

    /// For the metrics: each pool's name (`primary`, `replica`), its open
    /// connections (in use or idle) and its idle ones.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        let mut pools = vec![("primary", &self.primary)];
        pools.extend(self.replica.as_ref().map(|replica| ("replica", replica)));
        pools
            .into_iter()
            .map(|(name, conn)| {
                let (open, idle) = match conn.get_database_backend() {
                    DbBackend::Postgres => {
                        let pool = conn.get_postgres_connection_pool();
                        (pool.size(), pool.num_idle())
                    }
                    DbBackend::Sqlite => {
                        let pool = conn.get_sqlite_connection_pool();
                        (pool.size(), pool.num_idle())
                    }
                    _ => (0, 0),
                };
                (name, open, u32::try_from(idle).unwrap_or(u32::MAX))
            })
            .collect()
    }

    /// A cheap round trip to every pool, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.primary.ping().await?;
        if let Some(replica) = &self.replica {
            replica.ping().await?;
        }
        Ok(())
    }

    /// Whether the primary has every migration this build has (ours and
    /// River's; see `migration::pending`), so this build can serve on it.
    /// Once true, answered without a query.
    pub async fn schema_is_current(&self) -> Result<bool> {
        if self.schema_current.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let current = migration::pending(&self.primary).await?.is_empty();
        if current {
            self.schema_current.store(true, Ordering::Relaxed);
        }
        Ok(current)
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(self) -> Result<()> {
        self.primary.close().await?;
        if let Some(replica) = self.replica {
            replica.close().await?;
        }
        Ok(())
    }
}

impl Tx {
    /// The transaction, for repositories.
    pub fn conn(&self) -> &TxConn {
        &self.conn
    }

    /// Makes the transaction's writes permanent. A connection lost on the
    /// way is [`crate::Error::OutcomeUnknown`]: the database may have
    /// committed.
    pub async fn commit(self) -> Result<()> {
        self.conn.commit().await.map_err(crate::Error::from_commit)
    }

    /// Inserts a River job in this transaction: it exists, and workers are
    /// told about it, only if the transaction commits. River writes without
    /// a savepoint, so an error may leave part of the job written: let it
    /// end the unit of work (return it), which rolls everything back.
    pub async fn insert_job<A: riverqueue::JobArgs>(
        &self,
        client: &riverqueue::Client,
        args: A,
        opts: riverqueue::InsertOpts,
    ) -> Result<riverqueue::InsertResult<A>> {
        let request = client.insert(args).opts(opts);
        Ok(on_tx!(self.conn, tx => request.tx(tx).await)?)
    }

    /// Runs `work` in a new, independent transaction (REQUIRES_NEW): it
    /// commits or rolls back on its own, whatever this one does later. It
    /// needs a second pooled connection, and on SQLite it cannot write while
    /// this transaction holds the write lock (it fails after the busy
    /// timeout): use it on Postgres.
    pub async fn requires_new<T, E>(
        &self,
        work: impl AsyncFnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<crate::Error>,
    {
        self.db.transaction(work).await
    }
}

/// Something a transaction can be run on: the pool (starts one) or an open
/// transaction (joins it).
pub trait UnitOfWork {
    /// Runs `work` in a transaction: commits on `Ok`, rolls back on `Err`
    /// or panic. On a [`Tx`] it joins the open transaction (REQUIRED), and
    /// the outer unit decides the commit.
    fn transaction<T, E>(
        &self,
        work: impl AsyncFnOnce(&Tx) -> Result<T, E>,
    ) -> impl Future<Output = Result<T, E>>
    where
        E: From<crate::Error>;
}

impl UnitOfWork for Db {
    async fn transaction<T, E>(&self, work: impl AsyncFnOnce(&Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<crate::Error>,
    {
        // In a sampled trace, the transaction is a span holding its
        // statements' (target `otel`: a trace's span only, see
        // `infra::telemetry::trace::CHILD`).
        let span = tracing::info_span!(
            target: "otel",
            "transaction",
            otel.name = "db transaction",
            db.system.name = match self.primary.get_database_backend() {
                DbBackend::Postgres => "postgresql",
                _ => "sqlite",
            },
        );
        async {
            let tx = self.begin().await?;
            // A panic in `work` drops `tx` while unwinding, which rolls it back.
            let value = work(&tx).await?;
            tx.commit().await?;
            Ok(value)
        }
        .instrument(span)
        .await
    }
}

impl UnitOfWork for Tx {
    async fn transaction<T, E>(&self, work: impl AsyncFnOnce(&Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<crate::Error>,
    {
        work(self).await
    }
}

async fn open(
    url: &str,
    options: &DbOptions,
    keepalive: &mut Vec<DatabaseConnection>,
) -> Result<DatabaseConnection> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return open_in_memory(url, options, keepalive).await;
    }
    if let Some(path) = sqlite_file_path(url)
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|err| {
            sea_orm::DbErr::Custom(format!("cannot create {}: {err}", dir.display()))
        })?;
    }
    let mut connect = ConnectOptions::new(url.to_owned());
    connect
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy(options.connect_lazy)
        .test_before_acquire_if_idle_for(options.ping_after_idle);
    statement_events(&mut connect);
    if let Some(timeout) = options.statement_timeout {
        let millis = timeout.as_millis().to_string();
        connect
            .map_sqlx_postgres_opts(move |pg| pg.options([("statement_timeout", millis.clone())]));
    }
    // SQLite under WAL with `synchronous=NORMAL`, the usual production
    // setting: a commit is durable against a crash of the application (the
    // WAL is written before the commit returns) but not against losing
    // power or the operating system before the next checkpoint, and in
    // exchange it needs no fsync per commit. With the default FULL every
    // write waits for a disk flush, which made a single writer's commits
    // queue (POST p99 of hundreds of ms at 64 clients). Postgres is not
    // affected; its durability is its own `synchronous_commit`.
    connect.map_sqlx_sqlite_opts(|sqlite| {
        sqlite
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
    });
    let conn = Database::connect(connect).await?;
    if conn.get_database_backend() == DbBackend::Sqlite {
        conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(conn)
}

/// An in-memory SQLite database (tests, experiments): given a name so a
/// second connection can reach it, held open by a keep-alive connection,
/// and used through one pooled connection (a shared in-memory database
/// locks whole tables, so concurrent connections would fail, not wait).
async fn open_in_memory(
    url: &str,
    options: &DbOptions,
    keepalive: &mut Vec<DatabaseConnection>,
) -> Result<DatabaseConnection> {
    let url = if url.contains(":memory:") {
        // The `file:` form makes SQLite treat the name as a shared in-memory
        // database that every connection of this process can reach.
        format!(
            "sqlite:file:memdb-{}?mode=memory&cache=shared",
            uuid::Uuid::new_v4().simple()
        )
    } else {
        url.to_owned()
    };
    let mut keeper = ConnectOptions::new(url.clone());
    keeper
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging(false);
    keepalive.push(Database::connect(keeper).await?);
    let mut connect = ConnectOptions::new(url);
    connect
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout);
    statement_events(&mut connect);
    Ok(Database::connect(connect).await?)
}

/// sqlx reports each statement it ran as a `DEBUG` event (target
/// `sqlx::query`: its SQL with placeholders, never the bound values, and
/// how long it took), which the trace exporter turns into a span when the
/// statement ran inside a sampled trace (`infra::telemetry::trace`). No
/// log shows it unless `LOG_LEVEL` asks (`sqlx=debug`); the slow-statement
/// warning stays off, since the statement timeout bounds them.
fn statement_events(connect: &mut ConnectOptions) {
    connect
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .sqlx_slow_statements_logging_settings(log::LevelFilter::Off, Duration::from_secs(1));
}

fn begin_err(err: sea_orm::sqlx::Error) -> crate::Error {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into())).into()
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
