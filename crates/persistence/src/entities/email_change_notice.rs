use sea_orm::entity::prelude::*;

/// The address an email-change notice goes to, written by the request that
/// changes the address and deleted by the job once the notice is sent: the
/// job's arguments, which River keeps and shows, carry only the row's id.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_change_notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The address in force when the change was asked for.
    pub email: String,
    pub created_at: DateTimeUtc,
}

// The user foreign key (cascading on delete) is the migration's.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
