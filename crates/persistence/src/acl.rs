//! Access-control lists compiled into SQL.
//!
//! [`condition`] turns a model's [`Guarded::acl`] and a caller's principals
//! into a `WHERE` condition with the same meaning as
//! [`domain::acl::has_permission`]: the rows it selects are exactly the rows
//! the caller holds `permission` on. List queries use it, so filtering
//! happens in the database and pages, counts and limits never include a
//! row the caller may not see.

use domain::{
    Principal, UserId,
    acl::{AclPrincipal, Effect, Guarded, Permission},
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, sea_query::Expr};

use crate::Result;

/// An entity that stores model `R`: the column of each of `R`'s user
/// fields. The match over the field enum is exhaustive, so adding a user
/// field to the model without its column does not compile.
pub trait GuardedEntity<R: Guarded>: EntityTrait {
    fn user_column(field: R::UserField) -> Self::Column;
}

/// An always-false condition (sea-query renders an empty `ANY` as false,
/// but saying so explicitly keeps the intent readable in the SQL log).
fn never() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// The condition selecting the rows of entity `E` (storing model `R`) on
/// which `principals` hold `permission`. Deny rules win over allow rules.
pub fn condition<R, E>(principals: &[Principal], permission: Permission) -> Result<Condition>
where
    R: Guarded,
    E: GuardedEntity<R>,
{
    let users: Vec<UserId> = principals
        .iter()
        .filter_map(|p| match p {
            Principal::User(id) => Some(*id),
            _ => None,
        })
        .collect();
    let mut allow = Condition::any();
    let mut allow_all = false;
    let mut deny = Condition::any();
    let mut deny_any = false;
    for rule in R::acl()
        .into_iter()
        .filter(|rule| rule.permissions.contains(&permission))
    {
        let clause = match &rule.principal {
            AclPrincipal::Fixed(principal) => {
                if principals.contains(principal) {
                    match rule.effect {
                        Effect::Allow => allow_all = true,
                        // A fixed deny that names the caller denies every row.
                        Effect::Deny => return Ok(never()),
                    }
                }
                continue;
            }
            AclPrincipal::UserInField(field) => {
                if users.is_empty() {
                    continue;
                }
                E::user_column(*field).is_in(users.iter().map(|id| id.0))
            }
        };
        match rule.effect {
            Effect::Allow => allow = allow.add(clause),
            Effect::Deny => {
                deny = deny.add(clause);
                deny_any = true;
            }
        }
    }
    let mut result = Condition::all();
    if !allow_all {
        if allow.is_empty() {
            return Ok(never());
        }
        result = result.add(allow);
    }
    if deny_any {
        result = result.add(deny.not());
    }
    Ok(result)
}
