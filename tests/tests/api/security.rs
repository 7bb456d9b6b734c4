//! What an attacker and a schema fuzzer found (issue 15): each test here
//! failed before its fix.

use reqwest::Method;
use serde_json::{Value, json};
use tests::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn made_up_methods_share_one_metric_series() {
    let app = spawn_app().await;
    for n in 0..30 {
        let method = Method::from_bytes(format!("M{n}").as_bytes()).unwrap();
        app.client
            .request(method, app.url("/v1/monitoring/health"))
            .send()
            .await
            .unwrap();
    }
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(!metrics.contains("method=\"M1\""), "{metrics}");
    let other = metrics
        .lines()
        .find(|line| line.starts_with("http_requests_total") && line.contains("method=\"OTHER\""))
        .unwrap_or_else(|| panic!("no OTHER series in {metrics}"));
    assert!(other.ends_with(" 30"), "{other}");
}

#[tokio::test]
async fn a_405_lists_the_allowed_methods() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::PUT, "/v1/tasks/", "GET, POST"),
        (Method::POST, "/v1/tasks/x", "GET, PATCH, DELETE"),
        (Method::DELETE, "/v1/users/me", "GET, PATCH"),
        (Method::GET, "/v1/users/login", "POST"),
        (Method::POST, "/v1/monitoring/health", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], 405);
    }
}

#[tokio::test]
async fn protected_endpoints_authenticate_before_they_parse() {
    let app = spawn_app().await;
    let bad = json!({"title": "", "email": "not-an-email", "password": "x"});
    let requests = [
        app.client.patch(app.url("/v1/users/me")).json(&bad),
        app.client.post(app.url("/v1/tasks/")).json(&bad),
        app.client.patch(app.url("/v1/tasks/not-a-uuid")).json(&bad),
        app.client.get(app.url("/v1/tasks/not-a-uuid")),
        app.client.delete(app.url("/v1/users/not-a-uuid")),
        app.client.get(app.url("/v1/tasks/?limit=0&sort=nope")),
        app.client.get(app.url("/v1/users/?skip=-1")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let url = response.url().clone();
        assert_eq!(response.status(), 401, "{url}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{url}");
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = spawn_app().await;
    app.register("ada").await;
    let login = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let body: Value = login.json().await.unwrap();
    let refreshed = app
        .post_json(
            "/v1/users/refresh",
            &json!({"refresh_token": body["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn hsts_is_sent_only_when_configured() {
    let app = spawn_app().await;
    let response = app.get("/v1/monitoring/health", None).await;
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );

    let app = spawn_app_with(&[("HSTS_MAX_AGE_SECONDS", "31536000")]).await;
    for path in ["/v1/monitoring/health", "/v1/users/me", "/nowhere"] {
        let response = app.get(path, None).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

async fn login(app: &tests::TestApp, email: &str, forwarded_for: &str) -> u16 {
    login_with(app, email, "Wr0ng!pass", forwarded_for).await
}

async fn login_with(app: &tests::TestApp, email: &str, password: &str, from: &str) -> u16 {
    app.client
        .post(app.url("/v1/users/login"))
        .header("X-Forwarded-For", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Spins up an app whose accounts take 3 failed logins per client, behind
/// a proxy known by its range (as ingress pods are).
async fn login_budget_app() -> tests::TestApp {
    spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "100"),
        ("RATE_LIMIT_LOGIN_ACCOUNT", "3"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await
}

#[tokio::test]
async fn failed_logins_lock_out_the_client_that_fails_not_the_owner() {
    let app = login_budget_app().await;
    app.signed_up("ada").await;
    let attacker = "198.51.100.66";
    for _ in 0..3 {
        assert_eq!(login(&app, "ada@example.com", attacker).await, 400);
    }
    // That client is out of failures on this account (in any letter case),
    // even with the right password.
    assert_eq!(login(&app, "ADA@example.com", attacker).await, 429);
    assert_eq!(
        login_with(&app, "ada@example.com", PASSWORD, attacker).await,
        429
    );
    // The owner, from elsewhere, logs in; the attacker may still try others.
    assert_eq!(
        login_with(&app, "ada@example.com", PASSWORD, "203.0.113.7").await,
        200
    );
    assert_eq!(login(&app, "bob@example.com", attacker).await, 400);
    // Successful logins spend nothing.
    for _ in 0..5 {
        assert_eq!(
            login_with(&app, "ada@example.com", PASSWORD, "203.0.113.7").await,
            200
        );
    }
}

#[tokio::test]
async fn guessing_from_many_clients_slows_the_account_but_never_refuses_the_owner() {
    let app = login_budget_app().await;
    app.signed_up("ada").await;
    // Six failures from two clients: three past the account's free three.
    for attacker in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..3 {
            assert_eq!(login(&app, "ada@example.com", attacker).await, 400);
        }
    }
    let started = std::time::Instant::now();
    assert_eq!(
        login_with(&app, "ada@example.com", PASSWORD, "203.0.113.7").await,
        200
    );
    // 100 ms doubled twice: the owner waited, and got in.
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
}

#[tokio::test]
async fn ipv6_clients_share_a_budget_per_64() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    assert_eq!(login(&app, "a@example.com", "2001:db8:1:2::1").await, 400);
    assert_eq!(
        login(&app, "b@example.com", "2001:db8:1:2::ffff").await,
        400
    );
    // Any other address of the same /64: the same budget, spent.
    assert_eq!(
        login(&app, "c@example.com", "2001:db8:1:2:abcd::9").await,
        429
    );
    // The next /64 is another subscriber.
    assert_eq!(login(&app, "d@example.com", "2001:db8:1:3::1").await, 400);
}
