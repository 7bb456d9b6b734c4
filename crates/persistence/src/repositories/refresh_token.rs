//! Refresh-token state: issue, consume once, revoke by family.

use chrono::{DateTime, Utc};
use domain::UserId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    Connection, Error, Result,
    entities::refresh_token::{self, Entity as RefreshTokens},
};

const ENTITY: &str = "Refresh token";

/// A refresh token about to be issued.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub jti: Uuid,
    pub family_id: Uuid,
    /// When the family's login began; every token rotated from it keeps it.
    pub family_started_at: DateTime<Utc>,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
}

/// The stored state of one issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub jti: Uuid,
    pub family_id: Uuid,
    pub family_started_at: DateTime<Utc>,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Storage of refresh-token state.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshTokenRepository;

impl RefreshTokenRepository {
    /// Records a newly issued token.
    pub async fn insert(self, conn: &impl Connection, token: NewRefreshToken) -> Result<()> {
        let model = refresh_token::ActiveModel {
            jti: Set(token.jti),
            family_id: Set(token.family_id),
            family_started_at: Set(token.family_started_at),
            user_id: Set(token.user_id.0),
            expires_at: Set(token.expires_at),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        RefreshTokens::insert(model)
            .exec_without_returning(conn)
            .await
            .map_err(|err| Error::from_write(err, ENTITY, &["jti"]))?;
        Ok(())
    }

    /// The token with this id, if it was ever issued.
    pub async fn find(
        self,
        conn: &impl Connection,
        jti: Uuid,
    ) -> Result<Option<RefreshTokenRecord>> {
        Ok(RefreshTokens::find()
            .filter(refresh_token::Column::Jti.eq(jti))
            .one(conn)
            .await?
            .map(|model| RefreshTokenRecord {
                jti: model.jti,
                family_id: model.family_id,
                family_started_at: model.family_started_at,
                user_id: UserId(model.user_id),
                expires_at: model.expires_at,
                used_at: model.used_at,
                revoked_at: model.revoked_at,
            }))
    }

    /// Marks the token used, if and only if it is still unused and not
    /// revoked. Returns `false` when another request got there first: the
    /// condition is in the `UPDATE`, so two concurrent refreshes with one
    /// token cannot both win.
    pub async fn mark_used(
        self,
        conn: &impl Connection,
        jti: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = RefreshTokens::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(at))
            .filter(refresh_token::Column::Jti.eq(jti))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(conn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Whether user `user_id`'s login `family_id` is still alive: it began
    /// after `started_after` (else `SESSION_MAX_DAYS` ended it) and holds a
    /// token nobody revoked (by logout, a password change or a detected
    /// reuse). Access tokens of a dead login are refused.
    pub async fn family_active(
        self,
        conn: &impl Connection,
        user_id: UserId,
        family_id: Uuid,
        started_after: DateTime<Utc>,
    ) -> Result<bool> {
        let live = RefreshTokens::find()
            .select_only()
            .column(refresh_token::Column::Jti)
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::UserId.eq(user_id.0))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .filter(refresh_token::Column::FamilyStartedAt.gt(started_after))
            .into_tuple::<Uuid>()
            .one(conn)
            .await?;
        Ok(live.is_some())
    }

    /// Revokes every token of a family that is not revoked yet; returns how
    /// many were.
    pub async fn revoke_family(
        self,
        conn: &impl Connection,
        family_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        revoke(conn, refresh_token::Column::FamilyId.eq(family_id), at).await
    }

    /// Revokes every live token of a user (after a password change).
    pub async fn revoke_all_for_user(
        self,
        conn: &impl Connection,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        revoke(conn, refresh_token::Column::UserId.eq(user_id.0), at).await
    }

    /// Deletes tokens that expired before `now`, used or revoked or not.
    /// Revoked tokens are kept until they expire on purpose: presenting a
    /// revoked token is how reuse is detected, and that must keep working
    /// for as long as the token could otherwise be accepted.
    pub async fn delete_expired(self, conn: &impl Connection, now: DateTime<Utc>) -> Result<u64> {
        let result = RefreshTokens::delete_many()
            .filter(refresh_token::Column::ExpiresAt.lt(now))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }
}

/// Revokes the live tokens `which` selects; returns how many were.
async fn revoke(
    conn: &impl Connection,
    which: sea_orm::sea_query::SimpleExpr,
    at: DateTime<Utc>,
) -> Result<u64> {
    let result = RefreshTokens::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(at))
        .filter(which)
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
