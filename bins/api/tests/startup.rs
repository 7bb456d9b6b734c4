//! The api binary as a user runs it: defaults, refusal of unsafe config,
//! clean stop on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use tests::{LogLines, scratch_dir};

/// Only the variables a test sets; nothing from the developer's shell.
fn api(dir: &PathBuf) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
    command
}

#[test]
fn starts_on_the_embedded_defaults_creates_the_database_and_stops_on_sigterm() {
    let dir = scratch_dir("defaults");
    let (mut child, address, lines) = start(&dir, &[]);
    // The docs line follows the address line.
    lines.wait_for("/docs", Duration::from_secs(30));
    assert!(
        dir.join("data/app.db").exists(),
        "SQLite file created under data/"
    );

    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /v1/monitoring/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"Healthy\""), "{response}");

    tests::process::signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn production_refuses_the_development_secret() {
    let dir = scratch_dir("production");
    for secret in [None, Some("too-short")] {
        let mut command = api(&dir);
        command.envs(tests::PRODUCTION);
        if let Some(secret) = secret {
            command.env("SECRET_KEY", secret);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{secret:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("SECRET_KEY"), "{stderr}");
    }
    assert!(
        !dir.join("data").exists(),
        "nothing created before refusing"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_development_secret_is_refused_on_a_network_address() {
    let dir = scratch_dir("network");
    let output = api(&dir).env("HOST", "0.0.0.0").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("SECRET_KEY") && stderr.contains("0.0.0.0"),
        "{stderr}"
    );
    assert!(
        !dir.join("data").exists(),
        "nothing created before refusing"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_value_stops_startup_naming_the_variable() {
    let dir = scratch_dir("bad-port");
    let output = api(&dir).env("PORT", "eighty").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "error: invalid configuration: PORT: expected a whole number from 0 to 65535, got \"eighty\""
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_cleanup_schedule_stops_an_api_that_runs_jobs() {
    // Settings keep the schedule as text; the API parses it before it
    // opens the database, so a typo leaves nothing behind.
    let dir = scratch_dir("bad-schedule");
    let output = api(&dir)
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("JOB_CLEANUP_SCHEDULE", "every hour")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(
        log.contains(
            "invalid configuration: JOB_CLEANUP_SCHEDULE: expected five-field cron (`0 * * * *`)"
        ),
        "{log}"
    );
    assert!(
        !dir.join("data").exists(),
        "the database was created before the schedule was checked"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn create_admin_makes_only_new_accounts_and_delete_user_clears_a_squatter() {
    let dir = scratch_dir("create-admin");
    let command = |args: &[&str], password: Option<&str>| {
        let mut command = api(&dir);
        command.args(args).env("LOG_FORMAT", "json");
        if let Some(password) = password {
            command.env("ADMIN_PASSWORD", password);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let create = |email: &str, password: Option<&str>| {
        command(
            &["create-admin", email, email.split('@').next().unwrap()],
            password,
        )
    };
    let (code, out) = create("root@example.com", Some("Adm1n!pass"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("admin account created"), "{out}");

    // Someone registers the address the operator meant for the admin,
    // with a password of their own, before the operator runs create-admin.
    let (mut child, address, lines) = start(&dir, &[]);
    let body = registration("admin");
    let mut stream = registration_headers(&address, &body, "");
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // With no SMTP_URL or MAIL_DIR, the welcome mail is only logged, and
    // without its body (mail can carry tokens; logs are read by others).
    let logged = lines.wait_for("mail not sent", Duration::from_secs(30));
    assert!(
        logged.contains("Welcome to") && !logged.contains("account is ready"),
        "{logged}"
    );
    tests::process::signal(&child, "-TERM");
    child.wait().unwrap();
    // create-admin refuses it rather than promote the squatter, and says
    // what to do; delete-user removes it, and create-admin then works.
    let (code, out) = create("admin@example.com", Some("Adm1n!pass"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("exists already")
            && out.contains("delete-user")
            && out.contains("--promote-existing"),
        "{out}"
    );
    let (code, out) = command(&["delete-user", "admin@example.com"], None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("account deleted"), "{out}");
    assert_eq!(create("admin@example.com", Some("Adm1n!pass")).0, Some(0));
    assert_eq!(
        command(&["delete-user", "nobody@example.com"], None).0,
        Some(1)
    );

    let (code, out) = create("nopass@example.com", None);
    assert_eq!(code, Some(1));
    assert!(out.contains("set ADMIN_PASSWORD"), "{out}");
    let (code, out) = create("weak@example.com", Some("short"));
    assert_eq!(code, Some(1));
    assert!(out.contains("ADMIN_PASSWORD"), "{out}");
    assert_eq!(
        command(&["create-admin", "only-one-argument"], None).0,
        Some(1)
    );

    // And the way back: revoke-admin takes the role away.
    let (code, out) = command(&["revoke-admin", "root@example.com"], None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("admin role revoked"), "{out}");
    let (_, out) = command(&["revoke-admin", "root@example.com"], None);
    assert!(out.contains("was not an admin"), "{out}");
    assert_eq!(
        command(&["revoke-admin", "nobody@example.com"], None).0,
        Some(1)
    );
    // Promoting an existing account voids its password and queues a reset
    // link (the end-to-end tests follow it); an unknown one is an error.
    let promote = |email| command(&["create-admin", "--promote-existing", email], None);
    let (code, out) = promote("root@example.com");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("promoted to admin") && out.contains("reset link"),
        "{out}"
    );
    assert_eq!(promote("nobody@example.com").0, Some(1));
    std::fs::remove_dir_all(dir).ok();
}

/// Starts the binary on port 0 with `env` and returns it, its address, and
/// the rest of its log lines; the caller waits for it.
#[allow(clippy::zombie_processes)]
fn start(dir: &PathBuf, env: &[(&str, &str)]) -> (std::process::Child, String, LogLines) {
    let mut command = api(dir);
    command
        .envs(env.iter().copied())
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let lines = LogLines::of(&mut child, "api");
    let line = lines.wait_for("listening on http://", Duration::from_secs(30));
    let rest = line.split("listening on http://").nth(1).unwrap();
    (child, rest.split('"').next().unwrap().to_owned(), lines)
}

/// A registration body for `name`.
fn registration(name: &str) -> String {
    format!(r#"{{"email":"{name}@example.com","password":"Str0ng!pass","username":"{name}"}}"#)
}

/// Connects to `address` and sends the headers of `POST /v1/users/` for
/// `body`, with `extra` header lines; the caller sends the body.
fn registration_headers(address: &str, body: &str, extra: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream
}

/// Registers `name` with `extra` header lines; asserts 201.
fn register(address: &str, name: &str, extra: &str) {
    let body = registration(name);
    let mut stream = registration_headers(address, &body, extra);
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[test]
fn a_request_in_flight_during_sigterm_completes_and_the_process_exits_0() {
    let dir = scratch_dir("sigterm");
    let (mut child, address, _lines) = start(&dir, &[]);

    // Send a registration's headers with `Expect: 100-continue`: the
    // server answers `100 Continue` once a worker is processing the request,
    // so the request is provably in flight before the signal.
    let body = registration("late");
    let mut stream = registration_headers(&address, &body, "Expect: 100-continue\r\n");
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 100"), "{status}");
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();

    tests::process::signal(&child, "-TERM");
    // The server has begun shutting down once it stops accepting.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "still accepting after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_line_logged_while_serving_a_request_carries_its_id() {
    let dir = scratch_dir("request-id");
    let (mut child, address, lines) = start(&dir, &[]);
    register(&address, "traced", "X-Request-Id: trace-42\r\n");

    // Logged inside the service, and the response line after it.
    for message in ["user registered", "\"message\":\"request\""] {
        let line = lines.wait_for(message, Duration::from_secs(10));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["request_id"], "trace-42", "{line}");
    }
    // Lines logged outside any request (the shutdown's) have no id.
    tests::process::signal(&child, "-TERM");
    let shutdown = lines.rest();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!shutdown.is_empty());
    for line in shutdown {
        assert!(!line.contains("request_id"), "{line}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn traced_lines_carry_their_trace_and_sigterm_exports_the_buffered_spans() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = {
        let _inside = runtime.enter();
        tests::otlp::Receiver::start()
    };
    let dir = scratch_dir("traces");
    let (mut child, address, lines) = start(
        &dir,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=ours"),
        ],
    );
    let trace_id = "6bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\n");
    register(&address, "traced", &traceparent);
    for message in ["user registered", "\"message\":\"request\""] {
        let line = lines.wait_for(message, Duration::from_secs(10));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["trace_id"], trace_id, "{line}");
        assert_eq!(json["span_id"].as_str().unwrap().len(), 16, "{line}");
    }

    // A burst of requests, then SIGTERM at once: their spans are still in
    // the exporter's buffer (it sends every second), and must not be lost.
    let burst: Vec<String> = (1..=20).map(|n| format!("{n:032x}")).collect();
    for id in &burst {
        let mut stream = TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET /v1/monitoring/health HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{id}-00f067aa0ba902b7-01\r\n\
             Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    tests::process::signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let spans = receiver.spans();
    for span in &spans {
        assert_eq!(
            span.headers.get("x-api-key").map(String::as_str),
            Some("ours")
        );
        assert_eq!(span.headers.get("content-encoding"), None, "uncompressed");
    }
    let exported: Vec<String> = spans.into_iter().map(|span| span.trace_id).collect();
    assert!(exported.iter().any(|id| id == trace_id), "{exported:?}");
    for id in &burst {
        assert!(
            exported.contains(id),
            "span of trace {id} lost at shutdown: {exported:?}"
        );
    }
    drop(runtime);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn print_config_shows_effective_settings_with_secrets_masked() {
    let dir = scratch_dir("print-config");
    let output = api(&dir)
        .arg("print-config")
        .env("SECRET_KEY", "a-very-secret-value-of-forty-bytes-long!!")
        .env("DATABASE_URL", "postgres://app:db-password@db:5432/app")
        .env("PORT", "9000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("PORT=9000"), "{text}");
    assert!(
        text.contains("DATABASE_URL=postgres://app:****@db:5432/app"),
        "{text}"
    );
    assert!(
        !text.contains("a-very-secret") && !text.contains("db-password"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn migrate_makes_a_fresh_database_ready_as_healthcheck_reports() {
    let dir = scratch_dir("migrate");
    // The database URL from a file, as a container's secret hands it over.
    std::fs::write(dir.join("database_url"), "sqlite://data/app.db?mode=rwc\n").unwrap();
    let database = ("DATABASE_URL_FILE", "database_url");
    let (mut child, address, _lines) = start(
        &dir,
        &[
            database,
            ("DATABASE_AUTO_MIGRATE", "false"),
            ("JOB_WORKER_IN_API", "false"),
        ],
    );
    let port = address.rsplit(':').next().unwrap().to_owned();
    let healthcheck = || {
        let output = api(&dir)
            .args(["healthcheck"])
            .envs([database, ("PORT", port.as_str()), ("LOG_FORMAT", "json")])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    let (code, log) = healthcheck();
    assert_eq!(code, Some(1), "not migrated yet: {log}");
    assert!(log.contains("503"), "{log}");

    let migrate = api(&dir)
        .arg("migrate")
        .env(database.0, database.1)
        .output();
    let migrate = migrate.unwrap();
    assert_eq!(migrate.status.code(), Some(0), "{migrate:?}");
    assert_eq!(healthcheck().0, Some(0));

    tests::process::signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let (code, log) = healthcheck();
    assert_eq!(code, Some(1));
    assert!(log.contains("no answer"), "{log}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn migrate_fails_naming_the_database() {
    let dir = scratch_dir("migrate-fails");
    let output = api(&dir)
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://nobody:hunter2@127.0.0.1:1/nothing",
        )
        .env("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1")
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(
        log.contains("cannot connect to the database at postgres://nobody:****@"),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
    std::fs::remove_dir_all(dir).ok();
}
