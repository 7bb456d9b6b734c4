//! The Redis job store (`JOB_BACKEND=redis`) against a real Redis: each
//! Lua script's rules, leases and heartbeats, retries and dead jobs, and
//! concurrent claimers. Runs when `TEST_REDIS_URL` is set (as in CI);
//! otherwise every test says so and passes.

#![allow(clippy::unwrap_used)]

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_redis::redis;
use domain::job::{JobRecord, JobStatus};
use infra::{jobs::redis::RedisJobs, redis::RedisPool};
use uuid::Uuid;

/// Long enough that a claim made with it never runs out during a test.
const LONG_LEASE: Duration = Duration::from_secs(30);
const KIND: &str = "mail";

/// A job store under a key prefix of its own, so parallel tests never see
/// each other's keys.
struct Fixture {
    jobs: RedisJobs,
    pool: RedisPool,
    prefix: String,
}

impl Fixture {
    /// `None` (after saying why) when `TEST_REDIS_URL` is unset.
    fn new(test: &str) -> Option<Self> {
        let Some(url) = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            println!("skipping {test}: TEST_REDIS_URL is not set");
            return None;
        };
        let prefix = format!("test:{}:", Uuid::new_v4());
        let pool = RedisPool::new(&url, Duration::from_secs(2), &prefix).unwrap();
        Some(Self {
            jobs: RedisJobs::new(pool.clone()),
            pool,
            prefix,
        })
    }

    /// One job by id.
    async fn get(&self, id: Uuid) -> Option<JobRecord> {
        self.jobs.get_many(&[id]).await.unwrap().pop().unwrap()
    }

    async fn counts(&self) -> Vec<(JobStatus, u64)> {
        self.jobs.counts().await.unwrap()
    }

    /// Claims `kind` for `worker`: `(claimed, abandoned)`.
    async fn claim(
        &self,
        worker: &str,
        holding: &[Uuid],
        lease: Duration,
    ) -> (Vec<JobRecord>, Vec<JobRecord>) {
        self.jobs
            .claim(worker, &[KIND], holding, 10, lease)
            .await
            .unwrap()
    }

    /// Removes every key the test wrote.
    async fn cleanup(&self) {
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> =
            self.pool
                .run(|mut conn| async move {
                    redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await
                })
                .await
                .unwrap();
        if !keys.is_empty() {
            self.pool
                .run(|mut conn| async move {
                    redis::cmd("DEL")
                        .arg(keys)
                        .query_async::<u64>(&mut conn)
                        .await
                })
                .await
                .unwrap();
        }
    }
}

/// A new job of `kind`, waiting, due now.
fn job(kind: &str, max_attempts: u32) -> JobRecord {
    let now = Utc::now();
    let id = Uuid::now_v7();
    JobRecord {
        id,
        kind: kind.to_owned(),
        payload: format!(r#"{{"job":"{id}"}}"#),
        status: JobStatus::Pending,
        attempts: 0,
        max_attempts,
        run_at: now,
        last_error: None,
        dedupe_key: None,
        created_at: now,
        finished_at: None,
    }
}

fn ids(jobs: &[JobRecord]) -> Vec<Uuid> {
    jobs.iter().map(|job| job.id).collect()
}

/// Sleeps until `deadline` (a Redis-clock time; same machine) has passed
/// by `margin`.
async fn sleep_past(deadline: DateTime<Utc>, margin: Duration) {
    let left = (deadline - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + margin).await;
}

#[tokio::test]
async fn push_is_idempotent_and_get_many_reads_back() {
    let Some(fx) = Fixture::new("push_is_idempotent_and_get_many_reads_back") else {
        return;
    };
    let mut record = job(KIND, 5);
    record.dedupe_key = Some("welcome:42".into());

    assert_eq!(
        fx.jobs.push(std::slice::from_ref(&record)).await.unwrap(),
        1
    );
    assert_eq!(
        fx.jobs.push(std::slice::from_ref(&record)).await.unwrap(),
        0,
        "a second push of the same job adds nothing"
    );
    assert_eq!(fx.jobs.push(&[]).await.unwrap(), 0);

    let unknown = Uuid::now_v7();
    let found = fx.jobs.get_many(&[record.id, unknown]).await.unwrap();
    assert_eq!(found.len(), 2);
    let stored = found[0].clone().unwrap();
    assert!(found[1].is_none(), "an unknown id is None");
    assert_eq!(stored.id, record.id);
    assert_eq!(stored.kind, record.kind);
    assert_eq!(stored.payload, record.payload);
    assert_eq!(stored.status, JobStatus::Pending);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.max_attempts, 5);
    assert_eq!(stored.dedupe_key.as_deref(), Some("welcome:42"));
    assert_eq!(stored.last_error, None);
    assert_eq!(stored.finished_at, None);
    assert_eq!(
        stored.run_at.timestamp_millis(),
        record.run_at.timestamp_millis()
    );
    assert_eq!(
        stored.created_at.timestamp_millis(),
        record.created_at.timestamp_millis()
    );

    // A job without a dedupe key reads back without one.
    let plain = job(KIND, 1);
    assert_eq!(fx.jobs.push(std::slice::from_ref(&plain)).await.unwrap(), 1);
    assert_eq!(fx.get(plain.id).await.unwrap().dedupe_key, None);
    fx.cleanup().await;
}

#[tokio::test]
async fn claims_follow_kind_due_time_lease_and_attempt() {
    let Some(fx) = Fixture::new("claims_follow_kind_due_time_lease_and_attempt") else {
        return;
    };
    let due = job(KIND, 5);
    let mut later = job(KIND, 5);
    later.run_at = Utc::now() + TimeDelta::hours(1);
    assert_eq!(
        fx.jobs.push(&[due.clone(), later.clone()]).await.unwrap(),
        2
    );

    // Other kinds only: nothing.
    let (claimed, abandoned) = fx
        .jobs
        .claim("w1", &["other", "report"], &[], 10, LONG_LEASE)
        .await
        .unwrap();
    assert!(claimed.is_empty() && abandoned.is_empty(), "{claimed:?}");

    // Only the due job, not the one an hour away; its lease runs out at once.
    let (claimed, abandoned) = fx.claim("w1", &[], Duration::ZERO).await;
    assert_eq!(ids(&claimed), [due.id]);
    assert!(abandoned.is_empty());
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].status, JobStatus::Running);
    assert_eq!(claimed[0].payload, due.payload);
    let waiting = fx.get(later.id).await.unwrap();
    assert_eq!((waiting.status, waiting.attempts), (JobStatus::Pending, 0));

    // Wait past the (zero) lease. A worker still running the job never
    // takes it over from itself.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (claimed, abandoned) = fx.claim("w1", &[due.id], LONG_LEASE).await;
    assert!(claimed.is_empty() && abandoned.is_empty(), "{claimed:?}");
    let running = fx.get(due.id).await.unwrap();
    assert_eq!((running.status, running.attempts), (JobStatus::Running, 1));

    // Without `holding`, the expired lease is claimed again: a new attempt.
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [due.id]);
    assert_eq!(claimed[0].attempts, 2);
    assert_eq!(claimed[0].status, JobStatus::Running);

    // Only the current claim (worker and attempt) may touch the job.
    assert_eq!(
        fx.jobs
            .heartbeat("w1", &[(due.id, 1)], LONG_LEASE)
            .await
            .unwrap(),
        0,
        "a stale attempt renews nothing"
    );
    assert_eq!(
        fx.jobs
            .heartbeat("w1", &[(due.id, 2)], LONG_LEASE)
            .await
            .unwrap(),
        1
    );
    assert!(!fx.jobs.complete(due.id, "w1", 1).await.unwrap(), "stale");
    assert!(
        !fx.jobs.complete(due.id, "w2", 2).await.unwrap(),
        "not w2's"
    );
    assert!(fx.jobs.complete(due.id, "w1", 2).await.unwrap());
    assert!(
        !fx.jobs.complete(due.id, "w1", 2).await.unwrap(),
        "done already"
    );

    let done = fx.get(due.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.attempts, 2);
    assert!(done.finished_at.is_some());
    assert_eq!(done.payload, "", "a done job drops its payload");
    assert_eq!(
        fx.jobs
            .heartbeat("w1", &[(due.id, 2)], LONG_LEASE)
            .await
            .unwrap(),
        0,
        "a done job has no lease to renew"
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn heartbeats_keep_the_lease() {
    let Some(fx) = Fixture::new("heartbeats_keep_the_lease") else {
        return;
    };
    let record = job(KIND, 5);
    fx.jobs.push(std::slice::from_ref(&record)).await.unwrap();
    let lease = Duration::from_millis(300);
    let (claimed, _) = fx.claim("w1", &[], lease).await;
    assert_eq!(ids(&claimed), [record.id]);

    // Twice the lease, renewed every third of it: never up for grabs.
    for beat in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            fx.jobs
                .heartbeat("w1", &[(record.id, 1)], lease)
                .await
                .unwrap(),
            1,
            "beat {beat}"
        );
        let (claimed, abandoned) = fx.claim("w2", &[], lease).await;
        assert!(claimed.is_empty() && abandoned.is_empty(), "beat {beat}");
    }

    // Silent past the lease: another worker takes it over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (claimed, abandoned) = fx.claim("w2", &[], LONG_LEASE).await;
    assert!(abandoned.is_empty());
    assert_eq!(ids(&claimed), [record.id]);
    assert_eq!(claimed[0].attempts, 2);
    assert_eq!(
        fx.jobs
            .heartbeat("w1", &[(record.id, 1)], lease)
            .await
            .unwrap(),
        0,
        "w1 lost it"
    );
    assert!(!fx.jobs.complete(record.id, "w1", 1).await.unwrap());
    assert!(fx.jobs.complete(record.id, "w2", 2).await.unwrap());
    fx.cleanup().await;
}

#[tokio::test]
async fn failures_retry_then_die_and_stay_dead() {
    let Some(fx) = Fixture::new("failures_retry_then_die_and_stay_dead") else {
        return;
    };
    let record = job(KIND, 2);
    fx.jobs.push(std::slice::from_ref(&record)).await.unwrap();
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [record.id]);

    // A retry, due after the delay.
    let delay = Duration::from_millis(200);
    let before = Utc::now();
    assert!(
        fx.jobs
            .fail(record.id, "w1", 1, "boom", Some(delay))
            .await
            .unwrap()
    );
    let after = Utc::now();
    let retry = fx.get(record.id).await.unwrap();
    assert_eq!(retry.status, JobStatus::Pending);
    assert_eq!(retry.attempts, 1);
    assert_eq!(retry.last_error.as_deref(), Some("boom"));
    assert_eq!(retry.finished_at, None);
    let slack = TimeDelta::milliseconds(5);
    let delay_td = TimeDelta::from_std(delay).unwrap();
    assert!(
        retry.run_at >= before + delay_td - slack && retry.run_at <= after + delay_td + slack,
        "run_at {} not {delay:?} after {before}..{after}",
        retry.run_at
    );
    assert!(
        !fx.jobs
            .fail(record.id, "w1", 1, "again", None)
            .await
            .unwrap(),
        "no longer claimed"
    );

    let (claimed, abandoned) = fx.claim("w1", &[], LONG_LEASE).await;
    assert!(claimed.is_empty() && abandoned.is_empty(), "not due yet");

    sleep_past(retry.run_at, Duration::from_millis(50)).await;
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [record.id]);
    assert_eq!(claimed[0].attempts, 2);
    assert_eq!(claimed[0].last_error.as_deref(), Some("boom"));
    assert!(
        !fx.jobs
            .fail(record.id, "w1", 1, "stale", None)
            .await
            .unwrap(),
        "a stale attempt cannot fail the job"
    );

    // No retry: dead.
    assert!(
        fx.jobs
            .fail(record.id, "w1", 2, "boom again", None)
            .await
            .unwrap()
    );
    let dead = fx.get(record.id).await.unwrap();
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("boom again"));
    assert!(dead.finished_at.is_some());
    assert_eq!(ids(&fx.jobs.dead(10).await.unwrap()), [record.id]);
    assert_eq!(fx.jobs.dead(0).await.unwrap(), []);
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert!(claimed.is_empty(), "dead jobs are not claimed");

    // Pushing it again (a relay retrying its batch) does not revive it.
    assert_eq!(
        fx.jobs.push(std::slice::from_ref(&record)).await.unwrap(),
        0
    );
    assert_eq!(fx.get(record.id).await.unwrap(), dead);
    fx.cleanup().await;
}

#[tokio::test]
async fn an_abandoned_last_attempt_is_dead() {
    let Some(fx) = Fixture::new("an_abandoned_last_attempt_is_dead") else {
        return;
    };
    let record = job(KIND, 1);
    fx.jobs.push(std::slice::from_ref(&record)).await.unwrap();
    let (claimed, _) = fx.claim("w1", &[], Duration::ZERO).await;
    assert_eq!(ids(&claimed), [record.id]);

    // Wait past the (zero) lease.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (claimed, abandoned) = fx.claim("w2", &[], LONG_LEASE).await;
    assert!(claimed.is_empty(), "{claimed:?}");
    assert_eq!(ids(&abandoned), [record.id]);
    let dead = &abandoned[0];
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.attempts, 1);
    assert!(dead.finished_at.is_some());
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|error| error.contains("stopped responding")),
        "{:?}",
        dead.last_error
    );
    assert_eq!(ids(&fx.jobs.dead(10).await.unwrap()), [record.id]);
    assert_eq!(
        fx.counts().await,
        [
            (JobStatus::Pending, 0),
            (JobStatus::Running, 0),
            (JobStatus::Done, 0),
            (JobStatus::Dead, 1),
        ]
    );
    assert!(
        !fx.jobs.complete(record.id, "w1", 1).await.unwrap(),
        "the old worker cannot finish it"
    );

    // Reported once, not again.
    let (claimed, abandoned) = fx.claim("w2", &[], LONG_LEASE).await;
    assert!(claimed.is_empty() && abandoned.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn a_released_job_waits_again_without_counting_the_attempt() {
    let Some(fx) = Fixture::new("a_released_job_waits_again_without_counting_the_attempt") else {
        return;
    };
    let record = job(KIND, 3);
    fx.jobs.push(std::slice::from_ref(&record)).await.unwrap();
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [record.id]);

    assert!(
        !fx.jobs.release(record.id, "w2", 1).await.unwrap(),
        "not w2's"
    );
    assert!(fx.jobs.release(record.id, "w1", 1).await.unwrap());
    let released = fx.get(record.id).await.unwrap();
    assert_eq!(released.status, JobStatus::Pending);
    assert_eq!(released.attempts, 0);
    assert!(!fx.jobs.release(record.id, "w1", 1).await.unwrap());

    let (claimed, _) = fx.claim("w2", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [record.id]);
    assert_eq!(claimed[0].attempts, 1);
    fx.cleanup().await;
}

#[tokio::test]
async fn finished_jobs_are_counted_read_and_forgotten_once_recorded() {
    let Some(fx) = Fixture::new("finished_jobs_are_counted_read_and_forgotten_once_recorded")
    else {
        return;
    };
    let (to_finish, to_kill, waiting) = (job(KIND, 3), job(KIND, 1), job(KIND, 3));
    let records = [to_finish.clone(), to_kill.clone(), waiting.clone()];
    assert_eq!(fx.jobs.push(&records).await.unwrap(), 3);
    let claim_one = async |worker: &str| {
        let (claimed, _) = fx
            .jobs
            .claim(worker, &[KIND], &[], 1, LONG_LEASE)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        claimed.into_iter().next().unwrap()
    };
    // Claimed in run_at order: the three were made in that order.
    assert_eq!(claim_one("w1").await.id, to_finish.id);
    assert!(fx.jobs.complete(to_finish.id, "w1", 1).await.unwrap());
    assert_eq!(claim_one("w1").await.id, to_kill.id);
    assert!(
        fx.jobs
            .fail(to_kill.id, "w1", 1, "boom", None)
            .await
            .unwrap()
    );
    assert_eq!(claim_one("w2").await.id, waiting.id);
    assert_eq!(
        fx.counts().await,
        [
            (JobStatus::Pending, 0),
            (JobStatus::Running, 1),
            (JobStatus::Done, 1),
            (JobStatus::Dead, 1),
        ]
    );

    // Done first, then dead, each with its final state; hidden from the
    // next reader for a while.
    let hide = Duration::from_millis(300);
    let taken_at = Utc::now();
    let finished = fx.jobs.finished(10, hide).await.unwrap();
    assert_eq!(ids(&finished), [to_finish.id, to_kill.id]);
    let (done, dead) = (&finished[0], &finished[1]);
    assert_eq!((done.status, done.attempts), (JobStatus::Done, 1));
    assert!(done.finished_at.is_some());
    assert_eq!(done.payload, "", "a done job drops its payload");
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
    assert_eq!(dead.last_error.as_deref(), Some("boom"));
    assert_eq!(fx.jobs.finished(10, LONG_LEASE).await.unwrap(), []);

    // The done job was recorded: forgotten, once. The dead one's relay
    // died before it could record it.
    assert_eq!(fx.jobs.forget(&finished[..1]).await.unwrap(), 1);
    assert_eq!(fx.jobs.forget(&finished[..1]).await.unwrap(), 0);
    assert_eq!(fx.get(to_finish.id).await, None);
    let mut stale = dead.clone();
    stale.attempts = 2;
    assert_eq!(
        fx.jobs.forget(&[stale]).await.unwrap(),
        0,
        "not in the state read"
    );

    // After the hide it comes back, and is forgotten in turn.
    sleep_past(
        taken_at + TimeDelta::from_std(hide).unwrap(),
        Duration::from_millis(50),
    )
    .await;
    let again = fx.jobs.finished(10, LONG_LEASE).await.unwrap();
    assert_eq!(ids(&again), [to_kill.id]);
    assert_eq!(
        fx.counts().await,
        [
            (JobStatus::Pending, 0),
            (JobStatus::Running, 1),
            (JobStatus::Done, 0),
            (JobStatus::Dead, 1),
        ]
    );
    assert_eq!(fx.jobs.forget(&again).await.unwrap(), 1);
    assert_eq!(fx.jobs.dead(10).await.unwrap(), []);
    assert_eq!(
        fx.jobs.missing(&ids(&records)).await.unwrap(),
        [to_finish.id, to_kill.id]
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn a_lock_has_one_holder_until_released_or_run_out() {
    let Some(fx) = Fixture::new("a_lock_has_one_holder_until_released_or_run_out") else {
        return;
    };
    let jobs = &fx.jobs;
    assert!(jobs.hold_lock("l", "a", LONG_LEASE).await.unwrap());
    assert!(!jobs.hold_lock("l", "b", LONG_LEASE).await.unwrap());
    assert!(
        jobs.hold_lock("l", "a", LONG_LEASE).await.unwrap(),
        "renewed"
    );
    assert!(jobs.hold_lock("other", "b", LONG_LEASE).await.unwrap());
    jobs.release_lock("l", "b").await.unwrap();
    assert!(
        !jobs.hold_lock("l", "b", LONG_LEASE).await.unwrap(),
        "not b's"
    );
    jobs.release_lock("l", "a").await.unwrap();
    assert!(
        jobs.hold_lock("l", "b", Duration::from_millis(100))
            .await
            .unwrap()
    );
    let taken_at = Utc::now();
    assert!(!jobs.hold_lock("l", "a", LONG_LEASE).await.unwrap());
    sleep_past(
        taken_at + TimeDelta::milliseconds(100),
        Duration::from_millis(50),
    )
    .await;
    assert!(
        jobs.hold_lock("l", "a", LONG_LEASE).await.unwrap(),
        "b's ran out"
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn the_epoch_is_the_recovery_mark_and_the_server_run() {
    let Some(fx) = Fixture::new("the_epoch_is_the_recovery_mark_and_the_server_run") else {
        return;
    };
    let before = fx.jobs.epoch().await.unwrap();
    assert_eq!(before.mark, None);
    assert_eq!(before.run_id.len(), 40, "{before:?}");
    assert!(!fx.jobs.swap_mark("recovering:x", "done:x").await.unwrap());
    fx.jobs.set_mark("recovering:x").await.unwrap();
    assert!(!fx.jobs.swap_mark("recovering:y", "done:y").await.unwrap());
    assert!(fx.jobs.swap_mark("recovering:x", "done:x").await.unwrap());
    let after = fx.jobs.epoch().await.unwrap();
    assert_eq!(after.mark.as_deref(), Some("done:x"));
    assert_eq!(after.run_id, before.run_id, "same server run");
    fx.cleanup().await;
    assert_eq!(
        fx.jobs.epoch().await.unwrap().mark,
        None,
        "gone with the data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn concurrent_claimers_run_each_job_once() {
    let Some(fx) = Fixture::new("concurrent_claimers_run_each_job_once") else {
        return;
    };
    let records: Vec<_> = (0..30)
        .map(|i| job(if i % 2 == 0 { "a" } else { "b" }, 3))
        .collect();
    assert_eq!(fx.jobs.push(&records).await.unwrap(), 30);

    let completed = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = ["w1", "w2", "w3"]
        .into_iter()
        .map(|worker| {
            let (jobs, completed) = (fx.jobs.clone(), completed.clone());
            tokio::spawn(async move {
                // Every job is due and no lease runs out, so an empty claim
                // means nothing is left waiting.
                loop {
                    let (claimed, abandoned) = jobs
                        .claim(worker, &["a", "b"], &[], 4, LONG_LEASE)
                        .await
                        .unwrap();
                    assert!(abandoned.is_empty());
                    assert!(claimed.len() <= 4, "{}", claimed.len());
                    if claimed.is_empty() {
                        break;
                    }
                    for job in claimed {
                        assert_eq!(job.attempts, 1, "claimed twice: {}", job.id);
                        assert!(jobs.complete(job.id, worker, 1).await.unwrap());
                        completed.lock().unwrap().push(job.id);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let completed = completed.lock().unwrap().clone();
    let unique: HashSet<Uuid> = completed.iter().copied().collect();
    assert_eq!(completed.len(), 30, "every job once: {completed:?}");
    assert_eq!(unique, ids(&records).into_iter().collect::<HashSet<_>>());
    assert_eq!(
        fx.counts().await,
        [
            (JobStatus::Pending, 0),
            (JobStatus::Running, 0),
            (JobStatus::Done, 30),
            (JobStatus::Dead, 0),
        ]
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn a_worker_does_not_claim_again_a_job_it_still_runs() {
    let Some(fx) = Fixture::new("a_worker_does_not_claim_again_a_job_it_still_runs") else {
        return;
    };
    let record = job(KIND, 3);
    fx.jobs.push(std::slice::from_ref(&record)).await.unwrap();
    let (claimed, _) = fx.claim("w1", &[], LONG_LEASE).await;
    assert_eq!(ids(&claimed), [record.id]);

    // Redis loses it while w1 runs it, and recovery pushes it back.
    fx.cleanup().await;
    assert_eq!(
        fx.jobs.push(std::slice::from_ref(&record)).await.unwrap(),
        1
    );
    let (claimed, _) = fx.claim("w1", &[record.id], LONG_LEASE).await;
    assert!(claimed.is_empty(), "w1 still runs it: {claimed:?}");
    let (claimed, _) = fx.claim("w2", &[], LONG_LEASE).await;
    assert_eq!(
        ids(&claimed),
        [record.id],
        "left waiting for another worker"
    );
    fx.cleanup().await;
}
