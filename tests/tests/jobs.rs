//! Background jobs in one process, on River: the welcome email end to end,
//! transactional enqueue, retries with backoff until discarded, attempt
//! timeouts, a periodic job shared by two workers, scheduled and unique
//! jobs, and housekeeping. Worker processes (SIGKILL, SIGTERM, the CLI) are
//! tested in `bins/worker/tests/jobs.rs`. Each test runs on SQLite, or on
//! Postgres with `TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use application::jobs::{
    Housekeeping, InsertOpts, Job as _, JobContext, JobRow, JobState, Ping, WelcomeEmail,
    cleanup_schedule,
};
use chrono::Utc;
use persistence::{NewRefreshToken, RefreshTokenRepository, UnitOfWork as _};
use riverqueue::{JobListParams, jiff};
use tests::{TestApp, files_in, scratch_dir, smtp::BlackHole, spawn_shared_app_with, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn smtp_url(url: impl AsRef<str>) -> infra::config::SecretUrl {
    infra::config::SecretUrl::new(url.as_ref())
}

/// Every job of `kind`, oldest first.
async fn jobs_of(app: &TestApp, kind: &str) -> Vec<JobRow> {
    app.services
        .jobs
        .client()
        .jobs()
        .list(JobListParams::default().kinds([kind]).limit(1000))
        .await
        .unwrap()
        .jobs
}

/// Waits until the only job of `kind` satisfies `done`.
async fn wait_for_job(
    app: &TestApp,
    kind: &str,
    what: &str,
    done: impl Fn(&JobRow) -> bool,
) -> JobRow {
    wait_for(what, WAIT, || async {
        let jobs = jobs_of(app, kind).await;
        assert!(jobs.len() <= 1, "{jobs:?}");
        jobs.into_iter().find(|job| done(job))
    })
    .await
}

/// Worker settings of `app` with quick polling, as tests want them.
fn quick(app: &TestApp, change: impl FnOnce(&mut infra::Settings)) -> infra::Settings {
    let mut settings = app.settings.clone();
    settings.jobs.poll_interval_ms = 20;
    "off".clone_into(&mut settings.jobs.cleanup_schedule);
    change(&mut settings);
    settings
}

fn worker(app: &TestApp, settings: &infra::Settings) -> application::jobs::WorkerHandle {
    app.services.worker(settings).unwrap().spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_sends_the_welcome_email_through_the_in_process_worker() {
    let mail_dir = scratch_dir("mail");
    let app = spawn_shared_app_with(&[
        ("MAIL_DIR", mail_dir.to_str().unwrap()),
        ("JOB_POLL_INTERVAL_MS", "20"),
    ])
    .await;

    app.register("ada").await;

    let files = wait_for("the welcome email", WAIT, || async {
        Some(files_in(&mail_dir)).filter(|files| !files.is_empty())
    })
    .await;
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("Subject: Welcome to"), "{mail}");
    assert!(mail.contains("Hello ada"), "{mail}");
    let job = wait_for_job(&app, "welcome_email", "the job to complete", |job| {
        job.state == JobState::Completed
    })
    .await;
    assert_eq!(job.attempt, 1);
    // Counted in the metrics the API serves, with the queue's backlog.
    let metrics = wait_for("the job in /metrics", WAIT, || async {
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        (metrics.lines().any(|l| {
            l.starts_with("jobs_total{") && l.contains("welcome_email") && l.contains("succeeded")
        }) && metrics.contains("jobs_available{queue=\"default\"}"))
        .then_some(metrics)
    })
    .await;
    assert!(metrics.contains("job_duration_seconds"), "{metrics}");
    assert!(
        metrics.contains("jobs_oldest_available_age_seconds{queue=\"default\"}"),
        "{metrics}"
    );
    std::fs::remove_dir_all(mail_dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_on_one_queue_share_the_jobs_and_run_each_once() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(tests::jobs::enqueue(&app.services, Ping::default(), InsertOpts::default()).await);
    }
    let settings = quick(&app, |s| s.jobs.concurrency = 2);
    let workers: Vec<_> = (0..3).map(|_| worker(&app, &settings)).collect();
    wait_for("every ping to run", WAIT, || async {
        let left = app.services.jobs.unfinished_among(&ids).await.unwrap();
        (left == 0).then_some(())
    })
    .await;
    for worker in workers {
        worker.shutdown().await;
    }
    let jobs = jobs_of(&app, "ping").await;
    assert_eq!(jobs.len(), 40);
    for job in jobs {
        assert_eq!(
            (job.state, job.attempt),
            (JobState::Completed, 1),
            "{job:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_enqueued_in_a_transaction_exists_only_if_it_commits() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let (db, jobs) = (&app.pool().await, &app.services.jobs);

    let rolled_back: Result<(), application::Error> = db
        .transaction(async |tx| {
            jobs.enqueue(tx, Ping::default()).await?;
            // Something after the enqueue fails: the whole unit rolls back.
            Err(application::Error::Forbidden)
        })
        .await;
    assert!(matches!(rolled_back, Err(application::Error::Forbidden)));
    assert!(
        jobs_of(&app, "ping").await.is_empty(),
        "no job after rollback"
    );

    // Joined by a nested unit of work (REQUIRED), committed by the outer one.
    let id = db
        .transaction(async |tx| {
            tx.transaction(async |inner| jobs.enqueue(inner, Ping::default()).await)
                .await
        })
        .await
        .unwrap();
    let listed = jobs_of(&app, "ping").await;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].state), (id, JobState::Available));

    let worker = worker(&app, &quick(&app, |_| {}));
    let job = wait_for_job(&app, "ping", "the committed job to run", |job| {
        job.state == JobState::Completed
    })
    .await;
    assert_eq!((job.id, job.attempt), (id, 1));
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_is_retried_with_backoff_then_discarded() {
    let app =
        spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false"), ("JOB_MAX_ATTEMPTS", "3")]).await;
    app.register("grace").await;

    // Mail goes to a closed port: every attempt fails.
    let failing = quick(&app, |s| {
        s.mail.smtp_url = Some(smtp_url("smtp://127.0.0.1:9"));
        s.jobs.backoff_base_ms = 300;
    });
    let worker = worker(&app, &failing);

    // Until the second attempt starts, `scheduled_at` is the retry's time.
    let first_failure = wait_for_job(&app, "welcome_email", "the first failure", |job| {
        job.attempt == 1 && job.errors.len() == 1
    })
    .await;
    let error = &first_failure.errors[0].error;
    assert!(error.contains("SMTP"), "{error}");
    // The retry waits at least half the base delay (jitter never goes lower).
    let attempted = first_failure.attempted_at.unwrap();
    assert!(
        first_failure.scheduled_at.duration_since(attempted)
            >= jiff::SignedDuration::from_millis(150),
        "{first_failure:?}"
    );

    let discarded = wait_for_job(&app, "welcome_email", "the job to be discarded", |job| {
        job.state == JobState::Discarded
    })
    .await;
    assert_eq!((discarded.attempt, discarded.max_attempts), (3, 3));
    assert_eq!(discarded.errors.len(), 3, "{discarded:?}");
    assert!(discarded.errors.iter().all(|e| e.error.contains("SMTP")));
    // Two backoffs: at least 150 ms, then at least 300 ms.
    assert!(
        discarded
            .finalized_at
            .unwrap()
            .duration_since(discarded.created_at)
            >= jiff::SignedDuration::from_millis(450),
        "{discarded:?}"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_that_runs_past_the_timeout_fails() {
    let app =
        spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false"), ("JOB_MAX_ATTEMPTS", "1")]).await;
    let mut hole = BlackHole::start().await;
    app.register("hopper").await;

    let settings = quick(&app, |s| {
        s.mail.smtp_url = Some(smtp_url(format!("smtp://127.0.0.1:{}", hole.port)));
        s.jobs.timeout_seconds = 1;
    });
    let started = std::time::Instant::now();
    let worker = worker(&app, &settings);

    hole.connected().await;
    let discarded = wait_for_job(
        &app,
        "welcome_email",
        "the timed-out job to be discarded",
        |job| job.state == JobState::Discarded,
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(discarded.errors.len(), 1, "{discarded:?}");
    // Stopped by the 1 s timeout, not by the mail client's own (20 s).
    let ran = discarded
        .finalized_at
        .unwrap()
        .duration_since(discarded.attempted_at.unwrap());
    assert!(
        ran < jiff::SignedDuration::from_secs(5),
        "ran {ran}: {discarded:?}"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_and_a_periodic_job_run_each_tick_once() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let settings = quick(&app, |s| {
        "@every 1s".clone_into(&mut s.jobs.cleanup_schedule);
    });
    let first = worker(&app, &settings);
    let second = worker(&app, &settings);

    wait_for("three ticks to run", WAIT, || async {
        let jobs = jobs_of(&app, "housekeeping").await;
        let done = jobs
            .iter()
            .filter(|job| job.state == JobState::Completed)
            .count();
        (done >= 3).then_some(())
    })
    .await;
    first.shutdown().await;
    second.shutdown().await;

    let jobs = jobs_of(&app, "housekeeping").await;
    let mut ticks: Vec<_> = jobs.iter().map(|job| job.scheduled_at).collect();
    ticks.sort();
    for pair in ticks.windows(2) {
        // One job per tick: ticks are a second apart, never doubled.
        assert!(
            pair[1].duration_since(pair[0]) >= jiff::SignedDuration::from_millis(500),
            "{jobs:?}"
        );
    }
    for job in jobs.iter().filter(|job| job.state == JobState::Completed) {
        assert_eq!(job.attempt, 1, "each tick ran once: {job:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_scheduled_for_later_does_not_run_before_its_time() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let worker = worker(&app, &quick(&app, |_| {}));
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let id = tests::jobs::enqueue(
        &app.services,
        Ping::default(),
        InsertOpts::default().with_scheduled_at(at),
    )
    .await;
    let job = wait_for_job(&app, "ping", "the scheduled ping to run", |job| {
        job.state == JobState::Completed
    })
    .await;
    assert_eq!(job.id, id);
    let started = job.attempted_at.unwrap();
    assert!(started >= at, "started {started}, scheduled for {at}");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unique_job_inserted_twice_runs_once() {
    let mail_dir = scratch_dir("mail");
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let user = app.register("lovelace").await;
    let user_uuid = user["uuid"].as_str().unwrap().parse().unwrap();
    let first = jobs_of(&app, "welcome_email").await.remove(0).id;
    // The same account's welcome again: River finds the first one.
    let again = tests::jobs::enqueue(
        &app.services,
        WelcomeEmail { user_uuid },
        InsertOpts::default(),
    )
    .await;
    assert_eq!(again, first);

    let worker = worker(
        &app,
        &quick(&app, |s| {
            s.mail.mail_dir = Some(mail_dir.to_str().unwrap().to_owned());
        }),
    );
    wait_for_job(&app, "welcome_email", "the welcome to be sent", |job| {
        job.state == JobState::Completed
    })
    .await;
    worker.shutdown().await;
    assert_eq!(files_in(&mail_dir).len(), 1);
    std::fs::remove_dir_all(mail_dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn housekeeping_deletes_expired_refresh_tokens_only() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let user = app.register("turing").await;
    let db = &app.pool().await;
    let user_id = persistence::UserRepository::default()
        .find_by_uuid(db.writer(), user["uuid"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    // One login, rotated: its first token expired, its latest lives.
    let (family_id, started) = (
        uuid::Uuid::new_v4(),
        Utc::now() - chrono::Duration::days(10),
    );
    let token = |expires_at| NewRefreshToken {
        jti: uuid::Uuid::new_v4(),
        family_id,
        family_started_at: started,
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
    let ctx = JobContext {
        db: db.clone(),
        mailer: infra::mail::from_settings(&app.settings.mail).unwrap(),
        templates: application::mails::MailTemplates::new(&app.settings.mail, &app.settings.auth),
        token_lifetimes: application::jobs::TokenLifetimes::from_settings(&app.settings.auth),
    };
    Housekeeping::default().run(&ctx).await.unwrap();
    let repo = RefreshTokenRepository;
    assert!(
        repo.find(db.writer(), expired.jti).await.unwrap().is_none(),
        "expired token deleted"
    );
    let kept = repo.find(db.writer(), live.jti).await.unwrap();
    // The login's start survives its first token: SESSION_MAX_DAYS still
    // counts from it.
    assert_eq!(
        kept.map(|record| record.family_started_at.timestamp()),
        Some(started.timestamp()),
        "live token kept, with its login's start"
    );
}

#[test]
fn the_cleanup_schedule_is_cron_a_descriptor_or_off() {
    assert!(cleanup_schedule("off").unwrap().is_none());
    assert!(cleanup_schedule("OFF").unwrap().is_none());
    for schedule in ["@hourly", "*/5 * * * *", "@every 90s"] {
        let parsed = cleanup_schedule(schedule).unwrap().unwrap();
        assert_eq!(parsed.to_string(), schedule);
    }
    // Six fields is not River's cron.
    for bad in ["every hour", "0 0 * * * *"] {
        let err = cleanup_schedule(bad).unwrap_err();
        assert_eq!(err.variable, "JOB_CLEANUP_SCHEDULE", "{bad}");
        assert!(
            err.problem.starts_with(
                "expected five-field cron (`0 * * * *`), `@hourly`, `@every 90s` or `off`: "
            ),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_cleanup_schedule_stops_the_worker_from_starting() {
    let app = spawn_shared_app_with(&[("JOB_WORKER_IN_API", "false")]).await;
    let settings = quick(&app, |s| {
        "every hour".clone_into(&mut s.jobs.cleanup_schedule);
    });
    let err = app.services.worker(&settings).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid configuration: JOB_CLEANUP_SCHEDULE: expected five-field cron"),
        "{err}"
    );
}
