//! The mails of the account lifecycle: email verification, password reset
//! and the notice of an email change, each enqueued in the transaction of
//! the request that calls for it.
//!
//! A mail that carries a link mints its token here, when the job runs, not
//! when it is enqueued: the job's arguments (kept by River, shown by River
//! UI and `worker jobs`) then never hold a token, only the account's id.
//! The token is stored (as a hash) before the mail is sent and becomes
//! valid only once the mail was handed over, so a token whose mail never
//! left (a failed send, a crash in between) never works; the retried job
//! mints a new one.

use chrono::Utc;
use domain::{Email, User};
use infra::{
    config::AuthSettings,
    mail::{Mail, MailError},
};
use persistence::{
    AccountTokenRepository, EmailChangeNoticeRepository, NewAccountToken, TokenPurpose,
    UserRepository,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, JobArgs, JobContext, JobError};
use crate::security::one_time;

/// How long mailed tokens stay valid.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    /// `EMAIL_VERIFICATION_EXPIRE_HOURS`.
    pub verification_hours: u32,
    /// `PASSWORD_RESET_EXPIRE_MINUTES`.
    pub reset_minutes: u32,
    /// `LOGIN_TRUST_DAYS`: how long an unused trusted client is kept.
    pub login_trust_days: u32,
}

impl TokenLifetimes {
    pub fn from_settings(auth: &AuthSettings) -> Self {
        Self {
            verification_hours: auth.email_verification_expire_hours,
            reset_minutes: auth.password_reset_expire_minutes,
            login_trust_days: auth.login_trust_days,
        }
    }
}

/// Mails a link that verifies the account's pending address, or its current
/// one while unverified (after an email change, or when the user asks
/// again). Not unique: every request for a new link gets one.
#[derive(Debug, Clone, Serialize, Deserialize, JobArgs)]
#[river(kind = "verification_email")]
pub struct VerificationEmail {
    pub user_uuid: Uuid,
}

impl Job for VerificationEmail {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(user) = account(ctx, self.user_uuid).await? else {
            return Ok(());
        };
        let Some(address) = to_verify(&user) else {
            tracing::info!(user_uuid = %user.uuid, "nothing left to verify; no mail");
            return Ok(());
        };
        let address = address.clone();
        send_with_token(ctx, &user, TokenPurpose::VerifyEmail, &address, |token| {
            ctx.templates
                .verify_email(&address, user.username.as_str(), token)
        })
        .await
    }
}

/// Mails a password-reset link to the account's address. Enqueued for an
/// address without an account too (`user_uuid` null), so that asking costs
/// the same either way; that job sends nothing.
#[derive(Debug, Clone, Serialize, Deserialize, JobArgs)]
#[river(kind = "password_reset_email")]
pub struct PasswordResetEmail {
    pub user_uuid: Option<Uuid>,
    /// The account's email version when the link was asked for: the mail
    /// goes out only while the address is still that one, so a link asked
    /// for one address never reaches another. `None` in jobs enqueued
    /// before versions existed.
    #[serde(default)]
    pub email_version: Option<i64>,
}

impl PasswordResetEmail {
    /// The job for an address without an account.
    pub const NOBODY: Self = Self {
        user_uuid: None,
        email_version: None,
    };

    /// A link to `user`'s address as it is now.
    pub fn to(user: &User) -> Self {
        Self {
            user_uuid: Some(user.uuid),
            email_version: Some(user.email_version),
        }
    }
}

impl Job for PasswordResetEmail {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(uuid) = self.user_uuid else {
            return Ok(());
        };
        let Some(user) = account(ctx, uuid).await? else {
            return Ok(());
        };
        if self
            .email_version
            .is_some_and(|version| version != user.email_version)
        {
            tracing::info!(user_uuid = %user.uuid, "the address changed since the link was asked for; no mail");
            return Ok(());
        }
        send_with_token(
            ctx,
            &user,
            TokenPurpose::ResetPassword,
            &user.email,
            |token| {
                ctx.templates
                    .password_reset(&user.email, user.username.as_str(), token)
            },
        )
        .await
    }
}

/// Tells the address in force that a change away from it was asked for
/// (it stays in force until the new one is verified). By the time it runs
/// the change may have taken effect, so the address is the one the request
/// recorded (`email_change_notices`); the arguments, which River keeps and
/// shows, carry only that row's id, and the row goes once the notice is
/// sent.
#[derive(Debug, Clone, Serialize, Deserialize, JobArgs)]
#[river(kind = "email_change_notice")]
pub struct EmailChangeNotice {
    pub user_uuid: Uuid,
    /// The `email_change_notices` row. `None` in jobs enqueued before it
    /// existed, which carry the address in `old_email` instead.
    #[serde(default)]
    pub notice_id: Option<i64>,
    /// Read from jobs enqueued before `notice_id`; never written.
    #[serde(default, skip_serializing)]
    pub old_email: Option<Email>,
}

impl EmailChangeNotice {
    /// The notice recorded as row `notice_id`.
    pub fn new(user_uuid: Uuid, notice_id: i64) -> Self {
        Self {
            user_uuid,
            notice_id: Some(notice_id),
            old_email: None,
        }
    }
}

impl Job for EmailChangeNotice {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(user) = account(ctx, self.user_uuid).await? else {
            return Ok(());
        };
        let notices = EmailChangeNoticeRepository;
        let to = match (self.notice_id, self.old_email) {
            (Some(id), _) => {
                let Some(notice) = notices.find(ctx.db.writer(), id).await? else {
                    tracing::info!(notice_id = id, "the notice was sent already; no mail");
                    return Ok(());
                };
                Email::parse(&notice.email)
                    .map_err(|err| JobError::from(format!("notice {id}: {err}")))?
            }
            (None, Some(email)) => email,
            (None, None) => return Err("the job names no notice".into()),
        };
        let mail = ctx
            .templates
            .email_change_notice(&to, user.username.as_str());
        if let Err(err) = deliver(ctx, &mail).await {
            // A refused recipient ends the job: the address goes with it.
            if riverqueue::JobCancelError::is_in_chain(&*err)
                && let Some(id) = self.notice_id
            {
                notices.delete(ctx.db.writer(), id).await?;
            }
            return Err(err);
        }
        if let Some(id) = self.notice_id {
            notices.delete(ctx.db.writer(), id).await?;
        }
        Ok(())
    }
}

/// The account with this id, if it still exists.
pub(super) async fn account(ctx: &JobContext, uuid: Uuid) -> Result<Option<User>, JobError> {
    let user = UserRepository::default()
        .find_by_uuid(ctx.db.writer(), uuid)
        .await?;
    if user.is_none() {
        tracing::info!(user_uuid = %uuid, "account is gone; no mail");
    }
    Ok(user)
}

/// The address a verification link would prove: the pending one, else the
/// current one while unverified.
fn to_verify(user: &User) -> Option<&Email> {
    user.pending_email
        .as_ref()
        .or((user.email_verified_at.is_none()).then_some(&user.email))
}

/// Mints a token for `purpose`, stores its hash, sends the mail `render`
/// makes with it to `to`, and only then makes the token valid. If the send
/// fails, the token is deleted (were that to fail too, it stays invalid).
pub(super) async fn send_with_token(
    ctx: &JobContext,
    user: &User,
    purpose: TokenPurpose,
    to: &Email,
    render: impl FnOnce(&str) -> Mail,
) -> Result<(), JobError> {
    let tokens = AccountTokenRepository;
    let minted = one_time::mint()?;
    let lifetime = match purpose {
        TokenPurpose::VerifyEmail => {
            chrono::Duration::hours(i64::from(ctx.token_lifetimes.verification_hours))
        }
        TokenPurpose::ResetPassword => {
            chrono::Duration::minutes(i64::from(ctx.token_lifetimes.reset_minutes))
        }
    };
    let conn = ctx.db.writer();
    let id = tokens
        .insert(
            conn,
            NewAccountToken {
                token_hash: minted.hash,
                user_id: user.id,
                purpose,
                email: to.as_str().to_owned(),
                email_version: user.email_version,
                credentials_version: user.credentials_version,
                expires_at: Utc::now() + lifetime,
            },
        )
        .await?;
    if let Err(err) = deliver(ctx, &render(&minted.raw)).await {
        if let Err(cleanup) = tokens.delete(conn, id).await {
            tracing::warn!(error = %cleanup, "could not delete the token of an unsent mail; it stays invalid");
        }
        return Err(err);
    }
    tokens.mark_sent(conn, id, Utc::now()).await?;
    Ok(())
}

/// Sends `mail`. A recipient the server refuses for good cancels the job
/// (no retry would fare better), with the reason, which holds no address;
/// any other permanent refusal is the operator's configuration (the
/// credentials, the sender, relaying): it fails the attempt, so the job is
/// retried with backoff (`JOB_MAX_ATTEMPTS`, then `worker jobs retry`
/// once the configuration is fixed), and counts in `mail_refused_total`.
pub(super) async fn deliver(ctx: &JobContext, mail: &Mail) -> Result<(), JobError> {
    match ctx.mailer.send(mail).await {
        Ok(()) => Ok(()),
        Err(err @ MailError::RecipientRefused(_)) => {
            metrics::counter!("mail_refused_total", "reason" => "recipient").increment(1);
            Err(riverqueue::JobCancelError::new(err).into())
        }
        Err(err @ MailError::Refused(_)) => {
            metrics::counter!("mail_refused_total", "reason" => "configuration").increment(1);
            Err(err.into())
        }
        Err(err) => Err(err.into()),
    }
}
