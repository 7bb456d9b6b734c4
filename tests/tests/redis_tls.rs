//! TLS to Redis (`rediss://`): both clients (deadpool-redis for readiness
//! and rate limits, fred for the cache) verify the server against
//! `REDIS_CA_CERT`, against a TLS-only `redis-server` this test starts.
//! Runs where Redis is installed for the tests (`TEST_REDIS_URL`, as in CI).

#![allow(clippy::unwrap_used)]

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use infra::{cache::Cache, config::RedisSettings, redis::RedisPool};
use serde_json::Value;
use tests::{TlsRedis, spawn_app_with, test_redis_url, wait_for};

fn settings(redis: &TlsRedis, ca: bool) -> RedisSettings {
    RedisSettings {
        url: Some(infra::config::SecretUrl::new(redis.url())),
        key_prefix: tests::unique_prefix(),
        timeout_ms: 2000,
        ca_cert: ca.then(|| redis.ca_cert.display().to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_path_pool_verifies_the_server_against_the_ca() {
    if test_redis_url().is_none() {
        return;
    }
    let redis = TlsRedis::start();
    let pool = RedisPool::from_settings(&settings(&redis, true))
        .unwrap()
        .unwrap();
    pool.ping().await.unwrap();
    // Without the CA the system's roots do not know this server: refused.
    let untrusting = RedisPool::from_settings(&settings(&redis, false))
        .unwrap()
        .unwrap();
    let err = untrusting.ping().await.unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_speaks_tls_to_redis() {
    if test_redis_url().is_none() {
        return;
    }
    let redis = TlsRedis::start();
    let cache_settings = infra::Settings::from_vars([("CACHE_ENABLED", "true")])
        .unwrap()
        .cache;
    let cache = Cache::from_settings(&cache_settings, &settings(&redis, true)).unwrap();
    let key = infra::cache::CacheKey::new("tls", 1);
    let computed = AtomicU32::new(0);
    // The client connects in the background: the value is served from
    // Redis once it is there.
    let lookup = async || {
        cache
            .get_or_compute(&key, None, || async {
                computed.fetch_add(1, Ordering::SeqCst);
                Ok::<u32, std::convert::Infallible>(42)
            })
            .await
            .unwrap()
    };
    wait_for("a cache hit over TLS", Duration::from_secs(10), || async {
        assert_eq!(lookup().await, 42);
        let before = computed.load(Ordering::SeqCst);
        assert_eq!(lookup().await, 42);
        (computed.load(Ordering::SeqCst) == before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_runs_on_a_tls_redis() {
    if test_redis_url().is_none() {
        return;
    }
    let redis = TlsRedis::start();
    let url = redis.url();
    let ca = redis.ca_cert.display().to_string();
    let app = spawn_app_with(&[("REDIS_URL", &url), ("REDIS_CA_CERT", &ca)]).await;
    let ready = app.get("/v1/monitoring/ready", None).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], "ok", "{body}");
}
