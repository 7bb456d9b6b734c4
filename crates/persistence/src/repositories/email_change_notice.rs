//! The addresses email-change notices go to, held between the request that
//! asks for the change and the job that sends the notice.

use chrono::Utc;
use domain::UserId;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    Connection, Result,
    entities::email_change_notice::{self, Entity as Notices},
};

/// A notice waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    pub user_id: UserId,
    /// The address in force when the change was asked for.
    pub email: String,
}

/// Storage of email-change notices.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailChangeNoticeRepository;

impl EmailChangeNoticeRepository {
    /// Records that `email` is to be told of a change away from it;
    /// returns the id the job carries.
    pub async fn insert(self, conn: &impl Connection, user_id: UserId, email: &str) -> Result<i64> {
        let model = email_change_notice::ActiveModel {
            user_id: Set(user_id.0),
            email: Set(email.to_owned()),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        Ok(Notices::insert(model).exec(conn).await?.last_insert_id)
    }

    /// The notice `id`, if it was not sent (nor its account deleted).
    pub async fn find(self, conn: &impl Connection, id: i64) -> Result<Option<PendingNotice>> {
        Ok(Notices::find_by_id(id)
            .one(conn)
            .await?
            .map(|model| PendingNotice {
                user_id: UserId(model.user_id),
                email: model.email,
            }))
    }

    /// Forgets notices recorded before `before` whose job never sent them
    /// (cancelled or discarded): their addresses are kept no longer.
    pub async fn delete_older_than(
        self,
        conn: &impl Connection,
        before: chrono::DateTime<Utc>,
    ) -> Result<u64> {
        let result = Notices::delete_many()
            .filter(email_change_notice::Column::CreatedAt.lt(before))
            .exec(conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Forgets notice `id` and its address: it was sent.
    pub async fn delete(self, conn: &impl Connection, id: i64) -> Result<()> {
        Notices::delete_by_id(id).exec(conn).await?;
        Ok(())
    }
}
