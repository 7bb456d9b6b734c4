//! Reading users.

use domain::User;
use persistence::{Db, UserRepository};

use crate::{Caller, Error, Result};

/// Largest page `list` returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Users as other users see them.
#[derive(Debug, Clone)]
pub struct UserService {
    db: Db,
    users: UserRepository,
}

impl UserService {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            users: UserRepository,
        }
    }

    /// A page of users, oldest first; `limit` is capped at [`MAX_PAGE_SIZE`].
    pub async fn list(&self, offset: u64, limit: u64) -> Result<Vec<User>> {
        Ok(self
            .users
            .list(self.db.conn(), offset, limit.min(MAX_PAGE_SIZE))
            .await?)
    }

    /// The caller's own account. A valid token for a deleted account is
    /// treated as no authentication at all.
    pub async fn me(&self, caller: Caller) -> Result<User> {
        match self.users.get(self.db.conn(), caller.user_id).await {
            Ok(user) => Ok(user),
            Err(persistence::Error::NotFound { .. }) => {
                Err(Error::Unauthorized("Authentication required"))
            }
            Err(other) => Err(other.into()),
        }
    }
}
