//! The migration CLI: `up`, `down`, `fresh`, `status`, `generate NAME`, ...
//! against `DATABASE_URL` (see `just migrate`). `up` also applies River's
//! pending schema versions (River keeps its own history, `river_migration`).

use sea_orm_migration::sea_orm::{Database, DatabaseExecutor};

#[tokio::main]
async fn main() {
    // `up` is the subcommand wherever it stands (`-u URL up`); an option's
    // value is never the bare word `up`.
    let up = std::env::args().skip(1).any(|arg| arg == "up");
    sea_orm_migration::cli::run_cli_with_connection(migration::Migrator, async move |options| {
        let db = Database::connect(options).await?;
        if up {
            migration::river_up(&DatabaseExecutor::Connection(&db)).await?;
        }
        Ok(db)
    })
    .await;
}
