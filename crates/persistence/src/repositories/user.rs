//! Users: lookups by each unique key, listing, and registration.

use chrono::Utc;
use domain::{Email, NewUser, User, UserId, Username};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::{
    Connection, Error, Result,
    entities::user::{self, Entity as Users},
};

const ENTITY: &str = "user";

/// Storage of users.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRepository;

impl UserRepository {
    /// Inserts a new user. A taken email or username is reported as
    /// [`Error::Conflict`] by the unique constraints, so two concurrent
    /// registrations of one address cannot both succeed.
    pub async fn create(self, conn: &impl Connection, new: NewUser) -> Result<User> {
        let now = Utc::now();
        let model = user::ActiveModel {
            uuid: Set(new.uuid),
            email: Set(new.email.as_str().to_owned()),
            password: Set(new.password_hash),
            username: Set(new.username.as_str().to_owned()),
            is_admin: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let inserted = Users::insert(model)
            .exec_with_returning(conn)
            .await
            .map_err(|err| Error::from_write(err, ENTITY, &["email", "username", "uuid"]))?;
        to_domain(&inserted)
    }

    /// The user with this internal id.
    pub async fn get(self, conn: &impl Connection, id: UserId) -> Result<User> {
        Users::find_by_id(id.0)
            .one(conn)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: ENTITY,
                id: id.to_string(),
            })
            .and_then(|model| to_domain(&model))
    }

    /// The user with this public id, if any.
    pub async fn find_by_uuid(self, conn: &impl Connection, uuid: Uuid) -> Result<Option<User>> {
        Users::find()
            .filter(user::Column::Uuid.eq(uuid))
            .one(conn)
            .await?
            .map(|model| to_domain(&model))
            .transpose()
    }

    /// The user with this email and their password hash, for login.
    pub async fn find_credentials(
        self,
        conn: &impl Connection,
        email: &Email,
    ) -> Result<Option<(User, String)>> {
        let Some(model) = Users::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        let user = to_domain(&model)?;
        Ok(Some((user, model.password)))
    }

    /// Whether an account uses this email.
    pub async fn email_taken(self, conn: &impl Connection, email: &Email) -> Result<bool> {
        exists(conn, user::Column::Email, email.as_str()).await
    }

    /// Whether an account uses this username.
    pub async fn username_taken(self, conn: &impl Connection, username: &Username) -> Result<bool> {
        exists(conn, user::Column::Username, username.as_str()).await
    }

    /// A page of users, oldest first.
    pub async fn list(self, conn: &impl Connection, offset: u64, limit: u64) -> Result<Vec<User>> {
        Users::find()
            .order_by_asc(user::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(conn)
            .await?
            .into_iter()
            .map(|model| to_domain(&model))
            .collect()
    }
}

async fn exists(conn: &impl Connection, column: user::Column, value: &str) -> Result<bool> {
    let found = Users::find()
        .select_only()
        .column(user::Column::Id)
        .filter(column.eq(value))
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

fn to_domain(model: &user::Model) -> Result<User> {
    let corrupt = |reason: domain::InvalidValue| Error::Corrupt {
        entity: ENTITY,
        reason: format!("user {}: {reason}", model.id),
    };
    Ok(User {
        id: UserId(model.id),
        uuid: model.uuid,
        email: Email::parse(&model.email).map_err(corrupt)?,
        username: Username::parse(&model.username).map_err(corrupt)?,
        is_admin: model.is_admin,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}
