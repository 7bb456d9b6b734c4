//! Periodic housekeeping (`JOB_CLEANUP_SCHEDULE`): deletes expired refresh
//! and account tokens, clients not seen within `LOGIN_TRUST_DAYS`, and the
//! addresses of email-change notices that were never sent. River enqueues it on its elected leader, so each tick runs once
//! across all workers; River's own cleaner deletes old jobs.

use chrono::Utc;
use persistence::{
    AccountTokenRepository, EmailChangeNoticeRepository, RefreshTokenRepository,
    TrustedLoginRepository,
};

/// How long an email-change notice whose job never sent it keeps its
/// address: longer than any job keeps retrying.
const UNSENT_NOTICE_DAYS: i64 = 7;
use serde::{Deserialize, Serialize};

use super::{Job, JobArgs, JobContext, JobError};

/// One housekeeping run. Idempotent: deleting what is already gone deletes
/// nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JobArgs)]
#[river(kind = "housekeeping")]
pub struct Housekeeping {}

impl Job for Housekeeping {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let now = Utc::now();
        let refresh = RefreshTokenRepository
            .delete_expired(ctx.db.writer(), now)
            .await?;
        let account = AccountTokenRepository
            .delete_expired(ctx.db.writer(), now)
            .await?;
        let trust_for = chrono::Duration::days(i64::from(ctx.token_lifetimes.login_trust_days));
        let clients = TrustedLoginRepository
            .delete_stale(ctx.db.writer(), now - trust_for)
            .await?;
        let notices = EmailChangeNoticeRepository
            .delete_older_than(
                ctx.db.writer(),
                now - chrono::Duration::days(UNSENT_NOTICE_DAYS),
            )
            .await?;
        tracing::info!(
            unsent_notices = notices,
            expired_refresh_tokens = refresh,
            expired_account_tokens = account,
            forgotten_clients = clients,
            "housekeeping deleted old rows"
        );
        Ok(())
    }
}
