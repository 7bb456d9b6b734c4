//! The caller's principals and the access checks services make with them
//! (the template's `Permissions(...)` dependency and `assert_access`).

use domain::{
    Principal,
    acl::{Guarded, Permission, has_permission, may_create},
};

use crate::{Caller, Error, Result};

/// Who is calling and what they are: built once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    caller: Option<Caller>,
    list: Vec<Principal>,
}

impl Principals {
    pub(crate) fn new(caller: Option<Caller>, list: Vec<Principal>) -> Self {
        Self { caller, list }
    }

    /// An anonymous caller: `Everyone` only.
    pub fn anonymous() -> Self {
        Self::new(None, domain::acl::principals_of(None))
    }

    /// The signed-in caller, or 401.
    pub fn require_caller(&self) -> Result<Caller> {
        self.caller
            .ok_or(Error::Unauthorized("Authentication required"))
    }

    /// The principals, for ACL checks and SQL filters.
    pub fn as_slice(&self) -> &[Principal] {
        &self.list
    }

    /// Succeeds if the principals hold `permission` on every row; else 403.
    pub fn assert_access<R: Guarded>(&self, permission: Permission, rows: &[&R]) -> Result<()> {
        if has_permission(&self.list, permission, rows) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Succeeds if the principals may create a row of model `R`; else 403.
    pub fn assert_may_create<R: Guarded>(&self) -> Result<()> {
        if may_create::<R>(&self.list) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}
