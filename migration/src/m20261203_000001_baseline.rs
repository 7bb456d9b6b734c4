//! The schema a fork starts from: users and their tasks (the two models of
//! the FastAPI template), refresh tokens, and River's tables.
//!
//! Refresh tokens: one row per issued token, kept in the database so that
//! rotation and revocation survive restarts and cache flushes. Tokens issued
//! from one login share a `family_id`; presenting a token that was already
//! rotated (`used_at` set) revokes the whole family, which is how a stolen
//! token is detected.
//!
//! River's tables (`river_job`, `river_leader`, `river_queue`, ... at
//! River's current schema version) are created by River's own migrator.
//! River keeps its own version history (`river_migration`), shared with
//! River's other clients and its CLI, so later River schema changes are
//! applied by [`river_up`] at start-up and by `just migrate`, not by new
//! migrations here.

use riverqueue::migrate::{Direction, MigrateOpts, PostgresMigrator, SqliteMigrator};
use sea_orm_migration::{
    prelude::*,
    schema::{
        big_integer, big_pk_auto, boolean, string, string_len, string_len_uniq, text,
        timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_uniq,
    },
    sea_orm::{DatabaseExecutor, DbBackend},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// River's migrator runs its own transactions on the pool; our tables
    /// get one of their own.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    /// River first: if our tables then fail, running `up` again finds
    /// River's tables current and creates ours.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        river_up(manager.get_connection()).await?;
        let tx = manager.begin().await?;
        create_users_and_tasks(&tx).await?;
        create_refresh_tokens(&tx).await?;
        tx.commit().await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tx = manager.begin().await?;
        tx.drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await?;
        tx.drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        tx.drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        tx.commit().await?;
        let all = MigrateOpts::default().with_target_version(-1);
        river(manager.get_connection(), Direction::Down, all).await
    }
}

async fn create_users_and_tasks(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Users::Table)
                .col(big_pk_auto(Users::Id))
                .col(uuid_uniq(Users::Uuid))
                .col(string_len_uniq(Users::Email, 254))
                .col(string(Users::Password))
                .col(string_len_uniq(Users::Username, 64))
                .col(boolean(Users::IsAdmin).default(false))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(Tasks::Table)
                .col(big_pk_auto(Tasks::Id))
                .col(uuid_uniq(Tasks::Uuid))
                .col(string_len(Tasks::Title, 100))
                .col(text(Tasks::Description))
                .col(boolean(Tasks::IsCompleted).default(false))
                .col(big_integer(Tasks::TaskAuthorId))
                .col(timestamp_with_time_zone(Tasks::CreatedAt))
                .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_tasks_task_author_id")
                        .from(Tasks::Table, Tasks::TaskAuthorId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    // Listing a user's tasks is the hot query; the foreign key alone does
    // not give Postgres an index.
    manager
        .create_index(
            Index::create()
                .name("idx_tasks_task_author_id")
                .table(Tasks::Table)
                .col(Tasks::TaskAuthorId)
                .to_owned(),
        )
        .await
}

async fn create_refresh_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(big_pk_auto(RefreshTokens::Id))
                .col(uuid_uniq(RefreshTokens::Jti))
                .col(uuid(RefreshTokens::FamilyId))
                .col(big_integer(RefreshTokens::UserId))
                .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_refresh_tokens_user_id")
                        .from(RefreshTokens::Table, RefreshTokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_refresh_tokens_family_id")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::FamilyId)
                .to_owned(),
        )
        .await?;
    // Housekeeping deletes expired rows by `expires_at`.
    manager
        .create_index(
            Index::create()
                .name("idx_refresh_tokens_expires_at")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::ExpiresAt)
                .to_owned(),
        )
        .await
}

/// Applies River's pending schema versions (none when it is current).
pub async fn river_up(conn: &DatabaseExecutor<'_>) -> Result<(), DbErr> {
    river(conn, Direction::Up, MigrateOpts::default()).await
}

/// Runs River's own migrator, which takes connections from the pool for
/// its own transactions.
async fn river(
    conn: &DatabaseExecutor<'_>,
    direction: Direction,
    opts: MigrateOpts,
) -> Result<(), DbErr> {
    let DatabaseExecutor::Connection(conn) = conn else {
        return Err(DbErr::Migration(
            "River's migrations run on the pool, not inside a transaction".to_owned(),
        ));
    };
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            PostgresMigrator::new(conn.get_postgres_connection_pool().clone())
                .migrate(direction, opts)
                .await
        }
        _ => {
            SqliteMigrator::new(conn.get_sqlite_connection_pool().clone())
                .migrate(direction, opts)
                .await
        }
    }
    .map(drop)
    .map_err(|err| DbErr::Migration(format!("River's migrations: {err}")))
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Uuid,
    Email,
    Password,
    Username,
    IsAdmin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Uuid,
    Title,
    Description,
    IsCompleted,
    TaskAuthorId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    Jti,
    FamilyId,
    UserId,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    CreatedAt,
}
