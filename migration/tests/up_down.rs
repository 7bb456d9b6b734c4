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
