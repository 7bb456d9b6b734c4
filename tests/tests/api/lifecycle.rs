//! The account lifecycle end to end, through HTTP and the in-process
//! worker: password reset and email verification follow the links in the
//! mails the worker delivers (to a mail directory, decoded as a mail client
//! would), and the admin bootstrap holds against an account squatted first.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use application::jobs::{InsertOpts, PasswordResetEmail};
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use tests::{
    PASSWORD, TestApp, mail, scratch_dir, smtp::SmtpServer, spawn_shared_app_with, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);
const INVALID: &str = "Invalid or expired token";

/// An app whose worker writes mail to a directory of the test's own.
async fn app_with_mail(extra: &[(&str, &str)]) -> (TestApp, PathBuf) {
    let dir = scratch_dir("mail");
    let mut vars = vec![
        ("MAIL_DIR", dir.to_str().unwrap()),
        ("JOB_POLL_INTERVAL_MS", "20"),
        ("PUBLIC_BASE_URL", "https://app.example.com"),
    ];
    vars.extend_from_slice(extra);
    (spawn_shared_app_with(&vars).await, dir)
}

/// Waits for the `nth` (from 1) mail to `to` whose subject contains
/// `subject`, and for its job to finish, and returns it: a token is valid
/// once its job recorded the mail as sent, just after writing it.
async fn mail_to(
    app: &TestApp,
    dir: &Path,
    to: &str,
    subject: &str,
    nth: usize,
) -> mail::Delivered {
    let mail = wait_for(&format!("mail {nth} to {to} ({subject})"), WAIT, || async {
        mail::read_dir(dir)
            .into_iter()
            .filter(|mail| mail.to.contains(to) && mail.subject.contains(subject))
            .nth(nth - 1)
    })
    .await;
    wait_for("the mail jobs to finish", WAIT, || async {
        let counts = app.services.jobs.counts_by_state().await.unwrap();
        let busy = ["available", "running", "retryable"];
        counts
            .iter()
            .all(|(state, n)| *n == 0 || !busy.contains(&state.as_str()))
            .then_some(())
    })
    .await;
    mail
}

/// The token of the link to `path` in both bodies of `mail`, which agree.
fn token(mail: &mail::Delivered, path: &str) -> String {
    let text = mail::token_in(&mail.text, path).expect("a link in the text body");
    let html = mail::token_in(&mail.html, path).expect("a link in the HTML body");
    assert_eq!(text, html);
    text
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.post_json(path, &body, None).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.get("/v1/users/me", Some(token))
        .await
        .json()
        .await
        .unwrap()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    let body = json!({"email": email, "password": password});
    post(app, "/v1/users/login", body).await.0
}

/// What River keeps of every job (arguments, metadata, attempt errors),
/// as text.
async fn job_rows(app: &TestApp) -> String {
    let params = riverqueue::JobListParams::default().limit(1000);
    let jobs = app
        .services
        .jobs
        .client()
        .jobs()
        .list(params)
        .await
        .unwrap()
        .jobs;
    jobs.iter()
        .map(|job| format!("{} {:?} {:?}", job.encoded_args, job.metadata, job.errors))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_follows_the_mailed_link_once_and_ends_every_login() {
    let (app, dir) = app_with_mail(&[]).await;
    app.register("ada").await;
    let (_, refresh) = app.login("ada").await;

    let asked = post(
        &app,
        "/v1/users/password-reset",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let unknown = post(
        &app,
        "/v1/users/password-reset",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(asked.0, 202);
    assert_eq!(asked, unknown, "nothing tells whether the account exists");

    let mail = mail_to(&app, &dir, "ada@example.com", "Reset your password", 1).await;
    assert!(
        mail.text
            .contains("https://app.example.com/reset-password?token=")
    );
    let token = token(&mail, "/reset-password");
    assert!(!job_rows(&app).await.contains(&token), "no token in River");

    let weak = post(
        &app,
        "/v1/users/password-reset/confirm",
        json!({"token": token, "password": "short"}),
    )
    .await;
    assert_eq!(weak.0, 422, "{weak:?}");
    let body = json!({"token": token, "password": "N3w!password"});
    assert_eq!(
        post(&app, "/v1/users/password-reset/confirm", body.clone())
            .await
            .0,
        204
    );

    assert_eq!(login_status(&app, "ada@example.com", PASSWORD).await, 400);
    assert_eq!(
        login_status(&app, "ada@example.com", "N3w!password").await,
        200
    );
    let refreshed = post(&app, "/v1/users/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(refreshed.0, 401, "the login from before the reset ended");

    // Used, unknown: one answer.
    for token in [token.as_str(), "not-a-token"] {
        let body = json!({"token": token, "password": "Th1rd!password"});
        let (status, answer) = post(&app, "/v1/users/password-reset/confirm", body).await;
        assert_eq!((status, answer["message"].as_str()), (400, Some(INVALID)));
    }
    // The unknown address got no mail; the account got one.
    let all = mail::read_dir(&dir);
    assert_eq!(
        all.len(),
        2,
        "welcome and reset: {:?}",
        all.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_token_expires_and_a_newer_reset_retires_it() {
    let (app, dir) = app_with_mail(&[]).await;
    app.register("ada").await;
    let ask = || {
        post(
            &app,
            "/v1/users/password-reset",
            json!({"email": "ada@example.com"}),
        )
    };
    ask().await;
    let first = token(
        &mail_to(&app, &dir, "ada", "Reset", 1).await,
        "/reset-password",
    );
    ask().await;
    let second = token(
        &mail_to(&app, &dir, "ada", "Reset", 2).await,
        "/reset-password",
    );
    ask().await;
    let third = token(
        &mail_to(&app, &dir, "ada", "Reset", 3).await,
        "/reset-password",
    );

    // The third one expires (time moved on, in the database). A literal
    // both backends read, and that SQLite's text timestamps sort before now.
    {
        let db = app.pool().await;
        db.writer()
            .execute_unprepared(
                "UPDATE account_tokens SET expires_at = '2000-01-01 00:00:00+00:00' WHERE id = \
                 (SELECT MAX(id) FROM account_tokens WHERE purpose = 'reset_password')",
            )
            .await
            .unwrap();
    }
    let confirm = |token: &str| {
        let body = json!({"token": token, "password": "N3w!password"});
        post(&app, "/v1/users/password-reset/confirm", body)
    };
    assert_eq!(confirm(&third).await.1["message"], INVALID, "expired");
    assert_eq!(confirm(&second).await.0, 204);
    assert_eq!(
        confirm(&first).await.1["message"],
        INVALID,
        "retired by the reset"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_mails_a_verification_link_that_works_once() {
    let (app, dir) = app_with_mail(&[]).await;
    let (access, _) = app.signed_up("ada").await;
    assert_eq!(me(&app, &access).await["email_verified"], false);

    let welcome = mail_to(&app, &dir, "ada@example.com", "Welcome", 1).await;
    let token = token(&welcome, "/verify-email");
    assert!(!job_rows(&app).await.contains(&token), "no token in River");
    assert_eq!(
        post(&app, "/v1/users/verify-email", json!({"token": token}))
            .await
            .0,
        204
    );
    assert_eq!(me(&app, &access).await["email_verified"], true);
    let again = post(&app, "/v1/users/verify-email", json!({"token": token})).await;
    assert_eq!((again.0, again.1["message"].as_str()), (400, Some(INVALID)));

    let resend = app
        .post_json("/v1/users/verify-email/resend", &json!({}), Some(&access))
        .await;
    assert_eq!(resend.status(), 400, "nothing left to verify");
    let resend = app
        .post_json("/v1/users/verify-email/resend", &json!({}), None)
        .await;
    assert_eq!(resend.status(), 401);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resent_link_verifies_and_an_email_change_waits_for_the_new_address() {
    let (app, dir) = app_with_mail(&[]).await;
    let (access, _) = app.signed_up("ada").await;
    let asked = app
        .post_json("/v1/users/verify-email/resend", &json!({}), Some(&access))
        .await;
    assert_eq!(asked.status(), 202);
    let link = mail_to(&app, &dir, "ada@example.com", "Confirm your email", 1).await;
    let body = json!({"token": token(&link, "/verify-email")});
    assert_eq!(post(&app, "/v1/users/verify-email", body).await.0, 204);

    let change = json!({"email": "ada@new.example", "current_password": PASSWORD});
    let response = app.patch_json("/v1/users/me", &change, Some(&access)).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["email"], "ada@example.com", "still in force");
    assert_eq!(answer["pending_email"], "ada@new.example");

    let notice = mail_to(&app, &dir, "ada@example.com", "being changed", 1).await;
    assert!(
        !notice.text.contains("token="),
        "the old address gets no link"
    );
    let confirm = mail_to(&app, &dir, "ada@new.example", "Confirm your email", 1).await;
    assert_eq!(
        login_status(&app, "ada@new.example", PASSWORD).await,
        400,
        "not yet"
    );
    let body = json!({"token": token(&confirm, "/verify-email")});
    assert_eq!(post(&app, "/v1/users/verify-email", body).await.0, 204);

    let now = me(&app, &access).await;
    assert_eq!(now["email"], "ada@new.example");
    assert_eq!(now["pending_email"], Value::Null);
    assert_eq!(now["email_verified"], true);
    assert_eq!(login_status(&app, "ada@new.example", PASSWORD).await, 200);
    assert_eq!(login_status(&app, "ada@example.com", PASSWORD).await, 400);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_require_verified_email_only_a_verified_address_logs_in() {
    let (app, dir) = app_with_mail(&[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    app.register("ada").await;
    let (status, body) = post(
        &app,
        "/v1/users/login",
        json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["message"].as_str().unwrap().contains("not verified"),
        "{body}"
    );
    assert_eq!(
        login_status(&app, "ada@example.com", "Wr0ng!pass").await,
        400,
        "said only to the owner"
    );

    let welcome = mail_to(&app, &dir, "ada@example.com", "Welcome", 1).await;
    let body = json!({"token": token(&welcome, "/verify-email")});
    assert_eq!(post(&app, "/v1/users/verify-email", body).await.0, 204);
    assert_eq!(login_status(&app, "ada@example.com", PASSWORD).await, 200);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_out_over_smtp_with_a_text_and_an_html_body() {
    let server = SmtpServer::start_held().await;
    server.release();
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_shared_app_with(&[("SMTP_URL", &url), ("JOB_POLL_INTERVAL_MS", "20")]).await;
    app.register("ada").await;
    let raw = wait_for("the welcome mail over SMTP", WAIT, || async {
        server.received().into_iter().next()
    })
    .await;
    let welcome = mail::parse(raw.as_bytes());
    assert!(welcome.to.contains("ada@example.com"));
    assert!(welcome.text.contains("ada"), "{}", welcome.text);
    assert!(welcome.html.contains('<'), "{}", welcome.html);
    assert_eq!(
        mail::token_in(&welcome.text, "/verify-email"),
        mail::token_in(&welcome.html, "/verify-email")
    );
}

/// Mallory registers the operator's address (`admin@example.com`, password
/// `Mall0ry!pass`) before the operator does, and logs in; returns her
/// access token.
async fn squat_the_admin_address(app: &TestApp) -> String {
    let squat =
        json!({"email": "admin@example.com", "password": "Mall0ry!pass", "username": "mallory"});
    assert_eq!(post(app, "/v1/users/", squat).await.0, 201);
    let (_, tokens) = post(
        app,
        "/v1/users/login",
        json!({"email": "admin@example.com", "password": "Mall0ry!pass"}),
    )
    .await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_squatted_before_the_admin_bootstrap_never_becomes_the_squatters() {
    let (app, dir) = app_with_mail(&[]).await;
    let victim = app.register("bob").await;
    // Mallory registers the operator's address first, and asks to move it
    // to her own (still pending).
    let access = squat_the_admin_address(&app).await;
    let change = json!({"email": "mallory@evil.example", "current_password": "Mall0ry!pass"});
    assert_eq!(
        app.patch_json("/v1/users/me", &change, Some(&access))
            .await
            .status(),
        200
    );
    let moved = mail_to(&app, &dir, "mallory@evil.example", "Confirm your email", 1).await;

    // The operator follows the README.
    let registration = application::services::auth::Registration {
        email: domain::Email::parse("admin@example.com").unwrap(),
        username: domain::Username::parse("admin").unwrap(),
        password: domain::Password::parse("Op3rator!pass").unwrap(),
    };
    let refused = app.services.users.create_admin(registration).await;
    assert!(
        matches!(
            refused,
            Err(application::Error::Conflict { field: "email", .. })
        ),
        "{refused:?}"
    );
    let email = domain::Email::parse("admin@example.com").unwrap();
    app.services.users.promote_existing(&email).await.unwrap();

    // Mallory is out: her login ended, her password and her pending change are void.
    assert_eq!(app.get("/v1/users/me", Some(&access)).await.status(), 401);
    assert_eq!(
        login_status(&app, "admin@example.com", "Mall0ry!pass").await,
        400
    );
    let body = json!({"token": token(&moved, "/verify-email")});
    assert_eq!(
        post(&app, "/v1/users/verify-email", body).await.1["message"],
        INVALID
    );

    // The owner of the mailbox sets the password and is the admin.
    let reset = mail_to(&app, &dir, "admin@example.com", "Reset your password", 1).await;
    let body = json!({"token": token(&reset, "/reset-password"), "password": "Op3rator!pass"});
    assert_eq!(
        post(&app, "/v1/users/password-reset/confirm", body).await.0,
        204
    );
    let (status, tokens) = post(
        &app,
        "/v1/users/login",
        json!({"email": "admin@example.com", "password": "Op3rator!pass"}),
    )
    .await;
    assert_eq!(status, 200);
    let admin = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        me(&app, admin).await["email_verified"],
        true,
        "the reset link reached it"
    );
    let path = format!("/v1/users/{}", victim["uuid"].as_str().unwrap());
    assert_eq!(app.delete(&path, Some(admin)).await.status(), 204);
    std::fs::remove_dir_all(dir).ok();
}

/// Whether the app runs on Postgres (else SQLite).
fn on_postgres(app: &TestApp) -> bool {
    app.database.url.starts_with("postgres")
}

/// A transaction of the test's own holding the row lock of the account
/// `email` (on SQLite, `BEGIN IMMEDIATE` holds the database's write lock),
/// as a credential change in flight does.
async fn hold_row(app: &TestApp, db: &persistence::Db, email: &str) -> persistence::Tx {
    let tx = db.begin().await.unwrap();
    if on_postgres(app) {
        tx.conn()
            .execute_unprepared(&format!(
                "SELECT id FROM users WHERE email = '{email}' FOR UPDATE"
            ))
            .await
            .unwrap();
    }
    tx
}

/// Waits until a statement of the app waits for the lock the test holds:
/// on Postgres as `pg_stat_activity` shows it; on SQLite, a connection the
/// app keeps busy (a transaction waiting for the write lock holds one;
/// the app's reads hold theirs for far less than the three polls).
async fn wait_until_blocked(app: &TestApp, db: &persistence::Db) {
    if on_postgres(app) {
        wait_for("a statement waiting for the row lock", WAIT, || async {
            let sql = "SELECT count(*) AS n FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
            let row = db
                .writer()
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    sql.to_owned(),
                ))
                .await
                .unwrap()
                .unwrap();
            (row.try_get::<i64>("", "n").unwrap() > 0).then_some(())
        })
        .await;
    } else {
        let mut seen = 0;
        wait_for("a transaction waiting for the write lock", WAIT, || {
            seen = if app.services.primary_connections_in_use() > 0 {
                seen + 1
            } else {
                0
            };
            let done = seen >= 3;
            async move { done.then_some(()) }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_decided_after_a_promotion_is_refused() {
    // No worker: on SQLite, its polls would look like the waiting request.
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let access = squat_the_admin_address(&app).await;

    // The squatter's password change has checked the password and waits
    // for the row, while the operator's promotion holds it and replaces the
    // hash the squatter's password matched.
    let db = app.pool().await;
    let held = hold_row(&app, &db, "admin@example.com").await;
    let change = json!({"password": "Mall0ry!new1", "current_password": "Mall0ry!pass"});
    let patch = {
        let request = app
            .client
            .patch(app.url("/v1/users/me"))
            .bearer_auth(&access)
            .json(&change);
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    wait_until_blocked(&app, &db).await;
    held.conn()
        .execute_unprepared(
            "UPDATE users SET password = '!promoted', is_admin = true \
             WHERE email = 'admin@example.com'",
        )
        .await
        .unwrap();
    held.commit().await.unwrap();

    let refused = patch.await.unwrap();
    assert_eq!(refused.status(), 422, "decided on what the row holds now");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"][1], "current_password", "{body}");
    for password in ["Mall0ry!new1", "Mall0ry!pass"] {
        assert_eq!(
            login_status(&app, "admin@example.com", password).await,
            400,
            "{password}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_after_a_phished_email_change_leaves_the_owner_in_control() {
    let (app, dir) = app_with_mail(&[]).await;
    app.register("ada").await;
    // Mallory phished the password and moves the account to her address.
    let (stolen, _) = app.login("ada").await;
    let change = json!({"email": "mallory@evil.example", "current_password": PASSWORD});
    let response = app.patch_json("/v1/users/me", &change, Some(&stolen)).await;
    assert_eq!(response.status(), 200);
    let hers = mail_to(&app, &dir, "mallory@evil.example", "Confirm your email", 1).await;
    mail_to(&app, &dir, "ada@example.com", "being changed", 1).await;
    assert!(
        !job_rows(&app).await.contains("ada@example.com"),
        "no address in River's rows"
    );

    // The notice says to reset the password; Ada does.
    post(
        &app,
        "/v1/users/password-reset",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let reset = mail_to(&app, &dir, "ada@example.com", "Reset your password", 1).await;
    let body = json!({"token": token(&reset, "/reset-password"), "password": "N3w!password"});
    assert_eq!(
        post(&app, "/v1/users/password-reset/confirm", body).await.0,
        204
    );

    // Mallory's pending address and its link are gone with her login.
    let body = json!({"token": token(&hers, "/verify-email")});
    assert_eq!(
        post(&app, "/v1/users/verify-email", body).await.1["message"],
        INVALID
    );
    assert_eq!(app.get("/v1/users/me", Some(&stolen)).await.status(), 401);
    let ask = json!({"email": "mallory@evil.example"});
    assert_eq!(post(&app, "/v1/users/password-reset", ask).await.0, 202);
    let (status, tokens) = post(
        &app,
        "/v1/users/login",
        json!({"email": "ada@example.com", "password": "N3w!password"}),
    )
    .await;
    assert_eq!(status, 200);
    let now = me(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(now["email"], "ada@example.com");
    assert_eq!(now["pending_email"], Value::Null);
    // The notice's address was kept only until the notice was sent.
    let db = app.pool().await;
    let backend = db.writer().get_database_backend();
    let rows = db
        .writer()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id FROM email_change_notices".to_owned(),
        ))
        .await
        .unwrap();
    assert!(rows.is_empty(), "{} notices kept", rows.len());
    std::fs::remove_dir_all(dir).ok();
}

/// Ada signs up, asks for a reset link, then to move to `ada@new.example`;
/// returns her access token, the reset mail and the new address's
/// verification mail.
async fn reset_link_then_email_change(
    app: &TestApp,
    dir: &Path,
) -> (String, mail::Delivered, mail::Delivered) {
    let (access, _) = app.signed_up("ada").await;
    let ask = json!({"email": "ada@example.com"});
    assert_eq!(post(app, "/v1/users/password-reset", ask).await.0, 202);
    let reset = mail_to(app, dir, "ada@example.com", "Reset your password", 1).await;
    let change = json!({"email": "ada@new.example", "current_password": PASSWORD});
    let response = app.patch_json("/v1/users/me", &change, Some(&access)).await;
    assert_eq!(response.status(), 200);
    let verify = mail_to(app, dir, "ada@new.example", "Confirm your email", 1).await;
    (access, reset, verify)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_voids_the_pending_address_and_every_mailed_link() {
    let (app, dir) = app_with_mail(&[]).await;
    let (access, reset, verify) = reset_link_then_email_change(&app, &dir).await;

    let change = json!({"password": "N3w!password", "current_password": PASSWORD});
    let response = app.patch_json("/v1/users/me", &change, Some(&access)).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["pending_email"], Value::Null, "{answer}");

    let body = json!({"token": token(&reset, "/reset-password"), "password": "Th1rd!password"});
    let (status, answer) = post(&app, "/v1/users/password-reset/confirm", body).await;
    assert_eq!((status, answer["message"].as_str()), (400, Some(INVALID)));
    let body = json!({"token": token(&verify, "/verify-email")});
    let (status, answer) = post(&app, "/v1/users/verify-email", body).await;
    assert_eq!((status, answer["message"].as_str()), (400, Some(INVALID)));
    assert_eq!(
        login_status(&app, "ada@example.com", "N3w!password").await,
        200
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_link_to_the_old_address_dies_with_a_verified_email_change() {
    let (app, dir) = app_with_mail(&[]).await;
    let (_, old, verify) = reset_link_then_email_change(&app, &dir).await;
    let body = json!({"token": token(&verify, "/verify-email")});
    assert_eq!(post(&app, "/v1/users/verify-email", body).await.0, 204);

    let body = json!({"token": token(&old, "/reset-password"), "password": "N3w!password"});
    let (status, answer) = post(&app, "/v1/users/password-reset/confirm", body).await;
    assert_eq!((status, answer["message"].as_str()), (400, Some(INVALID)));
    assert_eq!(login_status(&app, "ada@new.example", PASSWORD).await, 200);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_job_for_an_address_the_account_no_longer_has_mails_nothing() {
    let (app, dir) = app_with_mail(&[]).await;
    let user = app.register("ada").await;
    mail_to(&app, &dir, "ada@example.com", "Welcome", 1).await;
    let uuid = user["uuid"].as_str().unwrap().parse().unwrap();
    for version in [1, 0] {
        let job = PasswordResetEmail {
            user_uuid: Some(uuid),
            email_version: Some(version),
        };
        tests::jobs::enqueue(&app.services, job, InsertOpts::default()).await;
    }
    // Returns once both jobs have finished.
    mail_to(&app, &dir, "ada@example.com", "Reset your password", 1).await;
    let resets = mail::read_dir(&dir)
        .into_iter()
        .filter(|mail| mail.subject.contains("Reset"))
        .count();
    assert_eq!(resets, 1, "the job for version 1 sent nothing");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_past_its_reset_mail_cap_gets_the_same_answer_and_no_mail() {
    let (app, dir) = app_with_mail(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_ACCOUNT_MAIL", "100"),
        ("RATE_LIMIT_RESET_MAILS_PER_ADDRESS", "3"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    app.register("ada").await;
    let mut answers = Vec::new();
    for n in 1..=6 {
        let response = app
            .client
            .post(app.url("/v1/users/password-reset"))
            .header("X-Forwarded-For", format!("198.51.100.{n}"))
            .json(&json!({"email": "ada@example.com"}))
            .send()
            .await
            .unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "{answers:?}"
    );
    assert_eq!(answers[0].0, 202);

    let first = mail_to(&app, &dir, "ada@example.com", "Reset your password", 1).await;
    mail_to(&app, &dir, "ada@example.com", "Reset your password", 3).await;
    let resets = mail::read_dir(&dir)
        .into_iter()
        .filter(|mail| mail.subject.contains("Reset"))
        .count();
    assert_eq!(resets, 3, "three mails, then nothing more");
    // The owner holds working links: newer ones retired none.
    let body = json!({"token": token(&first, "/reset-password"), "password": "N3w!password"});
    assert_eq!(
        post(&app, "/v1/users/password-reset/confirm", body).await.0,
        204
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Registers `name` (`{name}@example.com`) on an app that mails through a
/// server answering `command` with `reply`, and waits until the welcome
/// job is in `state`; returns what River keeps of the jobs.
async fn welcome_refused(command: &'static str, reply: &'static str, state: &str) -> String {
    let server = SmtpServer::refusing(command, reply).await;
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let app = spawn_shared_app_with(&[
        ("SMTP_URL", &url),
        ("JOB_POLL_INTERVAL_MS", "20"),
        ("JOB_BACKOFF_BASE_MS", "60000"),
    ])
    .await;
    app.register("bounce").await;
    wait_for(&format!("the welcome job to be {state}"), WAIT, || async {
        let counts = app.services.jobs.counts_by_state().await.unwrap();
        counts
            .iter()
            .any(|(s, n)| s == state && *n > 0)
            .then_some(())
    })
    .await;
    job_rows(&app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_ends_its_mail_job_and_nothing_keeps_the_address() {
    let rows = welcome_refused(
        "RCPT",
        "550 5.1.1 <bounce@example.com>: Recipient address rejected",
        "cancelled",
    )
    .await;
    assert!(rows.contains("Recipient address rejected"), "{rows}");
    assert!(!rows.contains("bounce@example.com"), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_of_the_operators_configuration_is_retried() {
    let rows = welcome_refused(
        "MAIL",
        "553 5.7.1 <noreply@example.com>: Sender address rejected: not owned by user",
        "retryable",
    )
    .await;
    assert!(rows.contains("Sender address rejected"), "{rows}");
    assert!(!rows.contains("@example.com"), "{rows}");
}
