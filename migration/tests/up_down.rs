//! Every migration applies, rolls back and applies again on SQLite (the
//! Postgres run of the end-to-end suite applies them there).

#![allow(clippy::unwrap_used)]

use migration::{Migrator, MigratorTrait as _};
use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait as _, Database};

#[tokio::test]
async fn migrations_apply_roll_back_and_reapply() {
    // One connection: each connection to `:memory:` is its own database.
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    db.execute_unprepared("SELECT id, uuid, email, password, username, is_admin FROM users")
        .await
        .unwrap();
    db.execute_unprepared("SELECT id, kind FROM river_job")
        .await
        .unwrap();

    Migrator::down(&db, None).await.unwrap();
    let pending = Migrator::get_pending_migrations(&db).await.unwrap();
    assert_eq!(pending.len(), Migrator::migrations().len());
    for table in ["users", "river_job", "river_migration"] {
        let select = format!("SELECT 1 FROM {table}");
        assert!(
            db.execute_unprepared(&select).await.is_err(),
            "{table} dropped"
        );
    }

    Migrator::up(&db, None).await.unwrap();
    db.execute_unprepared("SELECT jti, family_id FROM refresh_tokens")
        .await
        .unwrap();
}

#[tokio::test]
async fn existing_logins_keep_their_first_issue_time_as_their_start() {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, Some(1)).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO users (id, uuid, email, password, username, is_admin, created_at, updated_at) \
         VALUES (1, 'u', 'a@example.com', 'x', 'a', false, '2026-11-01 10:00:00+00:00', \
         '2026-11-01 10:00:00+00:00')",
    )
    .await
    .unwrap();
    // One login rotated once (its first token issued on the 1st), another
    // login of one token.
    for (id, family, created) in [
        (1, "f1", "2026-11-01 10:00:00+00:00"),
        (2, "f1", "2026-11-20 10:00:00+00:00"),
        (3, "f2", "2026-11-25 10:00:00+00:00"),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO refresh_tokens (id, jti, family_id, user_id, expires_at, created_at) \
             VALUES ({id}, 'j{id}', '{family}', 1, '{created}', '{created}')"
        ))
        .await
        .unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT family_started_at FROM refresh_tokens ORDER BY id",
        ))
        .await
        .unwrap();
    let started: Vec<String> = rows
        .iter()
        .map(|row| row.try_get("", "family_started_at").unwrap())
        .collect();
    assert_eq!(
        started,
        [
            "2026-11-01 10:00:00+00:00",
            "2026-11-01 10:00:00+00:00",
            "2026-11-25 10:00:00+00:00"
        ]
    );
}

#[tokio::test]
async fn usernames_that_differ_only_in_case_stop_the_migration_with_a_list() {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, Some(2)).await.unwrap();
    for (id, name) in [(1, "Mallory"), (2, "mallory"), (3, "alice")] {
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, uuid, email, password, username, is_admin, created_at, \
             updated_at) VALUES ({id}, 'u{id}', '{id}@example.com', 'x', '{name}', false, \
             '2026-11-01 10:00:00+00:00', '2026-11-01 10:00:00+00:00')"
        ))
        .await
        .unwrap();
    }
    let err = Migrator::up(&db, None).await.unwrap_err().to_string();
    assert!(err.contains("Mallory, mallory"), "{err}");
    assert!(!err.contains("alice"), "{err}");
    // Renamed, it applies.
    db.execute_unprepared("UPDATE users SET username = 'mallory2' WHERE id = 2")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
}
