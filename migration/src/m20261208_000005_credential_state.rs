//! Credential changes decide on what the row holds: `users.email_version`
//! counts the account's address changes, and each mailed token records the
//! version it was mailed under (`account_tokens.email_version`), so a link
//! mailed to an address the account no longer has stops working even if
//! the address comes back. `credentials_version` does the same for
//! password changes, resets and promotions, so a link a mail job minted
//! while one of them committed never works. `email_change_notices` holds the address an
//! email-change notice goes to, so the job's arguments carry only its id.
//! `trusted_logins` remembers the clients that logged in to an account (a
//! device token's hash, or a keyed hash of the client's address), which
//! login limits never cap.

use sea_orm_migration::{
    prelude::*,
    schema::{big_integer, big_pk_auto, string, timestamp_with_time_zone},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds a NOT NULL column only with a constant default; every
        // account and token starts at version 0.
        for (table, column) in [
            (Users::Table.into_iden(), Users::EmailVersion.into_iden()),
            (
                AccountTokens::Table.into_iden(),
                AccountTokens::EmailVersion.into_iden(),
            ),
            (
                Users::Table.into_iden(),
                Users::CredentialsVersion.into_iden(),
            ),
            (
                AccountTokens::Table.into_iden(),
                AccountTokens::CredentialsVersion.into_iden(),
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(EmailChangeNotices::Table)
                    .col(big_pk_auto(EmailChangeNotices::Id))
                    .col(big_integer(EmailChangeNotices::UserId))
                    .col(string(EmailChangeNotices::Email))
                    .col(timestamp_with_time_zone(EmailChangeNotices::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_change_notices_user_id")
                            .from(EmailChangeNotices::Table, EmailChangeNotices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_change_notices_user_id")
                    .table(EmailChangeNotices::Table)
                    .col(EmailChangeNotices::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TrustedLogins::Table)
                    .col(big_pk_auto(TrustedLogins::Id))
                    .col(big_integer(TrustedLogins::UserId))
                    .col(string(TrustedLogins::Kind))
                    .col(string(TrustedLogins::KeyHash))
                    .col(timestamp_with_time_zone(TrustedLogins::CreatedAt))
                    .col(timestamp_with_time_zone(TrustedLogins::LastSeenAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_trusted_logins_user_id")
                            .from(TrustedLogins::Table, TrustedLogins::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "idx_trusted_logins_user_kind_key",
                &[
                    TrustedLogins::UserId,
                    TrustedLogins::Kind,
                    TrustedLogins::KeyHash,
                ][..],
                true,
            ),
            (
                "idx_trusted_logins_last_seen_at",
                &[TrustedLogins::LastSeenAt][..],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(TrustedLogins::Table);
            for column in columns {
                index.col(*column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.clone()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TrustedLogins::Table.into_iden(),
            EmailChangeNotices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for (table, column) in [
            (
                AccountTokens::Table.into_iden(),
                AccountTokens::CredentialsVersion.into_iden(),
            ),
            (
                Users::Table.into_iden(),
                Users::CredentialsVersion.into_iden(),
            ),
            (
                AccountTokens::Table.into_iden(),
                AccountTokens::EmailVersion.into_iden(),
            ),
            (Users::Table.into_iden(), Users::EmailVersion.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVersion,
    CredentialsVersion,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    EmailVersion,
    CredentialsVersion,
}

#[derive(DeriveIden)]
enum EmailChangeNotices {
    Table,
    Id,
    UserId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TrustedLogins {
    Table,
    Id,
    UserId,
    Kind,
    KeyHash,
    CreatedAt,
    LastSeenAt,
}
