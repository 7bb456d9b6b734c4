//! Periodic housekeeping (`JOB_CLEANUP_SCHEDULE`): deletes expired refresh
//! and account tokens. River enqueues it on its elected leader, so each tick runs once
//! across all workers; River's own cleaner deletes old jobs.

use chrono::Utc;
use persistence::{AccountTokenRepository, RefreshTokenRepository};
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
        tracing::info!(
            expired_refresh_tokens = refresh,
            expired_account_tokens = account,
            "housekeeping deleted old rows"
        );
        Ok(())
    }
}
