//! Logging in node_exporter's shapes: logfmt (`ts=… level=… msg=… key=value`) or JSON.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::LogFormat;

/// Installs the global subscriber; logs go to standard error.
pub fn init(level: tracing::Level, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).init(),
    }
}

/// The logfmt event formatter.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(
            writer,
            "ts={} level={}",
            rfc3339_now(),
            meta.level().as_str().to_lowercase()
        )?;
        let mut visitor = LogfmtFields {
            out: String::new(),
            message: None,
        };
        event.record(&mut visitor);
        if let Some(msg) = visitor.message {
            write!(writer, " msg={}", quote(&msg))?;
        }
        writeln!(writer, "{}", visitor.out)
    }
}

struct LogfmtFields {
    out: String,
    message: Option<String>,
}

impl Visit for LogfmtFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

impl LogfmtFields {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.out.push(' ');
            self.out.push_str(field.name());
            self.out.push('=');
            self.out.push_str(&quote(&value));
        }
    }
}

/// Quotes a logfmt value when it holds spaces, quotes, `=` or nothing.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '"', '=', '\n', '\\']) {
        return value.to_string();
    }
    format!("{value:?}")
}

/// The current UTC time as `2006-01-02T15:04:05.000Z`.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_secs() as i64, now.subsec_millis())
}

fn format_utc(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_795_392_000, 5), "2026-11-23T00:00:00.005Z");
        assert_eq!(format_utc(951_782_400, 999), "2000-02-29T00:00:00.999Z");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("cpu"), "cpu");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
