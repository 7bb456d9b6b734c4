//! Periodic housekeeping (cron, `JOB_CLEANUP_SCHEDULE`): deletes expired
//! refresh tokens and finished jobs past their retention, and with
//! `JOB_BACKEND=redis` pushes back any job Redis lost.

use chrono::{DateTime, Utc};
use persistence::RefreshTokenRepository;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError};

/// One housekeeping run, for the schedule tick at `tick`.
///
/// Idempotent: deleting what is already gone deletes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Housekeeping {
    pub tick: DateTime<Utc>,
}

impl Job for Housekeeping {
    const KIND: &'static str = "housekeeping";

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let now = Utc::now();
        let tokens = RefreshTokenRepository
            .delete_expired(ctx.db.writer(), now)
            .await?;
        let jobs = ctx
            .queue
            .delete_finished_before(now - ctx.job_retention)
            .await?;
        let recovered = ctx.queue.recover().await?;
        tracing::info!(
            tick = %self.tick,
            expired_refresh_tokens = tokens,
            finished_jobs = jobs,
            recovered_jobs = recovered,
            "housekeeping deleted old rows"
        );
        Ok(())
    }
}
