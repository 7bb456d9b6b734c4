//! What production traffic needs: metrics, readiness, rate limits, CORS,
//! security headers, bounded input, and clean answers when a dependency is
//! down.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{
    PASSWORD, PRODUCTION, spawn_app, spawn_app_with, spawn_shared_app_with, test_redis_url,
    unique_prefix,
};

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    let task = app.create_task(&token, "counted").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    app.get(&path, Some(&token)).await;
    app.get("/v1/monitoring/health", None).await;

    // Like every resource, other methods are a 405, not a missing route.
    let post = app
        .post_json("/metrics", &serde_json::json!({}), None)
        .await;
    assert_eq!(post.status(), 405);
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let counted = |route: &str| {
        text.lines().any(|line| {
            line.starts_with("http_requests_total{")
                && line.contains(&format!("route=\"{route}\""))
                && line.contains("status=\"200\"")
        })
    };
    assert!(counted("/v1/monitoring/health"), "{text}");
    assert!(
        counted("/v1/tasks/{task_uuid}"),
        "one series per route, not per uuid: {text}"
    );
    assert!(!text.contains(task["uuid"].as_str().unwrap()));
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "latency histogram"
    );
    assert!(text.contains("db_pool_connections{"), "pool gauges");
}

#[tokio::test]
async fn metrics_can_be_off_or_on_their_own_port() {
    let app = spawn_app_with(&[("METRICS_ENABLED", "false")]).await;
    assert_eq!(app.get("/metrics", None).await.status(), 404);

    let app = spawn_app_with(&[("METRICS_PORT", "0")]).await;
    assert_eq!(
        app.get("/metrics", None).await.status(),
        404,
        "not on the API port"
    );
    let metrics = app.metrics_address.clone().unwrap();
    let response = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("db_pool_connections")
    );
}

#[tokio::test]
async fn production_serves_metrics_only_on_their_own_port() {
    let secret = "k".repeat(32);
    let production = [
        PRODUCTION.as_slice(),
        &[
            ("SECRET_KEY", secret.as_str()),
            ("DATABASE_AUTO_MIGRATE", "true"),
        ],
    ]
    .concat();
    let app = spawn_app_with(&production).await;
    assert_eq!(app.get("/metrics", None).await.status(), 404);
    assert!(app.metrics_address.is_none());

    let app = spawn_app_with(&[production.as_slice(), &[("METRICS_PORT", "0")]].concat()).await;
    assert_eq!(app.get("/metrics", None).await.status(), 404);
    let metrics = app.metrics_address.clone().unwrap();
    let response = app.client.get(format!("{metrics}/metrics")).send().await;
    assert_eq!(response.unwrap().status(), 200);
}

#[tokio::test]
async fn readiness_checks_the_database_and_redis() {
    let mut extra = vec![];
    let redis = test_redis_url();
    if let Some(url) = &redis {
        extra.push(("REDIS_URL", url.as_str()));
    }
    let app = spawn_app_with(&extra).await;
    let response = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "Ready");
    assert_eq!(body["database"], "ok");
    if redis.is_some() {
        assert_eq!(body["redis"], "ok");
    } else {
        assert!(body.get("redis").is_none());
    }
}

#[tokio::test]
async fn readiness_is_503_naming_a_dead_database_while_liveness_stays_up() {
    // Nothing listens on port 1. Without start-up migrations the app starts
    // anyway, connecting lazily.
    let app = spawn_app_with(&[
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing"),
        ("DATABASE_AUTO_MIGRATE", "false"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let response = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "Unavailable");
    assert_ne!(body["database"], "ok");
    assert_eq!(app.get("/v1/monitoring/health", None).await.status(), 200);

    // Requests that need the database get a clean 503, not a hang or a 500.
    let response = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "a@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 503);
    assert_eq!(body["message"], "Service temporarily unavailable");
}

#[tokio::test]
async fn readiness_reports_a_dead_redis_but_stays_ready() {
    // The cache and the rate limits carry on without Redis.
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let response = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "Ready");
    assert_eq!(body["database"], "ok");
    assert_ne!(body["redis"], "ok");
}

#[tokio::test]
async fn readiness_is_503_until_the_database_is_migrated() {
    // A deploy whose migration has not run: the app starts (lazily
    // connected, no worker) on a database that has never been migrated.
    let app = spawn_shared_app_with(&[
        ("DATABASE_AUTO_MIGRATE", "false"),
        ("JOB_WORKER_IN_API", "false"),
    ])
    .await;
    let response = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "migrations_pending");

    app.database.migrated().await.close().await.unwrap();
    for _ in 0..2 {
        let response = app.get("/v1/monitoring/ready", None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["database"], "ok");
    }
}

async fn login_status(app: &tests::TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/users/login"))
        .json(&json!({"email": "nobody@example.com", "password": "Wr0ng!pass"}));
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn login_is_limited_per_client_then_resets_after_the_window() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "2"),
        ("RATE_LIMIT_WINDOW_SECONDS", "1"),
    ])
    .await;
    assert_eq!(login_status(&app, None).await.status(), 400);
    assert_eq!(login_status(&app, None).await.status(), 400);
    let refused = login_status(&app, None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    // A refusal is a response like any other: request id, security headers.
    let request_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], 429);
    assert_eq!(body["request_id"], request_id.as_str());
    // Other endpoints are not affected.
    assert_eq!(app.get("/v1/monitoring/health", None).await.status(), 200);

    // The window is one second; waiting it out is the behaviour under test.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login_status(&app, None).await.status(), 400, "a new window");
}

#[tokio::test]
async fn registration_and_refresh_have_their_own_budgets() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_REGISTER", "1"),
        ("RATE_LIMIT_REFRESH", "1"),
    ])
    .await;
    app.register("alice").await;
    let response = app
        .post_json(
            "/v1/users/",
            &json!({"email": "b@example.com", "password": PASSWORD, "username": "bob"}),
            None,
        )
        .await;
    assert_eq!(response.status(), 429);
    let (token, _) = app.login("alice").await;
    assert_eq!(
        app.get("/v1/users/", Some(&token)).await.status(),
        200,
        "listing is not registering"
    );
    let body = json!({"refresh_token": "x"});
    assert_eq!(
        app.post_json("/v1/users/refresh", &body, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_json("/v1/users/refresh", &body, None)
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let limited = [("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_LOGIN", "1")];
    // Untrusted peer: X-Forwarded-For is ignored, one budget for all.
    let app = spawn_app_with(&limited).await;
    assert_eq!(login_status(&app, Some("198.51.100.1")).await.status(), 400);
    assert_eq!(login_status(&app, Some("198.51.100.2")).await.status(), 429);

    // Trusted proxy: each forwarded client has its own budget.
    let app = spawn_app_with(&[limited[0], limited[1], ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    assert_eq!(login_status(&app, Some("198.51.100.1")).await.status(), 400);
    assert_eq!(login_status(&app, Some("198.51.100.2")).await.status(), 400);
    assert_eq!(login_status(&app, Some("198.51.100.1")).await.status(), 429);
    // A client cannot dodge by prepending addresses: the right-most
    // untrusted entry is the one the proxy saw.
    assert_eq!(
        login_status(&app, Some("203.0.113.7, 198.51.100.2"))
            .await
            .status(),
        429
    );
    // A port on the entry is the same client.
    assert_eq!(
        login_status(&app, Some("198.51.100.3:5555")).await.status(),
        400
    );
    assert_eq!(login_status(&app, Some("198.51.100.3")).await.status(), 429);
    // An entry that does not parse never lets an address further left count:
    // the proxy's own address is used, so these share one budget.
    assert_eq!(
        login_status(&app, Some("198.51.100.4, unknown"))
            .await
            .status(),
        400
    );
    assert_eq!(
        login_status(&app, Some("198.51.100.5, unknown"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn profile_changes_are_limited_per_account() {
    let app = spawn_app_with(&[("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_LOGIN", "2")]).await;
    let (token, _) = app.signed_up("alice").await;
    let guess = json!({"email": "x@example.com", "current_password": "Gu3ss!one"});
    for _ in 0..2 {
        assert_eq!(
            app.patch_json("/v1/users/me", &guess, Some(&token))
                .await
                .status(),
            422
        );
    }
    assert_eq!(
        app.patch_json("/v1/users/me", &guess, Some(&token))
            .await
            .status(),
        429
    );
    assert_eq!(
        app.get("/v1/users/me", Some(&token)).await.status(),
        200,
        "reading is not limited"
    );
}

#[tokio::test]
async fn limits_are_shared_by_instances_through_redis_and_kept_per_instance_without_it() {
    let limited = [("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_LOGIN", "2")];
    if let Some(url) = test_redis_url() {
        let prefix = unique_prefix();
        let shared = [
            limited[0],
            limited[1],
            ("REDIS_URL", url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
        ];
        let first = spawn_app_with(&shared).await;
        let second = spawn_app_with(&shared).await;
        assert_eq!(login_status(&first, None).await.status(), 400);
        assert_eq!(login_status(&second, None).await.status(), 400);
        assert_eq!(
            login_status(&first, None).await.status(),
            429,
            "one budget across instances"
        );
        assert_eq!(login_status(&second, None).await.status(), 429);
    }
    // A dead Redis neither locks everyone out of login nor lifts the
    // limit: this instance counts on its own.
    let app = spawn_app_with(&[
        limited[0],
        limited[1],
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("REDIS_TIMEOUT_MS", "100"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(login_status(&app, None).await.status(), 400);
    }
    assert_eq!(login_status(&app, None).await.status(), 429);
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/users/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let denied = preflight("https://evil.example.com").await.unwrap();
    assert!(!denied.status().is_success());
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let response = app
        .client
        .get(app.url("/v1/monitoring/health"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );

    // No origins configured: no grant.
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/monitoring/health"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = spawn_app().await;
    for path in ["/v1/monitoring/health", "/v1/nothing", "/docs/"] {
        let response = app.get(path, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path.starts_with("/docs") {
            assert!(
                csp.contains("script-src 'self'"),
                "the docs still load: {csp}"
            );
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
    }
}

#[tokio::test]
async fn deeply_nested_bodies_are_422_and_the_body_limit_is_configurable() {
    let app = spawn_app_with(&[("BODY_LIMIT_BYTES", "2048")]).await;
    let nested = format!("{{\"email\": {}1{}}}", "[".repeat(64), "]".repeat(64));
    let response = app
        .client
        .post(app.url("/v1/users/"))
        .header("Content-Type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    let response = app
        .client
        .post(app.url("/v1/users/"))
        .header("Content-Type", "application/json")
        .body(format!("{{\"email\": \"{}\"}}", "a".repeat(3000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_redis_costs_logins_its_timeout_only_until_the_breaker_opens() {
    let Some(redis) = test_redis_url() else {
        eprintln!("skipped: needs a Redis to hang (TEST_REDIS_URL)");
        return;
    };
    let redis = url::Url::parse(&redis).unwrap();
    let upstream = format!(
        "{}:{}",
        redis.host_str().unwrap(),
        redis.port().unwrap_or(6379)
    );
    let proxy = tests::proxy::TcpProxy::start(&upstream).await;
    let app = spawn_app_with(&[
        ("REDIS_URL", &proxy.url("redis", "")),
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_LOGIN", "100"),
        // Only the limiter talks to Redis here.
        ("CACHE_ENABLED", "false"),
        ("REDIS_TIMEOUT_MS", "200"),
    ])
    .await;
    app.signed_up("ada").await;

    proxy.hang();
    for attempt in 0..10 {
        let body = json!({"email": "ada@example.com", "password": PASSWORD});
        let response = app.post_json("/v1/users/login", &body, None).await;
        assert_eq!(response.status(), 200, "login {attempt}");
    }
    // Three limiter calls a login, 30 in all: without a breaker each waits
    // for Redis. With one, Redis is tried until it opens.
    let tried = proxy.held();
    // Half-open probes and reconnects add a few on a slow machine.
    assert!(
        (1..=20).contains(&tried),
        "{tried} calls reached the hung Redis"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_body_is_cut_off_at_the_body_deadline() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app_with(&[("BODY_TIMEOUT_SECONDS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/users/login HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // One byte at a time until the server answers: never the whole body.
    let mut answer = Vec::new();
    let mut buf = [0_u8; 1024];
    for _ in 0..199 {
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read.unwrap();
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The connection ends: the rest of the body is not waited for.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection stayed open");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_database_connection_is_a_503_and_a_lost_commit_is_one_without_retry() {
    let db = tests::TestDatabase::create().await;
    if !db.url.starts_with("postgres") {
        eprintln!("skipped: needs Postgres behind a proxy (TEST_DATABASE_URL)");
        return;
    }
    let mut proxied = url::Url::parse(&db.url).unwrap();
    let upstream = format!(
        "{}:{}",
        proxied.host_str().unwrap(),
        proxied.port().unwrap_or(5432)
    );
    let proxy = tests::proxy::TcpProxy::start(&upstream).await;
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    // In clear, so the proxy can tell the COMMIT from other statements (the
    // mapping of TLS errors is a unit test in `persistence`).
    proxied.query_pairs_mut().append_pair("sslmode", "disable");
    let app = tests::spawn_app_on(
        db,
        &[
            ("DATABASE_URL", proxied.as_str()),
            ("JOB_WORKER_IN_API", "false"),
            ("CACHE_ENABLED", "false"),
        ],
    )
    .await;
    let (token, _) = app.signed_up("ada").await;
    // Sends `request`, waits until the proxy holds what it sent (or it
    // already failed on a connection cut before), then cuts every
    // connection, as a database restart does.
    let cut_while_held = async |request: reqwest::RequestBuilder| {
        let before = proxy.held();
        let response = tokio::spawn(request.send());
        tests::wait_for(
            "a statement held by the proxy",
            Duration::from_secs(10),
            || {
                let held = proxy.held() > before || response.is_finished();
                async move { held.then_some(()) }
            },
        )
        .await;
        proxy.cut();
        let response = response.await.unwrap().unwrap();
        proxy.resume();
        response
    };

    // COMMIT sent, connection gone: the write may have happened. 503, and
    // no invitation to retry.
    proxy.hang_on(b"COMMIT");
    // A profile change is one transaction.
    let change = json!({"username": "ada2"});
    let request = app
        .client
        .patch(app.url("/v1/users/me"))
        .bearer_auth(&token)
        .json(&change);
    let unknown = cut_while_held(request).await;
    assert_eq!(unknown.status(), 503);
    assert!(unknown.headers().get("retry-after").is_none());
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["message"], "Service temporarily unavailable");

    // A statement on a connection that dies (a restart, a failover) before
    // any COMMIT: 503, retry later.
    proxy.hang();
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    let lost = cut_while_held(app.client.post(app.url("/v1/users/login")).json(&body)).await;
    assert_eq!(lost.status(), 503);
    assert_eq!(lost.headers()["retry-after"], "5");

    // Back to normal once the pool has replaced its dead connections.
    tests::wait_for(
        "the API to answer again",
        Duration::from_secs(10),
        || async { (app.get("/v1/users/me", Some(&token)).await.status() == 200).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_role_has_no_ddl_rights_and_the_app_works_on_it() {
    use sea_orm::{ConnectionTrait as _, Database};

    let db = tests::TestDatabase::create().await;
    if !db.url.starts_with("postgres") {
        eprintln!("skipped: needs Postgres (TEST_DATABASE_URL)");
        return;
    }
    let server = url::Url::parse(&db.url).unwrap();
    let name = server.path().trim_start_matches('/').to_owned();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (migrator, api) = (format!("mig_{suffix}"), format!("api_{suffix}"));
    // deploy/postgres/roles.sql, with this test's names.
    let roles = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/postgres/roles.sql"
    ))
    .unwrap()
    .replace("app_migrator", &migrator)
    .replace("app_api", &api)
    .replace("DATABASE app", &format!("DATABASE {name}"));
    let admin = Database::connect(db.url.as_str()).await.unwrap();
    admin.execute_unprepared(&roles).await.unwrap();
    // With roles.sql's passwords: servers that ask for one (CI's, compose's)
    // get it.
    let as_role = |role: &str, password: &str| {
        let mut url = server.clone();
        url.set_username(role).unwrap();
        url.set_password(Some(password)).unwrap();
        url.to_string()
    };
    let migrator_url = as_role(&migrator, "change-me-migrator");
    let api_url = as_role(&api, "change-me-api");

    let app = tests::spawn_app_on(
        db,
        &[
            ("DATABASE_URL", &api_url),
            ("DATABASE_MIGRATION_URL", &migrator_url),
        ],
    )
    .await;
    let (token, _) = app.signed_up("ada").await;
    app.create_task(&token, "works as the API role").await;
    let ready = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);

    let as_api = Database::connect(api_url.as_str()).await.unwrap();
    let refused = as_api
        .execute_unprepared("CREATE TABLE intruder (id integer)")
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|err| err.to_string().contains("permission denied")),
        "{refused:?}"
    );
    let refused = as_api.execute_unprepared("DROP TABLE tasks").await;
    assert!(refused.is_err(), "{refused:?}");
    as_api.close().await.ok();
    admin.close().await.ok();
    // Dropping the database dropped what the roles owned and were granted
    // there; the roles belong to the server: drop them too.
    drop(app);
    let server = Database::connect(std::env::var("TEST_DATABASE_URL").unwrap().as_str())
        .await
        .unwrap();
    server
        .execute_unprepared(&format!("DROP ROLE {migrator}, {api}"))
        .await
        .unwrap();
    server.close().await.ok();
}
