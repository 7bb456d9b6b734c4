//! Tasks.

use application::services::tasks::TaskDraft;
use domain::{Task, TaskDescription, TaskFilter, TaskPatch, TaskTitle};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    extract::ListFilter,
    openapi,
    validation::{Fields, request_body},
};

request_body! {
    /// Body of `POST /v1/tasks/`.
    pub struct CreateTaskRequest => TaskDraft {
        #[example = "Write the report"]
        required title: TaskTitle,
        #[example = "Quarterly numbers, two pages"]
        required description: TaskDescription,
    }
}

request_body! {
    /// Body of `PATCH /v1/tasks/{task_uuid}`: only the fields present change.
    pub struct UpdateTaskRequest => TaskPatch {
        /// Absent: unchanged.
        optional title: TaskTitle,
        optional description: TaskDescription,
        optional is_completed: bool,
    }
}

/// A task, as the template returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    #[schema(example = "Write the report")]
    pub title: String,
    #[schema(example = "Quarterly numbers, two pages")]
    pub description: String,
    pub is_completed: bool,
    pub uuid: Uuid,
}

impl From<Task> for TaskResponse {
    fn from(task: Task) -> Self {
        Self {
            title: task.title.as_str().to_owned(),
            description: task.description.as_str().to_owned(),
            is_completed: task.is_completed,
            uuid: task.uuid,
        }
    }
}

/// Query of `GET /v1/tasks/` (documentation of `ListQuery<TaskFilter>`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query that `ListQuery` parses.
pub struct TaskListParams {
    /// How many tasks to skip.
    #[param(minimum = 0, default = 0)]
    skip: Option<u64>,
    /// How many tasks to return.
    #[param(schema_with = openapi::page_limit)]
    limit: Option<u64>,
    /// A column (`domain::task::SORTABLE`), `-` first for descending.
    /// Default: creation order.
    #[param(example = "-created_at", value_type = Option<TaskSort>)]
    sort: Option<String>,
    /// Only completed (`true`) or open (`false`) tasks.
    is_completed: Option<bool>,
}

openapi::sort_schema! {
    /// How `GET /v1/tasks/` may be sorted.
    TaskSort = domain::task::SORTABLE
}

impl ListFilter for TaskFilter {
    fn read(fields: &mut Fields) -> Option<Self> {
        let is_completed = fields.optional("is_completed")?;
        Some(Self { is_completed })
    }
}
