//! Worker processes against a shared database (a SQLite file, or Postgres
//! with `TEST_DATABASE_URL`): the `jobs` commands, a worker killed with
//! SIGKILL mid-job, and a worker draining on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::{
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use application::{
    Services,
    jobs::{InsertOpts, JobRow, JobState, Ping},
};
use riverqueue::{JobListParams, jiff};
use tests::{LogLines, TestDatabase, files_in, settings_for, smtp, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// Settings every worker process and the test's own services share.
const COMMON: &[(&str, &str)] = &[
    ("ENVIRONMENT", "test"),
    ("LOG_FORMAT", "json"),
    ("LOG_LEVEL", "info,sqlx=warn"),
    ("JOB_POLL_INTERVAL_MS", "20"),
    ("JOB_CLEANUP_SCHEDULE", "off"),
    ("JOB_MAX_ATTEMPTS", "2"),
    ("JOB_BACKOFF_BASE_MS", "20"),
    ("METRICS_ENABLED", "false"),
];

/// The test's view of the shared database: migrated services.
async fn services(db: &TestDatabase) -> Services {
    Services::from_settings(&settings_for(&db.url, COMMON))
        .await
        .unwrap()
}

fn command(db: &TestDatabase, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url);
    for (name, value) in COMMON.iter().chain(extra) {
        command.env(name, value);
    }
    command
}

/// A running worker process and its log lines.
struct WorkerProcess {
    child: Child,
    lines: LogLines,
}

impl WorkerProcess {
    fn start(db: &TestDatabase, extra: &[(&str, &str)]) -> Self {
        let mut child = command(db, extra).stdout(Stdio::piped()).spawn().unwrap();
        let lines = LogLines::of(&mut child, "worker");
        let worker = Self { child, lines };
        worker.wait_for_log("job worker started");
        worker
    }

    fn wait_for_log(&self, text: &str) {
        self.lines.wait_for(text, WAIT);
    }

    fn signal(&self, signal: &str) {
        tests::process::signal(&self.child, signal);
    }

    fn wait(mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(db: &TestDatabase, args: &[&str]) -> Output {
    command(db, &[]).args(args).output().unwrap()
}

/// A port nothing listens on now, for a worker's `METRICS_PORT`.
fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn job(services: &Services, id: i64) -> JobRow {
    services.jobs.client().jobs().get(id).await.unwrap()
}

async fn welcome_job(services: &Services, what: &str, done: impl Fn(&JobRow) -> bool) -> JobRow {
    wait_for(what, WAIT, || async {
        let jobs = services
            .jobs
            .client()
            .jobs()
            .list(JobListParams::default().kinds(["welcome_email"]))
            .await
            .unwrap()
            .jobs;
        assert!(jobs.len() <= 1, "{jobs:?}");
        jobs.into_iter().find(|job| done(job))
    })
    .await
}

async fn register(services: &Services, name: &str) {
    services
        .auth
        .register(application::services::auth::Registration {
            email: domain::Email::parse(&format!("{name}@example.com")).unwrap(),
            username: domain::Username::parse(name).unwrap(),
            password: domain::Password::parse(tests::PASSWORD).unwrap(),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discarded_job_is_listed_and_retried_by_the_cli_and_then_succeeds() {
    let db = TestDatabase::create_shared().await;
    let services = services(&db).await;
    register(&services, "ada").await;

    // Mail to a closed port: both attempts fail and the job is discarded.
    let failing = WorkerProcess::start(&db, &[("SMTP_URL", "smtp://127.0.0.1:9")]);
    let discarded = welcome_job(&services, "the job to be discarded", |job| {
        job.state == JobState::Discarded
    })
    .await;
    failing.signal("-TERM");
    assert_eq!(failing.wait(), Some(0));

    let listed = run(&db, &["jobs", "failed"]);
    assert!(listed.status.success(), "{listed:?}");
    let text = stdout(&listed);
    assert!(
        text.contains(&format!("{}  welcome_email  attempts 2/2", discarded.id)),
        "{text}"
    );
    assert!(text.contains("SMTP"), "{text}");

    let unknown = run(&db, &["jobs", "retry", "987654321"]);
    assert_eq!(unknown.status.code(), Some(1), "no such job: {unknown:?}");
    let retried = run(&db, &["jobs", "retry", &discarded.id.to_string()]);
    assert!(retried.status.success(), "{retried:?}");
    assert_eq!(
        job(&services, discarded.id).await.state,
        JobState::Available
    );

    let mail_dir = std::env::temp_dir().join(format!("rpt-mail-{}", uuid::Uuid::new_v4().simple()));
    let working = WorkerProcess::start(&db, &[("MAIL_DIR", mail_dir.to_str().unwrap())]);
    let done = welcome_job(&services, "the retried job to succeed", |job| {
        job.state == JobState::Completed
    })
    .await;
    assert_eq!(done.attempt, 3, "one more attempt than the two it had");
    assert_eq!(files_in(&mail_dir).len(), 1);
    working.signal("-TERM");
    assert_eq!(working.wait(), Some(0));

    let again = run(&db, &["jobs", "retry", &discarded.id.to_string()]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a completed job is not re-run"
    );

    // A job waiting for later can be cancelled; a cancelled one cannot.
    let later = tests::jobs::enqueue(
        &services,
        Ping::default(),
        InsertOpts::default()
            .with_scheduled_at(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)),
    )
    .await;
    let cancelled = run(&db, &["jobs", "cancel", &later.to_string()]);
    assert!(cancelled.status.success(), "{cancelled:?}");
    assert_eq!(job(&services, later).await.state, JobState::Cancelled);
    assert_eq!(
        run(&db, &["jobs", "cancel", &later.to_string()])
            .status
            .code(),
        Some(1)
    );

    let stats = stdout(&run(&db, &["jobs", "stats"]));
    assert!(stats.contains("completed  1"), "{stats}");
    assert!(stats.contains("discarded  0"), "{stats}");
    assert!(stats.contains("cancelled  1"), "{stats}");
    std::fs::remove_dir_all(mail_dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_reports_throughput_once_a_worker_ran_the_jobs() {
    let db = TestDatabase::create_shared().await;
    let _services = services(&db).await;
    let worker = WorkerProcess::start(&db, &[]);
    let output = run(&db, &["jobs", "ping", "50"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("50 ping job(s) enqueued"), "{text}");
    assert!(text.contains("jobs/s; enqueue to start p50"), "{text}");
    worker.signal("-TERM");
    assert_eq!(worker.wait(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_worker_is_killed_mid_run_is_finished_by_another_worker() {
    let db = TestDatabase::create_shared().await;
    let services = services(&db).await;
    let mut hole = smtp::BlackHole::start().await;
    register(&services, "grace").await;

    // River rescues a job still running after JOB_RESCUE_AFTER_SECONDS.
    let rescue = [
        ("JOB_TIMEOUT_SECONDS", "3"),
        ("JOB_RESCUE_AFTER_SECONDS", "3"),
    ];
    let smtp_url = format!("smtp://127.0.0.1:{}", hole.port);
    let mut doomed_settings = rescue.to_vec();
    doomed_settings.push(("SMTP_URL", smtp_url.as_str()));
    let doomed = WorkerProcess::start(&db, &doomed_settings);
    // The job is running in that worker: it is talking to the mail server.
    hole.connected().await;
    let running = welcome_job(&services, "the job to run", |_| true).await;
    assert_eq!((running.state, running.attempt), (JobState::Running, 1));
    doomed.signal("-KILL");
    assert_eq!(doomed.wait(), None, "killed by a signal");

    let mail_dir = std::env::temp_dir().join(format!("rpt-mail-{}", uuid::Uuid::new_v4().simple()));
    let mut rescuer_settings = rescue.to_vec();
    rescuer_settings.push(("MAIL_DIR", mail_dir.to_str().unwrap()));
    let rescuer = WorkerProcess::start(&db, &rescuer_settings);
    let done = welcome_job(&services, "another worker to finish the job", |job| {
        job.state == JobState::Completed
    })
    .await;
    assert_eq!(done.attempt, 2, "the killed attempt counts");
    assert_eq!(files_in(&mail_dir).len(), 1);
    rescuer.signal("-TERM");
    assert_eq!(rescuer.wait(), Some(0));
    std::fs::remove_dir_all(mail_dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_fetching_lets_the_running_job_finish_and_exits_0() {
    let db = TestDatabase::create_shared().await;
    let services = services(&db).await;
    let mut server = smtp::SmtpServer::start_held().await;
    register(&services, "hopper").await;

    let smtp_url = format!("smtp://127.0.0.1:{}", server.port);
    let worker = WorkerProcess::start(&db, &[("SMTP_URL", smtp_url.as_str())]);
    server.connected().await; // The job is mid-send, held by the server.
    worker.signal("-TERM");
    // River logs this right after it stopped fetching.
    worker.wait_for_log("received its shutdown signal");

    // Enqueued after the signal: the draining worker must not take it.
    let ping = tests::jobs::enqueue(&services, Ping::default(), InsertOpts::default()).await;
    server.release();
    assert_eq!(worker.wait(), Some(0));

    let welcome = welcome_job(&services, "the welcome job", |_| true).await;
    assert_eq!((welcome.state, welcome.attempt), (JobState::Completed, 1));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].contains("To: hopper@example.com"),
        "{received:?}"
    );
    assert_eq!(job(&services, ping).await.state, JobState::Available);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_serves_queue_and_pool_metrics_on_its_own_port() {
    let db = TestDatabase::create_shared().await;
    let _services = services(&db).await;
    let port = free_port();
    let worker = WorkerProcess::start(
        &db,
        &[("METRICS_ENABLED", "true"), ("METRICS_PORT", port.as_str())],
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let metrics = wait_for("the worker's gauges", WAIT, || async {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        (text.contains("jobs_available{queue=\"default\"}")
            && text.contains("db_pool_connections{"))
        .then_some(text)
    })
    .await;
    assert!(
        metrics.contains("jobs_oldest_available_age_seconds{queue=\"default\"}"),
        "{metrics}"
    );
    worker.signal("-TERM");
    assert_eq!(worker.wait(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_worker_fails_its_healthcheck_and_passes_once_it_moves_again() {
    let db = TestDatabase::create_shared().await;
    let _services = services(&db).await;
    let port = free_port();
    let extra = [("METRICS_ENABLED", "true"), ("METRICS_PORT", port.as_str())];
    let healthy = || {
        command(&db, &extra)
            .arg("healthcheck")
            .output()
            .unwrap()
            .status
            .success()
    };
    // No worker at all: nothing answers.
    assert!(!healthy());
    let worker = WorkerProcess::start(&db, &extra);
    wait_for("a healthy worker", WAIT, || async {
        healthy().then_some(())
    })
    .await;

    // Stopped (as a wedged runtime is): its loop makes no progress and its
    // port answers nothing, so the probe fails within its timeout.
    worker.signal("-STOP");
    assert!(!healthy(), "a stopped worker passed its health check");
    worker.signal("-CONT");
    wait_for("the worker to be healthy again", WAIT, || async {
        healthy().then_some(())
    })
    .await;
    worker.signal("-TERM");
    assert_eq!(worker.wait(), Some(0));
}
