use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token's `jti` claim.
    #[sea_orm(unique)]
    pub jti: Uuid,
    /// Shared by every token rotated from one login.
    pub family_id: Uuid,
    /// When the family's login began (`SESSION_MAX_DAYS` counts from it).
    pub family_started_at: DateTimeUtc,
    pub user_id: i64,
    pub expires_at: DateTimeUtc,
    /// Set when the token was exchanged for a new pair.
    pub used_at: Option<DateTimeUtc>,
    /// Set on logout or when reuse of the family was detected.
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

// The user foreign key (cascading on delete) is the migration's; no
// query walks it from here, so no relation is declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
