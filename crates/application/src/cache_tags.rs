//! The cache tags shared between services. A resource's own tags (one
//! row, `task:{uuid}`) are declared beside it, in its service module.

use domain::UserId;

/// Every user list and lookup by uuid (any user change invalidates it).
pub const USERS: &str = "users";
/// Every cached row that deleting a user cascades to (in the schema, a
/// foreign key to `users` with `ON DELETE CASCADE`). A resource owned by
/// users tags its cached reads with it, and deleting a user drops them all,
/// so the cascade needs no list of resources here.
pub const OWNED_BY_USERS: &str = "owned-by-users";

/// One user: their own view (`/v1/users/me`). Every change of role or
/// account invalidates it.
pub fn user(id: UserId) -> String {
    format!("user:{id}")
}
