use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the token, in hex: the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub user_id: i64,
    /// `verify_email` or `reset_password`.
    pub purpose: String,
    /// The address the token was sent to (for verification: the address
    /// it proves).
    pub email: String,
    /// The account's `email_version` when it was mailed: valid only while
    /// the account's is the same.
    pub email_version: i64,
    /// The account's `credentials_version` when it was minted.
    pub credentials_version: i64,
    pub expires_at: DateTimeUtc,
    /// Set once the mail carrying it was handed over; valid only then.
    pub sent_at: Option<DateTimeUtc>,
    /// Set when it was used, or retired by another of its kind.
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

// The user foreign key (cascading on delete) is the migration's.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
