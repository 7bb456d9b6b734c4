//! Usernames are unique without regard to case (`Mallory` and `mallory`
//! are one name), keeping the case each user typed: a unique index on the
//! lower-cased name. Its name holds `username`, which is how a violation
//! is reported as a taken username. Usernames are ASCII letters and digits,
//! so SQLite's `lower` (ASCII only) and Postgres's agree.
//!
//! If existing names clash, the migration stops and lists them: which of
//! two accounts keeps a name is the operator's call, not a migration's.

use sea_orm_migration::{prelude::*, sea_orm::Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_users_username_lower";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let clashes = db
            .query_all_raw(Statement::from_string(
                manager.get_database_backend(),
                "SELECT username FROM users WHERE lower(username) IN (SELECT lower(username) \
                 FROM users GROUP BY lower(username) HAVING COUNT(*) > 1) \
                 ORDER BY lower(username), username",
            ))
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "username"))
            .collect::<Result<Vec<_>, _>>()?;
        if !clashes.is_empty() {
            return Err(DbErr::Migration(format!(
                "usernames must now be unique without regard to case, and these differ only \
                 in case: {}. Rename all but one of each, then migrate again",
                clashes.join(", ")
            )));
        }
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {INDEX} ON users (lower(username))"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
}
