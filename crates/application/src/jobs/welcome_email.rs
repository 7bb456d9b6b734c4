//! The welcome email, enqueued by registration in the same transaction as
//! the new account. It carries the link that verifies the address.

use persistence::TokenPurpose;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Job, JobArgs, JobContext, JobError,
    account_mail::{account, deliver, send_with_token},
};

/// Sends the welcome email to a newly registered user, with a verification
/// link while the address is unverified (an admin made by `create-admin`
/// is verified already).
///
/// It carries the account's id, not its address: the handler reads the
/// current row, so an account deleted in the meantime gets no mail. Running
/// it twice (after a worker crash) sends two mails; SMTP offers no way to
/// make a send idempotent, so that rare duplicate is accepted. It is unique
/// by its arguments: enqueued again for the same account while the first
/// one waits, runs or is kept as completed, it is not inserted again.
#[derive(Debug, Clone, Serialize, Deserialize, JobArgs)]
#[river(kind = "welcome_email", unique(by_args))]
pub struct WelcomeEmail {
    pub user_uuid: Uuid,
}

impl Job for WelcomeEmail {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(user) = account(ctx, self.user_uuid).await? else {
            return Ok(());
        };
        let (to, username) = (&user.email, user.username.as_str());
        if user.email_verified_at.is_some() {
            return deliver(ctx, &ctx.templates.welcome(to, username, None)).await;
        }
        send_with_token(ctx, &user, TokenPurpose::VerifyEmail, to, |token| {
            ctx.templates.welcome(to, username, Some(token))
        })
        .await
    }
}
