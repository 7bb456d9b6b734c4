//! A job that does nothing: `worker jobs ping` enqueues it to check that
//! workers are processing the queue, and to measure the queue's throughput.

use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError};

/// Does nothing, successfully.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ping {}

impl Job for Ping {
    const KIND: &'static str = "ping";

    async fn run(self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}
