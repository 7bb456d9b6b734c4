//! The migration CLI: `up`, `down`, `fresh`, `status`, `generate NAME`, ...
//! against `DATABASE_URL` (see `just migrate`).

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
