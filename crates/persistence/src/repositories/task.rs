//! Tasks: create, read, list under the ACL, update, delete.

use chrono::Utc;
use domain::{
    NewTask, Page, Principal, Sort, Task, TaskDescription, TaskFilter, TaskId, TaskPatch,
    TaskTitle, UserId, acl::Permission, task::TaskUserField,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, IntoActiveModel};
use uuid::Uuid;

use crate::{
    Connection, Error, Result, acl,
    entities::task::{self, Entity as Tasks},
    repositories::base::BaseRepository,
};

const ENTITY: &str = "Task";

impl acl::GuardedEntity<Task> for Tasks {
    fn user_column(field: TaskUserField) -> task::Column {
        match field {
            TaskUserField::Author => task::Column::TaskAuthorId,
        }
    }
}

/// Storage of tasks.
#[derive(Debug, Clone, Copy)]
pub struct TaskRepository {
    base: BaseRepository<Tasks>,
}

impl Default for TaskRepository {
    fn default() -> Self {
        Self {
            base: BaseRepository::new(ENTITY, domain::task::SORTABLE, &["uuid"]),
        }
    }
}

impl TaskRepository {
    pub async fn create(&self, conn: &impl Connection, new: NewTask) -> Result<Task> {
        // Every field named (here and in `update`): a new one does not
        // compile until it is stored.
        let NewTask {
            title,
            description,
            author_id,
        } = new;
        let now = Utc::now();
        let row = task::ActiveModel {
            uuid: Set(Uuid::new_v4()),
            title: Set(title.into_string()),
            description: Set(description.into_string()),
            is_completed: Set(false),
            task_author_id: Set(author_id.0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        to_domain(&self.base.create(conn, row).await?)
    }

    /// The task with this public id, if any.
    pub async fn find_by_uuid(&self, conn: &impl Connection, uuid: Uuid) -> Result<Option<Task>> {
        self.base
            .find_by(conn, task::Column::Uuid, uuid)
            .await?
            .map(|model| to_domain(&model))
            .transpose()
    }

    /// The tasks `principals` may read that match `filter`, a page at a
    /// time, with the total of all such tasks. The ACL is part of the SQL.
    pub async fn list(
        &self,
        conn: &impl Connection,
        principals: &[Principal],
        filter: TaskFilter,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<(Vec<Task>, u64)> {
        let mut condition =
            Condition::all().add(acl::condition::<Task, Tasks>(principals, Permission::Read)?);
        if let Some(done) = filter.is_completed {
            condition = condition.add(task::Column::IsCompleted.eq(done));
        }
        let (rows, total) = self.base.page(conn, condition, sort, page).await?;
        Ok((rows.iter().map(to_domain).collect::<Result<_>>()?, total))
    }

    /// Applies a partial update to the task with this id.
    pub async fn update(
        &self,
        conn: &impl Connection,
        id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task> {
        let mut row = self
            .base
            .get_by(conn, task::Column::Id, id.0)
            .await?
            .into_active_model();
        let TaskPatch {
            title,
            description,
            is_completed,
        } = patch;
        if let Some(title) = title {
            row.title = Set(title.into_string());
        }
        if let Some(description) = description {
            row.description = Set(description.into_string());
        }
        if let Some(done) = is_completed {
            row.is_completed = Set(done);
        }
        row.updated_at = Set(Utc::now());
        to_domain(&self.base.update(conn, row).await?)
    }

    pub async fn delete(&self, conn: &impl Connection, id: TaskId) -> Result<()> {
        self.base
            .delete(conn, task::Column::Id.eq(id.0), id.0)
            .await
    }
}

pub(crate) fn to_domain(model: &task::Model) -> Result<Task> {
    let corrupt = |reason: domain::InvalidValue| Error::Corrupt {
        entity: ENTITY,
        reason: format!("task {}: {reason}", model.id),
    };
    Ok(Task {
        id: TaskId(model.id),
        uuid: model.uuid,
        title: TaskTitle::parse(&model.title).map_err(corrupt)?,
        description: TaskDescription::parse(&model.description).map_err(corrupt)?,
        is_completed: model.is_completed,
        author_id: UserId(model.task_author_id),
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}
