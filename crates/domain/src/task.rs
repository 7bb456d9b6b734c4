//! Tasks: a title, a description, done or not, and the user who wrote them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    UserId,
    acl::{AclPrincipal, AclRule, Guarded, Permission, Principal},
    text::{MultilineText, Text},
};

/// The database identity of a task. Internal: clients see [`Task::uuid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId(pub i64);

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub uuid: Uuid,
    pub title: TaskTitle,
    pub description: TaskDescription,
    pub is_completed: bool,
    /// Who wrote it; the only non-admin who may see it.
    pub author_id: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A task about to be stored.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: TaskTitle,
    pub description: TaskDescription,
    pub author_id: UserId,
}

/// A partial update; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<TaskDescription>,
    pub is_completed: Option<bool>,
}

/// Columns a task list may be sorted by (`?sort=title`, `-created_at`).
pub const SORTABLE: &[&str] = &["id", "title", "is_completed", "created_at", "updated_at"];

/// One line of 1 to 100 characters.
pub type TaskTitle = Text<1, 100>;

/// 1 to 1000 characters; may span lines.
pub type TaskDescription = MultilineText<1, 1000>;

/// The fields of a task that hold a user, for its ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskUserField {
    /// `author_id`: who wrote the task.
    Author,
}

/// The template's rules: any signed-in user may create; the author may read,
/// edit and delete; admins may do everything.
impl Guarded for Task {
    type UserField = TaskUserField;

    fn acl() -> Vec<AclRule<TaskUserField>> {
        use AclPrincipal::{Fixed, UserInField};
        vec![
            AclRule::allow(Fixed(Principal::Authenticated), &[Permission::Create]),
            AclRule::allow(
                UserInField(TaskUserField::Author),
                &[Permission::Read, Permission::Edit, Permission::Delete],
            ),
            AclRule::allow(Fixed(Principal::admin()), Permission::ALL),
        ]
    }

    fn user_in_field(&self, field: TaskUserField) -> Option<UserId> {
        match field {
            TaskUserField::Author => Some(self.author_id),
        }
    }
}

/// Simple filters of the task list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskFilter {
    pub is_completed: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{has_permission, principals_of};

    fn task(author: i64) -> Task {
        Task {
            id: TaskId(1),
            uuid: Uuid::new_v4(),
            title: TaskTitle::parse("t").unwrap(),
            description: TaskDescription::parse("d").unwrap(),
            is_completed: false,
            author_id: UserId(author),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn titles_and_descriptions_have_bounds() {
        assert_eq!(TaskTitle::parse("").unwrap_err().kind(), "string_too_short");
        assert!(TaskTitle::parse(&"t".repeat(100)).is_ok());
        assert_eq!(
            TaskTitle::parse(&"t".repeat(101)).unwrap_err().kind(),
            "string_too_long"
        );
        assert!(TaskDescription::parse(&"d".repeat(1000)).is_ok());
        assert_eq!(
            TaskDescription::parse(&"d".repeat(1001))
                .unwrap_err()
                .kind(),
            "string_too_long"
        );
    }

    #[test]
    fn only_the_author_and_admins_reach_a_task() {
        let t = task(1);
        for permission in [Permission::Read, Permission::Edit, Permission::Delete] {
            assert!(has_permission(
                &principals_of(Some((UserId(1), false))),
                permission,
                &[&t]
            ));
            assert!(!has_permission(
                &principals_of(Some((UserId(2), false))),
                permission,
                &[&t]
            ));
            assert!(has_permission(
                &principals_of(Some((UserId(2), true))),
                permission,
                &[&t]
            ));
        }
    }
}
