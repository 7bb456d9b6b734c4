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
    login_as(app, email, password, from, None).await.0
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

/// A login from `from`, sending `device` as its device token if any:
/// the status and the body.
async fn login_as(
    app: &tests::TestApp,
    email: &str,
    password: &str,
    from: &str,
    device: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"email": email, "password": password});
    if let Some(device) = device {
        body["device_token"] = json!(device);
    }
    let response = app
        .client
        .post(app.url("/v1/users/login"))
        .header("X-Forwarded-For", from)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An app whose accounts are under attack after 3 failures, when strangers
/// share 2 attempts a window on them.
async fn under_attack_app() -> tests::TestApp {
    spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "100"),
        ("RATE_LIMIT_LOGIN_ACCOUNT", "3"),
        ("RATE_LIMIT_LOGIN_UNTRUSTED", "2"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await
}

/// One wrong guess on `email` from each of `clients` addresses: the
/// statuses, in order.
async fn guesses(app: &tests::TestApp, email: &str, clients: u8) -> Vec<u16> {
    let mut statuses = Vec::new();
    for n in 1..=clients {
        statuses.push(login(app, email, &format!("198.51.100.{n}")).await);
    }
    statuses
}

#[tokio::test]
async fn distributed_guessing_gets_a_small_shared_budget_and_never_refuses_a_known_client() {
    let app = under_attack_app().await;
    app.register("ada").await;
    let (status, first) = login_as(&app, "ada@example.com", PASSWORD, "203.0.113.7", None).await;
    assert_eq!(status, 200);
    let device = first["device_token"]
        .as_str()
        .expect("a device token")
        .to_owned();

    // Twenty clients, one guess each: three free failures, then two shared
    // attempts for every stranger together, then 429.
    let expected: Vec<u16> = [[400; 5].as_slice(), &[429; 15]].concat();
    assert_eq!(guesses(&app, "ada@example.com", 20).await, expected);
    // An email without an account is treated alike: nothing tells them apart.
    assert_eq!(guesses(&app, "nobody@example.com", 20).await, expected);

    // The owner, from the address she logged in from, or from anywhere
    // with her device token: in, and the token she sent is kept.
    let (status, _) = login_as(&app, "ada@example.com", PASSWORD, "203.0.113.7", None).await;
    assert_eq!(status, 200);
    let (status, again) = login_as(
        &app,
        "ada@example.com",
        PASSWORD,
        "192.0.2.50",
        Some(&device),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["device_token"], device.as_str());
    // A client sending nothing new, from an address never seen: refused
    // while the account is under attack, even with the right password.
    let (status, _) = login_as(&app, "ada@example.com", PASSWORD, "192.0.2.99", None).await;
    assert_eq!(status, 429);
    // A made-up or another account's device token is no help.
    let (status, _) = login_as(
        &app,
        "ada@example.com",
        PASSWORD,
        "192.0.2.99",
        Some("made-up"),
    )
    .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn an_address_budget_counts_failed_logins_only_and_spares_known_clients() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "3"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    app.register("ada").await;
    app.register("carol").await;
    let office = "203.0.113.7";
    for _ in 0..5 {
        let (status, _) = login_as(&app, "ada@example.com", PASSWORD, office, None).await;
        assert_eq!(status, 200, "successes spend nothing");
    }
    for _ in 0..3 {
        assert_eq!(login(&app, "bob@example.com", office).await, 400);
    }
    // The address's failures are spent: a colleague new to it waits...
    let (status, _) = login_as(&app, "carol@example.com", PASSWORD, office, None).await;
    assert_eq!(status, 429);
    // ...but Ada's account knows the address.
    let (status, _) = login_as(&app, "ada@example.com", PASSWORD, office, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_password_change_forgets_every_known_client() {
    let app = under_attack_app().await;
    let (access, _) = app.signed_up("ada").await;
    let (_, first) = login_as(&app, "ada@example.com", PASSWORD, "203.0.113.7", None).await;
    let device = first["device_token"].as_str().unwrap().to_owned();
    let change = json!({"password": "N3w!password", "current_password": PASSWORD});
    let response = app.patch_json("/v1/users/me", &change, Some(&access)).await;
    assert_eq!(response.status(), 200);
    guesses(&app, "ada@example.com", 5).await;

    // Whoever had the old password and its device token is a stranger now.
    for (from, token) in [("192.0.2.1", Some(device.as_str())), ("203.0.113.7", None)] {
        let (status, _) = login_as(&app, "ada@example.com", "N3w!password", from, token).await;
        assert_eq!(status, 429, "{from}");
    }
    // The client that made the change (the proxy's own address here) is
    // still known: the owner is not locked out by her own change.
    let (status, _) = login_as(&app, "ada@example.com", "N3w!password", "127.0.0.1", None).await;
    assert_eq!(status, 200);
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

#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_sheds_strangers_and_lets_a_known_client_in() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "1000"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    app.register("ada").await;
    let (_, first) = login_as(&app, "ada@example.com", PASSWORD, "203.0.113.7", None).await;
    let device = first["device_token"].as_str().unwrap().to_owned();

    // Far more logins for unknown emails, from as many addresses, than the
    // hashing queue holds, kept up while the owner logs in, again and again.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..100_u32)
        .map(|n| {
            let (client, url, stop) = (app.client.clone(), app.url("/v1/users/login"), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({"email": format!("nobody{n}@example.com"), "password": "Wr0ng!pass"});
                    let response = client
                        .post(&url)
                        .header("X-Forwarded-For", format!("198.51.100.{}", n + 1))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut owner = Vec::new();
    for _ in 0..3 {
        let (status, _) = login_as(
            &app,
            "ada@example.com",
            PASSWORD,
            "192.0.2.50",
            Some(&device),
        )
        .await;
        owner.push(status);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for worker in flood {
        statuses.extend(worker.await.unwrap());
    }
    let shed = statuses.iter().filter(|status| **status == 503).count();
    assert!(shed > 0, "the flood never filled the queue");
    assert!(statuses.iter().all(|status| [400, 503].contains(status)));
    assert_eq!(
        owner, [200; 3],
        "the owner was shed ({shed} strangers were)"
    );
}
