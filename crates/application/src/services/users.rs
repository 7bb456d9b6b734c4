//! Users as other users see them, and one's own account.

use chrono::Utc;
use domain::{
    Email, MAX_PAGE_SIZE, Page, Password, Sort, User, UserId, UserPatch, Username, acl::Permission,
};
use infra::cache::{Cache, CacheKey};
use persistence::{Db, EmailChangeNoticeRepository, PasswordHash, UnitOfWork as _, UserRepository};
use uuid::Uuid;

use crate::{
    AuthService, Caller, Error, Principals, Result, cache_tags as tags,
    jobs::{EmailChangeNotice, JobQueue, PasswordResetEmail, VerificationEmail},
    security::password::Admission,
    services::auth::Registration,
};

/// A change to one's own account, as requested; `None` leaves a field as
/// it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub password: Option<Password>,
    /// Required to change the email or the password.
    pub current_password: Option<String>,
}

/// Reading, changing and deleting users.
#[derive(Debug, Clone)]
pub struct UserService {
    db: Db,
    users: UserRepository,
    notices: EmailChangeNoticeRepository,
    auth: AuthService,
    cache: Cache,
    jobs: JobQueue,
}

impl UserService {
    pub(crate) fn new(db: Db, auth: AuthService, cache: Cache, jobs: JobQueue) -> Self {
        Self {
            db,
            users: UserRepository::default(),
            notices: EmailChangeNoticeRepository,
            auth,
            cache,
            jobs,
        }
    }

    /// A page of the users the caller may read, with the total; `limit` is
    /// capped at [`MAX_PAGE_SIZE`].
    pub async fn list(
        &self,
        principals: &Principals,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<(Vec<User>, u64)> {
        let page = Page {
            limit: page.limit.min(MAX_PAGE_SIZE),
            ..page
        };
        // The caller's principals are part of the key: what a list holds
        // depends on who asks, whatever the ACL says today.
        let key = CacheKey::new(
            "users:list",
            format!(
                "{:?}|{:?}|{}|{}",
                principals.as_slice(),
                sort,
                page.offset,
                page.limit
            ),
        )
        .tag(tags::USERS);
        self.cache
            .get_or_compute(&key, None, || async {
                Ok::<_, Error>(
                    self.users
                        .list(self.db.writer(), principals.as_slice(), sort, page)
                        .await?,
                )
            })
            .await
    }

    /// One user by public id.
    pub async fn get(&self, principals: &Principals, uuid: Uuid) -> Result<User> {
        let key = CacheKey::new("users:get", uuid).tag(tags::USERS);
        let user = self
            .cache
            .get_or_compute(&key, None, || async {
                Ok::<_, Error>(self.users.find_by_uuid(self.db.writer(), uuid).await?)
            })
            .await?
            .ok_or(Error::NotFound { entity: "User" })?;
        // Checked on every read, cached or not.
        principals.assert_access(Permission::Read, &[&user])?;
        Ok(user)
    }

    /// The caller's own account. A valid token for a deleted account is
    /// treated as no authentication at all.
    pub async fn me(&self, caller: Caller) -> Result<User> {
        let key = CacheKey::new("users:me", caller.user_id).tag(tags::user(caller.user_id));
        self.cache
            .get_or_compute(&key, None, || self.load(caller))
            .await
    }

    /// The caller's row, uncached.
    async fn load(&self, caller: Caller) -> Result<User> {
        match self.users.get(self.db.writer(), caller.user_id).await {
            Ok(user) => Ok(user),
            Err(persistence::Error::NotFound { .. }) => {
                Err(Error::Unauthorized("Authentication required"))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Changes the caller's email, username or password. Email and password
    /// changes need the current password. A new email waits as the pending
    /// address, and the current one stays in force, until the new one is
    /// verified: the same transaction enqueues the verification mail to it
    /// and a notice to the current one. A password change ends every login
    /// of the account, the current one included, withdraws a pending
    /// address (unless this change asks for one) and voids every link
    /// mailed so far: whoever phished the old password keeps nothing.
    ///
    /// The password is checked before the transaction (hashing must not
    /// hold a connection), so the transaction goes ahead only if the row,
    /// read under its lock, still holds the hash that matched: a promotion
    /// or a reset that committed meanwhile wins.
    ///
    /// `client` (the asking client's address, as rate limits key it) stays
    /// trusted through a password change.
    pub async fn update_me(
        &self,
        principals: &Principals,
        change: ProfileChange,
        client: Option<&str>,
    ) -> Result<User> {
        let caller = principals.require_caller()?;
        let me = self.load(caller).await?;
        principals.assert_access(Permission::Edit, &[&me])?;
        // Every field named, so a new one cannot be ignored silently.
        let ProfileChange {
            email,
            username,
            password,
            current_password,
        } = change;
        let verified_hash = if email.is_some() || password.is_some() {
            self.check_password(me.id, current_password).await?
        } else {
            None
        };
        let password_hash = match &password {
            Some(password) => Some(PasswordHash(self.auth.passwords.hash(password).await?)),
            None => None,
        };
        let password_changed = password_hash.is_some();
        let patch = UserPatch {
            email,
            username,
            password,
        };
        let updated = self
            .db
            .transaction(async |tx| {
                // Serialises with refreshes (the revocation below must not
                // miss a token one is issuing) and with every other
                // credential change, whose outcome is decided on here.
                let (locked, hash) = self.users.lock_credentials(tx.conn(), me.id).await?;
                if verified_hash
                    .as_ref()
                    .is_some_and(|verified| *verified != hash)
                {
                    return Err(wrong_password());
                }
                self.users
                    .check_unique(
                        tx.conn(),
                        patch.email.as_ref(),
                        patch.username.as_ref(),
                        Some(me.id),
                    )
                    .await?;
                let updated = self
                    .users
                    .update(tx.conn(), me.id, patch, password_hash, password_changed)
                    .await?;
                if password_changed {
                    self.auth
                        .retire_credentials(tx, me.id, Utc::now(), client)
                        .await?;
                }
                if updated.pending_email.is_some() && updated.pending_email != locked.pending_email
                {
                    let user_uuid = me.uuid;
                    self.jobs
                        .enqueue(tx, VerificationEmail { user_uuid })
                        .await?;
                    let notice_id = self
                        .notices
                        .insert(tx.conn(), me.id, locked.email.as_str())
                        .await?;
                    self.jobs
                        .enqueue(tx, EmailChangeNotice::new(user_uuid, notice_id))
                        .await?;
                }
                Ok::<_, Error>(updated)
            })
            .await?;
        // After the commit: a reader that fetched the old generations stores
        // under keys nobody will read again.
        self.cache
            .invalidate_tags(&[tags::USERS.to_owned(), tags::user(me.id)])
            .await;
        if password_changed {
            // Every login of the account ended with its refresh tokens.
            self.auth.sessions.forget(me.id);
        }
        Ok(updated)
    }

    /// Checks `current_password` (required) against user `id`'s hash;
    /// returns the hash it matched.
    async fn check_password(&self, id: UserId, current: Option<String>) -> Result<Option<String>> {
        let current = current.ok_or(Error::Invalid {
            location: "body",
            field: "current_password",
            kind: "missing",
            message: "Field required to change the email or password".into(),
        })?;
        let hash = self.users.password_hash(self.db.writer(), id).await?;
        // Not `Trusted`: a stolen access token must not take the room kept
        // for the owners' logins.
        let admission = Admission::Untrusted;
        if !self
            .auth
            .passwords
            .verify(current, hash.clone(), admission)
            .await?
        {
            return Err(wrong_password());
        }
        Ok(hash)
    }

    /// Deletes a user (admins only); their tasks and tokens go with them.
    pub async fn delete(&self, principals: &Principals, uuid: Uuid) -> Result<()> {
        principals.require_caller()?;
        let user = self
            .users
            .find_by_uuid(self.db.writer(), uuid)
            .await?
            .ok_or(Error::NotFound { entity: "User" })?;
        principals.assert_access(Permission::Delete, &[&user])?;
        self.remove(&user).await
    }

    async fn remove(&self, user: &User) -> Result<()> {
        self.users.delete(self.db.writer(), user.id).await?;
        self.auth.sessions.forget(user.id);
        // Their tasks (and any other rows they own) went with them in the
        // schema's cascade: drop every cached owned row too.
        self.cache
            .invalidate_tags(&[
                tags::USERS.to_owned(),
                tags::user(user.id),
                tags::OWNED_BY_USERS.to_owned(),
            ])
            .await;
        tracing::info!(user_uuid = %user.uuid, "user deleted");
        Ok(())
    }

    /// Creates a new admin account (the command line's `create-admin`),
    /// the way to bootstrap the first admin. An email that has an account
    /// already is refused (`Conflict`): whoever registered it knows its
    /// password, and that may not be the operator. `delete_by_email`
    /// removes such an account.
    pub async fn create_admin(&self, registration: Registration) -> Result<User> {
        let user = self.auth.register(registration).await?;
        // The operator vouches for the address they typed.
        self.users
            .confirm_email(self.db.writer(), user.id, &user.email, Utc::now())
            .await?;
        let admin = self.set_admin(user.id, true).await?;
        tracing::info!(user_uuid = %admin.uuid, "admin account created");
        Ok(admin)
    }

    /// Makes an existing account an admin (`create-admin
    /// --promote-existing`) such that only whoever reads its mailbox ends up
    /// with an admin login, whoever registered it: every login of it ends,
    /// its password becomes unusable, a pending address change and every
    /// mailed token are dropped, and a reset link goes to its address, in
    /// one transaction. The account is found and decided on under its row
    /// lock, so a password change racing the promotion finds the hash it
    /// checked gone and is refused; the reset job carries the account's
    /// email version and mails only while the address is still the one the
    /// operator typed.
    pub async fn promote_existing(&self, email: &Email) -> Result<User> {
        let unusable = PasswordHash(self.auth.passwords.hash_unusable().await?);
        let admin = self
            .db
            .transaction(async |tx| {
                let now = Utc::now();
                let (user, _) = self
                    .users
                    .lock_by_email(tx.conn(), email)
                    .await?
                    .ok_or(Error::NotFound { entity: "User" })?;
                self.users
                    .set_password(tx.conn(), user.id, unusable, false, true)
                    .await?;
                self.auth.retire_credentials(tx, user.id, now, None).await?;
                let admin = self.users.set_admin(tx.conn(), user.id, true).await?;
                let job = PasswordResetEmail::to(&user);
                self.jobs.enqueue(tx, job).await?;
                Ok::<_, Error>(admin)
            })
            .await?;
        self.cache
            .invalidate_tags(&[tags::USERS.to_owned(), tags::user(admin.id)])
            .await;
        self.auth.sessions.forget(admin.id);
        tracing::info!(user_uuid = %admin.uuid, "existing account promoted to admin; reset link mailed");
        Ok(admin)
    }

    /// Grants or takes the admin role of the account with `email` (the
    /// command line's `revoke-admin`). This instance honours the change at
    /// once; every other within `SESSION_RECHECK_SECONDS`. Returns the
    /// account and whether it was an admin.
    pub async fn change_admin(&self, email: &Email, is_admin: bool) -> Result<(User, bool)> {
        let user = self.find_by_email(email).await?;
        let was_admin = user.is_admin;
        let user = self.set_admin(user.id, is_admin).await?;
        tracing::info!(user_uuid = %user.uuid, was_admin, is_admin, "admin role changed");
        Ok((user, was_admin))
    }

    /// Deletes the account with `email` and everything it owns (the
    /// command line's `delete-user`), as an admin's `DELETE` does: for an
    /// operator before any admin exists, or for an account squatting an
    /// address.
    pub async fn delete_by_email(&self, email: &Email) -> Result<User> {
        let user = self.find_by_email(email).await?;
        self.remove(&user).await?;
        Ok(user)
    }

    async fn find_by_email(&self, email: &Email) -> Result<User> {
        let found = self.users.find_credentials(self.db.writer(), email).await?;
        found
            .map(|(user, _)| user)
            .ok_or(Error::NotFound { entity: "User" })
    }

    async fn set_admin(&self, id: domain::UserId, is_admin: bool) -> Result<User> {
        let user = self.users.set_admin(self.db.writer(), id, is_admin).await?;
        self.cache
            .invalidate_tags(&[tags::USERS.to_owned(), tags::user(id)])
            .await;
        self.auth.sessions.forget(id);
        Ok(user)
    }
}

/// A `current_password` that does not match.
fn wrong_password() -> Error {
    Error::Invalid {
        location: "body",
        field: "current_password",
        kind: "value_error",
        message: "Value error, Current password is incorrect".into(),
    }
}
