//! Database migrations, applied in order by the API at start-up (when
//! `DATABASE_AUTO_MIGRATE` is on) and by the `migration` CLI (`just migrate`).
//!
//! History starts at the baseline (`m20261203_000001_baseline`): the
//! template's tables and River's, as a new fork creates them. A database
//! created by an earlier version is moved onto it once (README, "Upgrading a
//! database from before the baseline").
//!
//! Migrations are frozen history: once one has run anywhere, it is never
//! edited; a change is a new migration. They use only the schema builder
//! (and River's migrator, for River's tables), so each one runs on SQLite and
//! on Postgres, and they never import entities (entities describe the schema
//! of today, migrations the schema of the past).

use std::collections::HashSet;

use riverqueue::migrate::{PostgresMigrator, SqliteMigrator};
pub use sea_orm_migration::prelude::*;
use sea_orm_migration::{
    sea_orm::{DatabaseConnection, DbBackend, EntityTrait as _},
    seaql_migrations,
};

mod m20261203_000001_baseline;
mod m20261203_000002_login_start;
mod m20261203_000003_usernames_ignore_case;
mod m20261203_000004_account_tokens;
mod m20261208_000005_credential_state;

pub use m20261203_000001_baseline::river_up;

/// Every migration of the product, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261203_000001_baseline::Migration),
            Box::new(m20261203_000002_login_start::Migration),
            Box::new(m20261203_000003_usernames_ignore_case::Migration),
            Box::new(m20261203_000004_account_tokens::Migration),
            Box::new(m20261208_000005_credential_state::Migration),
            // new-resource: migrations
        ]
    }
}

/// The migrations of this build the database has not applied, ours by name
/// and River's by version, read without writing (so a database user without
/// DDL rights may ask; readiness does). Applied migrations this build lacks
/// do not count: a newer build ran them, and a rolling deploy runs them
/// before its instances replace this one's, which must keep serving.
pub async fn pending(conn: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let table = Migrator::migration_table_name().to_string();
    let applied: HashSet<String> = if SchemaManager::new(conn).has_table(table).await? {
        let rows = seaql_migrations::Entity::find().all(conn).await?;
        rows.into_iter().map(|row| row.version).collect()
    } else {
        HashSet::new()
    };
    let mut pending: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect();
    let river = if conn.get_database_backend() == DbBackend::Postgres {
        let pool = conn.get_postgres_connection_pool().clone();
        PostgresMigrator::new(pool).validate(None).await
    } else {
        let pool = conn.get_sqlite_connection_pool().clone();
        SqliteMigrator::new(pool).validate(None).await
    }
    .map_err(|err| DbErr::Migration(format!("River's migrations: {err}")))?;
    pending.extend(
        river
            .unapplied
            .iter()
            .map(|version| format!("river {version}")),
    );
    Ok(pending)
}
