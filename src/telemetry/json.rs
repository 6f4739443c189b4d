//! JSON log lines written straight into the line buffer, in the shape of tracing-subscriber's
//! JSON format with `flatten_event`, `with_current_span` and `with_span_list` (timestamp, level,
//! the event's fields, `span`, `spans`), at a fraction of its cost: that format keeps each span's
//! fields as JSON text, then parses that text back into a map for every line it appears in (twice
//! per line: `span` and `spans`), and collects the event's fields in a map of owned values first.
//! Here a span's fields are kept as JSON text once, copied verbatim into each line, and the
//! event's fields are escaped on the way out. Under load that is one of the bot's larger costs
//! per message (BENCHMARKS.md).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter: one JSON object a line.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonLines;

/// The span-field formatter: a span's fields as the members of a JSON object, without the braces
/// (`"request_id":"…","msg_id":"…"`), so later `record`s append and lines copy them verbatim.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut members = Members { out: &mut writer, first: true, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut writer = current.as_writer();
        let mut members = Members { out: &mut writer, first, result: Ok(()) };
        fields.record(&mut members);
        members.result
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", event.metadata().level())?;
        let mut members = Members { out: &mut writer, first: false, result: Ok(()) };
        event.record(&mut members);
        members.result?;
        let current = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
        if let Some(current) = current {
            writer.write_str(",\"span\":")?;
            write_span::<S, N>(&mut writer, &current)?;
            writer.write_str(",\"spans\":[")?;
            for (i, span) in current.scope().from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                write_span::<S, N>(&mut writer, &span)?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// `{<its fields>,"name":"<its name>"}`.
fn write_span<S, N>(writer: &mut Writer<'_>, span: &tracing_subscriber::registry::SpanRef<'_, S>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    writer.write_char('{')?;
    let extensions = span.extensions();
    if let Some(fields) = extensions.get::<FormattedFields<N>>()
        && !fields.fields.is_empty()
    {
        writer.write_str(&fields.fields)?;
        writer.write_char(',')?;
    }
    writer.write_str("\"name\":")?;
    write_string(writer, span.name())?;
    writer.write_char('}')
}

/// Writes fields as JSON object members, a comma before each but the first.
struct Members<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Members<'_, W> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        write_string(self.out, field.name())?;
        self.out.write_char(':')
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl<W: fmt::Write> Visit for Members<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_string(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |out| if value.is_finite() { write!(out, "{value}") } else { out.write_str("null") });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// A JSON string literal.
fn write_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what passes through as the inside of a JSON string, as serde_json does: quote,
/// backslash and control characters.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..0x20 => "",
                _ => continue,
            };
            self.0.write_str(&text[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, text).expect("writes");
        out
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in ["plain", "quote \" and \\ backslash", "lines\nand\ttabs\r", "\u{1}\u{8}\u{c}\u{1f}", "中文 ✓", ""]
        {
            assert_eq!(escaped(text), serde_json::to_string(text).expect("json"), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_escaped_exactly_as_serde_json_escapes_it(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(escaped(&text), serde_json::to_string(&text).expect("json"));
        }

        #[test]
        fn ascii_with_every_control_character_is_escaped_as_serde_json_does(text in "[\\x00-\\x7f]{0,64}") {
            proptest::prop_assert_eq!(escaped(&text), serde_json::to_string(&text).expect("json"));
        }
    }

    #[test]
    fn lines_have_the_shape_of_tracing_subscribers_json_with_spans() {
        use std::sync::{Arc, Mutex};
        let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&lines);
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(n = 3, "before any span");
            let span = tracing::info_span!("callback", request_id = %"00ff", msg_id = tracing::field::Empty);
            span.record("msg_id", "m\"1");
            let _outer = span.enter();
            let _inner = tracing::info_span!("message").entered();
            tracing::warn!(ok = true, ratio = 0.5, err = %"bad\nthing", "replied");
        });
        let text = String::from_utf8(lines.lock().expect("lock").clone()).expect("utf-8");
        let parsed: Vec<serde_json::Value> =
            text.lines().map(|line| serde_json::from_str(line).expect("each line is JSON")).collect();
        assert_eq!(parsed.len(), 2, "{text}");
        assert_eq!(parsed[0]["message"], "before any span");
        assert_eq!(parsed[0]["level"], "INFO");
        assert_eq!(parsed[0]["n"], 3);
        assert!(parsed[0].get("span").is_none() && parsed[0].get("spans").is_none(), "{text}");
        let line = &parsed[1];
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
        assert_eq!(line["level"], "WARN");
        assert_eq!(
            (line["ok"].clone(), line["ratio"].clone(), line["err"].clone()),
            (true.into(), 0.5.into(), "bad\nthing".into())
        );
        assert_eq!(line["span"], serde_json::json!({"name": "message"}));
        assert_eq!(
            line["spans"],
            serde_json::json!([{"request_id": "00ff", "msg_id": "m\"1", "name": "callback"}, {"name": "message"}])
        );
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
