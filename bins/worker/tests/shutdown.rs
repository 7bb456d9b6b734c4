//! The worker binary starts, reports ready, and exits 0 on SIGTERM; bad
//! configuration stops it.

#![allow(clippy::unwrap_used)]

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use tests::{LogLines, process::signal, scratch_dir};

#[test]
fn worker_starts_and_exits_cleanly_on_sigterm() {
    let dir = scratch_dir("worker-sigterm");
    let database = dir.join("app.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_worker"))
        .current_dir(std::env::temp_dir())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", database.display()),
        )
        .env("LOG_FORMAT", "json")
        .env("ENVIRONMENT", "test")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let lines = LogLines::of(&mut child, "worker");
    lines.wait_for("worker started", Duration::from_secs(30));

    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    let rest = lines.rest();
    assert!(
        rest.iter().any(|l| l.contains("worker stopped")),
        "{rest:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn worker_refuses_bad_configuration_with_one_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn worker_refuses_a_bad_cleanup_schedule() {
    let dir = scratch_dir("worker-bad-schedule");
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .current_dir(std::env::temp_dir())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("app.db").display()),
        )
        .env("LOG_FORMAT", "json")
        .env("ENVIRONMENT", "test")
        .env("JOB_CLEANUP_SCHEDULE", "0 0 * * * *")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(
        log.contains("invalid configuration: JOB_CLEANUP_SCHEDULE: expected five-field cron"),
        "{log}"
    );
    assert!(
        !dir.join("app.db").exists(),
        "the database was created before the schedule was checked"
    );
    std::fs::remove_dir_all(dir).ok();
}
