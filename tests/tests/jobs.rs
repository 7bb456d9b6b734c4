//! Background jobs in one process: the welcome email end to end,
//! transactional enqueue, retries with backoff until dead, re-queueing,
//! attempt timeouts, cron ticks shared by two workers, and housekeeping.
//! Worker processes (SIGKILL, SIGTERM, the CLI) are tested in
//! `bins/worker/tests/jobs.rs`. Each test runs on the database backend and,
//! with `TEST_REDIS_URL`, on the Redis backend.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use application::jobs::{Housekeeping, Job as _, JobContext, JobRecord, JobStatus, Ping};
use chrono::Utc;
use persistence::{NewRefreshToken, RefreshTokenRepository, UnitOfWork as _};
use tests::{
    JobBackend, TestApp, files_in, scratch_dir, smtp::BlackHole, spawn_shared_app_with, wait_for,
};

tests::on_each_job_backend!(
    registration_sends_the_welcome_email_through_the_in_process_worker,
    workers_on_one_queue_share_the_jobs_and_run_each_once,
    a_job_enqueued_in_a_transaction_exists_only_if_it_commits,
    a_failing_job_is_retried_with_backoff_then_dead_and_runs_again_when_requeued,
    an_attempt_that_runs_past_the_timeout_fails,
    two_workers_on_one_schedule_run_each_tick_once,
    housekeeping_deletes_expired_refresh_tokens_and_old_finished_jobs,
    a_job_running_longer_than_its_lease_keeps_it_while_its_worker_lives,
    a_job_still_running_after_the_grace_period_is_handed_back_uncounted
);

/// The app on `backend`, with `extra` settings.
async fn spawn(backend: JobBackend, extra: &[(&str, &str)]) -> TestApp {
    let vars = backend.settings();
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    spawn_shared_app_with(&all).await
}

fn smtp_url(url: impl AsRef<str>) -> infra::config::SecretUrl {
    infra::config::SecretUrl::new(url.as_ref())
}

const WAIT: Duration = Duration::from_secs(15);

async fn only_job(app: &TestApp, kind: &str) -> JobRecord {
    let jobs = app.services.jobs.of_kind(kind).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

/// Waits until the only job of `kind` satisfies `done`.
async fn wait_for_job(
    app: &TestApp,
    kind: &str,
    what: &str,
    done: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    wait_for(what, WAIT, || async {
        let jobs = app.services.jobs.of_kind(kind).await.unwrap();
        jobs.into_iter().find(|job| done(job))
    })
    .await
}

async fn registration_sends_the_welcome_email_through_the_in_process_worker(backend: JobBackend) {
    let mail_dir = scratch_dir("mail");
    let app = spawn(
        backend,
        &[
            ("MAIL_DIR", mail_dir.to_str().unwrap()),
            ("JOB_POLL_INTERVAL_MS", "20"),
        ],
    )
    .await;

    app.register("ada").await;

    let files = wait_for("the welcome email", WAIT, || async {
        Some(files_in(&mail_dir)).filter(|files| !files.is_empty())
    })
    .await;
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("Subject: Welcome!"), "{mail}");
    assert!(mail.contains("Hello ada"), "{mail}");
    let job = wait_for_job(&app, "welcome_email", "the job to be done", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!(job.attempts, 1);
    // Counted in the metrics the API serves (just after the row is written).
    let metrics = wait_for("the job in /metrics", WAIT, || async {
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        metrics
            .lines()
            .any(|l| {
                l.starts_with("jobs_total{")
                    && l.contains("welcome_email")
                    && l.contains("succeeded")
            })
            .then_some(metrics)
    })
    .await;
    assert!(metrics.contains("job_duration_seconds"), "{metrics}");
    std::fs::remove_dir_all(mail_dir).ok();
}

async fn workers_on_one_queue_share_the_jobs_and_run_each_once(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(
            app.services
                .jobs
                .enqueue_alone(&Ping::default())
                .await
                .unwrap(),
        );
    }
    let mut settings = app.settings.clone();
    settings.jobs.poll_interval_ms = 10;
    settings.jobs.concurrency = 2;
    let workers: Vec<_> = (0..3)
        .map(|_| app.services.worker(&settings).unwrap().spawn())
        .collect();
    wait_for("every ping to run", WAIT, || async {
        let left = app.services.jobs.count_unfinished(&ids).await.unwrap();
        (left == 0).then_some(())
    })
    .await;
    for worker in workers {
        worker.shutdown().await;
    }
    let jobs = app.services.jobs.of_kind("ping").await.unwrap();
    assert_eq!(jobs.len(), 40);
    for job in jobs {
        assert_eq!((job.status, job.attempts), (JobStatus::Done, 1), "{job:?}");
    }
}

async fn a_job_enqueued_in_a_transaction_exists_only_if_it_commits(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let (db, jobs) = (&app.pool().await, &app.services.jobs);

    let rolled_back: Result<(), application::Error> = db
        .transaction(async |tx| {
            jobs.enqueue(tx.conn(), &Ping::default()).await?;
            // Something after the enqueue fails: the whole unit rolls back.
            Err(application::Error::Forbidden)
        })
        .await;
    assert!(matches!(rolled_back, Err(application::Error::Forbidden)));
    assert!(
        jobs.of_kind("ping").await.unwrap().is_empty(),
        "no job after rollback"
    );

    let id = db
        .transaction(async |tx| jobs.enqueue(tx.conn(), &Ping::default()).await)
        .await
        .unwrap();
    let job = only_job(&app, "ping").await;
    assert_eq!((job.id, job.status), (id, JobStatus::Pending));

    let mut settings = app.settings.clone();
    settings.jobs.poll_interval_ms = 20;
    let worker = app.services.worker(&settings).unwrap().spawn();
    let job = wait_for_job(&app, "ping", "the committed job to run", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!((job.id, job.attempts), (id, 1));
    worker.shutdown().await;
}

async fn a_failing_job_is_retried_with_backoff_then_dead_and_runs_again_when_requeued(
    backend: JobBackend,
) {
    let app = spawn(
        backend,
        &[("JOB_WORKER_IN_API", "false"), ("JOB_MAX_ATTEMPTS", "3")],
    )
    .await;
    app.register("grace").await;

    // Mail goes to a closed port: every attempt fails.
    let mut failing = app.settings.clone();
    failing.mail.smtp_url = Some(smtp_url("smtp://127.0.0.1:9"));
    failing.jobs.poll_interval_ms = 10;
    failing.jobs.backoff_base_ms = 300;
    let worker = app.services.worker(&failing).unwrap().spawn();

    let first_failure = wait_for_job(&app, "welcome_email", "the first failure", |job| {
        job.attempts == 1 && job.status == JobStatus::Pending
    })
    .await;
    let error = first_failure.last_error.clone().unwrap();
    assert!(error.contains("SMTP"), "{error}");
    // The retry waits at least half the base delay (jitter never goes lower).
    assert!(
        first_failure.run_at - first_failure.created_at >= chrono::Duration::milliseconds(150),
        "{first_failure:?}"
    );

    let dead = wait_for_job(&app, "welcome_email", "the job to be dead", |job| {
        job.status == JobStatus::Dead
    })
    .await;
    assert_eq!((dead.attempts, dead.max_attempts), (3, 3));
    assert!(
        dead.last_error.as_deref().unwrap().contains("SMTP"),
        "{dead:?}"
    );
    // Two backoffs: at least 150 ms, then at least 300 ms.
    assert!(
        dead.finished_at.unwrap() - dead.created_at >= chrono::Duration::milliseconds(450),
        "{dead:?}"
    );
    assert_eq!(
        app.services.jobs.dead(10).await.unwrap(),
        vec![dead.clone()]
    );
    worker.shutdown().await;

    // Only dead jobs can be re-queued; then it runs on a worker whose mail works.
    app.services.jobs.retry(dead.id).await.unwrap();
    assert!(matches!(
        app.services.jobs.retry(dead.id).await,
        Err(application::Error::NotFound { .. })
    ));
    let mail_dir = scratch_dir("mail");
    let mut working = app.settings.clone();
    working.mail.mail_dir = Some(mail_dir.to_str().unwrap().to_owned());
    working.jobs.poll_interval_ms = 10;
    let worker = app.services.worker(&working).unwrap().spawn();
    let done = wait_for_job(
        &app,
        "welcome_email",
        "the re-queued job to succeed",
        |job| job.status == JobStatus::Done,
    )
    .await;
    assert_eq!(done.attempts, 1, "a fresh attempt budget");
    assert_eq!(files_in(&mail_dir).len(), 1);
    worker.shutdown().await;
    std::fs::remove_dir_all(mail_dir).ok();
}

async fn an_attempt_that_runs_past_the_timeout_fails(backend: JobBackend) {
    let app = spawn(
        backend,
        &[("JOB_WORKER_IN_API", "false"), ("JOB_MAX_ATTEMPTS", "1")],
    )
    .await;
    let mut hole = BlackHole::start().await;
    app.register("hopper").await;

    let mut settings = app.settings.clone();
    settings.mail.smtp_url = Some(smtp_url(format!("smtp://127.0.0.1:{}", hole.port)));
    settings.jobs.poll_interval_ms = 10;
    settings.jobs.timeout_seconds = 1;
    let worker = app.services.worker(&settings).unwrap().spawn();

    hole.connected().await;
    let dead = wait_for_job(
        &app,
        "welcome_email",
        "the timed-out job to be dead",
        |job| job.status == JobStatus::Dead,
    )
    .await;
    assert_eq!(dead.last_error.as_deref(), Some("timed out after 1s"));
    worker.shutdown().await;
}

async fn two_workers_on_one_schedule_run_each_tick_once(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let mut settings = app.settings.clone();
    settings.jobs.cleanup_schedule = infra::config::CronSchedule(Some("* * * * * *".to_owned())); // every second
    settings.jobs.poll_interval_ms = 20;
    let first = app.services.worker(&settings).unwrap().spawn();
    let second = app.services.worker(&settings).unwrap().spawn();

    wait_for("three ticks to run", WAIT, || async {
        let jobs = app.services.jobs.of_kind("housekeeping").await.unwrap();
        let done = jobs
            .iter()
            .filter(|job| job.status == JobStatus::Done)
            .count();
        (done >= 3).then_some(())
    })
    .await;
    first.shutdown().await;
    second.shutdown().await;

    let jobs = app.services.jobs.of_kind("housekeeping").await.unwrap();
    let mut ticks: Vec<_> = jobs
        .iter()
        .map(|job| {
            serde_json::from_str::<Housekeeping>(&job.payload)
                .unwrap()
                .tick
        })
        .collect();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), jobs.len(), "one job per tick: {jobs:?}");
    for job in jobs.iter().filter(|job| job.status == JobStatus::Done) {
        assert_eq!(job.attempts, 1, "each tick ran once: {job:?}");
    }
}

async fn housekeeping_deletes_expired_refresh_tokens_and_old_finished_jobs(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let user = app.register("lovelace").await;
    let db = &app.pool().await;
    let user_id = persistence::UserRepository::default()
        .find_by_uuid(db.writer(), user["uuid"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let token = |expires_at| NewRefreshToken {
        jti: uuid::Uuid::new_v4(),
        family_id: uuid::Uuid::new_v4(),
        user_id,
        expires_at,
    };
    let expired = token(Utc::now() - chrono::Duration::minutes(1));
    let live = token(Utc::now() + chrono::Duration::days(1));
    for t in [&expired, &live] {
        RefreshTokenRepository
            .insert(db.writer(), t.clone())
            .await
            .unwrap();
    }
    let ping = app
        .services
        .jobs
        .enqueue(db.writer(), &Ping::default())
        .await
        .unwrap();
    let mut settings = app.settings.clone();
    settings.jobs.poll_interval_ms = 20;
    let worker = app.services.worker(&settings).unwrap().spawn();
    wait_for_job(&app, "ping", "the ping to finish", |job| {
        job.status == JobStatus::Done
    })
    .await;
    worker.shutdown().await;

    let ctx = |retention| JobContext {
        db: db.clone(),
        queue: app.services.jobs.clone(),
        mailer: infra::mail::from_settings(&app.settings.mail, app.settings.environment).unwrap(),
        job_retention: retention,
    };
    // A finished job younger than the retention stays.
    Housekeeping { tick: Utc::now() }
        .run(&ctx(chrono::Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(
        app.services.jobs.get(ping).await.unwrap().status,
        JobStatus::Done
    );
    let repo = RefreshTokenRepository;
    assert!(
        repo.find(db.writer(), expired.jti).await.unwrap().is_none(),
        "expired token deleted"
    );
    assert!(
        repo.find(db.writer(), live.jti).await.unwrap().is_some(),
        "live token kept"
    );
    // Past the retention (zero here), it goes.
    Housekeeping { tick: Utc::now() }
        .run(&ctx(chrono::Duration::zero()))
        .await
        .unwrap();
    assert!(matches!(
        app.services.jobs.get(ping).await,
        Err(application::Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn only_the_latest_claim_of_a_job_records_its_outcome() {
    use persistence::JobRepository;
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let db = &app.pool().await;
    let repo = JobRepository;
    let id = app
        .services
        .jobs
        .enqueue(db.writer(), &Ping::default())
        .await
        .unwrap();
    let claim = |kinds: &'static [&'static str], holding: Vec<uuid::Uuid>| async move {
        db.transaction(async |tx| {
            repo.claim(tx.conn(), "w1", kinds, &holding, 10, Duration::ZERO)
                .await
        })
        .await
        .unwrap()
        .jobs
    };

    assert!(
        claim(&["welcome_email"], vec![]).await.is_empty(),
        "only registered kinds"
    );
    let first = claim(&["ping"], vec![]).await;
    assert_eq!((first[0].id, first[0].attempts), (id, 1));
    // Its lease (zero here) ran out. A worker that still runs it skips it...
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(claim(&["ping"], vec![id]).await.is_empty());
    // ...and a new claim, even by the same worker, supersedes the first.
    let second = claim(&["ping"], vec![]).await;
    assert_eq!(second[0].attempts, 2);
    assert!(
        !repo.complete(db.writer(), id, "w1", 1).await.unwrap(),
        "stale claim"
    );
    assert!(repo.complete(db.writer(), id, "w1", 2).await.unwrap());
    assert_eq!(
        app.services.jobs.get(id).await.unwrap().status,
        JobStatus::Done
    );
}

async fn a_job_running_longer_than_its_lease_keeps_it_while_its_worker_lives(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let mut server = tests::smtp::SmtpServer::start_held().await;
    app.register("turing").await;
    let mut settings = app.settings.clone();
    settings.mail.smtp_url = Some(smtp_url(format!("smtp://127.0.0.1:{}", server.port)));
    settings.jobs.poll_interval_ms = 10;
    // Renewed every 667 ms: a margin of 1.3 s for a loaded CI machine.
    settings.jobs.lease_seconds = 2;
    let first = app.services.worker(&settings).unwrap().spawn();
    server.connected().await; // The first worker holds the job.
    let second = app.services.worker(&settings).unwrap().spawn();

    // Over two leases long; only heartbeats keep the second worker off it.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    server.release();
    let done = wait_for_job(&app, "welcome_email", "the job to finish", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!(done.attempts, 1, "never taken over: {done:?}");
    assert_eq!(server.received().len(), 1, "sent once");
    first.shutdown().await;
    second.shutdown().await;
}

async fn a_job_still_running_after_the_grace_period_is_handed_back_uncounted(backend: JobBackend) {
    let app = spawn(backend, &[("JOB_WORKER_IN_API", "false")]).await;
    let mut hole = BlackHole::start().await;
    app.register("knuth").await;
    let mut settings = app.settings.clone();
    settings.mail.smtp_url = Some(smtp_url(format!("smtp://127.0.0.1:{}", hole.port)));
    settings.jobs.poll_interval_ms = 10;
    // The shortest grace there is (it is set in whole seconds).
    settings.http.shutdown_grace_seconds = 1;
    let worker = app.services.worker(&settings).unwrap().spawn();
    hole.connected().await;

    worker.shutdown().await;

    let job = only_job(&app, "welcome_email").await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Pending, 0),
        "{job:?}"
    );
    assert!(job.run_at <= Utc::now(), "due at once for the next worker");
}

/// The app with jobs on the Redis at `url`, mail written to a scratch
/// folder, and no worker; worker settings that poll every 20 ms.
async fn spawn_on_redis(url: &str) -> (TestApp, infra::Settings, std::path::PathBuf) {
    let mail_dir = scratch_dir("mail");
    let app = spawn_shared_app_with(&[
        ("JOB_BACKEND", "redis"),
        ("REDIS_URL", url),
        ("REDIS_KEY_PREFIX", &tests::unique_prefix()),
        ("JOB_WORKER_IN_API", "false"),
        ("MAIL_DIR", mail_dir.to_str().unwrap()),
    ])
    .await;
    let mut settings = app.settings.clone();
    settings.jobs.poll_interval_ms = 20;
    (app, settings, mail_dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_jobs_wait_in_the_table_and_run_once_it_is_back() {
    // Runs where Redis is installed (CI sets TEST_REDIS_URL).
    if tests::test_redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let (app, settings, mail_dir) = spawn_on_redis(&url).await;
    let worker = app.services.worker(&settings).unwrap().spawn();

    // Registration does not need Redis: the job is a row of its transaction.
    app.register("liskov").await;
    let waiting = only_job(&app, "welcome_email").await;
    assert_eq!(waiting.status, JobStatus::Pending);
    // The worker keeps trying to relay it; the row stays as it was.
    wait_for("a failed relay in /metrics", WAIT, || async {
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        metrics
            .lines()
            .any(|l| l.starts_with("job_claim_errors_total") && !l.ends_with(" 0"))
            .then_some(())
    })
    .await;
    assert_eq!(only_job(&app, "welcome_email").await, waiting);
    assert!(files_in(&mail_dir).is_empty());

    let _redis = tests::OwnRedis::start(port).expect("redis-server starts");
    let done = wait_for_job(&app, "welcome_email", "the job to run", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!((done.id, done.attempts), (waiting.id, 1));
    assert_eq!(files_in(&mail_dir).len(), 1);
    worker.shutdown().await;
    std::fs::remove_dir_all(mail_dir).ok();
}

/// A job's row as the table holds it (not merged with Redis's state).
async fn row(app: &TestApp, id: uuid::Uuid) -> JobRecord {
    persistence::JobRepository
        .find(app.pool().await.writer(), id)
        .await
        .unwrap()
        .unwrap()
}

/// Redis restarted without persistence (or flushed, or failed over to a
/// stale replica) has lost the jobs it held. Their rows still say relayed,
/// so a worker pushes them back and they run; a job that had finished was
/// recorded in its row and does not run again.
// Multi-threaded: starting redis-server blocks the thread that does it.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_redis_loses_are_pushed_back_from_the_table_and_finished_ones_stay_finished() {
    // Runs where Redis is installed (CI sets TEST_REDIS_URL).
    if tests::test_redis_url().is_none() {
        return;
    }
    let mut redis = tests::OwnRedis::start(0).expect("redis-server starts");
    let (app, settings, mail_dir) = spawn_on_redis(&redis.url()).await;
    let full_worker = || app.services.worker(&settings).unwrap().spawn();
    let welcome_job = async |username: &str| {
        app.register(username).await;
        let jobs = app.services.jobs.of_kind("welcome_email").await.unwrap();
        jobs.last().unwrap().id
    };

    // A job runs, and its row records that it is done.
    let worker = full_worker();
    let first = welcome_job("hopper").await;
    wait_for("the first job's row to say done", WAIT, || async {
        (row(&app, first).await.status == JobStatus::Done).then_some(())
    })
    .await;
    worker.shutdown().await;
    assert_eq!(files_in(&mail_dir).len(), 1);

    // A worker without the welcome email's handler relays the next one to
    // Redis but leaves it waiting there.
    let relay_only = application::jobs::Worker::new(
        app.services.jobs.clone(),
        JobContext {
            db: app.pool().await,
            queue: app.services.jobs.clone(),
            mailer: infra::mail::from_settings(&app.settings.mail, app.settings.environment)
                .unwrap(),
            job_retention: chrono::Duration::days(1),
        },
        application::jobs::Registry::default().register::<Ping>(),
        application::jobs::WorkerConfig::from_settings(
            &settings.jobs,
            settings.http.shutdown_grace(),
        )
        .unwrap(),
    )
    .spawn();
    let second = welcome_job("lamarr").await;
    wait_for("the second job to be relayed", WAIT, || async {
        (row(&app, second).await.status == JobStatus::Relayed).then_some(())
    })
    .await;
    relay_only.shutdown().await;

    // Redis restarts empty.
    let port = redis.port;
    redis.stop();
    let _redis = tests::OwnRedis::start(port).expect("redis-server restarts");

    let worker = full_worker();
    let done = wait_for_job(&app, "welcome_email", "the lost job to run", |job| {
        job.id == second && job.status == JobStatus::Done
    })
    .await;
    assert_eq!(done.attempts, 1);
    worker.shutdown().await;
    let mails: Vec<String> = files_in(&mail_dir)
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect();
    assert_eq!(mails.len(), 2, "the finished job did not run again");
    assert!(mails.iter().any(|mail| mail.contains("Hello lamarr")));
    let first = row(&app, first).await;
    assert_eq!((first.status, first.attempts), (JobStatus::Done, 1));
    assert_eq!(row(&app, second).await.status, JobStatus::Done);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("jobs_recovered_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    std::fs::remove_dir_all(mail_dir).ok();
}
