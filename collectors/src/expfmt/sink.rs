//! `MetricSink`: where a collector writes its families during one scrape.
//!
//! A sink is two flat byte buffers and two small index vectors, not a tree of metric objects:
//! sample lines are encoded once, in text-format form without the metric name, and the
//! renderer later prefixes the family name, merges families of the same name from all
//! collectors, sorts and de-duplicates series, and re-lays lines out for OpenMetrics.

use std::io::Write;
use std::ops::Range;

use super::float::write_float;

/// The Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// A value of unknown type (`untyped` in text, `unknown` in OpenMetrics).
    Untyped,
    /// A histogram (only passed through from textfiles).
    Histogram,
    /// A summary (only passed through from textfiles).
    Summary,
}

impl MetricType {
    /// The name used on a text-format `# TYPE` line.
    pub fn text_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }

    /// The name used on an OpenMetrics `# TYPE` line.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricType::Untyped => "unknown",
            other => other.text_name(),
        }
    }
}

/// One sample line: `buf[start..key_end]` is the suffix plus label set (the series identity),
/// `buf[key_end+1..end]` is the value and optional timestamp.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line {
    pub start: u32,
    pub key_end: u32,
    pub end: u32,
}

/// A run of lines that belong to one family, as written by one collector.
#[derive(Clone, Debug)]
pub(crate) struct FamilyBlock {
    pub name: Range<u32>,
    pub help: Range<u32>,
    pub kind: MetricType,
    pub lines: Range<u32>,
}

/// The per-collector, per-scrape output buffer.
#[derive(Default, Debug)]
pub struct MetricSink {
    pub(crate) text: Vec<u8>,
    pub(crate) buf: Vec<u8>,
    pub(crate) lines: Vec<Line>,
    pub(crate) families: Vec<FamilyBlock>,
}

impl MetricSink {
    /// Creates an empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a family; following samples belong to it until the next `family` call.
    /// Calling it again with a name already used is fine: the renderer merges the blocks.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) -> &mut Self {
        let name_range = push_str(&mut self.text, name);
        let help_range = push_str(&mut self.text, help);
        let at = self.lines.len() as u32;
        self.families.push(FamilyBlock {
            name: name_range,
            help: help_range,
            kind,
            lines: at..at,
        });
        self
    }

    /// Opens a counter family.
    pub fn counter(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricType::Counter)
    }

    /// Opens a gauge family.
    pub fn gauge(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricType::Gauge)
    }

    /// Opens an untyped family.
    pub fn untyped(&mut self, name: &str, help: &str) -> &mut Self {
        self.family(name, help, MetricType::Untyped)
    }

    /// Adds a sample with `labels` (any order; they are written sorted by name) to the open family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.write_line("", labels, value, None);
        self
    }

    /// Adds a sample that carries an explicit timestamp in milliseconds.
    pub fn sample_at(
        &mut self,
        labels: &[(&str, &str)],
        value: f64,
        timestamp_ms: i64,
    ) -> &mut Self {
        self.write_line("", labels, value, Some(timestamp_ms));
        self
    }

    /// Adds a sample whose name is the family name plus `suffix` (`_bucket`, `_sum`, ...).
    pub fn sample_suffixed(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut Self {
        self.write_line(suffix, labels, value, None);
        self
    }

    /// Shorthand: a family with one unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: MetricType, value: f64) -> &mut Self {
        self.family(name, help, kind).sample(&[], value)
    }

    /// Number of samples written so far.
    pub fn sample_count(&self) -> usize {
        self.lines.len()
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Drops everything written, keeping the allocations.
    pub fn clear(&mut self) {
        self.text.clear();
        self.buf.clear();
        self.lines.clear();
        self.families.clear();
    }

    fn write_line(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) {
        let Some(family) = self.families.last_mut() else {
            tracing::error!("sample written before any family was opened; dropped");
            return;
        };
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(suffix.as_bytes());
        if !labels.is_empty() {
            self.buf.push(b'{');
            if labels.windows(2).all(|w| w[0].0 <= w[1].0) {
                write_labels(&mut self.buf, labels.iter());
            } else {
                let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                write_labels(&mut self.buf, sorted.into_iter());
            }
            self.buf.push(b'}');
        }
        let key_end = self.buf.len() as u32;
        self.buf.push(b' ');
        write_float(&mut self.buf, value);
        if let Some(ts) = ts {
            let _ = write!(self.buf, " {ts}");
        }
        let end = self.buf.len() as u32;
        self.lines.push(Line {
            start,
            key_end,
            end,
        });
        family.lines.end = self.lines.len() as u32;
    }
}

fn write_labels<'a>(buf: &mut Vec<u8>, labels: impl Iterator<Item = &'a (&'a str, &'a str)>) {
    for (i, (name, value)) in labels.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(b"=\"");
        escape_label_value(buf, value);
        buf.push(b'"');
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(buf: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\n' => buf.extend_from_slice(b"\\n"),
            _ => buf.push(b),
        }
    }
}

fn push_str(text: &mut Vec<u8>, s: &str) -> Range<u32> {
    let start = text.len() as u32;
    text.extend_from_slice(s.as_bytes());
    start..text.len() as u32
}
