//! Child processes and files: scratch directories, a child's log lines
//! read with deadlines, signals, and waiting on state other tasks make.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::Child,
    sync::mpsc,
    time::Duration,
};

/// A fresh directory under the system's temporary directory, named after
/// `name` and unique to this call. The caller removes it when done.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rpt-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Files in `dir` (none if it does not exist).
pub fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The lines a child process writes to stdout, read on a thread of their
/// own so that every wait has a deadline. With `TEST_LOG` set they are
/// echoed to stderr, prefixed with `label`.
#[derive(Debug)]
pub struct LogLines {
    lines: mpsc::Receiver<String>,
}

impl LogLines {
    /// Takes over `child`'s stdout, which must have been piped.
    pub fn of(child: &mut Child, label: &'static str) -> Self {
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{label}: {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines }
    }

    /// The first line from now on that contains `text`; fails the test if
    /// none comes within `timeout` or the child closes its stdout first.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|err| {
                panic!("no log line containing {text:?} within {timeout:?} ({err})")
            });
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Every line still to come, until the child closes its stdout.
    pub fn rest(self) -> Vec<String> {
        self.lines.iter().collect()
    }
}

/// Sends `signal` (`-TERM`, `-KILL`, ...) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {}", child.id());
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test
/// with `what` after `timeout`. For waiting on state that another task or
/// process produces, without sleeps that hope.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
