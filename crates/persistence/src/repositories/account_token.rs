//! One-time account tokens (email verification, password reset), stored
//! only as a hash: mint, mark sent, consume once, retire.

use chrono::{DateTime, Utc};
use domain::UserId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};

use crate::{
    Connection, Error, Result,
    entities::account_token::{self, Entity as AccountTokens},
};

const ENTITY: &str = "Account token";

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Prove ownership of an address.
    VerifyEmail,
    /// Set a new password without the old one.
    ResetPassword,
}

impl TokenPurpose {
    /// Every purpose: what a credential change retires.
    pub const ALL: [Self; 2] = [Self::VerifyEmail, Self::ResetPassword];

    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A token about to be mailed: the hash of what the mail will carry.
#[derive(Debug, Clone)]
pub struct NewAccountToken {
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the mail goes to.
    pub email: String,
    /// The account's `email_version` the mail was made for.
    pub email_version: i64,
    /// The account's `credentials_version` when it was minted.
    pub credentials_version: i64,
    pub expires_at: DateTime<Utc>,
}

/// A token that was just used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedToken {
    pub user_id: UserId,
    /// The address it was mailed to.
    pub email: String,
    /// The account's `email_version` when it was mailed.
    pub email_version: i64,
    /// The account's `credentials_version` when it was minted.
    pub credentials_version: i64,
}

/// Storage of account tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountTokenRepository;

impl AccountTokenRepository {
    /// Stores a token that is not valid yet ([`AccountTokenRepository::mark_sent`]
    /// makes it so); returns its row id.
    pub async fn insert(self, conn: &impl Connection, token: NewAccountToken) -> Result<i64> {
        let model = account_token::ActiveModel {
            token_hash: Set(token.token_hash),
            user_id: Set(token.user_id.0),
            purpose: Set(token.purpose.as_str().to_owned()),
            email: Set(token.email),
            email_version: Set(token.email_version),
            credentials_version: Set(token.credentials_version),
            expires_at: Set(token.expires_at),
            sent_at: Set(None),
            used_at: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        let inserted = AccountTokens::insert(model)
            .exec(conn)
            .await
            .map_err(|err| Error::from_write(err, ENTITY, &["token_hash"]))?;
        Ok(inserted.last_insert_id)
    }

    /// Makes token `id` valid: its mail was handed over.
    pub async fn mark_sent(self, conn: &impl Connection, id: i64, at: DateTime<Utc>) -> Result<()> {
        AccountTokens::update_many()
            .col_expr(account_token::Column::SentAt, Expr::value(at))
            .filter(account_token::Column::Id.eq(id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Deletes token `id` (its mail could not be sent).
    pub async fn delete(self, conn: &impl Connection, id: i64) -> Result<()> {
        AccountTokens::delete_by_id(id).exec(conn).await?;
        Ok(())
    }

    /// The account the token with this hash belongs to, if any, whatever
    /// its state: the account to lock before [`AccountTokenRepository::consume`].
    pub async fn owner(self, conn: &impl Connection, token_hash: &str) -> Result<Option<UserId>> {
        Ok(AccountTokens::find()
            .filter(account_token::Column::TokenHash.eq(token_hash))
            .select_only()
            .column(account_token::Column::UserId)
            .into_tuple::<i64>()
            .one(conn)
            .await?
            .map(UserId))
    }

    /// Uses the token with this hash, if it is one for `purpose` that was
    /// sent, is unused and has not expired. The condition is in the
    /// `UPDATE`, so of two concurrent uses exactly one wins.
    pub async fn consume(
        self,
        conn: &impl Connection,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsumedToken>> {
        let used = AccountTokens::update_many()
            .col_expr(account_token::Column::UsedAt, Expr::value(now))
            .filter(account_token::Column::TokenHash.eq(token_hash))
            .filter(account_token::Column::Purpose.eq(purpose.as_str()))
            .filter(account_token::Column::SentAt.is_not_null())
            .filter(account_token::Column::UsedAt.is_null())
            .filter(account_token::Column::ExpiresAt.gt(now))
            .exec_with_returning(conn)
            .await?;
        Ok(used.into_iter().next().map(|model| ConsumedToken {
            user_id: UserId(model.user_id),
            email: model.email,
            email_version: model.email_version,
            credentials_version: model.credentials_version,
        }))
    }

    /// Retires every unused token of `user_id` for any of `purposes` (one
    /// was used, the password changed, or the account changed hands).
    pub async fn retire_all(
        self,
        conn: &impl Connection,
        user_id: UserId,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let result = AccountTokens::update_many()
            .col_expr(account_token::Column::UsedAt, Expr::value(now))
            .filter(account_token::Column::UserId.eq(user_id.0))
            .filter(
                account_token::Column::Purpose
                    .is_in(purposes.iter().map(|purpose| purpose.as_str())),
            )
            .filter(account_token::Column::UsedAt.is_null())
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Deletes tokens that expired before `now` (housekeeping).
    pub async fn delete_expired(self, conn: &impl Connection, now: DateTime<Utc>) -> Result<u64> {
        let result = AccountTokens::delete_many()
            .filter(account_token::Column::ExpiresAt.lt(now))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }
}
