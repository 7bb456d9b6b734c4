//! Tasks: every operation checks the caller's access, and lists filter by
//! it in SQL.

use domain::{
    MAX_PAGE_SIZE, NewTask, Page, Sort, Task, TaskDescription, TaskFilter, TaskPatch, TaskTitle,
    acl::Permission,
};
use persistence::{Db, TaskRepository};
use uuid::Uuid;

use infra::cache::{Cache, CacheKey};

use crate::{Error, Principals, Result, cache_tags::OWNED_BY_USERS};

/// The cache tag of one task's cached reads.
fn tag(uuid: Uuid) -> String {
    format!("task:{uuid}")
}

/// A task to create, as requested.
#[derive(Debug, Clone)]
pub struct TaskDraft {
    pub title: TaskTitle,
    pub description: TaskDescription,
}

/// The tasks resource.
#[derive(Debug, Clone)]
pub struct TaskService {
    db: Db,
    tasks: TaskRepository,
    cache: Cache,
}

impl TaskService {
    pub(crate) fn new(db: Db, cache: Cache) -> Self {
        Self {
            db,
            tasks: TaskRepository::default(),
            cache,
        }
    }

    /// A page of the tasks the caller may read (their own; all for admins),
    /// with the total matching `filter`.
    pub async fn list(
        &self,
        principals: &Principals,
        filter: TaskFilter,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<(Vec<Task>, u64)> {
        principals.require_caller()?;
        let page = Page {
            limit: page.limit.min(MAX_PAGE_SIZE),
            ..page
        };
        Ok(self
            .tasks
            .list(self.db.reader(), principals.as_slice(), filter, sort, page)
            .await?)
    }

    /// Creates a task written by the caller.
    pub async fn create(&self, principals: &Principals, draft: TaskDraft) -> Result<Task> {
        let caller = principals.require_caller()?;
        principals.assert_may_create::<Task>()?;
        // Every field named: a new one does not compile until it is passed on.
        let TaskDraft { title, description } = draft;
        let new = NewTask {
            title,
            description,
            author_id: caller.user_id,
        };
        Ok(self.tasks.create(self.db.writer(), new).await?)
    }

    /// One task: 404 if there is none, 403 if it is someone else's.
    pub async fn get(&self, principals: &Principals, uuid: Uuid) -> Result<Task> {
        principals.require_caller()?;
        let key = CacheKey::new("tasks:get", uuid)
            .tag(tag(uuid))
            .tag(OWNED_BY_USERS);
        let task = self
            .cache
            .get_or_compute(&key, None, || async {
                Ok::<_, Error>(self.tasks.find_by_uuid(self.db.writer(), uuid).await?)
            })
            .await?
            .ok_or(Error::NotFound { entity: "Task" })?;
        // Checked on every read: a cached task is never shown to a caller
        // who may not read it.
        principals.assert_access(Permission::Read, &[&task])?;
        Ok(task)
    }

    /// Changes a task's title, description or completion.
    pub async fn update(
        &self,
        principals: &Principals,
        uuid: Uuid,
        patch: TaskPatch,
    ) -> Result<Task> {
        let task = self.find(principals, uuid).await?;
        principals.assert_access(Permission::Edit, &[&task])?;
        let updated = self.tasks.update(self.db.writer(), task.id, patch).await?;
        self.cache.invalidate_tags(&[tag(uuid)]).await;
        Ok(updated)
    }

    /// Deletes a task.
    pub async fn delete(&self, principals: &Principals, uuid: Uuid) -> Result<()> {
        let task = self.find(principals, uuid).await?;
        principals.assert_access(Permission::Delete, &[&task])?;
        self.tasks.delete(self.db.writer(), task.id).await?;
        self.cache.invalidate_tags(&[tag(uuid)]).await;
        Ok(())
    }

    /// Looks a task up for a change, on the primary and uncached, so a
    /// change never acts on a stale copy.
    async fn find(&self, principals: &Principals, uuid: Uuid) -> Result<Task> {
        principals.require_caller()?;
        self.tasks
            .find_by_uuid(self.db.writer(), uuid)
            .await?
            .ok_or(Error::NotFound { entity: "Task" })
    }
}
