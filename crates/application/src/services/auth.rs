//! Registration, login, token refresh and logout.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use domain::{Email, NewUser, Password, User, Username, acl::principals_of};
use infra::config::AuthSettings;
use infra::pseudonym::Pseudonyms;
use persistence::{
    AccountTokenRepository, Db, RefreshTokenRepository, TokenPurpose, TrustKind,
    TrustedLoginRepository, Tx, UnitOfWork as _, UserRepository,
};
use uuid::Uuid;

use crate::{
    Error, Principals, Result,
    jobs::{JobQueue, WelcomeEmail},
    security::{
        one_time,
        password::{Admission, PasswordHasher},
        sessions::Sessions,
        tokens::{Caller, TokenKind, TokenPair, TokenService},
    },
};

/// Device tokens an account keeps, the most recently used: a script that
/// logs in without sending its token back makes a new one each time.
const DEVICES_PER_ACCOUNT: u64 = 20;

/// Trusted password checks one account may have queued or running at
/// once. An owner needs one; the room the hashing queue keeps for trusted
/// clients must not go to whoever floods the logins of an account that
/// trusts them (their own).
const TRUSTED_PER_ACCOUNT: u32 = 2;

/// Trusted password checks in flight, per email (in this process only).
#[derive(Debug, Default)]
struct TrustedSlots(std::sync::Mutex<std::collections::HashMap<String, u32>>);

/// One trusted check in flight; given back when dropped.
struct TrustedSlot<'a> {
    slots: &'a TrustedSlots,
    key: String,
}

impl TrustedSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for `email`, unless it has [`TRUSTED_PER_ACCOUNT`] already.
    fn take(&self, email: &Email) -> Option<TrustedSlot<'_>> {
        let mut slots = self.lock();
        let taken = slots.entry(email.as_str().to_owned()).or_insert(0);
        if *taken >= TRUSTED_PER_ACCOUNT {
            return None;
        }
        *taken += 1;
        Some(TrustedSlot {
            slots: self,
            key: email.as_str().to_owned(),
        })
    }
}

impl Drop for TrustedSlot<'_> {
    fn drop(&mut self) {
        let mut slots = self.slots.lock();
        if let Some(taken) = slots.get_mut(&self.key) {
            *taken -= 1;
            if *taken == 0 {
                slots.remove(&self.key);
            }
        }
    }
}

/// Who is logging in, as far as the request tells.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The device token an earlier login of this account handed out, if
    /// the client sent it back.
    pub device_token: Option<String>,
    /// The client's address as rate limits key it (an IPv6 /64), if known.
    pub client: Option<String>,
    /// How full a hashing queue the check may join.
    pub admission: Admission,
}

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
    /// Shared with [`crate::UserService`], which hashes and checks passwords
    /// and ends logins too.
    pub(crate) passwords: PasswordHasher,
    tokens: TokenService,
    cache: infra::cache::Cache,
    pub(crate) sessions: Sessions,
    jobs: JobQueue,
    /// `REQUIRE_VERIFIED_EMAIL`.
    require_verified_email: bool,
    pub(crate) trusted_logins: TrustedLoginRepository,
    /// Keyed hashes of client addresses, as `trusted_logins` stores them.
    addresses: Pseudonyms,
    /// `LOGIN_TRUST_DAYS`.
    trust_for: chrono::Duration,
    trusted_slots: Arc<TrustedSlots>,
}

/// Proof that a password matched a user's hash, for
/// [`AuthService::start_login`]. Only [`AuthService::verify_credentials`]
/// makes one.
#[derive(Debug)]
pub struct VerifiedLogin {
    user: domain::UserId,
    /// The hash the password matched: the login goes ahead only if it is
    /// still the user's hash when the tokens are stored.
    hash: String,
}

impl AuthService {
    /// Computes one password hash: the decoy that makes unknown-email
    /// logins cost as much as real ones.
    pub(crate) async fn new(
        db: Db,
        settings: &AuthSettings,
        cache: infra::cache::Cache,
        jobs: JobQueue,
    ) -> Result<Self> {
        Ok(Self {
            db,
            users: UserRepository::default(),
            refresh_tokens: RefreshTokenRepository,
            passwords: PasswordHasher::new().await?,
            tokens: TokenService::new(settings),
            cache,
            sessions: Sessions::new(Duration::from_secs(settings.session_recheck_seconds)),
            jobs,
            require_verified_email: settings.require_verified_email,
            trusted_logins: TrustedLoginRepository,
            addresses: Pseudonyms::new(settings.secret_key.expose().as_bytes(), "trusted-address"),
            trust_for: chrono::Duration::days(i64::from(settings.login_trust_days)),
            trusted_slots: Arc::default(),
        })
    }

    /// Creates an account. A taken email or username is
    /// [`Error::Conflict`], whether found by the friendly pre-check or, when
    /// two registrations race, by the unique constraints.
    pub async fn register(&self, registration: Registration) -> Result<User> {
        self.users
            .check_unique(
                self.db.writer(),
                Some(&registration.email),
                Some(&registration.username),
                None,
            )
            .await?;
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
                        tx,
                        WelcomeEmail {
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
    /// family, and a device token that makes this client one the account
    /// knows at its next login. An unknown email and a wrong password are
    /// indistinguishable, in the answer and in the time it takes.
    pub async fn login(
        &self,
        email: &Email,
        password: String,
        attempt: &LoginAttempt,
    ) -> Result<TokenPair> {
        let mut admission = attempt.admission;
        let mut slot = None;
        if admission == Admission::Trusted {
            slot = self.trusted_slots.take(email);
            if slot.is_none() {
                admission = Admission::Untrusted;
            }
        }
        let verified = match self
            .verify_credentials(email, password.clone(), admission)
            .await
        {
            // The queue filled since the web layer decided without asking
            // who this is for: a client the account knows still gets in.
            Err(Error::Overloaded { .. })
                if slot.is_none() && self.knows(email, attempt).await? =>
            {
                slot = self.trusted_slots.take(email);
                let admission = if slot.is_some() {
                    Admission::Trusted
                } else {
                    admission
                };
                self.verify_credentials(email, password, admission).await?
            }
            other => other?,
        };
        drop(slot);
        self.start_login(verified, attempt).await
    }

    /// Whether the account with `email` knows the client of `attempt`: it
    /// holds a device token of the account, or comes from an address that
    /// logged in to it within `LOGIN_TRUST_DAYS`. One query, whether or not
    /// the email has an account; `false` for one that has none.
    pub async fn knows(&self, email: &Email, attempt: &LoginAttempt) -> Result<bool> {
        let device = attempt.device_token.as_deref().map(one_time::hash);
        let address = attempt
            .client
            .as_deref()
            .map(|client| self.addresses.of(client));
        Ok(self
            .trusted_logins
            .trusts(
                self.db.writer(),
                email,
                device.as_deref(),
                address.as_deref(),
                Utc::now() - self.trust_for,
            )
            .await?)
    }

    /// Whether the password hashing queue is so full that who a login is
    /// for decides whether it gets in (see [`Admission`]).
    pub fn hashing_crowded(&self) -> bool {
        self.passwords.crowded()
    }

    /// The first half of [`AuthService::login`]: checks the password.
    pub async fn verify_credentials(
        &self,
        email: &Email,
        password: String,
        admission: Admission,
    ) -> Result<VerifiedLogin> {
        let found = self.users.find_credentials(self.db.writer(), email).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let verified = self
            .passwords
            .verify(password, hash.clone(), admission)
            .await?;
        match (user, hash) {
            // Said only to whoever knows the password.
            (Some(user), Some(_))
                if verified && self.require_verified_email && user.email_verified_at.is_none() =>
            {
                Err(Error::EmailNotVerified)
            }
            (Some(user), Some(hash)) if verified => Ok(VerifiedLogin {
                user: user.id,
                hash,
            }),
            _ => Err(Error::InvalidCredentials),
        }
    }

    /// The second half of [`AuthService::login`]: issues the tokens of a
    /// new login family, unless the password changed since it was verified.
    /// Verifying takes tens of milliseconds without a lock; a password
    /// change that commits meanwhile revokes every refresh token, and one
    /// stored after it would never be revoked. So the tokens are stored
    /// under the user's row lock, the lock password changes take too, and
    /// only if the hash is still the one the password matched.
    pub async fn start_login(
        &self,
        verified: VerifiedLogin,
        attempt: &LoginAttempt,
    ) -> Result<TokenPair> {
        let issued = self
            .tokens
            .issue(verified.user, Uuid::new_v4(), Utc::now())?;
        let device_token = self
            .db
            .transaction(async |tx| {
                self.users.lock(tx.conn(), verified.user).await?;
                let current = self.users.password_hash(tx.conn(), verified.user).await?;
                if current.as_deref() != Some(verified.hash.as_str()) {
                    return Err(Error::InvalidCredentials);
                }
                self.refresh_tokens
                    .insert(tx.conn(), issued.refresh)
                    .await?;
                self.remember_client(tx, verified.user, attempt).await
            })
            .await?;
        Ok(TokenPair {
            device_token: Some(device_token),
            ..issued.pair
        })
    }

    /// What every credential change (password change, reset, promotion)
    /// ends, in its transaction: every login of `user` (its refresh
    /// tokens), every unused mailed link (and any a mail job is minting),
    /// and every client the account knew but `keep_client`, the one making
    /// the change, so that whoever held the old credentials keeps nothing.
    pub(crate) async fn retire_credentials(
        &self,
        tx: &Tx,
        user: domain::UserId,
        now: chrono::DateTime<Utc>,
        keep_client: Option<&str>,
    ) -> Result<()> {
        self.refresh_tokens
            .revoke_all_for_user(tx.conn(), user, now)
            .await?;
        AccountTokenRepository
            .retire_all(tx.conn(), user, &TokenPurpose::ALL, now)
            .await?;
        self.trusted_logins.forget_all(tx.conn(), user).await?;
        // A mail job that read the account before this commits mints a
        // token under the old version: void.
        self.users.bump_credentials(tx.conn(), user).await?;
        if let Some(client) = keep_client {
            // Whoever made the change may log in from there at once, even
            // while the account is under attack.
            let address = self.addresses.of(client);
            self.trusted_logins
                .seen(tx.conn(), user, TrustKind::Address, address, now)
                .await?;
        }
        Ok(())
    }

    /// Records, for a successful login of `user`, the client it came from
    /// and its device token: the one it sent, if the account holds it,
    /// else a new one, which is returned to hand out.
    async fn remember_client(
        &self,
        tx: &Tx,
        user: domain::UserId,
        attempt: &LoginAttempt,
    ) -> Result<String> {
        let now = Utc::now();
        let trusted = self.trusted_logins;
        let presented = match attempt.device_token.as_deref() {
            Some(token)
                if trusted
                    .has_device(tx.conn(), user, &one_time::hash(token))
                    .await? =>
            {
                Some(token.to_owned())
            }
            _ => None,
        };
        let minted = presented.is_none();
        let device = match presented {
            Some(token) => token,
            None => one_time::mint()?.raw,
        };
        trusted
            .seen(
                tx.conn(),
                user,
                TrustKind::Device,
                one_time::hash(&device),
                now,
            )
            .await?;
        if minted {
            trusted
                .keep_latest(tx.conn(), user, TrustKind::Device, DEVICES_PER_ACCOUNT)
                .await?;
        }
        if let Some(client) = attempt.client.as_deref() {
            let address = self.addresses.of(client);
            trusted
                .seen(tx.conn(), user, TrustKind::Address, address, now)
                .await?;
        }
        Ok(device)
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
        // `Ok(Err(..))`: a replay, whose revocation commits before the
        // refresh is refused.
        let outcome = self
            .db
            .transaction(async |tx| {
                // Serialise with logout and password changes of this user, so
                // a revocation never misses a token this refresh is about to
                // issue.
                self.users.lock(tx.conn(), user_id).await?;
                // The conditional UPDATE settles races between refreshes: of
                // two concurrent refreshes with one token, exactly one
                // consumes it.
                if self
                    .refresh_tokens
                    .mark_used(tx.conn(), claims.jti, now)
                    .await?
                {
                    let Some(record) = self.refresh_tokens.find(tx.conn(), claims.jti).await?
                    else {
                        return Err(INVALID);
                    };
                    // Tokens issued before logins had an end carry a later
                    // expiry than their login's; the stored start decides.
                    if self.tokens.login_expired(record.family_started_at) {
                        return Err(Error::Unauthorized("Login expired; log in again"));
                    }
                    let issued = self.tokens.issue(
                        record.user_id,
                        record.family_id,
                        record.family_started_at,
                    )?;
                    self.refresh_tokens
                        .insert(tx.conn(), issued.refresh)
                        .await?;
                    return Ok(Ok(issued.pair));
                }
                match self.refresh_tokens.find(tx.conn(), claims.jti).await? {
                    // Used before and not revoked: this is a replay.
                    Some(record) if record.revoked_at.is_none() => {
                        let revoked = self
                            .refresh_tokens
                            .revoke_family(tx.conn(), record.family_id, now)
                            .await?;
                        Ok(Err((record, revoked)))
                    }
                    // Unknown (user deleted, or never issued by us) or revoked.
                    _ => Err(INVALID),
                }
            })
            .await?;
        let (record, revoked) = match outcome {
            Ok(pair) => return Ok(pair),
            Err(replay) => replay,
        };
        self.sessions.forget(record.user_id);
        tracing::warn!(
            user_id = %record.user_id,
            family_id = %record.family_id,
            revoked,
            "refresh token reused; login family revoked"
        );
        Err(INVALID)
    }

    /// Ends the caller's login: every refresh token of its family stops
    /// working, and so do its access tokens (see [`AuthService::principals`]):
    /// here at once, on other instances within `SESSION_RECHECK_SECONDS`.
    pub async fn logout(&self, caller: Caller) -> Result<()> {
        self.db
            .transaction(async |tx| {
                // After any refresh of this user in flight, never beside it.
                self.users.lock(tx.conn(), caller.user_id).await?;
                self.refresh_tokens
                    .revoke_family(tx.conn(), caller.family_id, Utc::now())
                    .await?;
                Ok::<_, Error>(())
            })
            .await?;
        self.sessions.forget(caller.user_id);
        Ok(())
    }

    /// The principals of the caller behind a request (the template's
    /// `get_user_principals`). The token alone is not enough: its login
    /// must still be alive (not logged out, not ended by a password change,
    /// a reused refresh token or `SESSION_MAX_DAYS`) and its user must still exist; the admin
    /// role is read from the user's current row. Otherwise this is 401.
    /// Read on the primary (a lagging replica would revive a login that just
    /// ended) and remembered by [`Sessions`].
    pub async fn principals(&self, caller: Option<Caller>) -> Result<Principals> {
        let Some(caller) = caller else {
            return Ok(Principals::anonymous());
        };
        // `Some(is_admin)` for a live login, `None` for an ended one (kept
        // too: an ended login never comes back).
        let session = self
            .sessions
            .get_or_check(caller.user_id, caller.family_id, || async {
                let conn = self.db.writer();
                let user = match self.users.get(conn, caller.user_id).await {
                    Ok(user) => user,
                    Err(persistence::Error::NotFound { .. }) => return Ok(None),
                    Err(err) => return Err(Error::from(err)),
                };
                let started_after = self.tokens.oldest_live_login();
                let alive = self
                    .refresh_tokens
                    .family_active(conn, caller.user_id, caller.family_id, started_after)
                    .await?;
                Ok(alive.then_some(user.is_admin))
            })
            .await?;
        let is_admin = session.ok_or(Error::Unauthorized("Authentication required"))?;
        Ok(Principals::new(
            Some(caller),
            principals_of(Some((caller.user_id, is_admin))),
        ))
    }

    /// The caller behind an access token, if it is valid.
    pub fn authenticate(&self, access_token: &str) -> Option<Caller> {
        self.tokens.authenticate(access_token)
    }
}
