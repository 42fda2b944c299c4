//! `MetricSink`: where a collector writes its families during one scrape.
//!
//! A sink is two flat byte buffers and two small index vectors, not a tree of metric objects:
//! sample lines are encoded once, in text-format form without the metric name, and the
//! renderer later prefixes the family name, merges families of the same name from all
//! collectors, sorts and de-duplicates series, and re-lays lines out for OpenMetrics.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

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
/// `buf[key_end+1..end]` is the value and optional timestamp. A line with a `set` holds only its
/// extra labels there (`a="x",b="y"`, no braces, no suffix); the renderer merges them with the
/// shared set's labels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line {
    pub start: u32,
    pub key_end: u32,
    pub end: u32,
    pub set: u32,
}

/// `Line::set` of a line that carries its whole label set itself.
pub(crate) const NO_SET: u32 = u32::MAX;

/// Label sets that many samples share (a container's six labels on its ~70 series), encoded
/// once per scrape. A sample refers to its set by index, so a sink holds each set's text once
/// instead of once per line: at 1000 containers this is the difference between ~18 MB and
/// ~3 MB of sample lines held until rendering.
#[derive(Default, Debug)]
pub struct LabelSets {
    text: Vec<u8>,
    /// Per label: its name and its encoded `name="value"` segment, ranges into `text`.
    labels: Vec<(Range<u32>, Range<u32>)>,
    /// Per set: its range in `labels`.
    sets: Vec<Range<u32>>,
}

impl LabelSets {
    /// Creates an empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label set (any order; stored sorted by name) and returns its index.
    pub fn push(&mut self, labels: &[(&str, &str)]) -> u32 {
        let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let first = self.labels.len() as u32;
        for (name, value) in sorted {
            let name_range = push_str(&mut self.text, name);
            let start = name_range.start;
            self.text.extend_from_slice(b"=\"");
            escape_label_value(&mut self.text, value);
            self.text.push(b'"');
            self.labels
                .push((name_range, start..self.text.len() as u32));
        }
        self.sets.push(first..self.labels.len() as u32);
        self.sets.len() as u32 - 1
    }

    /// Writes `{...}`: set `set`'s labels merged by name with `extras` (segments as a set line
    /// stores them). Nothing when both are empty.
    pub(crate) fn write_key(&self, set: u32, extras: &[u8], out: &mut Vec<u8>) {
        let own = self
            .sets
            .get(set as usize)
            .map(|r| &self.labels[r.start as usize..r.end as usize])
            .unwrap_or(&[]);
        let mut own = own.iter().peekable();
        let mut extra = Segments(extras).peekable();
        if own.peek().is_none() && extra.peek().is_none() {
            return;
        }
        out.push(b'{');
        let mut first = true;
        loop {
            let take_own = match (own.peek(), extra.peek()) {
                (Some((name, _)), Some((extra_name, _))) => range(&self.text, name) <= *extra_name,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let segment = if take_own {
                own.next().map(|(_, seg)| range(&self.text, seg))
            } else {
                extra.next().map(|(_, seg)| seg)
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(segment.unwrap_or_default());
        }
        out.push(b'}');
    }
}

fn range<'a>(bytes: &'a [u8], r: &Range<u32>) -> &'a [u8] {
    &bytes[r.start as usize..r.end as usize]
}

/// Iterates `name="value"` segments joined by commas, as `write_labels` writes them, yielding
/// (name, whole segment).
struct Segments<'a>(&'a [u8]);

impl<'a> Iterator for Segments<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.0;
        if bytes.is_empty() {
            return None;
        }
        let eq = bytes.iter().position(|&b| b == b'=')?;
        // The value starts after `="` and ends at the first quote not escaped by a backslash.
        let mut i = eq + 2;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        self.0 = bytes.get(end + 1..).unwrap_or_default();
        Some((&bytes[..eq], &bytes[..end]))
    }
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
    /// The shared label sets that `set` lines refer to.
    pub(crate) sets: Option<Arc<LabelSets>>,
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

    /// Adds a sample labelled with shared set `set` of `sets` plus `extra` (any order), with an
    /// optional timestamp in milliseconds. A sink refers to one table; a sample from another
    /// table is written out in full.
    pub fn sample_in_set(
        &mut self,
        sets: &Arc<LabelSets>,
        set: u32,
        extra: &[(&str, &str)],
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> &mut Self {
        if !self.family_open() {
            return self;
        }
        let own = self.sets.get_or_insert_with(|| Arc::clone(sets));
        let start = self.buf.len() as u32;
        if Arc::ptr_eq(own, sets) {
            write_sorted_labels(&mut self.buf, extra);
            self.finish_line(start, set, value, timestamp_ms);
        } else {
            let mut extras = Vec::new();
            write_sorted_labels(&mut extras, extra);
            sets.write_key(set, &extras, &mut self.buf);
            self.finish_line(start, NO_SET, value, timestamp_ms);
        }
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

    /// Bytes of buffer space held, written or not.
    pub fn capacity_bytes(&self) -> usize {
        self.text.capacity()
            + self.buf.capacity()
            + self.lines.capacity() * std::mem::size_of::<Line>()
            + self.families.capacity() * std::mem::size_of::<FamilyBlock>()
    }

    /// Drops everything written, keeping the allocations.
    pub fn clear(&mut self) {
        self.text.clear();
        self.buf.clear();
        self.lines.clear();
        self.families.clear();
        self.sets = None;
    }

    fn write_line(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) {
        if !self.family_open() {
            return;
        }
        let start = self.buf.len() as u32;
        if !suffix.is_empty() {
            self.buf.extend_from_slice(suffix.as_bytes());
        }
        if !labels.is_empty() {
            self.buf.push(b'{');
            write_sorted_labels(&mut self.buf, labels);
            self.buf.push(b'}');
        }
        self.finish_line(start, NO_SET, value, ts);
    }

    fn family_open(&self) -> bool {
        if self.families.is_empty() {
            tracing::error!("sample written before any family was opened; dropped");
        }
        !self.families.is_empty()
    }

    /// Ends the line whose key started at `start` with its value and timestamp.
    fn finish_line(&mut self, start: u32, set: u32, value: f64, ts: Option<i64>) {
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
            set,
        });
        if let Some(family) = self.families.last_mut() {
            family.lines.end = self.lines.len() as u32;
        }
    }
}

/// Writes `labels` sorted by name as `a="x",b="y"`.
fn write_sorted_labels(buf: &mut Vec<u8>, labels: &[(&str, &str)]) {
    /// Label sets up to this size are put in order on the stack.
    const SMALL: usize = 16;
    if labels.windows(2).all(|w| !name_less(w[1].0, w[0].0)) {
        write_labels(buf, labels.iter());
    } else if labels.len() <= SMALL {
        // A stable sort of this few indices is an insertion sort: no allocation at all.
        let mut order = [0u8; SMALL];
        for (i, slot) in order.iter_mut().enumerate() {
            *slot = i as u8;
        }
        let order = &mut order[..labels.len()];
        order.sort_by(|&a, &b| name_order(labels[usize::from(a)].0, labels[usize::from(b)].0));
        write_labels(buf, order.iter().map(|&i| &labels[usize::from(i)]));
    } else {
        let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
        sorted.sort_by(|a, b| name_order(a.0, b.0));
        write_labels(buf, sorted.into_iter());
    }
}

/// `a < b` by bytes, as `str`'s order. Label names are short and mostly differ in their first
/// byte or two: a byte loop decides in a few instructions where `memcmp` cost a call each.
#[inline]
fn name_less(a: &str, b: &str) -> bool {
    name_order(a, b) == std::cmp::Ordering::Less
}

#[inline]
fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

fn write_labels<'a>(
    buf: &mut Vec<u8>,
    labels: impl Iterator<Item = &'a (&'a str, &'a str)> + Clone,
) {
    // One reservation for the whole set (escapes aside): the pushes below then never grow.
    buf.reserve(
        labels
            .clone()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum(),
    );
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

/// Whether any byte of the 8 in `word` is a backslash, double quote or newline: a byte is
/// zero after XOR with the special byte repeated (the usual has-zero-byte test, exact as a
/// whole word's answer).
#[inline]
fn word_has_special(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    (zero(word ^ (ONES * u64::from(b'\\')))
        | zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\n'))))
        != 0
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(buf: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let special = |b: &u8| matches!(b, b'\\' | b'"' | b'\n');
    // Eight bytes a step, the last eight overlapping (a byte at a time was ~5 instructions a
    // byte of every value).
    let escapes = if bytes.len() >= 8 {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
        bytes.chunks_exact(8).any(|c| word_has_special(word(c)))
            || word_has_special(word(&bytes[bytes.len() - 8..]))
    } else {
        bytes.iter().any(special)
    };
    if !escapes {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Values are escaped whatever their length: the short ones' loop and the long ones' fold
    /// find a special byte anywhere.
    #[test]
    fn label_values_are_escaped_short_and_long() {
        let escaped = |value: &str| {
            let mut buf = Vec::new();
            escape_label_value(&mut buf, value);
            String::from_utf8(buf).unwrap()
        };
        for len in [1, 2, 15, 16, 17, 40] {
            for at in [0, len / 2, len - 1] {
                for (special, expected) in [('"', "\\\""), ('\\', "\\\\"), ('\n', "\\n")] {
                    let mut value: Vec<char> = vec!['a'; len];
                    value[at] = special;
                    let value: String = value.into_iter().collect();
                    let want = format!("{}{expected}{}", "a".repeat(at), "a".repeat(len - at - 1));
                    assert_eq!(escaped(&value), want, "{value:?}");
                }
            }
            assert_eq!(escaped(&"a".repeat(len)), "a".repeat(len));
        }
    }

    /// The byte loop orders names as `str` does, prefixes and empty names included.
    #[test]
    fn name_order_is_str_order() {
        let names = [
            "", "a", "ab", "abc", "b", "ba", "cpu", "mode", "\u{e9}", "z", "device",
        ];
        for a in names {
            for b in names {
                assert_eq!(name_order(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    /// Labels come out sorted by name whatever their order, equal names keeping theirs (a
    /// stable sort), on the stack path (up to 16) and past it.
    #[test]
    fn labels_are_written_sorted() {
        let written = |labels: &[(&str, &str)]| {
            let mut buf = Vec::new();
            write_sorted_labels(&mut buf, labels);
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(
            written(&[("c", "3"), ("a", "1"), ("b", "2"), ("a", "0")]),
            r#"a="1",a="0",b="2",c="3""#
        );
        for n in [2, 16, 17, 40] {
            let names: Vec<String> = (0..n).rev().map(|i| format!("l{i:02}")).collect();
            let labels: Vec<(&str, &str)> = names.iter().map(|s| (s.as_str(), "v")).collect();
            let mut sorted = labels.clone();
            sorted.sort();
            let expected: Vec<String> =
                sorted.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            assert_eq!(written(&labels), expected.join(","), "{n} labels");
        }
    }
}
