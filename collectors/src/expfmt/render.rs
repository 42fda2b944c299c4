//! Merges the sinks of one scrape and writes them as text 0.0.4 or OpenMetrics 1.0.
//!
//! As client_golang does: families sorted by name, empty families dropped, one `# HELP` and
//! one `# TYPE` per family, series sorted by label set. Unlike a Go registry, a duplicate series
//! or a family whose type conflicts does not fail the scrape: the first one wins, the rest are
//! dropped and counted, so the response never holds the same series twice.
//!
//! Over 500 lines only with its unit tests (497 lines of code before them).

use std::io::{self, Write};

use super::float::openmetrics_value;
use super::sink::{FamilyBlock, Line, MetricSink, MetricType, NO_SET};

/// The exposition format of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What rendering dropped or wrote, for the exporter's own error counters and the logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderStats {
    /// Families written.
    pub families: usize,
    /// Samples written.
    pub samples: usize,
    /// Samples dropped because an identical series was already written.
    pub duplicate_series: usize,
    /// Family names of blocks dropped because their type differed from the first block's.
    pub type_conflicts: Vec<String>,
}

struct BlockRef<'a> {
    sink: &'a MetricSink,
    block: &'a FamilyBlock,
}

impl<'a> BlockRef<'a> {
    fn name(&self) -> &'a [u8] {
        range(&self.sink.text, &self.block.name)
    }
    fn help(&self) -> &'a [u8] {
        range(&self.sink.text, &self.block.help)
    }
}

/// The first 32 bytes of a name as two big-endian integers, zero-padded: integer order is
/// byte order, a name before every longer name it starts.
fn name_head(name: &[u8]) -> (u128, u128) {
    let mut bytes = [0u8; 32];
    let n = name.len().min(32);
    bytes[..n].copy_from_slice(&name[..n]);
    let (hi, lo) = bytes.split_at(16);
    let word = |b: &[u8]| u128::from_be_bytes(b.try_into().unwrap_or_default());
    (word(hi), word(lo))
}

fn range<'a>(bytes: &'a [u8], r: &std::ops::Range<u32>) -> &'a [u8] {
    &bytes[r.start as usize..r.end as usize]
}

/// Writes every family of `sinks` to `out` in `format`.
pub fn render<W: Write>(
    sinks: &[&MetricSink],
    format: Format,
    out: &mut W,
) -> io::Result<RenderStats> {
    render_with(sinks, format, out, &mut BlockOrder::default())
}

/// The order the renderer put the family blocks of one scrape in, kept for the next: a host's
/// collectors write the same families in the same order every scrape, and checking that last
/// scrape's order still sorts the blocks is a few hundred name comparisons, where sorting
/// them again was 5% of a host scrape. So is, per family whose series were written out of
/// order (interfaces in `/proc/net/dev` order, CPU modes in `/proc/stat` order), the order
/// its series were put in: sorting some 30 such families was 1.5% of a host scrape.
#[derive(Debug, Default)]
pub struct BlockOrder {
    blocks: Vec<u32>,
    /// Per family, by its place in the scrape: the positions of its lines in sorted order,
    /// empty when they came sorted.
    lines: Vec<Vec<u32>>,
    /// The families' `# HELP` and `# TYPE` lines as written.
    headers: Headers,
}

/// The header lines of each family of a scrape, by its place in the scrape, with the name,
/// help and type they were written from: a family written from the same ones again is given
/// the same lines in one copy (building them was some 200 instructions a family).
#[derive(Debug, Default)]
struct Headers {
    /// Per family its name, help and header lines, one after the other.
    text: Vec<u8>,
    entries: Vec<Header>,
}

#[derive(Debug)]
struct Header {
    /// Where the entry starts in `text`.
    start: usize,
    name_len: usize,
    help_len: usize,
    lines_len: usize,
    kind: MetricType,
    format: Format,
}

impl Headers {
    /// Writes the header lines of family number `family`, cached or built (in `scratch`).
    fn write<W: Write>(
        &mut self,
        family: usize,
        format: Format,
        (name, help, kind): (&[u8], &[u8], MetricType),
        out: &mut W,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        if let Some(e) = self.entries.get(family) {
            let same_shape = e.kind == kind
                && e.format == format
                && e.name_len == name.len()
                && e.help_len == help.len();
            let (name_at, help_at) = (e.start, e.start + e.name_len);
            let lines_at = help_at + e.help_len;
            if same_shape
                && self.text[name_at..help_at] == *name
                && self.text[help_at..lines_at] == *help
            {
                return out.write_all(&self.text[lines_at..lines_at + e.lines_len]);
            }
        }
        // Families from this one on are entered afresh.
        self.entries.truncate(family);
        let start = self
            .entries
            .last()
            .map_or(0, |e| e.start + e.name_len + e.help_len + e.lines_len);
        self.text.truncate(start);
        write_family_header(format, name, help, kind, scratch);
        self.text.extend_from_slice(name);
        self.text.extend_from_slice(help);
        self.text.extend_from_slice(scratch);
        self.entries.push(Header {
            start,
            name_len: name.len(),
            help_len: help.len(),
            lines_len: scratch.len(),
            kind,
            format,
        });
        out.write_all(scratch)
    }
}

/// [`render`], starting from `order`, the block order of an earlier call, and leaving this
/// call's order there.
pub fn render_with<W: Write>(
    sinks: &[&MetricSink],
    format: Format,
    out: &mut W,
    order: &mut BlockOrder,
) -> io::Result<RenderStats> {
    let blocks: Vec<BlockRef<'_>> = sinks
        .iter()
        .flat_map(|sink| {
            sink.families
                .iter()
                .map(move |block| BlockRef { sink, block })
        })
        .filter(|b| !b.block.lines.is_empty())
        .collect();
    let BlockOrder {
        blocks: block_order,
        lines: line_orders,
        headers,
    } = order;
    if !sorts(&blocks, block_order) {
        sort_blocks(&blocks, block_order);
    }
    let blocks: Vec<&BlockRef<'_>> = block_order.iter().map(|&i| &blocks[i as usize]).collect();
    // Scratch for a family's lines put in a kept order.
    let mut reordered: Vec<Picked<'_>> = Vec::new();
    let mut family = 0;

    let mut stats = RenderStats::default();
    let mut scratch = Vec::with_capacity(256);
    // Keys of shared-label-set lines, expanded one family at a time.
    let mut expanded: Vec<u8> = Vec::new();
    // One family's lines: (sink, line, whether the key lives in `expanded`, position), reused
    // from family to family.
    let mut picked: Vec<Picked<'_>> = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let name = blocks[i].name();
        let mut j = i;
        while j < blocks.len() && blocks[j].name() == name {
            j += 1;
        }
        let first = &blocks[i];
        let kind = first.block.kind;
        expanded.clear();
        picked.clear();
        for block in &blocks[i..j] {
            if block.block.kind != kind {
                stats
                    .type_conflicts
                    .push(String::from_utf8_lossy(name).into_owned());
                continue;
            }
            let ls =
                &block.sink.lines[block.block.lines.start as usize..block.block.lines.end as usize];
            for l in ls {
                let position = picked.len() as u32;
                match (l.set, &block.sink.sets) {
                    (NO_SET, _) | (_, None) => picked.push((block.sink, *l, false, position)),
                    (set, Some(sets)) => {
                        let start = expanded.len() as u32;
                        let extras = &block.sink.buf[l.start as usize..l.key_end as usize];
                        sets.write_key(set, extras, &mut expanded);
                        let key_end = expanded.len() as u32;
                        expanded
                            .extend_from_slice(&block.sink.buf[l.key_end as usize..l.end as usize]);
                        let line = Line {
                            start,
                            key_end,
                            end: expanded.len() as u32,
                            set: NO_SET,
                        };
                        picked.push((block.sink, line, true, position));
                    }
                }
            }
        }
        let expanded = expanded.as_slice();
        let before = picked.len();
        if matches!(kind, MetricType::Histogram | MetricType::Summary) {
            // Keep the source order (buckets in `le` order); drop exact repeats only.
            let mut seen = std::collections::HashSet::new();
            picked.retain(|p| seen.insert(key_of(expanded, p)));
        } else {
            // Unstable sort (no scratch allocation) with the position as tie-breaker: the
            // first of identical series wins, as with a stable sort.
            // Strictly increasing keys (the usual case) are sorted and hold no repeats.
            if line_orders.len() <= family {
                line_orders.resize_with(family + 1, Vec::new);
            }
            let kept = &mut line_orders[family];
            if !picked.is_sorted_by(|a, b| key_of(expanded, a) < key_of(expanded, b)) {
                // Last scrape's order, when it gives strictly increasing keys, is the sorted
                // order (no position twice, none repeated).
                let in_kept_order = kept.len() == picked.len()
                    && kept.iter().all(|&i| (i as usize) < picked.len())
                    && kept.windows(2).all(|w| {
                        key_of(expanded, &picked[w[0] as usize])
                            < key_of(expanded, &picked[w[1] as usize])
                    });
                if in_kept_order {
                    reordered.clear();
                    reordered.extend(kept.iter().map(|&i| picked[i as usize]));
                    std::mem::swap(&mut picked, &mut reordered);
                } else {
                    picked.sort_unstable_by(|a, b| {
                        key_of(expanded, a)
                            .cmp(key_of(expanded, b))
                            .then(a.3.cmp(&b.3))
                    });
                    picked.dedup_by(|b, a| key_of(expanded, a) == key_of(expanded, b));
                    kept.clear();
                    kept.extend(picked.iter().map(|p| p.3));
                }
            } else {
                kept.clear();
            }
        }
        stats.duplicate_series += before - picked.len();

        headers.write(
            family,
            format,
            (name, first.help(), kind),
            out,
            &mut scratch,
        )?;
        for p in &picked {
            write_line(
                out,
                format,
                name,
                kind,
                buf_of(expanded, p),
                &p.1,
                &mut scratch,
            )?;
        }
        stats.families += 1;
        stats.samples += picked.len();
        family += 1;
        i = j;
    }
    if format == Format::OpenMetrics {
        out.write_all(b"# EOF\n")?;
    }
    Ok(stats)
}

/// Whether `order` lists every block once, by name and, for equal names, by position: as many
/// indices as blocks, all in range, their (name, index) pairs strictly increasing (so no index
/// twice).
fn sorts(blocks: &[BlockRef<'_>], order: &[u32]) -> bool {
    order.len() == blocks.len()
        && order.first().is_none_or(|&i| (i as usize) < blocks.len())
        && order.windows(2).all(|w| {
            let (Some(a), Some(b)) = (blocks.get(w[0] as usize), blocks.get(w[1] as usize)) else {
                return false;
            };
            match a.name().cmp(b.name()) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => w[0] < w[1],
                std::cmp::Ordering::Greater => false,
            }
        })
}

/// Puts the blocks' indices in `order` by name, position breaking ties so that blocks of one
/// family keep their order as with a stable sort.
fn sort_blocks(blocks: &[BlockRef<'_>], order: &mut Vec<u32>) {
    // Sorted are (name head, position) integers, the head being the name's first 32 bytes:
    // plain integer comparisons, and a triple moves cheaper than a block. Names that share
    // their first 32 bytes are then put in order by the whole name, run by run. Unstable: no
    // scratch allocation for the few hundred blocks of a scrape.
    let mut heads: Vec<(u128, u128, u32)> = blocks
        .iter()
        .zip(0..)
        .map(|(b, position)| {
            let (hi, lo) = name_head(b.name());
            (hi, lo, position)
        })
        .collect();
    heads.sort_unstable();
    let mut run = 0;
    while run < heads.len() {
        let head = (heads[run].0, heads[run].1);
        let end = run
            + heads[run..]
                .iter()
                .take_while(|(hi, lo, _)| (*hi, *lo) == head)
                .count();
        if end - run > 1 {
            heads[run..end].sort_unstable_by(|(.., i), (.., j)| {
                blocks[*i as usize]
                    .name()
                    .cmp(blocks[*j as usize].name())
                    .then(i.cmp(j))
            });
        }
        run = end;
    }
    order.clear();
    order.extend(heads.iter().map(|(.., i)| *i));
}

/// A line picked for a family: its sink, the line, whether its key lives in the family's
/// expanded keys, and its position among the family's lines.
type Picked<'a> = (&'a MetricSink, Line, bool, u32);

fn buf_of<'a>(expanded: &'a [u8], (sink, _, in_expanded, _): &Picked<'a>) -> &'a [u8] {
    if *in_expanded {
        expanded
    } else {
        &sink.buf
    }
}

fn key_of<'a>(expanded: &'a [u8], p: &Picked<'a>) -> &'a [u8] {
    &buf_of(expanded, p)[p.1.start as usize..p.1.key_end as usize]
}

fn openmetrics_family_name(name: &[u8], kind: MetricType) -> &[u8] {
    if kind == MetricType::Counter {
        name.strip_suffix(b"_total").unwrap_or(name)
    } else {
        name
    }
}

/// Writes a family's `# HELP` and `# TYPE` lines into `scratch`.
fn write_family_header(
    format: Format,
    name: &[u8],
    help: &[u8],
    kind: MetricType,
    scratch: &mut Vec<u8>,
) {
    scratch.clear();
    let (name, type_name) = match format {
        Format::Text => (name, kind.text_name()),
        Format::OpenMetrics => (openmetrics_family_name(name, kind), kind.openmetrics_name()),
    };
    scratch.extend_from_slice(b"# HELP ");
    scratch.extend_from_slice(name);
    scratch.push(b' ');
    // A fold without early exit, which the compiler vectorises: help texts are read whole.
    if help
        .iter()
        .fold(false, |found, &b| found | matches!(b, b'\\' | b'\n' | b'"'))
    {
        for &b in help {
            match b {
                b'\\' => scratch.extend_from_slice(b"\\\\"),
                b'\n' => scratch.extend_from_slice(b"\\n"),
                b'"' if format == Format::OpenMetrics => scratch.extend_from_slice(b"\\\""),
                _ => scratch.push(b),
            }
        }
    } else {
        scratch.extend_from_slice(help);
    }
    scratch.extend_from_slice(b"\n# TYPE ");
    scratch.extend_from_slice(name);
    scratch.push(b' ');
    scratch.extend_from_slice(type_name.as_bytes());
    scratch.push(b'\n');
}

fn write_line<W: Write>(
    out: &mut W,
    format: Format,
    name: &[u8],
    kind: MetricType,
    buf: &[u8],
    line: &Line,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let key = &buf[line.start as usize..line.key_end as usize];
    // The line in the sink is already `key value[ timestamp]`: text copies it whole.
    let text_line = &buf[line.start as usize..line.end as usize];
    if format == Format::Text {
        out.write_all(name)?;
        out.write_all(text_line)?;
        return out.write_all(b"\n");
    }
    scratch.clear();
    scratch.extend_from_slice(name);
    match format {
        Format::Text => scratch.extend_from_slice(text_line),
        Format::OpenMetrics => {
            let rest = &buf[line.key_end as usize + 1..line.end as usize];
            if kind == MetricType::Counter && !name.ends_with(b"_total") {
                scratch.extend_from_slice(b"_total");
            }
            scratch.extend_from_slice(key);
            scratch.push(b' ');
            let mut parts = rest.splitn(2, |&b| b == b' ');
            openmetrics_value(parts.next().unwrap_or(b"NaN"), scratch);
            if let Some(ts) = parts.next() {
                scratch.push(b' ');
                write_ms_as_seconds(scratch, ts);
            }
        }
    }
    scratch.push(b'\n');
    out.write_all(scratch)
}

/// OpenMetrics timestamps are seconds; ours are integer milliseconds.
fn write_ms_as_seconds(out: &mut Vec<u8>, ms: &[u8]) {
    let (sign, digits) = match ms.first() {
        Some(b'-') => (&b"-"[..], &ms[1..]),
        _ => (&b""[..], ms),
    };
    out.extend_from_slice(sign);
    if digits.len() > 3 {
        out.extend_from_slice(&digits[..digits.len() - 3]);
    } else {
        out.push(b'0');
    }
    out.push(b'.');
    for _ in digits.len()..3 {
        out.push(b'0');
    }
    out.extend_from_slice(&digits[digits.len().saturating_sub(3)..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sinks: &[&MetricSink], format: Format) -> (String, RenderStats) {
        let mut out = Vec::new();
        let stats = render(sinks, format, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn merges_sorts_and_dedupes() {
        let mut a = MetricSink::new();
        a.gauge("node_b", "B help.").sample(&[("cpu", "2")], 1.0);
        a.counter("node_a_total", "A help.")
            .sample(&[("mode", "x"), ("cpu", "10")], 5.0);
        let mut b = MetricSink::new();
        b.gauge("node_b", "other help")
            .sample(&[("cpu", "10")], 2.0)
            .sample(&[("cpu", "2")], 9.0);
        b.gauge("node_empty", "nothing");
        let (out, stats) = text(&[&a, &b], Format::Text);
        assert_eq!(
            out,
            "# HELP node_a_total A help.\n# TYPE node_a_total counter\nnode_a_total{cpu=\"10\",mode=\"x\"} 5\n\
             # HELP node_b B help.\n# TYPE node_b gauge\nnode_b{cpu=\"10\"} 2\nnode_b{cpu=\"2\"} 1\n"
        );
        assert_eq!(stats.duplicate_series, 1);
        assert_eq!(stats.families, 2);
        assert_eq!(stats.samples, 3);
    }

    /// Family order is byte order of the whole name, also past the 32 bytes the sort compares
    /// as integers, with a name before every longer name it starts.
    #[test]
    fn sorts_families_by_whole_name() {
        let long = "node_a_name_longer_than_thirty_two_bytes";
        let names = [
            format!("{long}_b"),
            "node_ab".to_string(),
            format!("{long}_a"),
            "node_a".to_string(),
            long.to_string(),
            "node_a_".to_string(),
        ];
        let mut sinks: Vec<MetricSink> = Vec::new();
        for name in &names {
            let mut sink = MetricSink::new();
            sink.gauge(name, "h").sample(&[], 1.0);
            sinks.push(sink);
        }
        let refs: Vec<&MetricSink> = sinks.iter().collect();
        let (out, _) = text(&refs, Format::Text);
        let order: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.trim_end_matches(" gauge"))
            .collect();
        let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        assert_eq!(order, sorted);
    }

    /// An order kept from an earlier render is used only while it still sorts the blocks: with
    /// other names, or the same number of blocks in another order, the output is a fresh
    /// render's.
    #[test]
    fn kept_block_order_is_checked() {
        let sinks = |names: &[&str]| -> Vec<MetricSink> {
            names
                .iter()
                .zip(0..)
                .map(|(name, i)| {
                    let mut sink = MetricSink::new();
                    sink.gauge(name, "h").sample(&[("i", "x")], f64::from(i));
                    sink
                })
                .collect()
        };
        let scrapes: [&[&str]; 5] = [
            &["b", "a", "c", "a"],
            &["b", "a", "c", "a"],
            &["c", "a", "b", "a"],
            &["a", "b", "c", "d"],
            &["a", "b", "c"],
        ];
        let mut order = BlockOrder::default();
        for names in scrapes {
            let owned = sinks(names);
            let refs: Vec<&MetricSink> = owned.iter().collect();
            let mut kept = Vec::new();
            let kept_stats = render_with(&refs, Format::Text, &mut kept, &mut order).unwrap();
            let (fresh, fresh_stats) = text(&refs, Format::Text);
            assert_eq!(String::from_utf8(kept).unwrap(), fresh, "{names:?}");
            assert_eq!(kept_stats, fresh_stats);
        }
    }

    /// A family's line order kept from an earlier render is used only while it still sorts the
    /// lines: with other label values, repeats, or as many lines in another order, the output
    /// is a fresh render's.
    #[test]
    fn kept_line_order_is_checked() {
        let scrapes: [&[&str]; 7] = [
            &["b", "c", "a"],
            &["b", "c", "a"],
            &["c", "b", "a"],
            &["b", "a", "b"],
            &["b", "a", "b"],
            &["b", "c", "a", "d"],
            &["a", "c"],
        ];
        let mut order = BlockOrder::default();
        let mut sorted_by_kept_order = 0;
        for devices in scrapes {
            let mut sink = MetricSink::new();
            sink.gauge("g", "h");
            for (value, device) in devices.iter().enumerate() {
                sink.sample(&[("device", device)], value as f64);
            }
            sink.gauge("z", "h")
                .sample(&[("d", "y")], 1.0)
                .sample(&[("d", "x")], 2.0);
            let refs = [&sink];
            let kept_before = order.lines.first().cloned().unwrap_or_default();
            let mut kept = Vec::new();
            let kept_stats = render_with(&refs, Format::Text, &mut kept, &mut order).unwrap();
            let (fresh, fresh_stats) = text(&refs, Format::Text);
            assert_eq!(String::from_utf8(kept).unwrap(), fresh, "{devices:?}");
            assert_eq!(kept_stats, fresh_stats);
            sorted_by_kept_order +=
                usize::from(kept_before == order.lines[0] && !kept_before.is_empty());
        }
        assert!(sorted_by_kept_order >= 1, "the kept order was used");
    }

    /// Header lines kept from an earlier render are used only for the same name, help, type and
    /// format: any change gives a fresh render's output.
    #[test]
    fn kept_headers_are_checked() {
        type Family<'a> = (&'a str, &'a str, MetricType);
        let scrapes: [(&[Family<'_>], Format); 8] = [
            (
                &[
                    ("a", "h", MetricType::Gauge),
                    ("b_total", "x\\y", MetricType::Counter),
                ],
                Format::Text,
            ),
            (
                &[
                    ("a", "h", MetricType::Gauge),
                    ("b_total", "x\\y", MetricType::Counter),
                ],
                Format::Text,
            ),
            (
                &[
                    ("a", "h", MetricType::Gauge),
                    ("b_total", "x\\y", MetricType::Counter),
                ],
                Format::OpenMetrics,
            ),
            (
                &[
                    ("a", "H", MetricType::Gauge),
                    ("b_total", "x\\y", MetricType::Counter),
                ],
                Format::OpenMetrics,
            ),
            (
                &[
                    ("a", "H", MetricType::Untyped),
                    ("b_total", "x\\y", MetricType::Counter),
                ],
                Format::Text,
            ),
            (
                &[
                    ("a", "H", MetricType::Untyped),
                    ("b_totalx", "x\\y", MetricType::Counter),
                ],
                Format::Text,
            ),
            (
                &[
                    ("a", "H", MetricType::Untyped),
                    ("b_totalx", "x\\yz", MetricType::Counter),
                ],
                Format::Text,
            ),
            (&[("a", "H", MetricType::Untyped)], Format::OpenMetrics),
        ];
        let mut order = BlockOrder::default();
        for (families, format) in scrapes {
            let mut sink = MetricSink::new();
            for (name, help, kind) in families {
                sink.family(name, help, *kind).sample(&[], 1.0);
            }
            let refs = [&sink];
            let mut kept = Vec::new();
            render_with(&refs, format, &mut kept, &mut order).unwrap();
            let (fresh, _) = text(&refs, format);
            assert_eq!(
                String::from_utf8(kept).unwrap(),
                fresh,
                "{families:?} {format:?}"
            );
        }
    }

    #[test]
    fn type_conflicts_keep_the_first() {
        let mut a = MetricSink::new();
        a.gauge("x", "h").sample(&[], 1.0);
        let mut b = MetricSink::new();
        b.counter("x", "h").sample(&[("l", "v")], 2.0);
        let (out, stats) = text(&[&a, &b], Format::Text);
        assert_eq!(out, "# HELP x h\n# TYPE x gauge\nx 1\n");
        assert_eq!(stats.type_conflicts, vec!["x".to_string()]);
    }

    #[test]
    fn escapes_help_and_labels() {
        let mut a = MetricSink::new();
        a.untyped("x", "a\\b\nc \"q\"")
            .sample(&[("l", "a\"b\\c\nd")], 0.5);
        let (out, _) = text(&[&a], Format::Text);
        assert_eq!(
            out,
            "# HELP x a\\\\b\\nc \"q\"\n# TYPE x untyped\nx{l=\"a\\\"b\\\\c\\nd\"} 0.5\n"
        );
        let (om, _) = text(&[&a], Format::OpenMetrics);
        assert_eq!(
            om,
            "# HELP x a\\\\b\\nc \\\"q\\\"\n# TYPE x unknown\nx{l=\"a\\\"b\\\\c\\nd\"} 0.5\n# EOF\n"
        );
    }

    #[test]
    fn openmetrics_counters_and_timestamps() {
        let mut a = MetricSink::new();
        a.counter("c_total", "h").sample(&[], 3.0);
        a.counter("failcnt", "h")
            .sample_at(&[("id", "/")], 2.0, 1658223777321);
        a.gauge("g", "h").sample_at(&[], 1.5, 12);
        let (om, _) = text(&[&a], Format::OpenMetrics);
        assert_eq!(
            om,
            "# HELP c h\n# TYPE c counter\nc_total 3.0\n\
             # HELP failcnt h\n# TYPE failcnt counter\nfailcnt_total{id=\"/\"} 2.0 1658223777.321\n\
             # HELP g h\n# TYPE g gauge\ng 1.5 0.012\n# EOF\n"
        );
        let (txt, _) = text(&[&a], Format::Text);
        assert!(txt.contains("failcnt{id=\"/\"} 2 1658223777321\n"), "{txt}");
    }

    #[test]
    fn histograms_keep_source_order() {
        let mut a = MetricSink::new();
        a.family("h", "h", MetricType::Histogram)
            .sample_suffixed("_bucket", &[("le", "0.5")], 1.0)
            .sample_suffixed("_bucket", &[("le", "+Inf")], 2.0)
            .sample_suffixed("_sum", &[], 1.5)
            .sample_suffixed("_count", &[], 2.0)
            .sample_suffixed("_count", &[], 2.0);
        let (out, stats) = text(&[&a], Format::Text);
        assert_eq!(
            out,
            "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n"
        );
        assert_eq!(stats.duplicate_series, 1);
    }

    #[test]
    fn shared_label_sets_merge_with_extra_labels() {
        use super::super::sink::LabelSets;
        use std::sync::Arc;
        let mut table = LabelSets::new();
        let a = table.push(&[("name", "a"), ("id", "/x")]);
        let b = table.push(&[("id", "/y\"q\",z"), ("name", "b")]);
        let table = Arc::new(table);
        let mut other = LabelSets::new();
        let c = other.push(&[("id", "/other")]);
        let other = Arc::new(other);
        let mut sink = MetricSink::new();
        sink.counter("c_total", "h")
            .sample_in_set(&table, b, &[("cpu", "total")], 2.0, None)
            .sample_in_set(
                &table,
                a,
                &[("zone", "q\"\\"), ("cpu", "total")],
                1.0,
                Some(5),
            )
            .sample_in_set(&table, a, &[], 3.0, None)
            .sample_in_set(&other, c, &[("cpu", "0")], 4.0, None)
            .sample_in_set(&table, a, &[("cpu", "total"), ("zone", "q\"\\")], 9.0, None);
        let plain = {
            let mut p = MetricSink::new();
            p.counter("c_total", "h")
                .sample(&[("id", "/x"), ("name", "a")], 7.0);
            p
        };
        let (out, stats) = text(&[&sink, &plain], Format::Text);
        assert_eq!(
            out,
            "# HELP c_total h\n# TYPE c_total counter\n\
             c_total{cpu=\"0\",id=\"/other\"} 4\n\
             c_total{cpu=\"total\",id=\"/x\",name=\"a\",zone=\"q\\\"\\\\\"} 1 5\n\
             c_total{cpu=\"total\",id=\"/y\\\"q\\\",z\",name=\"b\"} 2\n\
             c_total{id=\"/x\",name=\"a\"} 3\n"
        );
        assert_eq!(
            stats.duplicate_series, 2,
            "the repeated extra set and the plain copy"
        );
    }
}
