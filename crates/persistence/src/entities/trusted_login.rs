use sea_orm::entity::prelude::*;

/// A client that logged in to an account: login limits never cap it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trusted_logins")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// `device` (a device token the login answer carried) or `address`
    /// (the client address it came from, an IPv6 /64).
    pub kind: String,
    /// A device token's SHA-256, or an HMAC of the address under the
    /// server's key (addresses are guessable, tokens are not); hex.
    pub key_hash: String,
    pub created_at: DateTimeUtc,
    /// The latest successful login with it.
    pub last_seen_at: DateTimeUtc,
}

// The user foreign key (cascading on delete) is the migration's.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
