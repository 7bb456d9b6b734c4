//! Registration, login, token refresh and logout.

use chrono::Utc;
use domain::{Email, NewUser, Password, User, Username, acl::principals_of};
use infra::cache::CacheKey;
use persistence::{Db, NewRefreshToken, RefreshTokenRepository, UnitOfWork as _, UserRepository};
use uuid::Uuid;

use crate::{
    Error, Principals, Result, cache_tags as tags,
    jobs::{JobQueue, WelcomeEmail},
    security::{
        password::PasswordHasher,
        tokens::{Caller, TokenKind, TokenPair, TokenService},
    },
};

/// A registration, already parsed from the request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: Password,
}

/// Authentication: who may enter, and with which tokens.
#[derive(Debug, Clone)]
pub struct AuthService {
    db: Db,
    users: UserRepository,
    refresh_tokens: RefreshTokenRepository,
    passwords: PasswordHasher,
    tokens: TokenService,
    cache: infra::cache::Cache,
    jobs: JobQueue,
}

impl AuthService {
    pub(crate) fn new(
        db: Db,
        passwords: PasswordHasher,
        tokens: TokenService,
        cache: infra::cache::Cache,
        jobs: JobQueue,
    ) -> Self {
        Self {
            cache,
            jobs,
            db,
            users: UserRepository::default(),
            refresh_tokens: RefreshTokenRepository,
            passwords,
            tokens,
        }
    }

    /// Creates an account. A taken email or username is
    /// [`Error::Conflict`], whether found by the friendly pre-check or, when
    /// two registrations race, by the unique constraints.
    pub async fn register(&self, registration: Registration) -> Result<User> {
        let conn = self.db.writer();
        if self
            .users
            .email_taken(conn, &registration.email, None)
            .await?
        {
            return Err(Error::Conflict {
                entity: "User",
                field: "email",
            });
        }
        if self
            .users
            .username_taken(conn, &registration.username, None)
            .await?
        {
            return Err(Error::Conflict {
                entity: "User",
                field: "username",
            });
        }
        let password_hash = self.passwords.hash(&registration.password).await?;
        let new_user = NewUser {
            uuid: Uuid::new_v4(),
            email: registration.email,
            username: registration.username,
            password_hash,
        };
        // The welcome email is enqueued in the account's transaction: no
        // mail for an account that failed to commit, no account without
        // its mail. Sending happens later, in a worker, so a slow or down
        // mail server never delays or fails a registration.
        let user = self
            .db
            .transaction(async |tx| {
                let user = self.users.create(tx.conn(), new_user).await?;
                self.jobs
                    .enqueue(
                        tx.conn(),
                        &WelcomeEmail {
                            user_uuid: user.uuid,
                        },
                    )
                    .await?;
                Ok::<_, Error>(user)
            })
            .await?;
        self.cache
            .invalidate_tags(&[crate::cache_tags::USERS])
            .await;
        tracing::info!(user_uuid = %user.uuid, "user registered");
        Ok(user)
    }

    /// Exchanges email and password for a token pair, starting a new login
    /// family. An unknown email and a wrong password are indistinguishable,
    /// in the answer and in the time it takes.
    pub async fn login(&self, email: &Email, password: String) -> Result<TokenPair> {
        let found = self.users.find_credentials(self.db.writer(), email).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let verified = self.passwords.verify(password, hash).await?;
        let Some(user) = user.filter(|_| verified) else {
            return Err(Error::InvalidCredentials);
        };
        self.issue(user.id, Uuid::new_v4()).await
    }

    /// Rotates a refresh token: the presented one stops working and a new
    /// pair in the same family is returned. Presenting a token that was
    /// already rotated means it was copied; the whole family is revoked, so
    /// neither the thief nor the victim can continue without logging in.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        const INVALID: Error = Error::Unauthorized("Invalid refresh token");
        let claims = self
            .tokens
            .decode(refresh_token, TokenKind::Refresh)
            .ok_or(INVALID)?;
        let user_id = domain::UserId(claims.sub.parse().map_err(|_| INVALID)?);
        let now = Utc::now();
        let tx = self.db.begin().await?;
        // Serialise with logout and password changes of this user, so a
        // revocation never misses a token this refresh is about to issue.
        self.users.lock(tx.conn(), user_id).await?;
        // The conditional UPDATE settles races between refreshes: of two
        // concurrent refreshes with one token, exactly one consumes it.
        if self
            .refresh_tokens
            .mark_used(tx.conn(), claims.jti, now)
            .await?
        {
            let Some(record) = self.refresh_tokens.find(tx.conn(), claims.jti).await? else {
                return Err(INVALID);
            };
            let issued = self.tokens.issue(record.user_id, record.family_id)?;
            self.refresh_tokens
                .insert(
                    tx.conn(),
                    NewRefreshToken {
                        jti: issued.refresh_jti,
                        family_id: record.family_id,
                        user_id: record.user_id,
                        expires_at: issued.refresh_expires_at,
                    },
                )
                .await?;
            tx.commit().await?;
            return Ok(issued.pair);
        }
        match self.refresh_tokens.find(tx.conn(), claims.jti).await? {
            Some(record) if record.revoked_at.is_none() => {
                // Used before and not revoked: this is a replay.
                let revoked = self
                    .refresh_tokens
                    .revoke_family(tx.conn(), record.family_id, now)
                    .await?;
                tx.commit().await?;
                tracing::warn!(
                    user_id = %record.user_id,
                    family_id = %record.family_id,
                    revoked,
                    "refresh token reused; login family revoked"
                );
            }
            // Unknown (user deleted, or never issued by us) or revoked.
            _ => {}
        }
        Err(INVALID)
    }

    /// Ends the caller's login: every refresh token of its family stops
    /// working. Access tokens already issued expire on their own (they are
    /// short-lived by design).
    pub async fn logout(&self, caller: Caller) -> Result<()> {
        self.db
            .transaction(async |tx| {
                // After any refresh of this user in flight, never beside it.
                self.users.lock(tx.conn(), caller.user_id).await?;
                self.refresh_tokens
                    .revoke_family(tx.conn(), caller.family_id, Utc::now())
                    .await?;
                Ok(())
            })
            .await
    }

    /// The principals of the caller behind a request (the template's
    /// `get_user_principals`): read from the user's current row, so a
    /// demoted admin or a deleted account loses access at once. A valid
    /// token for a deleted account is treated as no authentication.
    pub async fn principals(&self, caller: Option<Caller>) -> Result<Principals> {
        let Some(caller) = caller else {
            return Ok(Principals::anonymous());
        };
        // Cached under the user's tag, which every change of role and the
        // deletion of the account invalidate after commit (in Redis, for
        // every instance), so access still follows the current row. Computed
        // from the primary, not a replica: a lagging replica's answer would
        // live on in the cache.
        let key = CacheKey::new("principals", caller.user_id).tag(tags::user(caller.user_id));
        let is_admin: bool = self
            .cache
            .get_or_compute(&key, None, || async {
                match self.users.get(self.db.writer(), caller.user_id).await {
                    Ok(user) => Ok(user.is_admin),
                    Err(persistence::Error::NotFound { .. }) => {
                        Err(Error::Unauthorized("Authentication required"))
                    }
                    Err(err) => Err(err.into()),
                }
            })
            .await?;
        Ok(Principals::new(
            Some(caller),
            principals_of(Some((caller.user_id, is_admin))),
        ))
    }

    /// Verifies a signed-in user's current password (before sensitive changes).
    pub(crate) async fn check_password(&self, user: &User, password: String) -> Result<bool> {
        let found = self
            .users
            .find_credentials(self.db.writer(), &user.email)
            .await?;
        let hash = found
            .filter(|(stored, _)| stored.id == user.id)
            .map(|(_, hash)| hash);
        self.passwords.verify(password, hash).await
    }

    /// Hashes a new password (on the hashing threads).
    pub(crate) async fn hash_password(&self, password: &Password) -> Result<String> {
        self.passwords.hash(password).await
    }

    /// The caller behind an access token, if it is valid.
    pub fn authenticate(&self, access_token: &str) -> Option<Caller> {
        self.tokens.authenticate(access_token)
    }

    async fn issue(&self, user: domain::UserId, family_id: Uuid) -> Result<TokenPair> {
        let issued = self.tokens.issue(user, family_id)?;
        self.refresh_tokens
            .insert(
                self.db.writer(),
                NewRefreshToken {
                    jti: issued.refresh_jti,
                    family_id,
                    user_id: user,
                    expires_at: issued.refresh_expires_at,
                },
            )
            .await?;
        Ok(issued.pair)
    }
}
