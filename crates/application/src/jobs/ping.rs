//! A job that does nothing: `worker jobs ping` enqueues it to check that
//! workers are processing the queue, and to measure the queue's throughput.

use serde::{Deserialize, Serialize};

use super::{Job, JobArgs, JobContext, JobError};

/// Does nothing, successfully.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JobArgs)]
#[river(kind = "ping")]
pub struct Ping {}

impl Job for Ping {
    async fn run(self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}
