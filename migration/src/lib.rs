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

pub use sea_orm_migration::prelude::*;

mod m20261203_000001_baseline;

pub use m20261203_000001_baseline::river_up;

/// Every migration of the product, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261203_000001_baseline::Migration),
            // new-resource: migrations
        ]
    }
}
