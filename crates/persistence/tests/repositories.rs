//! Repositories against a real, migrated SQLite database.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use domain::{Email, Page, Principal, Sort, UserId, Username};
use persistence::{
    Db, DbOptions, Error, NewRefreshToken, RefreshTokenRepository, UnitOfWork as _, UserRepository,
};
use tests::fixtures::new_user;
use uuid::Uuid;

async fn db() -> Db {
    let db = Db::connect(&DbOptions {
        url: "sqlite::memory:".into(),
        read_url: None,
        max_connections: 5,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: None,
        connect_lazy: false,
        ping_after_idle: persistence::PING_AFTER_IDLE,
    })
    .await
    .unwrap();
    db.migrate().await.unwrap();
    db
}

fn everyone() -> Vec<Principal> {
    vec![Principal::Everyone]
}

async fn count_users(db: &Db) -> u64 {
    UserRepository::default()
        .list(
            db.writer(),
            &everyone(),
            None,
            Page {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn users_round_trip_and_unique_keys_are_conflicts() {
    let db = db().await;
    let users = UserRepository::default();
    let alice = users
        .create(db.writer(), new_user("alice@example.com", "alice"))
        .await
        .unwrap();
    assert_eq!(users.get(db.writer(), alice.id).await.unwrap(), alice);
    assert_eq!(
        users.find_by_uuid(db.writer(), alice.uuid).await.unwrap(),
        Some(alice.clone())
    );
    let (found, hash) = users
        .find_credentials(db.writer(), &Email::parse("ALICE@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(hash, "$argon2id$stub");

    let err = users
        .create(db.writer(), new_user("alice@example.com", "other"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { field: "email", .. }),
        "{err:?}"
    );
    let err = users
        .create(db.writer(), new_user("other@example.com", "alice"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                field: "username",
                ..
            }
        ),
        "{err:?}"
    );

    let err = users.get(db.writer(), UserId(9_999)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "User", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn users_list_pages_in_creation_order() {
    let db = db().await;
    let users = UserRepository::default();
    for name in ["ann", "ben", "cat", "dan"] {
        users
            .create(db.writer(), new_user(&format!("{name}@example.com"), name))
            .await
            .unwrap();
    }
    let (page, total) = users
        .list(
            db.writer(),
            &everyone(),
            None,
            Page {
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 4);
    let names: Vec<&str> = page.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["ben", "cat"]);
    // The total is right whether or not the page could tell it: a short
    // last page, a page past the end, a first page that holds everything.
    for (offset, limit, rows) in [(3, 2, 1), (10, 2, 0), (0, 10, 4), (2, 2, 2)] {
        let (page, total) = users
            .list(db.writer(), &everyone(), None, Page { offset, limit })
            .await
            .unwrap();
        assert_eq!(
            (page.len(), total),
            (rows, 4),
            "offset {offset} limit {limit}"
        );
    }
    // The pre-check: a name another account uses is a conflict, one's own
    // is not, and an unused email is free.
    let dan = Username::parse("dan").unwrap();
    let err = users
        .check_unique(db.writer(), None, Some(&dan), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                field: "username",
                ..
            }
        ),
        "{err:?}"
    );
    let (dan_user, _) = users
        .find_credentials(db.writer(), &Email::parse("dan@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let eve = Email::parse("eve@example.com").unwrap();
    users
        .check_unique(db.writer(), Some(&eve), Some(&dan), Some(dan_user.id))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refresh_token_is_consumed_once_and_families_revoke_together() {
    let db = db().await;
    let user = UserRepository::default()
        .create(db.writer(), new_user("a@example.com", "alice"))
        .await
        .unwrap();
    let tokens = RefreshTokenRepository;
    let family = Uuid::new_v4();
    let [first, second] = [Uuid::new_v4(), Uuid::new_v4()];
    for jti in [first, second] {
        tokens
            .insert(
                db.writer(),
                NewRefreshToken {
                    jti,
                    family_id: family,
                    family_started_at: Utc::now(),
                    user_id: user.id,
                    expires_at: Utc::now(),
                },
            )
            .await
            .unwrap();
    }
    assert!(
        tokens
            .mark_used(db.writer(), first, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !tokens
            .mark_used(db.writer(), first, Utc::now())
            .await
            .unwrap(),
        "only once"
    );
    assert!(
        tokens
            .find(db.writer(), first)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_some()
    );

    assert_eq!(
        tokens
            .revoke_family(db.writer(), family, Utc::now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tokens
            .revoke_family(db.writer(), family, Utc::now())
            .await
            .unwrap(),
        0
    );
    assert!(
        !tokens
            .mark_used(db.writer(), second, Utc::now())
            .await
            .unwrap(),
        "revoked"
    );
    assert!(
        tokens
            .find(db.writer(), Uuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back() {
    let db = db().await;
    let users = UserRepository::default();
    let tx = db.begin().await.unwrap();
    users
        .create(tx.conn(), new_user("gone@example.com", "gone"))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(count_users(&db).await, 0);

    let tx = db.begin().await.unwrap();
    users
        .create(tx.conn(), new_user("kept@example.com", "kept"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count_users(&db).await, 1);
}

/// A SQLite file with a pool of connections, like the embedded default.
async fn file_db(read_url: Option<String>) -> (Db, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("persistence-{}.db", Uuid::new_v4().simple()));
    let db = Db::connect(&DbOptions {
        url: format!("sqlite://{}?mode=rwc", path.display()),
        read_url,
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: None,
        connect_lazy: false,
        ping_after_idle: persistence::PING_AFTER_IDLE,
    })
    .await
    .unwrap();
    db.migrate().await.unwrap();
    (db, path)
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[derive(Debug)]
struct Failed;

impl From<Error> for Failed {
    fn from(err: Error) -> Self {
        panic!("unexpected storage error: {err}")
    }
}

#[tokio::test]
async fn a_failure_after_two_writes_leaves_neither() {
    let db = db().await;
    let users = UserRepository::default();
    let result: Result<(), Failed> = db
        .transaction(async |tx| {
            users
                .create(tx.conn(), new_user("one@example.com", "one"))
                .await?;
            users
                .create(tx.conn(), new_user("two@example.com", "two"))
                .await?;
            Err(Failed)
        })
        .await;
    assert!(result.is_err());
    assert_eq!(count_users(&db).await, 0);

    let created: Result<u64, Failed> = db
        .transaction(async |tx| {
            users
                .create(tx.conn(), new_user("one@example.com", "one"))
                .await?;
            users
                .create(tx.conn(), new_user("two@example.com", "two"))
                .await?;
            Ok(2)
        })
        .await;
    assert_eq!(created.unwrap(), 2);
    assert_eq!(count_users(&db).await, 2);
}

#[tokio::test]
async fn a_nested_unit_joins_the_outer_transaction() {
    let (db, path) = file_db(None).await;
    let users = UserRepository::default();
    let result: Result<(), Failed> = db
        .transaction(async |outer| {
            users
                .create(outer.conn(), new_user("outer@example.com", "outer"))
                .await?;
            // REQUIRED: joins; its write stands or falls with the outer one.
            outer
                .transaction(async |inner| {
                    users
                        .create(inner.conn(), new_user("joined@example.com", "joined"))
                        .await?;
                    Ok::<_, Failed>(())
                })
                .await?;
            Err(Failed)
        })
        .await;
    assert!(result.is_err());
    let remaining = UserRepository::default()
        .list(
            db.writer(),
            &everyone(),
            None,
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .0;
    let names: Vec<&str> = remaining.iter().map(|u| u.username.as_str()).collect();
    assert!(
        names.is_empty(),
        "the joined unit rolled back with the outer one"
    );
    db.close().await.unwrap();
    remove(&path);
}

#[tokio::test]
async fn a_panic_inside_a_unit_of_work_rolls_it_back() {
    let (db, path) = file_db(None).await;
    let inner = db.clone();
    let outcome = tokio::spawn(async move {
        let _: Result<(), Failed> = inner
            .transaction(async |tx| {
                UserRepository::default()
                    .create(tx.conn(), new_user("panic@example.com", "panic"))
                    .await?;
                panic!("handler bug");
            })
            .await;
    })
    .await;
    assert!(outcome.unwrap_err().is_panic());
    assert_eq!(count_users(&db).await, 0);
    db.close().await.unwrap();
    remove(&path);
}

#[tokio::test]
async fn reads_go_to_the_replica_and_writes_and_transactions_to_the_primary() {
    // Two separate databases stand in for primary and replica; a row written
    // through the repository exists only in the primary.
    let replica_path = std::env::temp_dir().join(format!(
        "persistence-replica-{}.db",
        Uuid::new_v4().simple()
    ));
    let replica_url = format!("sqlite://{}?mode=rwc", replica_path.display());
    {
        let replica = Db::connect(&DbOptions {
            url: replica_url.clone(),
            read_url: None,
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
            connect_lazy: false,
            ping_after_idle: persistence::PING_AFTER_IDLE,
        })
        .await
        .unwrap();
        replica.migrate().await.unwrap();
        replica.close().await.unwrap();
    }
    let (db, path) = file_db(Some(replica_url)).await;
    let users = UserRepository::default();
    let written = users
        .create(db.writer(), new_user("primary@example.com", "primary"))
        .await
        .unwrap();
    assert!(
        users
            .find_by_uuid(db.reader(), written.uuid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users
            .find_by_uuid(db.writer(), written.uuid)
            .await
            .unwrap()
            .is_some()
    );
    let seen_in_tx: Result<bool, Failed> = db
        .transaction(async |tx| Ok(users.find_by_uuid(tx.conn(), written.uuid).await?.is_some()))
        .await;
    assert!(seen_in_tx.unwrap(), "transactions run on the primary");
    db.close().await.unwrap();
    remove(&path);
    remove(&replica_path);
}

#[tokio::test]
async fn lists_sort_by_allowed_columns_only() {
    let db = db().await;
    let users = UserRepository::default();
    for name in ["bob", "ann", "cat"] {
        users
            .create(db.writer(), new_user(&format!("{name}@example.com"), name))
            .await
            .unwrap();
    }
    let page = Page {
        offset: 0,
        limit: 10,
    };
    let sorted = |raw: &str| {
        let db = db.clone();
        let sort = Sort::parse(raw);
        async move {
            users
                .list(db.writer(), &everyone(), Some(&sort), page)
                .await
        }
    };
    let names = |list: Vec<domain::User>| -> Vec<String> {
        list.into_iter()
            .map(|u| u.username.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(sorted("username").await.unwrap().0),
        ["ann", "bob", "cat"]
    );
    assert_eq!(
        names(sorted("-username").await.unwrap().0),
        ["cat", "bob", "ann"]
    );
    let err = sorted("password").await.unwrap_err();
    assert!(matches!(err, Error::InvalidSort { .. }), "{err:?}");
}

#[tokio::test]
async fn a_user_with_their_tasks_loads_in_two_queries() {
    use domain::{NewTask, TaskDescription, TaskTitle};
    use persistence::TaskRepository;
    let db = db().await;
    let users = UserRepository::default();
    let tasks = TaskRepository::default();
    let ann = users
        .create(db.writer(), new_user("ann@example.com", "ann"))
        .await
        .unwrap();
    users
        .create(db.writer(), new_user("bob@example.com", "bob"))
        .await
        .unwrap();
    for title in ["one", "two"] {
        tasks
            .create(
                db.writer(),
                NewTask {
                    title: TaskTitle::parse(title).unwrap(),
                    description: TaskDescription::parse("d").unwrap(),
                    author_id: ann.id,
                },
            )
            .await
            .unwrap();
    }
    let loaded = users
        .list_with_tasks(
            db.writer(),
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let shape: Vec<(String, usize)> = loaded
        .iter()
        .map(|(user, tasks)| (user.username.as_str().to_owned(), tasks.len()))
        .collect();
    assert_eq!(shape, [("ann".to_owned(), 2), ("bob".to_owned(), 0)]);
}

#[tokio::test]
async fn a_sqlite_file_runs_in_wal_with_synchronous_normal_and_stable_plans() {
    use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
    let dir = tests::scratch_dir("sqlite-pragmas");
    let db = Db::connect(&DbOptions {
        url: format!("sqlite://{}?mode=rwc", dir.join("app.db").display()),
        read_url: None,
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: None,
        connect_lazy: false,
        ping_after_idle: persistence::PING_AFTER_IDLE,
    })
    .await
    .unwrap();
    let pragma = async |name: &str| {
        db.writer()
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap()
    };
    let journal = pragma("journal_mode").await;
    assert_eq!(journal.try_get_by_index::<String>(0).unwrap(), "wal");
    // 1 is NORMAL; 2, FULL, is SQLite's default.
    let synchronous = pragma("synchronous").await;
    assert_eq!(
        synchronous.try_get_by_index::<i32>(0).unwrap(),
        1,
        "synchronous=NORMAL on every connection"
    );
    // The query planner stability guarantee (`.cargo/config.toml`): without
    // it a statement with a bound LIMIT is compiled again on every run.
    let qpsg = db
        .writer()
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sqlite_compileoption_used('ENABLE_QPSG')",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        qpsg.try_get_by_index::<i32>(0).unwrap(),
        1,
        "SQLite built with SQLITE_ENABLE_QPSG (LIBSQLITE3_FLAGS in .cargo/config.toml)"
    );
    db.close().await.unwrap();
    std::fs::remove_dir_all(dir).ok();
}
