//! The welcome email, enqueued by registration in the same transaction as
//! the new account.

use persistence::UserRepository;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, JobArgs, JobContext, JobError};

/// Sends the welcome email to a newly registered user.
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
        let users = UserRepository::default();
        let Some(user) = users.find_by_uuid(ctx.db.writer(), self.user_uuid).await? else {
            tracing::info!(user_uuid = %self.user_uuid, "account is gone; no welcome email");
            return Ok(());
        };
        let mail = ctx
            .templates
            .welcome(&user.email, user.username.as_str(), None);
        ctx.mailer.send(&mail).await?;
        Ok(())
    }
}
