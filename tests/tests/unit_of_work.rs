//! REQUIRES_NEW: a unit started inside another commits on its own, whatever
//! the outer one does. Postgres only: SQLite has one writer at a time, and
//! the outer unit holds the write lock from its first statement (BEGIN
//! IMMEDIATE), so a second writer waits out the busy timeout.

#![allow(clippy::unwrap_used)]

use domain::{NewUser, Page, Principal};
use persistence::{Error, UnitOfWork as _, UserRepository};
use tests::TestDatabase;

#[derive(Debug)]
struct Failed;

impl From<Error> for Failed {
    fn from(err: Error) -> Self {
        panic!("unexpected storage error: {err}")
    }
}

fn new_user(name: &str) -> NewUser {
    tests::fixtures::new_user(&format!("{name}@example.com"), name)
}

#[tokio::test]
async fn a_requires_new_unit_survives_the_outer_rollback_on_postgres() {
    let database = TestDatabase::create().await;
    if !database.url.starts_with("postgres") {
        assert!(database.url.starts_with("sqlite"));
        return;
    }
    let db = database.migrated().await;
    let users = UserRepository::default();
    let result: Result<(), Failed> = db
        .transaction(async |outer| {
            users.create(outer.conn(), new_user("outer")).await?;
            outer
                .transaction(async |joined| {
                    users.create(joined.conn(), new_user("joined")).await?;
                    Ok::<_, Failed>(())
                })
                .await?;
            outer
                .requires_new(async |independent| {
                    users.create(independent.conn(), new_user("audit")).await?;
                    Ok::<_, Failed>(())
                })
                .await?;
            Err(Failed)
        })
        .await;
    assert!(result.is_err());
    let (remaining, _) = users
        .list(
            db.writer(),
            &[Principal::Everyone],
            None,
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let names: Vec<&str> = remaining.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["audit"], "only the independent unit survived");
    db.close().await.unwrap();
}
