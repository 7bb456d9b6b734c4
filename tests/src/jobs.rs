//! Jobs put in the queue directly, as an operator would, rather than by
//! the write of a service that causes them.

use application::{
    Services,
    jobs::{InsertOpts, JobArgs},
};

/// Inserts `job` in a transaction of its own and returns its id (for a
/// unique job already queued, that job's id).
pub async fn enqueue<J: JobArgs>(services: &Services, job: J, opts: InsertOpts) -> i64 {
    services
        .jobs
        .client()
        .insert(job)
        .opts(opts)
        .await
        .expect("the job is inserted")
        .id()
}
