//! Row-level access control: who may do what to which row.
//!
//! A model declares its access-control list once, as [`AclRule`]s: allow or
//! deny a set of [`Permission`]s to a principal. A principal in a rule is
//! either fixed (`Everyone`, `Role("admin")`) or taken from a field of the
//! row (`the user in the task's author field`). Because rules are data, the same list
//! is both evaluated in memory for one row ([`has_permission`]) and compiled
//! into a SQL condition for list queries (in persistence), so a page never
//! holds a row the caller may not read. Deny wins over allow.

use crate::UserId;

/// Something a caller is, from which access follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// Every caller, signed in or not.
    Everyone,
    /// Every signed-in caller.
    Authenticated,
    /// One user.
    User(UserId),
    /// Holders of a role, such as `admin`.
    Role(String),
}

impl Principal {
    /// The administrators' role principal.
    pub fn admin() -> Self {
        Self::Role("admin".to_owned())
    }
}

/// What can be done to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Create,
    Read,
    Edit,
    Delete,
}

impl Permission {
    /// Every permission, for "may do everything" rules.
    pub const ALL: &'static [Self] = &[Self::Create, Self::Read, Self::Edit, Self::Delete];
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a rule applies to. `F` is the model's [`Guarded::UserField`], an
/// enum of its fields that hold a user, so a rule cannot name a field the
/// model does not have: a typo does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclPrincipal<F> {
    /// The same principal for every row.
    Fixed(Principal),
    /// The user whose id is in this field of the row.
    UserInField(F),
}

/// One entry of an access-control list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule<F> {
    pub effect: Effect,
    pub principal: AclPrincipal<F>,
    pub permissions: &'static [Permission],
}

impl<F> AclRule<F> {
    pub fn allow(principal: AclPrincipal<F>, permissions: &'static [Permission]) -> Self {
        Self {
            effect: Effect::Allow,
            principal,
            permissions,
        }
    }

    pub fn deny(principal: AclPrincipal<F>, permissions: &'static [Permission]) -> Self {
        Self {
            effect: Effect::Deny,
            principal,
            permissions,
        }
    }
}

/// A model with row-level access control.
pub trait Guarded {
    /// The fields of the model that hold a user id (an enum, one variant
    /// per field). Persistence maps each to its column, exhaustively.
    type UserField: Copy + PartialEq + std::fmt::Debug;

    /// The model's access-control list, the same for every row; row-specific
    /// principals come from fields via [`AclPrincipal::UserInField`].
    fn acl() -> Vec<AclRule<Self::UserField>>;

    /// The user id in a field named by [`AclPrincipal::UserInField`].
    fn user_in_field(&self, field: Self::UserField) -> Option<UserId>;
}

/// Whether the rules of `acl` that `applies` to the caller grant
/// `permission`: a matching deny rule beats any allow; no matching rule
/// means no access.
fn decide<F>(
    acl: &[AclRule<F>],
    permission: Permission,
    applies: impl Fn(&AclPrincipal<F>) -> bool,
) -> bool {
    let mut allowed = false;
    for rule in acl
        .iter()
        .filter(|rule| rule.permissions.contains(&permission) && applies(&rule.principal))
    {
        match rule.effect {
            Effect::Deny => return false,
            Effect::Allow => allowed = true,
        }
    }
    allowed
}

/// Whether `principals` grant `permission` on every one of `rows`.
pub fn has_permission<R: Guarded>(
    principals: &[Principal],
    permission: Permission,
    rows: &[&R],
) -> bool {
    let acl = R::acl();
    rows.iter().all(|row| {
        decide(&acl, permission, |principal| match principal {
            AclPrincipal::Fixed(principal) => principals.contains(principal),
            AclPrincipal::UserInField(field) => row
                .user_in_field(*field)
                .is_some_and(|owner| principals.contains(&Principal::User(owner))),
        })
    })
}

/// Whether `principals` may create a row of model `R`: creation is checked
/// against rules with fixed principals only, since the row does not exist.
pub fn may_create<R: Guarded>(principals: &[Principal]) -> bool {
    decide(
        &R::acl(),
        Permission::Create,
        |principal| matches!(principal, AclPrincipal::Fixed(principal) if principals.contains(principal)),
    )
}

/// The principals of a caller: everyone; plus, when signed in, authenticated,
/// their user, and the admin role for admins.
pub fn principals_of(user: Option<(UserId, bool)>) -> Vec<Principal> {
    let mut principals = vec![Principal::Everyone];
    if let Some((id, is_admin)) = user {
        principals.push(Principal::Authenticated);
        principals.push(Principal::User(id));
        if is_admin {
            principals.push(Principal::admin());
        }
    }
    principals
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Note {
        owner: UserId,
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum NoteUser {
        Owner,
    }

    impl Guarded for Note {
        type UserField = NoteUser;

        fn acl() -> Vec<AclRule<NoteUser>> {
            use AclPrincipal::{Fixed, UserInField};
            vec![
                AclRule::allow(Fixed(Principal::Authenticated), &[Permission::Create]),
                AclRule::allow(
                    UserInField(NoteUser::Owner),
                    &[Permission::Read, Permission::Edit],
                ),
                AclRule::allow(Fixed(Principal::admin()), Permission::ALL),
                AclRule::deny(Fixed(Principal::Role("banned".into())), Permission::ALL),
            ]
        }

        fn user_in_field(&self, field: NoteUser) -> Option<UserId> {
            match field {
                NoteUser::Owner => Some(self.owner),
            }
        }
    }

    #[test]
    fn owners_read_others_do_not_admins_do_everything() {
        let note = Note { owner: UserId(1) };
        let owner = principals_of(Some((UserId(1), false)));
        let other = principals_of(Some((UserId(2), false)));
        let admin = principals_of(Some((UserId(3), true)));
        assert!(has_permission(&owner, Permission::Read, &[&note]));
        assert!(!has_permission(&owner, Permission::Delete, &[&note]));
        assert!(!has_permission(&other, Permission::Read, &[&note]));
        assert!(has_permission(&admin, Permission::Delete, &[&note]));
        assert!(!has_permission(
            &principals_of(None),
            Permission::Read,
            &[&note]
        ));
    }

    #[test]
    fn deny_beats_allow() {
        let note = Note { owner: UserId(1) };
        let mut banned_owner = principals_of(Some((UserId(1), true)));
        banned_owner.push(Principal::Role("banned".into()));
        assert!(!has_permission(&banned_owner, Permission::Read, &[&note]));
        assert!(!may_create::<Note>(&banned_owner));
    }

    #[test]
    fn many_rows_must_all_pass() {
        let mine = Note { owner: UserId(1) };
        let theirs = Note { owner: UserId(2) };
        let owner = principals_of(Some((UserId(1), false)));
        assert!(has_permission(&owner, Permission::Read, &[&mine]));
        assert!(!has_permission(&owner, Permission::Read, &[&mine, &theirs]));
    }

    #[test]
    fn creation_uses_fixed_rules_only() {
        assert!(may_create::<Note>(&principals_of(Some((UserId(1), false)))));
        assert!(!may_create::<Note>(&principals_of(None)));
    }
}
