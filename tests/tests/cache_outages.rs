//! The cache against a Redis of the test's own that is down at start-up,
//! paused mid-run (an outage that keeps the data), and back again. Runs
//! where Redis is installed (CI sets `TEST_REDIS_URL`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use infra::cache::{Cache, CacheKey};
use tests::{OwnRedis, redis_cache, test_redis_url, unique_prefix};

// Long enough that a loaded CI machine does not time out a healthy Redis.
const TIMEOUT: Duration = Duration::from_secs(1);

async fn read(cache: &Cache, key: &CacheKey, fresh: &str) -> String {
    cache
        .get_or_compute(key, None, || async { Ok::<_, ()>(fresh.to_owned()) })
        .await
        .unwrap()
}

/// Polls until `cache` serves `key` from Redis again (a read that does not
/// call its computation), within a deadline that is generous because on a
/// loaded machine reconnect back-off (up to 5 s) and the breaker's
/// cool-down (5 s) add up.
async fn until_cached(cache: &Cache, key: &CacheKey) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0.. {
        // Each read offers a new value; once two reads agree, the second
        // was served from Redis.
        let first = read(cache, key, &format!("value {round}")).await;
        if read(cache, key, "recomputed").await == first {
            return;
        }
        assert!(Instant::now() < deadline, "the cache never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_redis_that_is_down_at_start_up_is_used_once_it_comes_up() {
    if test_redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = redis_cache(
        &format!("redis://127.0.0.1:{port}"),
        &unique_prefix(),
        TIMEOUT,
    );
    let key = CacheKey::new("users:me", 1);
    assert_eq!(read(&cache, &key, "a").await, "a");
    assert_eq!(
        read(&cache, &key, "b").await,
        "b",
        "nothing to cache in yet"
    );
    let _redis = OwnRedis::start(port).expect("redis-server starts");
    until_cached(&cache, &key).await;
}

#[tokio::test]
async fn an_invalidation_lost_in_an_outage_is_not_served_stale_after_it() {
    if test_redis_url().is_none() {
        return;
    }
    let redis = OwnRedis::start(0).expect("redis-server starts");
    let cache = redis_cache(&redis.url(), &unique_prefix(), TIMEOUT);
    let key = CacheKey::new("users:me", 1).tag("user:1");
    until_cached(&cache, &key).await;
    let stored = read(&cache, &key, "new").await;
    assert_ne!(stored, "new", "served from the cache");

    // Redis stops answering but keeps its data; the invalidation of the
    // write made meanwhile is lost.
    redis.pause(1_500);
    cache.invalidate_tags(&["user:1"]).await;
    assert_eq!(
        read(&cache, &key, "fresh").await,
        "fresh",
        "computed during the outage"
    );

    // Once Redis answers again, the old value must never come back; poll
    // until the cache is in use again (a stored value served), checking
    // every answer on the way.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let first = read(&cache, &key, "fresh").await;
        let second = read(&cache, &key, "other").await;
        for value in [&first, &second] {
            assert_ne!(
                *value, stored,
                "served what the lost invalidation should have dropped"
            );
        }
        if second == first {
            break;
        }
        assert!(Instant::now() < deadline, "the cache never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
