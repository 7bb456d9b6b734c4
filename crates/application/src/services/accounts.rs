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
    AccountTokenRepository, ConsumedToken, Db, PasswordHash, RefreshTokenRepository, TokenPurpose,
    Tx, UnitOfWork as _, UserRepository,
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
    refresh_tokens: RefreshTokenRepository,
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
            refresh_tokens: RefreshTokenRepository,
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
        let job = PasswordResetEmail {
            user_uuid: user.map(|(user, _)| user.uuid),
        };
        self.db
            .transaction(async |tx| self.jobs.enqueue(tx, job).await.map(drop))
            .await
    }

    /// Sets a new password with a reset token. Every login of the account
    /// ends (its refresh tokens are revoked, as a password change does), and
    /// every other reset token of it stops working. The link reached the
    /// account's address, so that address counts as verified too.
    pub async fn reset_password(&self, token: &str, password: &Password) -> Result<()> {
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
                let reached_current = user.email.as_str() == token.email;
                self.users
                    .set_password(tx.conn(), user.id, hash, reached_current, false)
                    .await?;
                self.refresh_tokens
                    .revoke_all_for_user(tx.conn(), user.id, now)
                    .await?;
                self.tokens
                    .retire_all(tx.conn(), user.id, &[TokenPurpose::ResetPassword], now)
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
    /// it. A token for an address the account no longer has or asks for is
    /// invalid.
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
                } else if user.email.as_str() == token.email && user.email_verified_at.is_none() {
                    user.email.clone()
                } else {
                    return Err(INVALID_TOKEN);
                };
                self.users
                    .confirm_email(tx.conn(), user.id, &email, now)
                    .await?;
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

    /// Uses the token with `token_hash` for `purpose` in `tx`, and locks
    /// and reads its account: the lock that logins, refreshes and password
    /// changes take, so none of them interleaves with what follows.
    async fn use_token(
        &self,
        tx: &Tx,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(ConsumedToken, User)> {
        let token = self
            .tokens
            .consume(tx.conn(), token_hash, purpose, now)
            .await?
            .ok_or(INVALID_TOKEN)?;
        self.users.lock(tx.conn(), token.user_id).await?;
        let user = self.users.get(tx.conn(), token.user_id).await?;
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
