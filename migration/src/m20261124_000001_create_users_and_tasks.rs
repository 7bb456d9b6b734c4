//! Users and their tasks, the two models of the FastAPI template.

use sea_orm_migration::{
    prelude::*,
    schema::{
        big_integer, big_pk_auto, boolean, string, string_len, string_len_uniq, text,
        timestamp_with_time_zone, uuid_uniq,
    },
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
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
