//! An OTLP/HTTP receiver for the trace tests: accepts
//! `POST /v1/traces` (protobuf, as the exporter sends it), decodes each
//! span with the `opentelemetry-proto` types, and keeps them.

use std::{
    collections::HashMap,
    net::TcpListener,
    sync::{Arc, Mutex},
};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, any_value::Value},
};
use prost::Message as _;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    /// Hex, as in `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    /// 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    /// Every attribute, as text.
    pub attributes: HashMap<String, String>,
    /// Each event's name and attributes, as text.
    pub events: Vec<(String, HashMap<String, String>)>,
    /// 2 is an error.
    pub status_code: i32,
    /// The resource's attributes (`service.name`, ...).
    pub resource: HashMap<String, String>,
    /// Headers of the export that carried it.
    pub headers: HashMap<String, String>,
}

/// The receiver: its base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`) and what it got.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl Receiver {
    /// Starts on a random port of 127.0.0.1, on the current runtime.
    pub fn start() -> Self {
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let kept = spans.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new().route(
                "/v1/traces",
                web::post().to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                    let kept = kept.clone();
                    async move {
                        let Ok(export) = ExportTraceServiceRequest::decode(body) else {
                            return HttpResponse::BadRequest().finish();
                        };
                        let headers = req
                            .headers()
                            .iter()
                            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                            .collect();
                        kept.lock()
                            .expect("not poisoned")
                            .extend(flatten(export, &headers));
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .body(ExportTraceServiceResponse::default().encode_to_vec())
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self { endpoint, spans }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("not poisoned").clone()
    }
}

fn flatten(
    export: ExportTraceServiceRequest,
    headers: &HashMap<String, String>,
) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| text_map(&resource.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    attributes: text_map(&span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|event| (event.name, text_map(&event.attributes)))
                        .collect(),
                    status_code: span.status.map_or(0, |status| status.code),
                    resource: resource.clone(),
                    headers: headers.clone(),
                });
            }
        }
    }
    out
}

fn text_map(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
