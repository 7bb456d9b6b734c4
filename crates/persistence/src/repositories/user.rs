//! Users: lookups by each unique key, listing, registration, profile
//! changes, deletion, and a user with their tasks.

use chrono::{DateTime, Utc};
use domain::{
    Email, NewUser, Page, Principal, Sort, Task, User, UserId, UserPatch, Username,
    acl::Permission, user::UserUserField,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, IntoCondition},
};
use uuid::Uuid;

use crate::{
    Connection, Error, Result, acl,
    entities::{
        task,
        user::{self, Entity as Users},
    },
    repositories::{base::BaseRepository, task::to_domain as task_to_domain},
};

const ENTITY: &str = "User";

impl acl::GuardedEntity<User> for Users {
    fn user_column(field: UserUserField) -> user::Column {
        match field {
            UserUserField::Id => user::Column::Id,
        }
    }
}

/// Storage of users.
#[derive(Debug, Clone, Copy)]
pub struct UserRepository {
    base: BaseRepository<Users>,
}

impl Default for UserRepository {
    fn default() -> Self {
        Self {
            base: BaseRepository::new(
                ENTITY,
                domain::user::SORTABLE,
                &["email", "username", "uuid"],
            ),
        }
    }
}

/// A new password hash to store alongside a profile change.
#[derive(Debug, Clone)]
pub struct PasswordHash(pub String);

impl UserRepository {
    /// Inserts a new user. A taken email or username is reported as
    /// [`Error::Conflict`] by the unique constraints, so two concurrent
    /// registrations of one address cannot both succeed.
    pub async fn create(&self, conn: &impl Connection, new: NewUser) -> Result<User> {
        let now = Utc::now();
        let row = user::ActiveModel {
            uuid: Set(new.uuid),
            email: Set(new.email.as_str().to_owned()),
            password: Set(new.password_hash),
            username: Set(new.username.as_str().to_owned()),
            is_admin: Set(false),
            email_verified_at: Set(None),
            pending_email: Set(None),
            email_version: Set(0),
            credentials_version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        to_domain(&self.base.create(conn, row).await?)
    }

    /// The user with this internal id.
    pub async fn get(&self, conn: &impl Connection, id: UserId) -> Result<User> {
        to_domain(&self.base.get_by(conn, user::Column::Id, id.0).await?)
    }

    /// The user with this public id, if any.
    pub async fn find_by_uuid(&self, conn: &impl Connection, uuid: Uuid) -> Result<Option<User>> {
        self.base
            .find_by(conn, user::Column::Uuid, uuid)
            .await?
            .map(|model| to_domain(&model))
            .transpose()
    }

    /// The user with this email and their password hash, for login.
    pub async fn find_credentials(
        &self,
        conn: &impl Connection,
        email: &Email,
    ) -> Result<Option<(User, String)>> {
        let Some(model) = self
            .base
            .find_by(conn, user::Column::Email, email.as_str())
            .await?
        else {
            return Ok(None);
        };
        let user = to_domain(&model)?;
        Ok(Some((user, model.password)))
    }

    /// The current password hash of user `id` (`None`: no such user). Read
    /// under [`UserRepository::lock`] to check nothing changed since a
    /// password was verified.
    pub async fn password_hash(
        &self,
        conn: &impl Connection,
        id: UserId,
    ) -> Result<Option<String>> {
        Ok(Users::find_by_id(id.0)
            .select_only()
            .column(user::Column::Password)
            .into_tuple::<String>()
            .one(conn)
            .await?)
    }

    /// The friendly pre-check of registrations and profile changes:
    /// [`Error::Conflict`] if an account other than `except` already uses
    /// `email` (checked first) or `username`. The unique constraints still
    /// decide races.
    pub async fn check_unique(
        &self,
        conn: &impl Connection,
        email: Option<&Email>,
        username: Option<&Username>,
        except: Option<UserId>,
    ) -> Result<()> {
        for (field, column, value) in [
            ("email", user::Column::Email, email.map(Email::as_str)),
            (
                "username",
                user::Column::Username,
                username.map(Username::as_str),
            ),
        ] {
            let Some(value) = value else { continue };
            // As the unique indexes compare: usernames without regard to
            // case (emails are stored lower-cased already).
            let stored = Expr::expr(Func::lower(Expr::col(column)));
            let same = ExprTrait::eq(stored, value.to_ascii_lowercase());
            let mut filter = Condition::all().add(same);
            if let Some(id) = except {
                filter = filter.add(user::Column::Id.ne(id.0));
            }
            if self.base.count(conn, filter).await? > 0 {
                return Err(Error::Conflict {
                    entity: ENTITY,
                    field,
                });
            }
        }
        Ok(())
    }

    /// The users `principals` may read, a page at a time, with the total.
    pub async fn list(
        &self,
        conn: &impl Connection,
        principals: &[Principal],
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<(Vec<User>, u64)> {
        let filter = acl::condition::<User, Users>(principals, Permission::Read)?;
        let (rows, total) = self.base.page(conn, filter, sort, page).await?;
        Ok((rows.iter().map(to_domain).collect::<Result<_>>()?, total))
    }

    /// A page of users, each with their tasks: two queries, however many users.
    pub async fn list_with_tasks(
        &self,
        conn: &impl Connection,
        page: Page,
    ) -> Result<Vec<(User, Vec<Task>)>> {
        self.base
            .list_with_related::<task::Entity>(conn, Condition::all(), None, page)
            .await?
            .iter()
            .map(|(user, tasks)| {
                Ok((
                    to_domain(user)?,
                    tasks.iter().map(task_to_domain).collect::<Result<_>>()?,
                ))
            })
            .collect()
    }

    /// Applies a profile change; a taken username is a conflict. A new
    /// email becomes the pending address (one equal to the current address
    /// withdraws a pending change): it takes over once verified
    /// ([`UserRepository::confirm_email`]). Without a new email,
    /// `drop_pending` withdraws a pending one.
    pub async fn update(
        &self,
        conn: &impl Connection,
        id: UserId,
        patch: UserPatch,
        password_hash: Option<PasswordHash>,
        drop_pending: bool,
    ) -> Result<User> {
        let mut row = self
            .base
            .get_by(conn, user::Column::Id, id.0)
            .await?
            .into_active_model();
        // Every field named: a new one does not compile until it is stored.
        // The password arrives hashed, as `password_hash`.
        let UserPatch {
            email,
            username,
            password: _,
        } = patch;
        if let Some(email) = email {
            let current = row.email.as_ref().as_str() == email.as_str();
            row.pending_email = Set((!current).then(|| email.as_str().to_owned()));
        } else if drop_pending {
            row.pending_email = Set(None);
        }
        if let Some(username) = username {
            row.username = Set(username.as_str().to_owned());
        }
        if let Some(PasswordHash(hash)) = password_hash {
            row.password = Set(hash);
        }
        row.updated_at = Set(Utc::now());
        to_domain(&self.base.update(conn, row).await?)
    }

    /// Locks the user's row until the transaction `conn` belongs to ends
    /// (`SELECT ... FOR UPDATE` on Postgres; SQLite has one writer at a time
    /// and needs no row lock). Changes to a user's login state (refresh,
    /// logout, password change) take it first, so they never interleave.
    pub async fn lock(&self, conn: &impl Connection, id: UserId) -> Result<()> {
        Users::find_by_id(id.0)
            .select_only()
            .column(user::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(conn)
            .await?;
        Ok(())
    }

    /// Locks the user's row as [`UserRepository::lock`] does and reads it,
    /// with its password hash, under the lock: what a credential change
    /// decides on. `NotFound` if the account is gone.
    pub async fn lock_credentials(
        &self,
        conn: &impl Connection,
        id: UserId,
    ) -> Result<(User, String)> {
        self.locked(conn, user::Column::Id.eq(id.0))
            .await?
            .ok_or(Error::NotFound {
                entity: ENTITY,
                id: id.0.to_string(),
            })
    }

    /// [`UserRepository::lock_credentials`] for the account whose address
    /// is `email`, if there is one.
    pub async fn lock_by_email(
        &self,
        conn: &impl Connection,
        email: &Email,
    ) -> Result<Option<(User, String)>> {
        self.locked(conn, user::Column::Email.eq(email.as_str()))
            .await
    }

    async fn locked(
        &self,
        conn: &impl Connection,
        filter: impl IntoCondition,
    ) -> Result<Option<(User, String)>> {
        let Some(model) = Users::find()
            .filter(filter)
            .lock_exclusive()
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((to_domain(&model)?, model.password)))
    }

    /// Bumps user `id`'s `credentials_version`: every token minted before
    /// is void.
    pub async fn bump_credentials(&self, conn: &impl Connection, id: UserId) -> Result<()> {
        Users::update_many()
            .col_expr(
                user::Column::CredentialsVersion,
                Expr::col(user::Column::CredentialsVersion).add(1),
            )
            .filter(user::Column::Id.eq(id.0))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Grants or withdraws the admin role.
    pub async fn set_admin(
        &self,
        conn: &impl Connection,
        id: UserId,
        is_admin: bool,
    ) -> Result<User> {
        let mut row = self
            .base
            .get_by(conn, user::Column::Id, id.0)
            .await?
            .into_active_model();
        row.is_admin = Set(is_admin);
        row.updated_at = Set(Utc::now());
        to_domain(&self.base.update(conn, row).await?)
    }

    /// Makes `email` the user's verified address: the current one, or the
    /// pending one, which then takes over (a new address bumps
    /// `email_version`). Another account holding `email` by now is a
    /// conflict.
    pub async fn confirm_email(
        &self,
        conn: &impl Connection,
        id: UserId,
        email: &Email,
        at: DateTime<Utc>,
    ) -> Result<User> {
        let model = self.base.get_by(conn, user::Column::Id, id.0).await?;
        let was_pending = model.pending_email.as_deref() == Some(email.as_str());
        let moved = model.email != email.as_str();
        let version = model.email_version;
        let mut row = model.into_active_model();
        if moved {
            row.email_version = Set(version + 1);
        }
        row.email = Set(email.as_str().to_owned());
        if was_pending {
            row.pending_email = Set(None);
        }
        row.email_verified_at = Set(Some(at));
        row.updated_at = Set(at);
        to_domain(&self.base.update(conn, row).await?)
    }

    /// Replaces the password hash (a reset, or an unusable one), marks the
    /// address verified if `verified` (a reset link reached it), and clears a
    /// pending address if `drop_pending`.
    pub async fn set_password(
        &self,
        conn: &impl Connection,
        id: UserId,
        PasswordHash(hash): PasswordHash,
        verified: bool,
        drop_pending: bool,
    ) -> Result<User> {
        let model = self.base.get_by(conn, user::Column::Id, id.0).await?;
        let now = Utc::now();
        let verified_at = model.email_verified_at.or(verified.then_some(now));
        let mut row = model.into_active_model();
        row.password = Set(hash);
        row.email_verified_at = Set(verified_at);
        if drop_pending {
            row.pending_email = Set(None);
        }
        row.updated_at = Set(now);
        to_domain(&self.base.update(conn, row).await?)
    }

    /// Deletes a user; their tasks and tokens go with them (ON DELETE CASCADE).
    pub async fn delete(&self, conn: &impl Connection, id: UserId) -> Result<()> {
        self.base
            .delete(conn, user::Column::Id.eq(id.0), id.0)
            .await
    }
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
        email_verified_at: model.email_verified_at,
        pending_email: model
            .pending_email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(corrupt)?,
        email_version: model.email_version,
        credentials_version: model.credentials_version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}
