//! Logins end: each refresh token carries when its login began
//! (`family_started_at`), copied onto every token rotated from it, so a
//! login expires `SESSION_MAX_DAYS` after it began however often it is
//! refreshed, and housekeeping that deletes a family's expired rows loses
//! nothing of it.

use sea_orm_migration::{prelude::*, schema::timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds a NOT NULL column only with a constant default; every
        // existing row is then given the first issue time its family still
        // has, the closest record of when that login began.
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(
                        timestamp_with_time_zone(RefreshTokens::FamilyStartedAt)
                            .default("1970-01-01 00:00:00+00:00"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE refresh_tokens SET family_started_at = (SELECT MIN(earlier.created_at) \
                 FROM refresh_tokens earlier WHERE earlier.family_id = refresh_tokens.family_id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::FamilyStartedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    FamilyStartedAt,
}
