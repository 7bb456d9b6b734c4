//! The cache tags services read under and invalidate, in one place so a
//! write and the reads it affects cannot drift apart.

use domain::UserId;
use uuid::Uuid;

/// Every user list and lookup by uuid (any user change invalidates it).
pub const USERS: &str = "users";
/// Every cached task (bumped when a deletion cascades to tasks).
pub const TASKS: &str = "tasks";

/// One user: their own view (`/v1/users/me`) and their principals (role).
/// Every change of role or account invalidates it.
pub fn user(id: UserId) -> String {
    format!("user:{id}")
}

/// One task.
pub fn task(uuid: Uuid) -> String {
    format!("task:{uuid}")
}
