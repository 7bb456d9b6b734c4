//! Reads through the cache: every write a client makes is visible in its
//! next read, ACLs still apply to cached rows, instances sharing a Redis see
//! each other's invalidations, and a Redis outage costs speed, not answers.

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tests::{OwnRedis, TestApp, spawn_app, spawn_app_with, test_redis_url, unique_prefix};

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/v1/users/me", Some(token)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn cache_hits(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("cache_requests_total{") && line.contains("result=\"hit\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn clients_read_their_own_writes() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    assert_eq!(me(&app, &token).await["username"], "alice");
    assert_eq!(
        me(&app, &token).await["username"],
        "alice",
        "served from the cache"
    );
    app.patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(me(&app, &token).await["username"], "alicia");

    let list = app.get("/v1/users/", Some(&token)).await;
    assert_eq!(list.headers()["x-total-count"], "1");
    app.register("bob").await;
    let list = app.get("/v1/users/", Some(&token)).await;
    assert_eq!(
        list.headers()["x-total-count"],
        "2",
        "registration invalidates lists"
    );
    let users: Value = list.json().await.unwrap();
    assert_eq!(users[0]["username"], "alicia");

    let task = app.create_task(&token, "draft").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(app.get(&path, Some(&token)).await.status(), 200);
    }
    app.patch_json(&path, &json!({"title": "final"}), Some(&token))
        .await;
    let fetched: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
    assert_eq!(fetched["title"], "final");
    assert_eq!(app.delete(&path, Some(&token)).await.status(), 204);
    assert_eq!(app.get(&path, Some(&token)).await.status(), 404);

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(cache_hits(&metrics) >= 2.0, "{metrics}");
}

#[tokio::test]
async fn a_cached_task_is_still_access_checked() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    let task = app.create_task(&alice, "private").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&alice)).await.status(), 200);
    assert_eq!(app.get(&path, Some(&alice)).await.status(), 200);
    assert_eq!(app.get(&path, Some(&bob)).await.status(), 403);
}

#[tokio::test]
async fn instances_sharing_redis_see_each_others_invalidations() {
    // Two instances on one database and one Redis: a write through one is
    // never served stale by the other. Needs a shared database (Postgres).
    let (Some(_), Ok(database)) = (test_redis_url(), std::env::var("TEST_DATABASE_URL")) else {
        return;
    };
    assert!(database.starts_with("postgres"));
    let first = spawn_app().await;
    let prefix = first.settings.redis.key_prefix.clone();
    let second = spawn_app_with(&[
        ("DATABASE_URL", first.settings.database.url.expose()),
        ("REDIS_KEY_PREFIX", &prefix),
    ])
    .await;
    let (token, _) = first.signed_up("alice").await;
    assert_eq!(me(&first, &token).await["username"], "alice");
    assert_eq!(me(&second, &token).await["username"], "alice");
    second
        .patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(me(&first, &token).await["username"], "alicia");
}

#[tokio::test]
async fn a_dead_redis_never_fails_a_request() {
    let app = spawn_app_with(&[
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("REDIS_TIMEOUT_MS", "100"),
    ])
    .await;
    let (token, _) = app.signed_up("alice").await;
    for _ in 0..8 {
        assert_eq!(me(&app, &token).await["username"], "alice");
    }
    let task = app.create_task(&token, "still works").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&token)).await.status(), 200);
    app.patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(me(&app, &token).await["username"], "alicia");
}

#[tokio::test]
async fn endpoints_answer_through_a_redis_outage_and_the_cache_recovers() {
    // Runs where Redis is installed (CI sets TEST_REDIS_URL); the suite
    // without services skips it.
    if test_redis_url().is_none() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(mut redis) = OwnRedis::start(port) else {
        panic!("TEST_REDIS_URL is set but redis-server cannot be started");
    };
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = unique_prefix();
    let app = spawn_app_with(&[
        ("REDIS_URL", &url),
        ("REDIS_KEY_PREFIX", &prefix),
        ("REDIS_TIMEOUT_MS", "1000"),
    ])
    .await;
    let (token, _) = app.signed_up("alice").await;
    me(&app, &token).await;

    redis.stop();
    for _ in 0..10 {
        assert_eq!(
            me(&app, &token).await["username"],
            "alice",
            "answers without Redis"
        );
    }
    app.patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(me(&app, &token).await["username"], "alicia");

    let _redis = OwnRedis::start(redis.port).unwrap();
    // The breaker probes again after its five-second cool-down; until then
    // reads compute. Poll (with a deadline) for the cache to serve hits again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = cache_hits(&app.get("/metrics", None).await.text().await.unwrap());
    loop {
        assert_eq!(
            me(&app, &token).await["username"],
            "alicia",
            "never stale after recovery"
        );
        let hits = cache_hits(&app.get("/metrics", None).await.text().await.unwrap());
        if hits > before {
            break;
        }
        assert!(Instant::now() < deadline, "the cache did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn two_tier_instances_stop_serving_stale_values_within_the_bound() {
    let (Some(_), Ok(database)) = (test_redis_url(), std::env::var("TEST_DATABASE_URL")) else {
        return;
    };
    assert!(database.starts_with("postgres"));
    let first = spawn_app_with(&[("CACHE_L1_ENABLED", "true")]).await;
    let prefix = first.settings.redis.key_prefix.clone();
    let second = spawn_app_with(&[
        ("DATABASE_URL", first.settings.database.url.expose()),
        ("REDIS_KEY_PREFIX", &prefix),
        ("CACHE_L1_ENABLED", "true"),
    ])
    .await;
    let (token, _) = first.signed_up("alice").await;
    assert_eq!(me(&first, &token).await["username"], "alice");
    assert_eq!(
        me(&first, &token).await["username"],
        "alice",
        "in the first tier now"
    );
    second
        .patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(me(&second, &token).await["username"], "alicia");
    let written = Instant::now();
    let bound = Duration::from_secs(first.settings.cache.l1_ttl_seconds);
    while me(&first, &token).await["username"] != "alicia" {
        assert!(written.elapsed() < bound, "stale past CACHE_L1_TTL_SECONDS");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_role_change_applies_at_the_next_request_although_principals_are_cached() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    let alice_uuid = me(&app, &alice).await["uuid"].as_str().unwrap().to_owned();
    let alice_path = format!("/v1/users/{alice_uuid}");
    // Bob's principals (not an admin) are now cached.
    assert_eq!(app.delete(&alice_path, Some(&bob)).await.status(), 403);

    let email = domain::Email::parse("bob@example.com").unwrap();
    app.services.users.change_admin(&email, true).await.unwrap();

    assert_eq!(
        app.delete(&alice_path, Some(&bob)).await.status(),
        204,
        "the grant invalidated the cached principals"
    );
}
