//! Traces, end to end: the app exports spans over OTLP/HTTP to a receiver
//! inside this test process, which decodes them. The tracing subscriber is
//! process-wide, so these tests have a binary of their own; telemetry and
//! the receiver run on a runtime of their own, which outlives every test's.

#![allow(clippy::unwrap_used)]

use std::{sync::OnceLock, time::Duration};

use serde_json::json;
use tests::{
    PASSWORD, TestApp,
    otlp::{ReceivedSpan, Receiver},
    scratch_dir, spawn_shared_app_with, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

/// The receiver, with the process's telemetry exporting to it.
fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        let runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let receiver = {
            let _inside = runtime.enter();
            Receiver::start()
        };
        let settings = infra::Settings::from_vars([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret"),
            // The startup test exports uncompressed.
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
            ("LOG_LEVEL", "warn"),
        ])
        .unwrap();
        let guard = infra::telemetry::init(
            &settings.telemetry,
            &settings.otel,
            "api",
            runtime.handle().clone(),
        )
        .unwrap();
        // Spans are exported every second; the guard lives as long as the process.
        std::mem::forget(guard);
        receiver
    })
}

async fn app() -> (TestApp, std::path::PathBuf) {
    receiver();
    let dir = scratch_dir("mail");
    let app = spawn_shared_app_with(&[
        ("MAIL_DIR", dir.to_str().unwrap()),
        ("JOB_POLL_INTERVAL_MS", "20"),
    ])
    .await;
    (app, dir)
}

/// Waits until the spans of `trace_id` include one named each of `names`;
/// returns them all. Spans are exported as they end, in batches, so a job
/// that ends before its request's response is written can arrive first.
async fn trace_with(trace_id: &str, names: &[&str]) -> Vec<ReceivedSpan> {
    wait_for(
        &format!("spans {names:?} in trace {trace_id}"),
        WAIT,
        || async {
            let spans: Vec<_> = receiver()
                .spans()
                .into_iter()
                .filter(|span| span.trace_id == trace_id)
                .collect();
            names
                .iter()
                .all(|name| spans.iter().any(|span| span.name == *name))
                .then_some(spans)
        },
    )
    .await
}

/// Inside the request: the password hash, and the transaction with its
/// statements, River's insert of the welcome job among them.
fn request_internals(spans: &[ReceivedSpan], request: &ReceivedSpan) {
    let child_of = |parent: &ReceivedSpan, name: &str| {
        spans
            .iter()
            .filter(|span| span.parent_span_id == parent.span_id && span.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(child_of(request, "password hash").len(), 1, "{spans:#?}");
    let transaction = &child_of(request, "db transaction")[0];
    let statements: Vec<_> = spans
        .iter()
        .filter(|span| span.parent_span_id == transaction.span_id)
        .collect();
    let text = |span: &&ReceivedSpan| {
        span.attributes
            .get("db.query.text")
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        statements
            .iter()
            .any(|span| span.name == "INSERT" && text(span).contains("users")),
        "{statements:#?}"
    );
    assert!(
        statements
            .iter()
            .any(|span| text(span).contains("river_job")),
        "River's insert: {statements:#?}"
    );
    let all_text: String = statements.iter().map(text).collect();
    assert!(
        all_text.contains("$1") || all_text.contains('?'),
        "placeholders, never values"
    );
    assert_eq!(transaction.kind, 1, "internal");
}

/// Whether `span` is inside the span `ancestor` (a child, or deeper).
fn descends(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.clone();
    while !parent.is_empty() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|up| up.span_id == parent) {
            Some(up) => parent.clone_from(&up.parent_span_id),
            None => return false,
        }
    }
    false
}

/// Asserts `span` is an error whose `exception` event's message holds `cause`.
fn assert_failed(span: &ReceivedSpan, cause: &str) {
    assert_eq!(span.status_code, 2, "error");
    let (_, exception) = span
        .events
        .iter()
        .find(|(name, _)| name == "exception")
        .expect("an exception event");
    assert!(
        exception["exception.message"].contains(cause),
        "{exception:?}"
    );
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans.iter().find(|span| span.name == name).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_and_its_welcome_mail_are_one_trace_without_personal_data() {
    let (app, dir) = app().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = app
        .client
        .post(app.url("/v1/users/"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "username": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let spans = trace_with(trace_id, &["POST /v1/users", "welcome_email process"]).await;
    let request = named(&spans, "POST /v1/users");
    assert_eq!(
        request.parent_span_id, "00f067aa0ba902b7",
        "the caller's span"
    );
    assert_eq!(request.kind, 2, "server");
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/v1/users"),
        ("http.response.status_code", "201"),
        // Personal data: only its network, by default.
        ("client.address", "127.0.0.0/24"),
        ("request_id", request_id.as_str()),
    ] {
        assert_eq!(
            request.attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(request.resource["service.name"], "api");
    assert_eq!(request.resource["deployment.environment.name"], "test");
    assert_eq!(
        request.headers.get("x-api-key").map(String::as_str),
        Some("s3cret")
    );
    assert_eq!(
        request.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );

    request_internals(&spans, request);
    let events: Vec<_> = request
        .events
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(events.contains(&"user registered"), "{events:?}");
    assert!(
        !events.contains(&"request"),
        "the request line repeats the span"
    );

    let job = named(&spans, "welcome_email process");
    // Enqueued in the request's transaction: the job's parent is in it.
    assert!(descends(&spans, job, &request.span_id), "{spans:#?}");
    assert_eq!(job.kind, 5, "consumer");
    assert_eq!(job.attributes["job.kind"], "welcome_email");
    assert_eq!(job.attributes["job.attempt"], "1");
    assert_eq!(job.attributes["job.outcome"], "succeeded");
    // The job's own statements (its account's row, its token) are in it.
    let statements = wait_for("the job's statements", WAIT, || async {
        let spans = receiver().spans();
        let under_job: Vec<_> = spans
            .iter()
            .filter(|span| {
                span.trace_id == trace_id && span.attributes.contains_key("db.query.text")
            })
            .filter(|span| descends(&spans, span, &job.span_id))
            .cloned()
            .collect();
        (!under_job.is_empty()).then_some(under_job)
    })
    .await;
    assert!(
        statements.iter().any(|span| span.name == "SELECT"),
        "{statements:#?}"
    );

    // No personal data anywhere: not the address, not the password.
    let everything = format!("{spans:?}");
    assert!(!everything.contains("ada@example.com"), "{everything}");
    assert!(!everything.contains(PASSWORD), "{everything}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_traceparent_starts_a_new_trace_and_an_unsampled_one_exports_nothing() {
    let (app, dir) = app().await;
    let send = |traceparent: &'static str| {
        app.client
            .get(app.url("/v1/monitoring/health"))
            .header("traceparent", traceparent)
            .send()
    };
    let unsampled = "5bf92f3577b34da6a3ce929d0e0e4736";
    let response = send("00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = send("00-not-a-trace-01").await.unwrap();
    assert_eq!(response.status(), 200, "never fails the request");

    let fresh = wait_for("the malformed request's span", WAIT, || async {
        receiver()
            .spans()
            .into_iter()
            .find(|span| span.name == "GET /v1/monitoring/health" && span.parent_span_id.is_empty())
    })
    .await;
    assert_eq!(fresh.trace_id.len(), 32);
    assert_ne!(fresh.trace_id, "0".repeat(32));
    // Exported in order: once the later request's span is in, the earlier,
    // unsampled one would be too.
    assert!(
        receiver()
            .spans()
            .iter()
            .all(|span| span.trace_id != unsampled),
        "an unsampled caller's trace is not recorded"
    );
    drop(app);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_call_is_a_span_with_its_result_and_a_miss_holds_the_query() {
    let (app, dir) = app().await;
    let (token, _) = app.signed_up("ada").await;
    let mut results = Vec::new();
    for trace_id in [
        "7bf92f3577b34da6a3ce929d0e0e4736",
        "8bf92f3577b34da6a3ce929d0e0e4736",
    ] {
        let response = app
            .client
            .get(app.url("/v1/users/me"))
            .bearer_auth(&token)
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let spans = trace_with(trace_id, &["cache get_or_compute"]).await;
        let cache = named(&spans, "cache get_or_compute");
        assert_eq!(cache.attributes["cache.key_prefix"], "users:me");
        // Statements inside it (with Redis, its calls may have spans too).
        let inside = spans
            .iter()
            .filter(|span| span.attributes.contains_key("db.query.text"))
            .filter(|span| descends(&spans, span, &cache.span_id))
            .count();
        results.push((cache.attributes["cache.result"].clone(), inside));
    }
    assert_eq!(results[0].0, "miss");
    assert!(
        results[0].1 > 0,
        "the miss's query is inside the cache span"
    );
    assert_eq!(results[1], ("hit".to_owned(), 0), "{results:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_marks_its_span_an_error_with_the_cause() {
    let (app, dir) = app().await;
    let (token, _) = app.signed_up("ada").await;
    // Storage fails: the tasks table is gone.
    {
        use sea_orm::ConnectionTrait as _;
        let db = app.pool().await;
        db.writer()
            .execute_unprepared("DROP TABLE tasks")
            .await
            .unwrap();
    }
    let trace_id = "9bf92f3577b34da6a3ce929d0e0e4736";
    let response = app
        .client
        .get(app.url("/v1/tasks/"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let spans = trace_with(trace_id, &["GET /v1/tasks"]).await;
    let request = named(&spans, "GET /v1/tasks");
    assert_eq!(request.status_code, 2, "error");
    assert_eq!(request.attributes["http.response.status_code"], "500");
    assert_failed(request, "storage failed");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_attempt_marks_its_span_an_error_with_the_cause() {
    receiver();
    // Port 9 (discard) is closed here and in CI: every send fails.
    let app = spawn_shared_app_with(&[
        ("SMTP_URL", "smtp://127.0.0.1:9"),
        ("JOB_POLL_INTERVAL_MS", "20"),
    ])
    .await;
    let trace_id = "abf92f3577b34da6a3ce929d0e0e4736";
    let response = app
        .client
        .post(app.url("/v1/users/"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "username": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let spans = trace_with(trace_id, &["welcome_email process"]).await;
    let attempt = named(&spans, "welcome_email process");
    assert_eq!(attempt.status_code, 2, "error");
    assert_eq!(attempt.attributes["job.outcome"], "retried");
    assert_failed(attempt, "SMTP");
}
