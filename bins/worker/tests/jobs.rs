//! Worker processes against a shared database (a SQLite file, or Postgres
//! with `TEST_DATABASE_URL`): the `jobs` commands, a worker killed with
//! SIGKILL mid-job, and a worker draining on SIGTERM. Each test runs on the
//! database job backend and, with `TEST_REDIS_URL`, on the Redis one.

#![allow(clippy::unwrap_used)]

use std::{
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use application::{
    Services,
    jobs::{JobRecord, JobStatus, Ping},
};
use tests::{JobBackend, LogLines, TestDatabase, files_in, settings_for, smtp, wait_for};

tests::on_each_job_backend!(
    a_dead_job_is_listed_and_requeued_by_the_cli_and_then_succeeds,
    a_job_whose_worker_is_killed_mid_run_is_finished_by_another_worker,
    sigterm_stops_claiming_lets_the_running_job_finish_and_exits_0,
);

const WAIT: Duration = Duration::from_secs(30);

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

/// What the test and its worker processes share: a database and, for the
/// Redis backend, a Redis key prefix.
struct Queue {
    db: TestDatabase,
    backend: Vec<(String, String)>,
}

impl Queue {
    async fn new(backend: JobBackend) -> Self {
        Self {
            db: TestDatabase::create_shared().await,
            backend: backend.settings(),
        }
    }

    /// [`COMMON`] and the backend's settings.
    fn vars(&self) -> Vec<(&str, &str)> {
        let backend = self.backend.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        COMMON.iter().copied().chain(backend).collect()
    }
}

/// The test's view of the shared queue: migrated services.
async fn services(queue: &Queue) -> Services {
    Services::from_settings(&settings_for(&queue.db.url, &queue.vars()))
        .await
        .unwrap()
}

fn command(queue: &Queue, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", &queue.db.url);
    for (name, value) in queue.vars().iter().chain(extra) {
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
    fn start(queue: &Queue, extra: &[(&str, &str)]) -> Self {
        let mut child = command(queue, extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
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

fn run(queue: &Queue, args: &[&str]) -> Output {
    command(queue, &[]).args(args).output().unwrap()
}

async fn welcome_job(
    services: &Services,
    what: &str,
    done: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    wait_for(what, WAIT, || async {
        let jobs = services.jobs.of_kind("welcome_email").await.unwrap();
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

async fn a_dead_job_is_listed_and_requeued_by_the_cli_and_then_succeeds(backend: JobBackend) {
    let queue = Queue::new(backend).await;
    let services = services(&queue).await;
    register(&services, "ada").await;

    // Mail to a closed port: both attempts fail and the job is dead.
    let failing = WorkerProcess::start(&queue, &[("SMTP_URL", "smtp://127.0.0.1:9")]);
    let dead = welcome_job(&services, "the job to be dead", |job| {
        job.status == JobStatus::Dead
    })
    .await;
    failing.signal("-TERM");
    assert_eq!(failing.wait(), Some(0));

    let listed = run(&queue, &["jobs", "failed"]);
    assert!(listed.status.success());
    let stdout = String::from_utf8(listed.stdout).unwrap();
    assert!(stdout.contains(&dead.id.to_string()), "{stdout}");
    assert!(stdout.contains("welcome_email  attempts 2/2"), "{stdout}");
    assert!(stdout.contains("SMTP"), "{stdout}");

    let unknown = run(
        &queue,
        &["jobs", "retry", &uuid::Uuid::new_v4().to_string()],
    );
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "retrying a job that is not dead fails"
    );
    let retried = run(&queue, &["jobs", "retry", &dead.id.to_string()]);
    assert!(retried.status.success(), "{retried:?}");
    assert_eq!(
        services.jobs.get(dead.id).await.unwrap().status,
        JobStatus::Pending
    );

    let mail_dir = std::env::temp_dir().join(format!("rpt-mail-{}", uuid::Uuid::new_v4().simple()));
    let working = WorkerProcess::start(&queue, &[("MAIL_DIR", mail_dir.to_str().unwrap())]);
    let done = welcome_job(&services, "the re-queued job to succeed", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!(done.attempts, 1);
    assert_eq!(files_in(&mail_dir).len(), 1);
    working.signal("-TERM");
    assert_eq!(working.wait(), Some(0));

    let stats = String::from_utf8(run(&queue, &["jobs", "stats"]).stdout).unwrap();
    let backend = format!("backend  {}", backend.name());
    assert!(stats.contains(&backend), "{stats}");
    assert!(stats.contains("done     1"), "{stats}");
    assert!(stats.contains("dead     0"), "{stats}");
    std::fs::remove_dir_all(mail_dir).ok();
}

async fn a_job_whose_worker_is_killed_mid_run_is_finished_by_another_worker(backend: JobBackend) {
    let queue = Queue::new(backend).await;
    let services = services(&queue).await;
    let mut hole = smtp::BlackHole::start().await;
    register(&services, "grace").await;

    let smtp_url = format!("smtp://127.0.0.1:{}", hole.port);
    let doomed = WorkerProcess::start(
        &queue,
        &[("SMTP_URL", smtp_url.as_str()), ("JOB_LEASE_SECONDS", "1")],
    );
    // The job is running in that worker: it is talking to the mail server.
    hole.connected().await;
    let running = services
        .jobs
        .of_kind("welcome_email")
        .await
        .unwrap()
        .remove(0);
    assert_eq!((running.status, running.attempts), (JobStatus::Running, 1));
    doomed.signal("-KILL");
    assert_eq!(doomed.wait(), None, "killed by a signal");

    let mail_dir = std::env::temp_dir().join(format!("rpt-mail-{}", uuid::Uuid::new_v4().simple()));
    let rescuer = WorkerProcess::start(
        &queue,
        &[
            ("MAIL_DIR", mail_dir.to_str().unwrap()),
            ("JOB_LEASE_SECONDS", "1"),
        ],
    );
    let done = welcome_job(&services, "another worker to finish the job", |job| {
        job.status == JobStatus::Done
    })
    .await;
    assert_eq!(done.attempts, 2, "the killed attempt counts");
    assert_eq!(files_in(&mail_dir).len(), 1);
    rescuer.signal("-TERM");
    assert_eq!(rescuer.wait(), Some(0));
    std::fs::remove_dir_all(mail_dir).ok();
}

async fn sigterm_stops_claiming_lets_the_running_job_finish_and_exits_0(backend: JobBackend) {
    let queue = Queue::new(backend).await;
    let services = services(&queue).await;
    let mut server = smtp::SmtpServer::start_held().await;
    register(&services, "hopper").await;

    let smtp_url = format!("smtp://127.0.0.1:{}", server.port);
    let worker = WorkerProcess::start(&queue, &[("SMTP_URL", smtp_url.as_str())]);
    server.connected().await; // The job is mid-send, held by the server.
    worker.signal("-TERM");
    worker.wait_for_log("shutdown signal received");

    // Enqueued after the signal: the draining worker must not take it.
    let ping = services.jobs.enqueue_alone(&Ping::default()).await.unwrap();
    server.release();
    assert_eq!(worker.wait(), Some(0));

    let job = services
        .jobs
        .of_kind("welcome_email")
        .await
        .unwrap()
        .remove(0);
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 1));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].contains("To: hopper@example.com"),
        "{received:?}"
    );
    assert_eq!(
        services.jobs.get(ping).await.unwrap().status,
        JobStatus::Pending
    );
}
