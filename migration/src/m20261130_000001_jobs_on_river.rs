//! Jobs move to River: its own migrator creates its tables (`river_job`,
//! `river_leader`, `river_queue`, ... at River's current schema version),
//! and the hand-written queue's `jobs` table goes.
//!
//! River keeps its own version history (`river_migration`), shared with
//! River's other clients and its CLI, so later River schema changes are
//! applied by [`river_up`] at start-up and by `just migrate`, not by new
//! migrations here.
//!
//! The old table is dropped only when no job in it is waiting or running:
//! those would be lost. Stop the previous release's API instances and drain
//! the queue with its worker first (until `worker jobs stats` shows none
//! pending or running). Finished and dead jobs in it are dropped with it.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{DatabaseExecutor, DbBackend, Statement, TransactionTrait as _},
};

use crate::m20261124_000003_create_jobs;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// River's migrator runs its own transactions on the pool.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        if manager.has_table("jobs").await? {
            drop_drained_queue(conn).await?;
        }
        river_up(conn).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let opts = riverqueue::migrate::MigrateOpts::new().with_target_version(-1);
        match pool(manager.get_connection())? {
            Pool::Postgres(pool) => riverqueue::migrate::PostgresMigrator::new(pool)
                .migrate(riverqueue::migrate::Direction::Down, opts)
                .await
                .map(drop),
            Pool::Sqlite(pool) => riverqueue::migrate::SqliteMigrator::new(pool)
                .migrate(riverqueue::migrate::Direction::Down, opts)
                .await
                .map(drop),
        }
        .map_err(river_err)?;
        m20261124_000003_create_jobs::Migration.up(manager).await
    }
}

/// Drops the old `jobs` table if no job in it waits or runs, checking and
/// dropping in one transaction; on Postgres the table is locked first, so
/// an old instance cannot enqueue in between (it waits, then fails: its
/// registration is refused rather than its job lost).
async fn drop_drained_queue(conn: &DatabaseExecutor<'_>) -> Result<(), DbErr> {
    let tx = conn.begin().await?;
    let backend = tx.get_database_backend();
    if backend == DbBackend::Postgres {
        tx.execute_unprepared("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
            .await?;
    }
    let unfinished = tx
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('pending', 'running', 'relayed')",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if unfinished > 0 {
        return Err(DbErr::Migration(format!(
            "the old job queue still holds {unfinished} pending or running job(s); stop the \
             previous release's API instances, run its worker until `worker jobs stats` shows \
             none pending or running, then migrate again"
        )));
    }
    tx.execute_unprepared("DROP TABLE jobs").await?;
    tx.commit().await
}

enum Pool {
    Postgres(sea_orm_migration::sea_orm::sqlx::PgPool),
    Sqlite(sea_orm_migration::sea_orm::sqlx::SqlitePool),
}

fn pool(conn: &DatabaseExecutor<'_>) -> Result<Pool, DbErr> {
    let DatabaseExecutor::Connection(conn) = conn else {
        return Err(DbErr::Migration(
            "River's migrations run on the pool, not inside a transaction".to_owned(),
        ));
    };
    Ok(match conn.get_database_backend() {
        DbBackend::Postgres => Pool::Postgres(conn.get_postgres_connection_pool().clone()),
        _ => Pool::Sqlite(conn.get_sqlite_connection_pool().clone()),
    })
}

#[allow(clippy::needless_pass_by_value)] // Shaped for `map_err`.
fn river_err(err: riverqueue::migrate::Error) -> DbErr {
    DbErr::Migration(format!("River's migrations: {err}"))
}

/// Applies River's pending schema versions (none when it is current).
pub async fn river_up(conn: &DatabaseExecutor<'_>) -> Result<(), DbErr> {
    match pool(conn)? {
        Pool::Postgres(pool) => riverqueue::migrate::PostgresMigrator::new(pool)
            .migrate_up()
            .await
            .map(drop),
        Pool::Sqlite(pool) => riverqueue::migrate::SqliteMigrator::new(pool)
            .migrate_up()
            .await
            .map(drop),
    }
    .map_err(river_err)
}
