//! The clients each account trusts: device tokens and addresses that
//! logged in to it before.

use chrono::{DateTime, Utc};
use domain::{Email, UserId};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{OnConflict, Query},
};

use crate::{
    Connection, Result,
    entities::{
        trusted_login::{self, Entity as TrustedLogins},
        user,
    },
};

/// How a client is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustKind {
    /// It sent a device token from an earlier login.
    Device,
    /// It comes from an address that logged in before.
    Address,
}

impl TrustKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Address => "address",
        }
    }
}

/// Storage of trusted clients.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustedLoginRepository;

impl TrustedLoginRepository {
    /// Whether the account with `email` trusts a client holding the device
    /// token with hash `device`, or coming from the address with hash
    /// `address`, seen after `seen_after`. One query, whether or not the
    /// address has an account.
    pub async fn trusts(
        self,
        conn: &impl Connection,
        email: &Email,
        device: Option<&str>,
        address: Option<&str>,
        seen_after: DateTime<Utc>,
    ) -> Result<bool> {
        let mut keys = Condition::any();
        for (kind, hash) in [(TrustKind::Device, device), (TrustKind::Address, address)] {
            if let Some(hash) = hash {
                keys = keys.add(
                    Condition::all()
                        .add(trusted_login::Column::Kind.eq(kind.as_str()))
                        .add(trusted_login::Column::KeyHash.eq(hash)),
                );
            }
        }
        if keys.is_empty() {
            return Ok(false);
        }
        let account = Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(user::Column::Email.eq(email.as_str()))
            .to_owned();
        let found = TrustedLogins::find()
            .select_only()
            .column(trusted_login::Column::Id)
            .filter(trusted_login::Column::UserId.in_subquery(account))
            .filter(trusted_login::Column::LastSeenAt.gt(seen_after))
            .filter(keys)
            .into_tuple::<i64>()
            .one(conn)
            .await?;
        Ok(found.is_some())
    }

    /// Whether user `user_id` trusts the device token with hash `device`.
    pub async fn has_device(
        self,
        conn: &impl Connection,
        user_id: UserId,
        device: &str,
    ) -> Result<bool> {
        let found = TrustedLogins::find()
            .select_only()
            .column(trusted_login::Column::Id)
            .filter(trusted_login::Column::UserId.eq(user_id.0))
            .filter(trusted_login::Column::Kind.eq(TrustKind::Device.as_str()))
            .filter(trusted_login::Column::KeyHash.eq(device))
            .into_tuple::<i64>()
            .one(conn)
            .await?;
        Ok(found.is_some())
    }

    /// Records a successful login of user `user_id` by the client `hash`
    /// names: a new row, or a later `last_seen_at` for a known one.
    pub async fn seen(
        self,
        conn: &impl Connection,
        user_id: UserId,
        kind: TrustKind,
        hash: String,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let row = trusted_login::ActiveModel {
            user_id: Set(user_id.0),
            kind: Set(kind.as_str().to_owned()),
            key_hash: Set(hash),
            created_at: Set(at),
            last_seen_at: Set(at),
            ..Default::default()
        };
        let conflict = OnConflict::columns([
            trusted_login::Column::UserId,
            trusted_login::Column::Kind,
            trusted_login::Column::KeyHash,
        ])
        .update_column(trusted_login::Column::LastSeenAt)
        .to_owned();
        TrustedLogins::insert(row)
            .on_conflict(conflict)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// Keeps only the `keep` most recently seen clients of `kind` of user
    /// `user_id`, so a script that logs in without its device token does
    /// not grow the table without end.
    pub async fn keep_latest(
        self,
        conn: &impl Connection,
        user_id: UserId,
        kind: TrustKind,
        keep: u64,
    ) -> Result<u64> {
        let of_user = Condition::all()
            .add(trusted_login::Column::UserId.eq(user_id.0))
            .add(trusted_login::Column::Kind.eq(kind.as_str()));
        // At most `keep` + 1 rows: each new one is trimmed at once.
        let newest_first: Vec<i64> = TrustedLogins::find()
            .select_only()
            .column(trusted_login::Column::Id)
            .filter(of_user)
            .order_by_desc(trusted_login::Column::LastSeenAt)
            .order_by_desc(trusted_login::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        let older: Vec<i64> = newest_first
            .into_iter()
            .skip(usize::try_from(keep).unwrap_or(usize::MAX))
            .collect();
        if older.is_empty() {
            return Ok(0);
        }
        let result = TrustedLogins::delete_many()
            .filter(trusted_login::Column::Id.is_in(older))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Forgets every client user `user_id` trusted (its password changed,
    /// was reset, or the account changed hands).
    pub async fn forget_all(self, conn: &impl Connection, user_id: UserId) -> Result<u64> {
        let result = TrustedLogins::delete_many()
            .filter(trusted_login::Column::UserId.eq(user_id.0))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Deletes clients last seen before `before` (housekeeping).
    pub async fn delete_stale(self, conn: &impl Connection, before: DateTime<Utc>) -> Result<u64> {
        let result = TrustedLogins::delete_many()
            .filter(trusted_login::Column::LastSeenAt.lt(before))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }
}
