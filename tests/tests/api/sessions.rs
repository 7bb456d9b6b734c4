//! An access token is only as good as its login: logout, a password
//! change, a reused refresh token and deleting the account end it, and a
//! demotion takes the admin role away, on this instance at once and on
//! every other within `SESSION_RECHECK_SECONDS`.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{
    PASSWORD, TestApp, spawn_app, spawn_app_beside, spawn_shared_app_with, test_redis_url, wait_for,
};

/// Changes the caller's password (from [`PASSWORD`]) over HTTP.
async fn change_password(app: &TestApp, token: &str) {
    let body = json!({"password": "N3w!passw0rd", "current_password": PASSWORD});
    let changed = app.patch_json("/v1/users/me", &body, Some(token)).await;
    assert_eq!(changed.status(), 200);
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get(path, Some(token)).await.status().as_u16()
}

#[tokio::test]
async fn logout_ends_the_access_token_too() {
    let app = spawn_app().await;
    let (access, _) = app.signed_up("ada").await;
    assert_eq!(status(&app, "/v1/users/me", &access).await, 200);
    let logout = app
        .post_json("/v1/users/logout", &json!({}), Some(&access))
        .await;
    assert_eq!(logout.status(), 204);
    for path in ["/v1/users/me", "/v1/tasks/", "/v1/users/"] {
        assert_eq!(status(&app, path, &access).await, 401, "{path}");
    }
    // Another login of the same account is untouched.
    let (other, _) = app.login("ada").await;
    assert_eq!(status(&app, "/v1/users/me", &other).await, 200);
}

#[tokio::test]
async fn a_password_change_ends_every_login() {
    let app = spawn_app().await;
    let (first, _) = app.signed_up("ada").await;
    let (second, _) = app.login("ada").await;
    change_password(&app, &first).await;
    assert_eq!(status(&app, "/v1/users/me", &first).await, 401);
    assert_eq!(status(&app, "/v1/users/me", &second).await, 401);
}

#[tokio::test]
async fn a_reused_refresh_token_ends_its_login() {
    let app = spawn_app().await;
    let (_, refresh) = app.signed_up("ada").await;
    let rotated: Value = app
        .post_json(
            "/v1/users/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(status(&app, "/v1/users/me", access).await, 200);
    let replay = app
        .post_json(
            "/v1/users/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await;
    assert_eq!(replay.status(), 401);
    assert_eq!(status(&app, "/v1/users/me", access).await, 401);
}

#[tokio::test]
async fn deleting_an_account_ends_its_tokens() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_up_admin("root").await;
    let user = app.register("ada").await;
    let (access, _) = app.login("ada").await;
    assert_eq!(status(&app, "/v1/users/me", &access).await, 200);
    let uuid = user["uuid"].as_str().unwrap();
    let deleted = app.delete(&format!("/v1/users/{uuid}"), Some(&admin)).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(status(&app, "/v1/users/me", &access).await, 401);
    assert_eq!(status(&app, "/v1/tasks/", &access).await, 401);
}

#[tokio::test]
async fn another_instance_notices_a_logout_and_a_demotion_within_seconds() {
    let settings = [("SESSION_RECHECK_SECONDS", "1")];
    let first = spawn_shared_app_with(&settings).await;
    let second = spawn_app_beside(&first, &settings).await;

    // A logout on the first instance ends the token on the second, whose
    // own memory said the login was alive.
    let (access, _) = first.signed_up("ada").await;
    assert_eq!(status(&second, "/v1/users/me", &access).await, 200);
    let logout = first
        .post_json("/v1/users/logout", &json!({}), Some(&access))
        .await;
    assert_eq!(logout.status(), 204);
    wait_for(
        "the second instance to refuse",
        Duration::from_secs(10),
        || async { (status(&second, "/v1/users/me", &access).await == 401).then_some(()) },
    )
    .await;

    // A demotion made elsewhere (here, the first instance's services, as
    // the `revoke-admin` command would from its own process). Admins may
    // read anyone's task; the second instance has just let this one.
    let (admin, _) = first.signed_up_admin("root").await;
    let (bob, _) = second.signed_up("bob").await;
    let task = second.create_task(&bob, "private").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    assert_eq!(status(&second, &path, &admin).await, 200);
    let email = domain::Email::parse("root@example.com").unwrap();
    let (_, was_admin) = first
        .services
        .users
        .change_admin(&email, false)
        .await
        .unwrap();
    assert!(was_admin);
    assert_eq!(
        status(&first, &path, &admin).await,
        403,
        "at once where it was made"
    );
    wait_for(
        "the second instance to drop the admin role",
        Duration::from_secs(10),
        || async { (status(&second, &path, &admin).await == 403).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_password_change_during_a_login_wins() {
    // Login checks the password (slowly, without a lock), then stores its
    // tokens. A password change that commits in between must not leave a
    // token it could not revoke: the login fails instead.
    let app = spawn_app().await;
    let (access, _) = app.signed_up("ada").await;
    let email = domain::Email::parse("ada@example.com").unwrap();
    let verified = app
        .services
        .auth
        .verify_credentials(&email, PASSWORD.to_owned(), application::Admission::Trusted)
        .await
        .unwrap();
    change_password(&app, &access).await;
    let attempt = application::LoginAttempt {
        device_token: None,
        client: None,
        admission: application::Admission::Trusted,
    };
    let login = app.services.auth.start_login(verified, &attempt).await;
    assert!(
        matches!(login, Err(application::Error::InvalidCredentials)),
        "{login:?}"
    );
}

#[tokio::test]
async fn authorization_is_never_read_from_redis() {
    // Whoever can write to the cache must not be able to grant themselves a
    // role: what says who is logged in and who is an admin stays in the
    // process and the database.
    let Some(url) = test_redis_url() else {
        return;
    };
    let app = spawn_app().await;
    let (access, _) = app.signed_up_admin("root").await;
    assert_eq!(status(&app, "/v1/users/", &access).await, 200);
    assert_eq!(status(&app, "/v1/users/me", &access).await, 200);
    let prefix = &app.settings.redis.key_prefix;
    let keys = std::process::Command::new("redis-cli")
        .args(["-u", &url, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .unwrap();
    let keys = String::from_utf8(keys.stdout).unwrap();
    assert!(!keys.is_empty(), "the cache is in use");
    for key in keys.lines() {
        assert!(
            !key.contains("session") && !key.contains("principals"),
            "authorization in Redis: {key}"
        );
    }
}

#[tokio::test]
async fn a_login_ends_session_max_days_after_it_began_however_often_refreshed() {
    use persistence::entities::refresh_token;
    use sea_orm::{EntityTrait as _, sea_query::Expr};

    let app = spawn_shared_app_with(&[("SESSION_MAX_DAYS", "30")]).await;
    let (_, refresh) = app.signed_up("ada").await;
    let refreshed = app
        .post_json(
            "/v1/users/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let pair = refreshed.json::<Value>().await.unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    // The login began 30 days ago (as if refreshed every few days since):
    // its latest refresh token no longer works, nor its access token.
    let began = chrono::Utc::now() - chrono::Duration::days(30);
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::FamilyStartedAt, Expr::value(began))
        .exec(app.pool().await.writer())
        .await
        .unwrap();
    let expired = app
        .post_json(
            "/v1/users/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["message"],
        "Login expired; log in again"
    );
    assert_eq!(app.get("/v1/users/me", Some(&access)).await.status(), 401);
    // Logging in again starts a new login.
    app.login("ada").await;
}

#[tokio::test]
async fn redis_keys_name_no_email_and_no_client_address() {
    let Some(url) = test_redis_url() else {
        eprintln!("skipped: needs TEST_REDIS_URL");
        return;
    };
    let app = tests::spawn_app_with(&[("RATE_LIMIT_ENABLED", "true")]).await;
    app.register("ada").await;
    let wrong = json!({"email": "ada@example.com", "password": "Wr0ng!pass"});
    assert_eq!(
        app.post_json("/v1/users/login", &wrong, None)
            .await
            .status(),
        400
    );
    let reset = json!({"email": "ada@example.com"});
    app.post_json("/v1/users/password-reset", &reset, None)
        .await;
    let prefix = &app.settings.redis.key_prefix;
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-u",
            &url,
            "--scan",
            "--pattern",
            &format!("{prefix}ratelimit:*"),
        ])
        .output()
        .unwrap();
    let keys = String::from_utf8(keys.stdout).unwrap();
    assert!(
        keys.contains("login-failed:"),
        "the limits are in Redis: {keys}"
    );
    for key in keys.lines() {
        assert!(
            !key.contains("example.com") && !key.contains("127.0.0.1"),
            "{key}"
        );
    }
}
