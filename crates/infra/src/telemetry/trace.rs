//! Traces: OpenTelemetry spans exported over OTLP/HTTP, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nothing at all when it is not.
//!
//! The `tracing` spans that start a trace (a request's, a job attempt's) have
//! the target [`ROOT`], and only the OpenTelemetry layer sees them: the log
//! formatter never processes one. They are only created for a trace that is
//! sampled, decided here before the span exists ([`sampled`]), so an
//! unsampled request costs no span at all. Inside a sampled span, our
//! crates' events at `INFO` and above become its span events; so they carry
//! no personal data (no email, password, token or hash in a field).
//!
//! The exporter's HTTP client is reqwest on rustls with ring, the process's
//! one TLS stack. The SDK exports from a thread of its own, outside the
//! async runtime, so each request is spawned onto the runtime
//! ([`OnRuntime`]). Every value comes from [`OtelSettings`]: the
//! exporter's own reading of `OTEL_*` variables is overridden or bypassed.

use std::{collections::HashMap, sync::Arc, sync::OnceLock, time::Duration};

use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, TextMapPropagator as _},
    trace::{Status, TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::{Protocol, RetryPolicy, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    resource::TelemetryResourceDetector,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanLimits},
};
use tracing::{Span, Subscriber, subscriber::Interest};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{Layer, filter, filter::LevelFilter, registry::LookupSpan};

use crate::config::{OtelSettings, OtlpCompression, TracesSampler};

/// The target of the spans that start or continue a trace here: a request's
/// and a job attempt's. Only the OpenTelemetry layer enables it.
pub const ROOT: &str = "otel_root";

/// The target of spans that only a trace holds (a transaction, a cache
/// call, a password hash): the OpenTelemetry layer enables them inside a
/// sampled trace, the log never (its filter turns `otel*` off). Crates that
/// do not depend on this one write the literal.
pub const CHILD: &str = "otel";

/// The target of the request's log line, which repeats what its span holds
/// (method, path, status, request id; its cause is the span's exception
/// event): logged inside the span, for the trace id, but not a span event.
pub const ACCESS: &str = "web::access";

/// The target of sqlx's event after each statement, which [`SqlSpans`]
/// turns into a span.
const SQLX: &str = "sqlx::query";

/// How long one export may take, and shutdown may spend flushing.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The crates whose events become span events (at `INFO` and above).
const OWN_CRATES: &[&str] = &[
    "web",
    "application",
    "persistence",
    "infra",
    "api",
    "worker",
];

/// Tracing as configured, once per process.
static TRACING: OnceLock<Tracing> = OnceLock::new();

#[derive(Debug)]
struct Tracing {
    sampler: TracesSampler,
    ratio: f64,
    propagator: TraceContextPropagator,
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up trace export (OTEL_*): {0}")]
pub struct TraceError(String);

/// The tracer provider for `settings`, exporting in batches through
/// `runtime`, and the layer that turns `tracing` spans into its spans; `None`
/// without an endpoint. Call once per process.
pub(super) fn start<S>(
    settings: &OtelSettings,
    service: &str,
    runtime: tokio::runtime::Handle,
    log_max: LevelFilter,
) -> Result<Option<(SdkTracerProvider, impl Layer<S>)>, TraceError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(url) = settings.traces_url() else {
        return Ok(None);
    };
    let fail = |what: &str, err: &dyn std::fmt::Display| TraceError(format!("{what}: {err}"));
    let header_map = header_map(settings)?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config())
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| fail("HTTP client", &err))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime {
            client,
            runtime,
            headers: Arc::new(header_map),
        })
        .with_endpoint(url)
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        // Retries hold the export thread: two, then the batch is dropped.
        .with_retry_policy(RetryPolicy::default().with_max_retries(2));
    // With none given, the exporter reads `OTEL_EXPORTER_OTLP_COMPRESSION`
    // itself: the variable `none` came from, so the two agree (and the
    // `_TRACES_` form it would read first is refused by the settings).
    if settings.exporter_otlp_compression == OtlpCompression::Gzip {
        exporter = exporter.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    let exporter = exporter
        .build()
        .map_err(|err| fail("OTLP exporter", &err))?;
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(2048)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_secs(1))
                .build(),
        )
        .build();
    let service = settings.service_name.as_deref().unwrap_or(service);
    let resource = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_service_name(service.to_owned())
        .with_attributes(
            settings
                .resource_attributes
                .iter()
                .map(|kv| KeyValue::new(kv.key.clone(), kv.value.clone())),
        )
        .build();
    // Which traces to keep is decided before a span exists (`sampled`):
    // the SDK keeps what it is given.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batch)
        .with_sampler(Sampler::AlwaysOn)
        // Set, so the `OTEL_SPAN_*` variables the builder reads are not used.
        .with_span_limits(SpanLimits::default())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("rust-production-template");
    let statements = SqlSpans {
        tracer: tracer.clone(),
    }
    .with_filter(
        filter::dynamic_filter_fn(|meta, _| meta.target() == SQLX && in_sampled_trace())
            .with_callsite_filter(|meta| {
                if meta.target() == SQLX {
                    Interest::sometimes()
                } else {
                    Interest::never()
                }
            })
            // Without a hint the process's maximum level becomes `TRACE`,
            // and every `log` record of every crate is then asked about.
            .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG),
    );
    let layer = Gate { log_max }.and_then(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(span_filter())
            .and_then(statements),
    );
    TRACING
        .set(Tracing {
            sampler: settings.traces_sampler,
            ratio: settings.traces_sampler_arg,
            propagator: TraceContextPropagator::new(),
        })
        .map_err(|_| TraceError("tracing was set up twice".to_owned()))?;
    Ok(Some((provider, layer)))
}

/// `OTEL_EXPORTER_OTLP_HEADERS` as HTTP headers, checked as header syntax
/// (the values are secret, so an error does not quote them).
fn header_map(settings: &OtelSettings) -> Result<http::HeaderMap, TraceError> {
    let fail =
        |err: &dyn std::fmt::Display| TraceError(format!("OTEL_EXPORTER_OTLP_HEADERS: {err}"));
    let mut map = http::HeaderMap::new();
    for (name, value) in settings.headers().map_err(|err| fail(&err))? {
        let name: http::HeaderName = name.parse().map_err(|err| fail(&err))?;
        let value = http::HeaderValue::from_str(&value)
            .map_err(|_| fail(&"a value is not a header value"))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Whether the current context is a sampled trace (the OpenTelemetry
/// layer makes a span's context current while it is entered).
fn in_sampled_trace() -> bool {
    Context::map_current(|cx| cx.span().span_context().is_sampled())
}

/// What the OpenTelemetry layer sees: the [`ROOT`] spans, and inside a
/// sampled trace the [`CHILD`] spans and our crates' spans and events at
/// `INFO` and above. Every other callsite is never asked about again.
fn span_filter<S>() -> impl tracing_subscriber::layer::Filter<S> {
    // `log` records (sqlx asks about its statements that way too) come
    // without a callsite: the dynamic rule repeats the static one.
    filter::dynamic_filter_fn(|meta, _| {
        span_layer_wants(meta) && (meta.target() == ROOT || in_sampled_trace())
    })
    .with_callsite_filter(|meta| {
        if span_layer_wants(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    })
    .with_max_level_hint(tracing::level_filters::LevelFilter::INFO)
}

/// [`span_filter`]'s rule, before sampling: the [`ROOT`] and [`CHILD`]
/// spans, and our crates' spans and events, at `INFO` and above.
fn span_layer_wants(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    *meta.level() <= tracing::Level::INFO && (target == ROOT || target == CHILD || own(target))
}

/// Whether `target` is one of our crates or a module of one (other than
/// the request's log line, [`ACCESS`]).
fn own(target: &str) -> bool {
    let crate_name = target.split("::").next().unwrap_or(target);
    OWN_CRATES.contains(&crate_name) && target != ACCESS
}

/// A global filter in front of both layers. Per-layer filters that decide
/// at run time (ours: "inside a sampled trace") cannot disable anything for
/// the whole subscriber, so outside a sampled trace, spans and events only
/// a trace wants would still be built: a span in the registry per cache
/// call, and sqlx formatting every statement for an event no layer takes.
/// The gate disables them there, for every layer; what the log may want
/// (at or below its highest level, other than `otel*`) it leaves to the
/// layers' own filters.
struct Gate {
    /// The log's highest level (`LOG_LEVEL`).
    log_max: LevelFilter,
}

impl Gate {
    /// Whether only a trace may want `meta`.
    fn trace_only(&self, meta: &tracing::Metadata<'_>) -> bool {
        let target = meta.target();
        target == ROOT || target == CHILD || *meta.level() > self.log_max
    }

    /// Whether a sampled trace wants `meta`: [`span_filter`]'s callsites and
    /// sqlx's statement event.
    fn in_traces(meta: &tracing::Metadata<'_>) -> bool {
        span_layer_wants(meta) || (meta.target() == SQLX && *meta.level() <= tracing::Level::DEBUG)
    }
}

impl<S: Subscriber> Layer<S> for Gate {
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> Interest {
        match (self.trace_only(meta), Self::in_traces(meta)) {
            (false, _) => Interest::always(),
            (true, true) => Interest::sometimes(),
            (true, false) => Interest::never(),
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        // Request and job spans are made only for sampled traces.
        !self.trace_only(meta)
            || (Self::in_traces(meta) && (meta.target() == ROOT || in_sampled_trace()))
    }
}

/// Turns sqlx's event after each statement into a client span that ends
/// now and began `elapsed_secs` ago, a child of the current trace. The
/// event carries the statement's text with placeholders (`$1`, `?`), never
/// the bound values, and its summary (the first words).
struct SqlSpans {
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl<S: Subscriber> Layer<S> for SqlSpans {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
        let mut fields = SqlFields::default();
        event.record(&mut fields);
        // sqlx also reports work with no SQL text of ours (a connection's
        // health check on release): no statement, no span.
        if fields.summary.trim().is_empty() {
            return;
        }
        let end = std::time::SystemTime::now();
        let start = end
            .checked_sub(Duration::from_secs_f64(fields.elapsed_secs.max(0.0)))
            .unwrap_or(end);
        let operation = fields
            .summary
            .split_whitespace()
            .next()
            .unwrap_or("statement")
            .to_ascii_uppercase();
        let text = if fields.statement.trim().is_empty() {
            fields.summary
        } else {
            fields.statement.trim().to_owned()
        };
        let mut attributes = vec![
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("db.query.text", text),
        ];
        if let Some(rows) = fields.rows {
            attributes.push(KeyValue::new("db.response.returned_rows", rows));
        }
        let mut span = self
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &Context::current());
        span.end_with_timestamp(end);
    }
}

/// The fields of sqlx's statement event that a span keeps.
#[derive(Default)]
struct SqlFields {
    summary: String,
    statement: String,
    elapsed_secs: f64,
    rows: Option<i64>,
}

impl tracing::field::Visit for SqlFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows = i64::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

/// TLS for the exporter: rustls with ring and the Mozilla roots, as the
/// rest of the process has it.
fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// reqwest's client, run on the process's runtime: the SDK's export thread
/// has none. Adds `OTEL_EXPORTER_OTLP_HEADERS` from the settings.
#[derive(Debug, Clone)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    headers: Arc<http::HeaderMap>,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        // Ours win over those the exporter read from the environment
        // (`OTEL_EXPORTER_OTLP_HEADERS`, the same variable, unless the
        // setting came from its `_FILE`).
        for (name, value) in self.headers.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let client = self.client.clone();
        self.runtime
            .spawn(
                async move { opentelemetry_http::HttpClient::send_bytes(&client, request).await },
            )
            .await?
    }
}

/// Whether to keep a trace that starts here: `parent` is whether the
/// caller's trace (from `traceparent`, or a job's enqueuing request) was
/// sampled, if there is one.
fn sampled(tracing: &Tracing, parent: Option<bool>) -> bool {
    let ratio = || fastrand::f64() < tracing.ratio;
    match tracing.sampler {
        TracesSampler::AlwaysOn => true,
        TracesSampler::AlwaysOff => false,
        TracesSampler::Traceidratio => ratio(),
        TracesSampler::ParentbasedAlwaysOn => parent.unwrap_or(true),
        TracesSampler::ParentbasedAlwaysOff => parent.unwrap_or(false),
        TracesSampler::ParentbasedTraceidratio => parent.unwrap_or_else(ratio),
    }
}

/// The context a `traceparent`/`tracestate` pair carries, and whether it was
/// sampled (`None`: none, or malformed, which starts a new trace).
fn extract(tracing: &Tracing, carrier: &dyn Extractor) -> (Context, Option<bool>) {
    let cx = tracing.propagator.extract(carrier);
    let span_context = cx.span().span_context().clone();
    let parent = span_context.is_valid().then(|| span_context.is_sampled());
    (cx, parent)
}

/// One request's server span, continuing the trace of its `traceparent`
/// header (read through `header`); [`Span::none`] when tracing is off or the
/// trace is not sampled. `route` is the template of the route the path
/// matches, which names the span (the method alone, for no route).
pub fn server_span<'h>(
    method: &str,
    route: impl FnOnce() -> Option<String>,
    path: &str,
    client: impl FnOnce() -> Option<String>,
    request_id: &str,
    header: impl Fn(&str) -> Option<&'h str>,
) -> Span {
    let Some(tracing) = TRACING.get() else {
        return Span::none();
    };
    let (cx, parent) = extract(tracing, &Headers(header, std::marker::PhantomData));
    if !sampled(tracing, parent) {
        return Span::none();
    }
    // Looked up only for a span that will be made.
    let (route, client) = (route(), client());
    let route = route.as_deref();
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        target: ROOT,
        "request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = route,
        url.path = %path,
        client.address = client,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    // Before the span is first entered, or the parent is ignored.
    let _ = span.set_parent(cx);
    span
}

/// Records a request's status on its span; a 5xx marks it an error, with
/// `cause` (the error chain) as its exception event.
pub fn finish_server_span(span: &Span, status: u16, cause: Option<&str>) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        fail(span, cause.unwrap_or("server error"));
    }
}

/// Marks `span` failed, with `cause` as an `exception` event.
pub fn fail(span: &Span, cause: &str) {
    if span.is_none() {
        return;
    }
    span.set_status(Status::error(cause.to_owned()));
    span.add_event(
        "exception",
        vec![KeyValue::new("exception.message", cause.to_owned())],
    );
}

/// The current trace as `traceparent`/`tracestate`, to carry into work that
/// runs later (a job's metadata); `None` outside a sampled trace.
pub fn inject() -> Option<HashMap<String, String>> {
    let tracing = TRACING.get()?;
    let cx = Context::current();
    if !cx.span().span_context().is_sampled() {
        return None;
    }
    let mut carrier = HashMap::new();
    tracing.propagator.inject_context(&cx, &mut carrier);
    Some(carrier)
}

/// A job attempt's span, a child of the trace `carrier` holds (the request
/// that enqueued it), else the root of a trace of its own; [`Span::none`]
/// when tracing is off or the trace is not sampled. (`carrier` is a job's
/// metadata, decoded with the default hasher.)
#[allow(clippy::implicit_hasher)]
pub fn job_span(
    kind: &str,
    id: i64,
    attempt: i32,
    carrier: Option<&HashMap<String, String>>,
) -> Span {
    let Some(tracing) = TRACING.get() else {
        return Span::none();
    };
    let (cx, parent) = match carrier {
        Some(carrier) => extract(tracing, carrier),
        None => (Context::new(), None),
    };
    if !sampled(tracing, parent) {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: ROOT,
        "job",
        otel.name = %format_args!("{kind} process"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "river",
        messaging.operation.type = "process",
        messaging.message.id = id,
        job.kind = %kind,
        job.attempt = attempt,
        job.outcome = tracing::field::Empty,
    );
    let _ = span.set_parent(cx);
    span
}

/// The current trace's and span's ids, for log lines; `None` outside a
/// sampled trace.
pub(super) fn current_ids() -> Option<(String, String)> {
    TRACING.get()?;
    Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_sampled().then(|| {
            (
                context.trace_id().to_string(),
                context.span_id().to_string(),
            )
        })
    })
}

/// Request headers, read through a function (actix's header map is not
/// `http` 1's).
struct Headers<'h, F>(F, std::marker::PhantomData<&'h str>);

impl<'h, F: Fn(&str) -> Option<&'h str>> Extractor for Headers<'h, F> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0)(key)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(sampler: TracesSampler, ratio: f64) -> Tracing {
        Tracing {
            sampler,
            ratio,
            propagator: TraceContextPropagator::new(),
        }
    }

    #[test]
    fn outside_a_sampled_trace_what_only_a_trace_wants_is_never_built() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(LevelFilter::INFO),
            )
            .with(Gate {
                log_max: LevelFilter::INFO,
            });
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::info_span!(target: "otel", "cache").is_disabled());
            // sqlx asks before it formats a statement for its event.
            assert!(!tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG));
            assert!(!tracing::enabled!(target: "web", tracing::Level::DEBUG));
            // What the log wants stays for the log.
            assert!(tracing::enabled!(target: "web", tracing::Level::INFO));
            assert!(!tracing::info_span!(target: "web", "work").is_disabled());
        });
    }

    #[test]
    fn parent_based_samplers_follow_the_caller_and_ratios_hold() {
        let parent_based = with(TracesSampler::ParentbasedTraceidratio, 0.0);
        assert!(sampled(&parent_based, Some(true)));
        assert!(!sampled(&parent_based, Some(false)));
        assert!(!sampled(&parent_based, None), "ratio 0 keeps no new trace");
        assert!(sampled(
            &with(TracesSampler::ParentbasedAlwaysOn, 0.0),
            None
        ));
        assert!(!sampled(&with(TracesSampler::AlwaysOff, 1.0), Some(true)));
        let tenth = with(TracesSampler::Traceidratio, 0.1);
        let kept = (0..10_000).filter(|_| sampled(&tenth, Some(true))).count();
        assert!((700..1300).contains(&kept), "{kept} of 10000 at 0.1");
    }

    #[test]
    fn with_no_endpoint_no_span_is_made() {
        // Nothing in this test process starts tracing.
        assert!(TRACING.get().is_none());
        let header = |_: &str| Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert!(
            server_span("GET", || Some("/x".to_owned()), "/x", || None, "id", header).is_none()
        );
        assert!(job_span("ping", 1, 1, None).is_none());
        assert_eq!(inject(), None);
        assert_eq!(current_ids(), None);
    }

    #[test]
    fn a_malformed_traceparent_is_no_parent() {
        let tracing = with(TracesSampler::ParentbasedAlwaysOn, 1.0);
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        for (header, parent) in [
            (good, Some(true)),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                Some(false),
            ),
            ("00-zz-b7ad6b7169203331-01", None),
            ("garbage", None),
        ] {
            let carrier = HashMap::from([("traceparent".to_owned(), header.to_owned())]);
            assert_eq!(extract(&tracing, &carrier).1, parent, "{header}");
        }
    }
}
