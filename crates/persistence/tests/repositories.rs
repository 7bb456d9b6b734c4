//! Repositories against a real, migrated SQLite database.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use domain::{Email, NewUser, UserId, Username};
use migration::{Migrator, MigratorTrait as _};
use persistence::{Db, DbOptions, Error, NewRefreshToken, RefreshTokenRepository, UserRepository};
use uuid::Uuid;

async fn db() -> Db {
    let db = Db::connect(&DbOptions {
        url: "sqlite::memory:".into(),
        max_connections: 5,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    Migrator::up(db.conn(), None).await.unwrap();
    db
}

fn new_user(email: &str, username: &str) -> NewUser {
    NewUser {
        uuid: Uuid::new_v4(),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        password_hash: "$argon2id$stub".into(),
    }
}

#[tokio::test]
async fn users_round_trip_and_unique_keys_are_conflicts() {
    let db = db().await;
    let users = UserRepository;
    let alice = users
        .create(db.conn(), new_user("alice@example.com", "alice"))
        .await
        .unwrap();
    assert_eq!(users.get(db.conn(), alice.id).await.unwrap(), alice);
    assert_eq!(
        users.find_by_uuid(db.conn(), alice.uuid).await.unwrap(),
        Some(alice.clone())
    );
    let (found, hash) = users
        .find_credentials(db.conn(), &Email::parse("ALICE@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(hash, "$argon2id$stub");

    let err = users
        .create(db.conn(), new_user("alice@example.com", "other"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { field: "email", .. }),
        "{err:?}"
    );
    let err = users
        .create(db.conn(), new_user("other@example.com", "alice"))
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

    let err = users.get(db.conn(), UserId(9_999)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "user", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn users_list_pages_in_creation_order() {
    let db = db().await;
    let users = UserRepository;
    for name in ["ann", "ben", "cat", "dan"] {
        users
            .create(db.conn(), new_user(&format!("{name}@example.com"), name))
            .await
            .unwrap();
    }
    let page = users.list(db.conn(), 1, 2).await.unwrap();
    let names: Vec<&str> = page.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["ben", "cat"]);
    assert!(
        users
            .username_taken(db.conn(), &Username::parse("dan").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !users
            .email_taken(db.conn(), &Email::parse("eve@example.com").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_refresh_token_is_consumed_once_and_families_revoke_together() {
    let db = db().await;
    let user = UserRepository
        .create(db.conn(), new_user("a@example.com", "alice"))
        .await
        .unwrap();
    let tokens = RefreshTokenRepository;
    let family = Uuid::new_v4();
    let [first, second] = [Uuid::new_v4(), Uuid::new_v4()];
    for jti in [first, second] {
        tokens
            .insert(
                db.conn(),
                NewRefreshToken {
                    jti,
                    family_id: family,
                    user_id: user.id,
                    expires_at: Utc::now(),
                },
            )
            .await
            .unwrap();
    }
    assert!(
        tokens
            .mark_used(db.conn(), first, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !tokens
            .mark_used(db.conn(), first, Utc::now())
            .await
            .unwrap(),
        "only once"
    );
    assert!(
        tokens
            .find(db.conn(), first)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_some()
    );

    assert_eq!(
        tokens
            .revoke_family(db.conn(), family, Utc::now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tokens
            .revoke_family(db.conn(), family, Utc::now())
            .await
            .unwrap(),
        0
    );
    assert!(
        !tokens
            .mark_used(db.conn(), second, Utc::now())
            .await
            .unwrap(),
        "revoked"
    );
    assert!(
        tokens
            .find(db.conn(), Uuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back() {
    let db = db().await;
    let users = UserRepository;
    let tx = db.begin().await.unwrap();
    users
        .create(tx.conn(), new_user("gone@example.com", "gone"))
        .await
        .unwrap();
    drop(tx);
    assert!(users.list(db.conn(), 0, 10).await.unwrap().is_empty());

    let tx = db.begin().await.unwrap();
    users
        .create(tx.conn(), new_user("kept@example.com", "kept"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(users.list(db.conn(), 0, 10).await.unwrap().len(), 1);
}
