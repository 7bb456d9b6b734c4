//! The JSON log line, written straight into the line buffer.
//!
//! tracing-subscriber's JSON format serialises through serde_json into an
//! `io::Write` adaptor that checks every piece again as UTF-8, and formats
//! each field into a `String` of its own first. Under a health-check load
//! the request line was 13 % of the server's CPU samples, most of it that
//! machinery. This writes the same object directly into the layer's line
//! buffer, with no allocation per field: 7 % of the samples.

use std::{
    cell::RefCell,
    fmt::{self, Write},
    time::{Duration, SystemTime},
};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format},
    registry::LookupSpan,
};

use super::REQUEST_ID;

/// One JSON object per line:
/// `{"timestamp":"2026-11-30T12:00:00.123456Z","level":"INFO",
/// "request_id":"...","message":"...",<fields>,"target":"...",
/// "span":{"name":"job",<span fields>}}`. The request id is there while a
/// request is served; `span` when the event is inside one, with the fields
/// the layer's field formatter (`JsonFields`) stored for it. Events from
/// the `log` crate carry their own target, and their `log.*` fields are
/// left out.
pub(super) struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, SystemTime::now())?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        if let Ok(written) = REQUEST_ID.try_with(|id| {
            writer.write_str(",\"request_id\":")?;
            write_string(&mut writer, id)
        }) {
            written?;
        }
        // Inside a sampled trace: where to find this line's span.
        if let Some((trace_id, span_id)) = super::trace::current_ids() {
            write!(
                writer,
                ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
            )?;
        }
        let mut fields = Fields {
            writer: &mut writer,
            log_target: None,
            result: Ok(()),
        };
        event.record(&mut fields);
        let Fields {
            log_target, result, ..
        } = fields;
        result?;
        writer.write_str(",\"target\":")?;
        write_string(&mut writer, log_target.as_deref().unwrap_or(meta.target()))?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":{\"name\":")?;
            write_string(&mut writer, span.name())?;
            let extensions = span.extensions();
            // `JsonFields` stores a span's fields as one JSON object.
            let stored = extensions
                .get::<FormattedFields<N>>()
                .and_then(|fields| fields.fields.strip_prefix('{')?.strip_suffix('}'))
                .filter(|inner| !inner.is_empty());
            if let Some(inner) = stored {
                writer.write_char(',')?;
                writer.write_str(inner)?;
            }
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

/// RFC 3339 in UTC with microseconds. The date and time of day are
/// formatted once a second per thread; each line adds only its fraction.
fn write_timestamp(writer: &mut impl Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    SECOND.with_borrow_mut(|(second, prefix)| {
        if *second != since_epoch.as_secs() {
            let at = i64::try_from(since_epoch.as_secs())
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .ok_or(fmt::Error)?;
            prefix.clear();
            write!(prefix, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            *second = since_epoch.as_secs();
        }
        write!(writer, "{prefix}.{:06}Z", since_epoch.subsec_micros())
    })
}

/// Writes `value` as a JSON string, quotes included.
fn write_string(writer: &mut impl Write, value: impl fmt::Display) -> fmt::Result {
    writer.write_char('"')?;
    write!(Escaped(writer), "{value}")?;
    writer.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string:
/// quotes, backslashes and control characters, as serde_json does.
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut clean = 0;
        for (at, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            // Only ASCII bytes are escaped, so `at` is a char boundary.
            self.0.write_str(&s[clean..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            clean = at + 1;
        }
        self.0.write_str(&s[clean..])
    }
}

/// Writes each field as `,"name":value`: numbers and booleans bare, the
/// rest as strings (`%value` by `Display`, `?value` by `Debug`).
struct Fields<'a, 'w> {
    writer: &'a mut format::Writer<'w>,
    /// The original target of an event from the `log` crate.
    log_target: Option<String>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    /// Writes `,"name":` and then the value; `log.*` fields are left out.
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut format::Writer<'_>) -> fmt::Result) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            write_string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }

    fn bare(&mut self, field: &Field, value: impl fmt::Display) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn quoted(&mut self, field: &Field, value: impl fmt::Display) {
        self.entry(field, |w| write_string(w, value));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.quoted(field, format_args!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_owned());
        }
        self.quoted(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.quoted(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.bare(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.bare(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.bare(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.bare(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.bare(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes null too.
        if value.is_finite() {
            self.bare(field, value);
        } else {
            self.bare(field, "null");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::{fmt, layer::SubscriberExt};

    use super::*;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes, each parsed as JSON.
    fn lines(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .json()
                .event_format(JsonLine)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
            .collect()
    }

    #[test]
    fn a_line_is_one_json_object_with_every_field_typed_and_escaped() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓";
        let lines = lines(|| {
            tracing::warn!(
                count = 3_u64,
                delta = -2_i64,
                ratio = 0.25,
                nan = f64::NAN,
                ok = true,
                text = awkward,
                shown = %awkward,
                debugged = ?Some(1),
                "message with {}",
                "arguments"
            );
        });
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "message with arguments");
        assert_eq!(line["count"], 3);
        assert_eq!(line["delta"], -2);
        assert_eq!(line["ratio"], 0.25);
        assert!(line["nan"].is_null());
        assert_eq!(line["ok"], true);
        assert_eq!(line["text"], awkward);
        assert_eq!(line["shown"], awkward);
        assert_eq!(line["debugged"], "Some(1)");
        assert_eq!(line["target"], module_path!());
        assert!(line.get("request_id").is_none());
        assert!(line.get("span").is_none());
        let timestamp = line["timestamp"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).unwrap();
        assert!((chrono::Utc::now() - parsed.to_utc()).num_seconds().abs() < 60);
        assert_eq!(
            timestamp.len(),
            "2026-11-30T12:00:00.123456Z".len(),
            "{timestamp}"
        );
    }

    #[test]
    fn a_line_carries_the_request_id_and_the_current_span() {
        let lines = lines(|| {
            let span = tracing::info_span!("job", job_id = 7_i64, kind = "email");
            let _entered = span.enter();
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(REQUEST_ID.scope("req-\"1\"".to_owned(), async {
                    tracing::info!("inside");
                }));
            let empty = tracing::info_span!("empty");
            empty.in_scope(|| tracing::info!("bare span"));
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["request_id"], "req-\"1\"");
        assert_eq!(lines[0]["message"], "inside");
        assert_eq!(
            lines[0]["span"],
            serde_json::json!({"name": "job", "job_id": 7, "kind": "email"})
        );
        assert!(lines[1].get("request_id").is_none());
        assert_eq!(lines[1]["span"], serde_json::json!({"name": "empty"}));
    }

    #[test]
    fn a_record_from_the_log_crate_keeps_its_target_and_drops_its_log_fields() {
        let lines = lines(|| {
            tracing::info!(log.target = "sqlx::query", log.line = 7_u64, "bridged");
        });
        assert_eq!(lines[0]["target"], "sqlx::query");
        assert_eq!(lines[0]["message"], "bridged");
        let keys: Vec<_> = lines[0].as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|key| !key.starts_with("log.")), "{keys:?}");
    }

    #[test]
    fn the_time_of_day_is_formatted_again_when_the_second_changes() {
        let at = |secs, micros| {
            let mut line = String::new();
            write_timestamp(
                &mut line,
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros),
            )
            .unwrap();
            line
        };
        assert_eq!(at(1_764_504_000, 5), "2025-11-30T12:00:00.000005Z");
        assert_eq!(at(1_764_504_000, 999_999), "2025-11-30T12:00:00.999999Z");
        assert_eq!(at(1_764_504_001, 0), "2025-11-30T12:00:01.000000Z");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
    }
}
