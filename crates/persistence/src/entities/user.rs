use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub uuid: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    /// The argon2id PHC string.
    pub password: String,
    #[sea_orm(unique)]
    pub username: String,
    pub is_admin: bool,
    /// When the owner of `email` proved it, by following a mailed link.
    pub email_verified_at: Option<DateTimeUtc>,
    /// An address the user asked to change to, in force once verified.
    pub pending_email: Option<String>,
    /// How many times `email` changed: mailed tokens and jobs record the
    /// version they were made for, and are void once it moved on.
    pub email_version: i64,
    /// How many times the credentials were retired (a password change, a
    /// reset, a promotion): mailed tokens record it, and are void once it
    /// moved on.
    pub credentials_version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
}

impl Related<super::task::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Task.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
