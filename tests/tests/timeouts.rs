//! A slow statement is cut off by `DATABASE_STATEMENT_TIMEOUT_SECONDS` and
//! reported as "unavailable" (a 503 at the HTTP edge), not left hanging;
//! a pooled connection the server dropped while it was idle is replaced,
//! not used. Postgres only: SQLite has no statement timeout, and its
//! connections are not dropped by a server.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use persistence::{Db, DbOptions, Error};
use sea_orm::ConnectionTrait as _;
use tests::TestDatabase;

/// This test's database on Postgres; `None` on SQLite, which has nothing
/// to cut off (its busy timeout bounds lock waits) and no server to drop
/// connections.
async fn postgres() -> Option<TestDatabase> {
    let database = TestDatabase::create().await;
    if database.url.starts_with("postgres") {
        return Some(database);
    }
    assert!(database.url.starts_with("sqlite"));
    None
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_unavailable_on_postgres() {
    let Some(database) = postgres().await else {
        return;
    };
    let db = Db::connect(&DbOptions {
        max_connections: 1,
        statement_timeout: Some(Duration::from_millis(200)),
        ..database.options()
    })
    .await
    .unwrap();
    let err = db
        .writer()
        .execute_unprepared("SELECT pg_sleep(5)")
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    // The connection is still usable afterwards.
    db.ping().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_connection_the_server_dropped_while_idle_is_replaced_before_use() {
    let Some(database) = postgres().await else {
        return;
    };
    let db = Db::connect(&DbOptions {
        max_connections: 1,
        ping_after_idle: Duration::from_millis(100),
        ..database.options()
    })
    .await
    .unwrap();
    let backend_pid = async |db: &Db| -> Result<i32, sea_orm::DbErr> {
        let row = db
            .writer()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_backend_pid()",
            ))
            .await?
            .unwrap();
        row.try_get_by_index(0)
    };
    let first = backend_pid(&db).await.unwrap();
    // The server ends the pooled connection while it is idle, as a restart,
    // a proxy or a firewall would.
    let other = Db::connect(&database.options()).await.unwrap();
    other
        .writer()
        .execute_unprepared(&format!("SELECT pg_terminate_backend({first})"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Idle past `ping_after_idle`: pinged, found dead and replaced, so the
    // request it serves succeeds on a new connection.
    let second = backend_pid(&db).await.unwrap();
    assert_ne!(first, second);
    other.close().await.unwrap();
    db.close().await.unwrap();
}
