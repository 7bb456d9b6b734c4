//! Database migrations, applied in order by the API at start-up (when
//! `DATABASE_AUTO_MIGRATE` is on) and by the `migration` CLI (`just migrate`).
//!
//! Migrations are frozen history: once one has run anywhere, it is never
//! edited; a change is a new migration. They use only the schema builder, so
//! each one runs on SQLite and on Postgres, and they never import entities
//! (entities describe the schema of today, migrations the schema of the past).

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_users_and_tasks;
mod m20261124_000002_create_refresh_tokens;
mod m20261124_000003_create_jobs;
mod m20261130_000001_jobs_on_river;

pub use m20261130_000001_jobs_on_river::river_up;

/// Every migration of the product, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users_and_tasks::Migration),
            Box::new(m20261124_000002_create_refresh_tokens::Migration),
            Box::new(m20261124_000003_create_jobs::Migration),
            Box::new(m20261130_000001_jobs_on_river::Migration),
            // new-resource: migrations
        ]
    }
}
