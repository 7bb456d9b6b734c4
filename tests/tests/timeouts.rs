//! A slow statement is cut off by `DATABASE_STATEMENT_TIMEOUT_SECONDS` and
//! reported as "unavailable" (a 503 at the HTTP edge), not left hanging.
//! Postgres only: SQLite has no statement timeout.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use persistence::{Db, DbOptions, Error};
use sea_orm::ConnectionTrait as _;
use tests::TestDatabase;

#[tokio::test]
async fn a_statement_past_its_timeout_is_unavailable_on_postgres() {
    let database = TestDatabase::create().await;
    if !database.url.starts_with("postgres") {
        // SQLite: nothing to cut off; the busy timeout bounds lock waits.
        assert!(database.url.starts_with("sqlite"));
        return;
    }
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
