//! The account lifecycle beyond logging in: password reset and email
//! verification, through one-time tokens that only a mail carries.
//!
//! A request here never mints a token: it enqueues a mail job in its
//! transaction, and the job mints the token when it runs (see
//! `jobs::account_mail`), so no job argument, queue view or log holds one.
//! Using a token is one conditional `UPDATE`: unknown, used and expired
//! tokens fail alike, with one message.

use chrono::{DateTime, Utc};
use domain::{Email, Password, User, UserId};
use infra::cache::Cache;
use persistence::{
    AccountTokenRepository, ConsumedToken, Db, PasswordHash, TokenPurpose, Tx, UnitOfWork as _,
    UserRepository,
};

use crate::{
    AuthService, Caller, Error, Result, cache_tags as tags,
    jobs::{JobQueue, PasswordResetEmail, VerificationEmail},
    security::one_time,
};

/// The one answer for a token that is unknown, used or expired.
const INVALID_TOKEN: Error = Error::Rejected("Invalid or expired token");

/// Password reset and email verification.
#[derive(Debug, Clone)]
pub struct AccountService {
    db: Db,
    users: UserRepository,
    tokens: AccountTokenRepository,
    auth: AuthService,
    cache: Cache,
    jobs: JobQueue,
}

impl AccountService {
    pub(crate) fn new(db: Db, auth: AuthService, cache: Cache, jobs: JobQueue) -> Self {
        Self {
            db,
            users: UserRepository::default(),
            tokens: AccountTokenRepository,
            auth,
            cache,
            jobs,
        }
    }

    /// Asks for a reset link to be mailed to `email`. The caller learns
    /// nothing: an address without an account takes the same path (one
    /// lookup, one job inserted, which finds no account to mail when it
    /// runs) and the same answer.
    pub async fn request_password_reset(&self, email: &Email) -> Result<()> {
        let user = self.users.find_credentials(self.db.writer(), email).await?;
        let job = user.map_or(PasswordResetEmail::NOBODY, |(user, _)| {
            PasswordResetEmail::to(&user)
        });
        self.db
            .transaction(async |tx| self.jobs.enqueue(tx, job).await.map(drop))
            .await
    }

    /// Sets a new password with a reset token, valid only while the account
    /// still has the address it was mailed to. The owner ends in control:
    /// every login of the account ends (its refresh tokens are revoked), a
    /// pending address change is withdrawn, and every other mailed link
    /// stops working, so whoever had the old password keeps nothing. The
    /// link reached the account's address, so that address counts as
    /// verified too.
    /// `client` (the asking client's address, as rate limits key it) stays
    /// trusted: the owner can log in from it at once, under attack or not.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &Password,
        client: Option<&str>,
    ) -> Result<()> {
        // Hashed before the transaction, which must not wait on it; and for
        // every token, so a bad one answers no faster.
        let hash = PasswordHash(self.auth.passwords.hash(password).await?);
        let token_hash = one_time::hash(token);
        let user_id = self
            .db
            .transaction(async |tx| {
                let now = Utc::now();
                let (token, user) = self
                    .use_token(tx, &token_hash, TokenPurpose::ResetPassword, now)
                    .await?;
                if !mailed_to_current(&token, &user) {
                    return Err(INVALID_TOKEN);
                }
                self.users
                    .set_password(tx.conn(), user.id, hash, true, true)
                    .await?;
                self.auth
                    .retire_credentials(tx, user.id, now, client)
                    .await?;
                Ok::<_, Error>(user.id)
            })
            .await?;
        self.forget(user_id).await;
        tracing::info!(user_id = %user_id, "password reset");
        Ok(())
    }

    /// Marks the address a verification token was sent to as verified: the
    /// account's current address, or the pending one, which then replaces
    /// it; a new address voids every link mailed before it (a reset link in
    /// the old mailbox included). A token for an address the account no
    /// longer has or asks for is invalid.
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let token_hash = one_time::hash(token);
        let user_id = self
            .db
            .transaction(async |tx| {
                let now = Utc::now();
                let (token, user) = self
                    .use_token(tx, &token_hash, TokenPurpose::VerifyEmail, now)
                    .await?;
                let pending = user.pending_email.as_ref();
                let email = if pending.is_some_and(|pending| pending.as_str() == token.email) {
                    // Taken by another account since it was asked for?
                    // Then this is a conflict, and the token stays unused.
                    let email = pending.cloned().ok_or(INVALID_TOKEN)?;
                    self.users
                        .check_unique(tx.conn(), Some(&email), None, Some(user.id))
                        .await?;
                    email
                } else if mailed_to_current(&token, &user) && user.email_verified_at.is_none() {
                    user.email.clone()
                } else {
                    return Err(INVALID_TOKEN);
                };
                let confirmed = self
                    .users
                    .confirm_email(tx.conn(), user.id, &email, now)
                    .await?;
                if confirmed.email_version != user.email_version {
                    self.tokens
                        .retire_all(tx.conn(), user.id, &TokenPurpose::ALL, now)
                        .await?;
                }
                Ok::<_, Error>(user.id)
            })
            .await?;
        self.forget(user_id).await;
        tracing::info!(user_id = %user_id, "email verified");
        Ok(())
    }

    /// Mails the caller a new verification link, for the pending address if
    /// there is one, else for the current one; refused when there is
    /// nothing left to verify.
    pub async fn resend_verification(&self, caller: Caller) -> Result<()> {
        let user = match self.users.get(self.db.writer(), caller.user_id).await {
            Ok(user) => user,
            Err(persistence::Error::NotFound { .. }) => {
                return Err(Error::Unauthorized("Authentication required"));
            }
            Err(other) => return Err(other.into()),
        };
        if user.pending_email.is_none() && user.email_verified_at.is_some() {
            return Err(Error::Rejected("The email address is already verified"));
        }
        let job = VerificationEmail {
            user_uuid: user.uuid,
        };
        self.db
            .transaction(async |tx| self.jobs.enqueue(tx, job).await.map(drop))
            .await
    }

    /// Uses the token with `token_hash` for `purpose` in `tx`, under its
    /// account's row lock (the lock that logins, refreshes and every
    /// credential change take, so none of them interleaves with what
    /// follows), and returns it with the account as the lock found it. The
    /// account is locked before the token's row, in the order credential
    /// changes take them, so the two never wait on each other.
    async fn use_token(
        &self,
        tx: &Tx,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(ConsumedToken, User)> {
        let owner = self
            .tokens
            .owner(tx.conn(), token_hash)
            .await?
            .ok_or(INVALID_TOKEN)?;
        let (user, _) = match self.users.lock_credentials(tx.conn(), owner).await {
            Err(persistence::Error::NotFound { .. }) => return Err(INVALID_TOKEN),
            locked => locked?,
        };
        let token = self
            .tokens
            .consume(tx.conn(), token_hash, purpose, now)
            .await?
            .ok_or(INVALID_TOKEN)?;
        // The transaction rolls back with the error: the token stays as it
        // was, void either way.
        if !minted_since_retirement(&token, &user) {
            return Err(INVALID_TOKEN);
        }
        Ok((token, user))
    }

    /// After a change to the account: its cached views and its remembered
    /// logins are stale.
    async fn forget(&self, id: UserId) {
        self.cache
            .invalidate_tags(&[tags::USERS.to_owned(), tags::user(id)])
            .await;
        self.auth.sessions.forget(id);
    }
}

/// Whether `token` was mailed to the address `user` has now, under the same
/// email version (an address that left and came back is another version).
fn mailed_to_current(token: &ConsumedToken, user: &User) -> bool {
    token.email == user.email.as_str() && token.email_version == user.email_version
}

/// Whether `token` was minted since `user`'s credentials were last retired
/// (a mail job that read the account just before a reset, a password
/// change or a promotion mints a token that must not work).
fn minted_since_retirement(token: &ConsumedToken, user: &User) -> bool {
    token.credentials_version == user.credentials_version
}
