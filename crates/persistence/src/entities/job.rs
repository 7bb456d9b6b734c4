use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Which handler runs it (`Job::KIND`).
    pub kind: String,
    /// The job's arguments as JSON.
    pub payload: String,
    /// `pending`, `running`, `done` or `dead`.
    pub status: String,
    /// Attempts started so far (counted when a worker claims the job).
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not before this time (the backoff of a retry, or a delayed job).
    pub run_at: DateTimeUtc,
    /// The worker holding the job while it runs.
    pub locked_by: Option<String>,
    /// End of that worker's lease; extended while the job runs.
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// Unique when set: a second enqueue with the same key is a no-op.
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
