//! Upgrading a database from the hand-written job queue to River: the
//! migration refuses while the old `jobs` table holds work that would be
//! lost, then drops it and creates River's tables. On SQLite, or on
//! Postgres with `TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used)]

use migration::MigratorTrait as _;
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tests::TestDatabase;

/// The migrations before River: users and tasks, refresh tokens, the old
/// `jobs` table.
const BEFORE_RIVER: u32 = 3;

#[tokio::test]
async fn the_old_queue_must_be_drained_before_river_replaces_it() {
    let db = TestDatabase::create_shared().await;
    let conn = Database::connect(&db.url).await.unwrap();
    migration::Migrator::up(&conn, Some(BEFORE_RIVER))
        .await
        .unwrap();
    let backend = conn.get_database_backend();
    let insert = |status: &str| {
        Statement::from_string(
            backend,
            format!(
                "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, \
                 created_at, updated_at) VALUES ('{}', 'welcome_email', '{{}}', '{status}', 0, 5, \
                 CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                uuid::Uuid::new_v4()
            ),
        )
    };
    conn.execute_raw(insert("done")).await.unwrap();
    conn.execute_raw(insert("pending")).await.unwrap();

    let refused = migration::Migrator::up(&conn, None).await.unwrap_err();
    assert!(
        refused.to_string().contains("1 pending or running job"),
        "{refused}"
    );
    let manager = migration::SchemaManager::new(&conn);
    assert!(manager.has_table("jobs").await.unwrap(), "nothing dropped");
    assert!(!manager.has_table("river_job").await.unwrap());

    // Drained (the old worker ran it): the upgrade goes through.
    conn.execute_unprepared("UPDATE jobs SET status = 'done'")
        .await
        .unwrap();
    migration::Migrator::up(&conn, None).await.unwrap();
    assert!(!manager.has_table("jobs").await.unwrap());
    assert!(manager.has_table("river_job").await.unwrap());
}
