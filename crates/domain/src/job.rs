//! Background jobs as the rest of the product sees them: a stored job and
//! where it is in its life. How jobs are stored (database rows, Redis
//! hashes) and run is the business of `persistence`, `infra` and
//! `application`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for `run_at`, or for a free worker.
    Pending,
    /// Claimed by a worker whose lease has not run out.
    Running,
    /// Finished successfully.
    Done,
    /// Failed its last allowed attempt; kept with its error until re-queued.
    Dead,
    /// With `JOB_BACKEND=redis`: the database row was handed to the Redis
    /// queue, which holds the job's state from then on. The row stays as
    /// the record that the job was enqueued (and as its unique key).
    Relayed,
}

impl JobStatus {
    /// Every status, in the order of a job's life.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Dead,
        Self::Relayed,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Relayed => "relayed",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = UnknownJobStatus;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| UnknownJobStatus(raw.to_owned()))
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status no version of the product writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status {0:?}")]
pub struct UnknownJobStatus(pub String);

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: Uuid,
    pub kind: String,
    /// Arguments, as JSON.
    pub payload: String,
    pub status: JobStatus,
    /// Attempts started, including the one a claimed job is about to run.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}
