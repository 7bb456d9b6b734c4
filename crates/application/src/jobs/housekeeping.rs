//! Periodic housekeeping (`JOB_CLEANUP_SCHEDULE`): deletes expired refresh
//! tokens. River enqueues it on its elected leader, so each tick runs once
//! across all workers; River's own cleaner deletes old jobs.

use chrono::Utc;
use persistence::RefreshTokenRepository;
use serde::{Deserialize, Serialize};

use super::{Job, JobArgs, JobContext, JobError};

/// One housekeeping run. Idempotent: deleting what is already gone deletes
/// nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JobArgs)]
#[river(kind = "housekeeping")]
pub struct Housekeeping {}

impl Job for Housekeeping {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let tokens = RefreshTokenRepository
            .delete_expired(ctx.db.writer(), Utc::now())
            .await?;
        tracing::info!(
            expired_refresh_tokens = tokens,
            "housekeeping deleted old rows"
        );
        Ok(())
    }
}
