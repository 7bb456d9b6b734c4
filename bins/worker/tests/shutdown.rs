//! The worker binary starts, reports ready, and exits 0 on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

#[test]
fn worker_starts_and_exits_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("worker-test-{}", std::process::id()));
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

    // Wait for the line that says it is up, reading the log on a thread so
    // the wait has a deadline.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let deadline = Duration::from_secs(30);
    loop {
        let line = lines
            .recv_timeout(deadline)
            .expect("worker logs that it started");
        if line.contains("worker started") {
            break;
        }
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    let rest: Vec<String> = lines.iter().collect();
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
