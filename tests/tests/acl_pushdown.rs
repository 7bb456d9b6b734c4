//! Property test: the SQL filter compiled from an ACL selects exactly the
//! rows the in-memory ACL check allows, for random worlds of users, roles
//! and tasks, on SQLite (default) and Postgres (`TEST_DATABASE_URL`).

// One scenario, read top to bottom, is clearer here than helpers passing
// a dozen values around.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeSet;

use domain::{
    Email, NewTask, NewUser, Page, Principal, Task, TaskDescription, TaskFilter, TaskTitle, UserId,
    Username,
    acl::{AclPrincipal, AclRule, Guarded, Permission, has_permission, principals_of},
    task::TaskUserField,
};
use persistence::{
    BaseRepository, Db, TaskRepository, UserRepository,
    acl::{self, GuardedEntity},
    entities::task::{self, Entity as Tasks},
};
use tests::TestDatabase;

/// A small deterministic generator (xorshift), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const ROLES: [&str; 3] = ["admin", "suspended", "editor"];

/// A stricter policy over the same table, exercising deny rules: everyone
/// signed in may read, except suspended users, and nobody reads their own
/// tasks through it (a deliberately odd rule: owner-field denies must
/// compile too).
struct AuditView(Task);

impl Guarded for AuditView {
    type UserField = TaskUserField;

    fn acl() -> Vec<AclRule<TaskUserField>> {
        use AclPrincipal::{Fixed, UserInField};
        vec![
            AclRule::allow(Fixed(Principal::Authenticated), &[Permission::Read]),
            AclRule::deny(Fixed(Principal::Role("suspended".into())), Permission::ALL),
            AclRule::deny(UserInField(TaskUserField::Author), &[Permission::Read]),
        ]
    }

    fn user_in_field(&self, field: TaskUserField) -> Option<UserId> {
        self.0.user_in_field(field)
    }
}

impl GuardedEntity<AuditView> for Tasks {
    fn user_column(field: TaskUserField) -> task::Column {
        match field {
            TaskUserField::Author => task::Column::TaskAuthorId,
        }
    }
}

async fn fresh_db() -> (Db, TestDatabase) {
    let test_db = TestDatabase::create().await;
    (test_db.migrated().await, test_db)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap()
}

const ALL: Page = Page {
    offset: 0,
    limit: 10_000,
};

#[tokio::test]
async fn sql_filters_agree_with_the_in_memory_acl() {
    for seed in 1..=12_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (db, _guard) = fresh_db().await;
        let conn = db.writer();
        let users_repo = UserRepository::default();
        let tasks_repo = TaskRepository::default();

        // A world: users (some admins), tasks by random authors.
        let mut callers: Vec<Vec<Principal>> = vec![principals_of(None)];
        let mut authors = Vec::new();
        for i in 0..(2 + rng.below(6)) {
            let name = format!("u{seed}x{i}");
            let user = users_repo
                .create(
                    conn,
                    NewUser {
                        uuid: uuid::Uuid::new_v4(),
                        email: Email::parse(&format!("{name}@example.com")).unwrap(),
                        username: Username::parse(&name).unwrap(),
                        password_hash: "x".into(),
                    },
                )
                .await
                .unwrap();
            let is_admin = rng.chance(20);
            let mut principals = principals_of(Some((user.id, is_admin)));
            for role in ROLES {
                if rng.chance(15) {
                    principals.push(Principal::Role(role.into()));
                }
            }
            callers.push(principals);
            authors.push(user.id);
        }
        let mut world = Vec::new();
        for i in 0..rng.below(40) {
            let author = authors[usize::try_from(rng.below(authors.len() as u64)).unwrap()];
            let task = tasks_repo
                .create(
                    conn,
                    NewTask {
                        title: TaskTitle::parse(&format!("t{i}")).unwrap(),
                        description: TaskDescription::parse("d").unwrap(),
                        author_id: author,
                    },
                )
                .await
                .unwrap();
            let task = if rng.chance(40) {
                tasks_repo
                    .update(
                        conn,
                        task.id,
                        domain::TaskPatch {
                            is_completed: Some(true),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
            } else {
                task
            };
            world.push(task);
        }

        let base = BaseRepository::<task::Entity>::new("task", &[], &[]);
        for principals in &callers {
            // The product's task policy, through the repository.
            let expected: BTreeSet<_> = world
                .iter()
                .filter(|t| has_permission(principals, Permission::Read, &[*t]))
                .map(|t| t.uuid)
                .collect();
            let (listed, total) = tasks_repo
                .list(conn, principals, TaskFilter::default(), None, ALL)
                .await
                .unwrap();
            let got: BTreeSet<_> = listed.iter().map(|t| t.uuid).collect();
            assert_eq!(got, expected, "seed {seed}, principals {principals:?}");
            assert_eq!(total, count(expected.len()), "seed {seed}: count");

            // Filters and pages stay inside the ACL.
            let done = rng.chance(50);
            let (filtered, total) = tasks_repo
                .list(
                    conn,
                    principals,
                    TaskFilter {
                        is_completed: Some(done),
                    },
                    None,
                    ALL,
                )
                .await
                .unwrap();
            let expected_filtered = world
                .iter()
                .filter(|t| t.is_completed == done && expected.contains(&t.uuid))
                .count();
            assert_eq!(
                (count(filtered.len()), total),
                (count(expected_filtered), count(expected_filtered))
            );
            let limit = 1 + rng.below(5);
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let (page, _) = tasks_repo
                    .list(
                        conn,
                        principals,
                        TaskFilter::default(),
                        None,
                        Page { offset, limit },
                    )
                    .await
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                offset += page.len() as u64;
                paged.extend(page.into_iter().map(|t| t.uuid));
            }
            assert_eq!(
                paged,
                listed.iter().map(|t| t.uuid).collect::<Vec<_>>(),
                "seed {seed}: pages"
            );

            // A policy with deny rules, compiled the same way.
            let condition =
                acl::condition::<AuditView, task::Entity>(principals, Permission::Read).unwrap();
            let rows = base.list(conn, condition, None, ALL).await.unwrap();
            let got: BTreeSet<_> = rows.iter().map(|row| row.uuid).collect();
            let expected: BTreeSet<_> = world
                .iter()
                .filter(|t| {
                    has_permission(principals, Permission::Read, &[&AuditView((*t).clone())])
                })
                .map(|t| t.uuid)
                .collect();
            assert_eq!(
                got, expected,
                "seed {seed}, deny policy, principals {principals:?}"
            );

            // Users: everyone may read every user.
            let (_, users_total) = users_repo.list(conn, principals, None, ALL).await.unwrap();
            assert_eq!(users_total, count(authors.len()));
        }
        db.close().await.unwrap();
    }
}
