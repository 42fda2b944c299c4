//! textfile: metrics from `*.prom` files in the `--collector.textfile.directory` directories
//! (each may be a glob), plus `node_textfile_mtime_seconds{file}` and
//! `node_textfile_scrape_error`, with node_exporter's `textfile.go` semantics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{format_float, MetricSink, MetricType};
use crate::options::Flag;

/// `--collector.textfile.directory`.
pub const DIRECTORY_FLAG: Flag<Vec<String>> = Flag::new(
    "collector.textfile.directory",
    "Directory to read text files with metrics from, supports glob matching. (repeatable)",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "textfile",
    default_enabled: true,
    sources: "*.prom files in --collector.textfile.directory",
    flags: &[DIRECTORY_FLAG.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(TextfileCollector::new(
        settings.options.get(&DIRECTORY_FLAG),
    )))
}

/// The value of one parsed series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter, gauge or untyped value.
    Simple(f64),
    /// A summary: `(quantile, value)` pairs, sum and count.
    Summary {
        /// Quantiles in file order.
        quantiles: Vec<(f64, f64)>,
        /// `_sum`.
        sum: f64,
        /// `_count`.
        count: f64,
    },
    /// A histogram: `(upper bound, cumulative count)` pairs, sum and count.
    Histogram {
        /// Buckets in file order.
        buckets: Vec<(f64, f64)>,
        /// `_sum`.
        sum: f64,
        /// `_count`.
        count: f64,
    },
}

/// One parsed series: labels (without `le`/`quantile`), value and optional timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label pairs in file order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
    /// Client-side timestamp in milliseconds, if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// One parsed metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Family name.
    pub name: String,
    /// HELP text, if the file had one.
    pub help: Option<String>,
    /// Type (untyped when the file declared none).
    pub kind: MetricType,
    /// Series in file order.
    pub series: Vec<Series>,
}

/// Parses the Prometheus text exposition format (0.0.4) as `expfmt.TextParser` does with
/// legacy name validation. Families without samples are dropped.
pub fn parse_text(bytes: &[u8]) -> Result<Vec<Family>, ParseError> {
    let mut parser = Parser::default();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = match std::str::from_utf8(raw) {
            Ok(line) => line,
            Err(_) if is_plain_comment(raw) => continue,
            Err(_) => return Err(ParseError::new(format!("line {}: invalid UTF-8", n + 1))),
        };
        parser.line(line).map_err(|e| {
            ParseError::new(format!("text format parsing error in line {}: {e}", n + 1))
        })?;
    }
    Ok(parser
        .families
        .into_iter()
        .filter(|f| !f.series.is_empty())
        .map(|f| Family {
            name: f.name,
            help: f.help,
            kind: f.kind.unwrap_or(MetricType::Untyped),
            series: f.series,
        })
        .collect())
}

/// A `#` line that is neither HELP nor TYPE (its bytes are never interpreted).
fn is_plain_comment(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let trimmed = text.trim_start_matches([' ', '\t']);
    let Some(rest) = trimmed.strip_prefix('#') else {
        return false;
    };
    let token = rest
        .trim_start_matches([' ', '\t'])
        .split([' ', '\t'])
        .next()
        .unwrap_or("");
    token != "HELP" && token != "TYPE"
}

#[derive(Default)]
struct RawFamily {
    name: String,
    help: Option<String>,
    kind: Option<MetricType>,
    series: Vec<Series>,
}

#[derive(Default)]
struct Parser {
    families: Vec<RawFamily>,
    by_name: BTreeMap<String, usize>,
}

/// Whether `name` is a legacy metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a legacy label name `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_float(token: &str) -> Result<f64, String> {
    let lower = token.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    // Rust also accepts "infinity"; Go's ParseFloat accepts "inf", "infinity" and "nan" too.
    if unsigned.is_empty() || unsigned.contains('_') || unsigned.starts_with("0x") {
        return Err(format!("expected float as value, got {token:?}"));
    }
    token
        .parse::<f64>()
        .map_err(|_| format!("expected float as value, got {token:?}"))
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let comment = comment.trim_start_matches([' ', '\t']);
        let (keyword, rest) = split_token(comment);
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        let (name, rest) = split_token(rest);
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name in comment: {name:?}"));
        }
        let index = self.family_for(name);
        let family = &mut self.families[index];
        if keyword == "HELP" {
            if family.help.is_some() {
                return Err(format!("second HELP line for metric name {name:?}"));
            }
            family.help = Some(unescape_help(rest)?);
            return Ok(());
        }
        if family.kind.is_some() {
            return Err(format!(
                "second TYPE line for metric name {name:?}, or TYPE reported after samples"
            ));
        }
        if !family.series.is_empty() {
            return Err(format!("TYPE line for {name:?} reported after samples"));
        }
        let (kind, trailing) = split_token(rest);
        if !trailing.trim().is_empty() {
            return Err(format!("unexpected text after type {kind:?}"));
        }
        family.kind = Some(match kind {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "untyped" => MetricType::Untyped,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            other => return Err(format!("unknown metric type {other:?}")),
        });
        Ok(())
    }

    /// The family a name belongs to, as `setOrCreateCurrentMF`: the family of that exact
    /// name; else `x_sum`/`x_count` join a summary or histogram `x` and `x_bucket` a
    /// histogram `x`; else a new family.
    fn family_for(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        for suffix in ["_sum", "_count", "_bucket"] {
            let Some(&i) = name.strip_suffix(suffix).and_then(|b| self.by_name.get(b)) else {
                continue;
            };
            let joins = match self.families[i].kind {
                Some(MetricType::Histogram) => true,
                Some(MetricType::Summary) => suffix != "_bucket",
                _ => false,
            };
            if joins {
                return i;
            }
        }
        self.families.push(RawFamily {
            name: name.to_string(),
            ..RawFamily::default()
        });
        self.by_name
            .insert(name.to_string(), self.families.len() - 1);
        self.families.len() - 1
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let mut rest = line[name_end..].trim_start_matches([' ', '\t']);
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(after)?;
            labels = parsed;
            rest = after.trim_start_matches([' ', '\t']);
        }
        let (value_token, rest) = split_token(rest);
        if value_token.is_empty() {
            return Err(format!("expected value after metric name {name:?}"));
        }
        let value = parse_float(value_token)?;
        let (ts_token, rest) = split_token(rest);
        let timestamp_ms = if ts_token.is_empty() {
            None
        } else {
            Some(
                ts_token
                    .parse::<i64>()
                    .map_err(|_| format!("expected integer as timestamp, got {ts_token:?}"))?,
            )
        };
        if !rest.trim().is_empty() {
            return Err(format!(
                "spurious string after timestamp: {:?}",
                rest.trim()
            ));
        }
        let index = self.family_for(name);
        let family = &mut self.families[index];
        add_sample(family, name, labels, value, timestamp_ms)
    }
}

/// Splits off the first blank-separated token; the rest starts after the separating blanks.
fn split_token(text: &str) -> (&str, &str) {
    let text = text.trim_start_matches([' ', '\t']);
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start_matches([' ', '\t']))
}

fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => {
                return Err(format!(
                    "invalid escape sequence in HELP: \\{}",
                    other.unwrap_or(' ')
                ))
            }
        }
    }
    Ok(out)
}

/// Label pairs in file order.
type Labels = Vec<(String, String)>;

/// Parses `name="value",...}` (the opening brace already consumed); returns the labels and
/// the text after the closing brace.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels: Labels = Vec::new();
    loop {
        text = text.trim_start_matches([' ', '\t']);
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let name_end = text.find(['=', ' ', '\t', '}', ',']).unwrap_or(text.len());
        let name = &text[..name_end];
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label name {name:?}"));
        }
        text = text[name_end..].trim_start_matches([' ', '\t']);
        text = text
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label name {name:?}"))?
            .trim_start_matches([' ', '\t']);
        text = text
            .strip_prefix('"')
            .ok_or_else(|| format!("expected '\"' at start of value of label {name:?}"))?;
        let (value, after) = parse_label_value(text)?;
        labels.push((name.to_string(), value));
        text = after.trim_start_matches([' ', '\t']);
        if let Some(after) = text.strip_prefix(',') {
            text = after;
        } else if !text.starts_with('}') {
            return Err(format!("unexpected end of label set after label {name:?}"));
        }
    }
}

/// Reads a quoted label value (opening quote consumed) with `\\`, `\"` and `\n` escapes.
fn parse_label_value(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                _ => return Err("invalid escape sequence in label value".into()),
            },
            other => out.push(other),
        }
    }
    Err("unterminated label value".into())
}

/// Takes the special label `key` (`le`/`quantile`) out of `labels` as a number.
fn take_bound(labels: &mut Vec<(String, String)>, key: &str) -> Result<Option<f64>, String> {
    let Some(pos) = labels.iter().position(|(n, _)| n == key) else {
        return Ok(None);
    };
    let (_, value) = labels.remove(pos);
    parse_float(&value)
        .map(Some)
        .map_err(|_| format!("expected float as value for {key:?} label, got {value:?}"))
}

fn add_sample(
    family: &mut RawFamily,
    name: &str,
    mut labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
) -> Result<(), String> {
    let kind = family.kind.unwrap_or(MetricType::Untyped);
    if !matches!(kind, MetricType::Histogram | MetricType::Summary) {
        family.series.push(Series {
            labels,
            value: Value::Simple(value),
            timestamp_ms,
        });
        return Ok(());
    }
    let suffix = &name[family.name.len()..];
    let bound = match (kind, suffix) {
        (MetricType::Summary, "") => Some(
            take_bound(&mut labels, "quantile")?
                .ok_or_else(|| format!("summary sample {name:?} without quantile label"))?,
        ),
        (MetricType::Histogram, "_bucket") => Some(
            take_bound(&mut labels, "le")?
                .ok_or_else(|| format!("histogram bucket {name:?} without le label"))?,
        ),
        (_, "_sum" | "_count") => None,
        _ => {
            return Err(format!(
                "unexpected sample {name:?} in {} family",
                kind.text_name()
            ))
        }
    };
    let index = match family.series.iter().position(|s| s.labels == labels) {
        Some(i) => i,
        None => {
            let value = if kind == MetricType::Summary {
                Value::Summary {
                    quantiles: Vec::new(),
                    sum: 0.0,
                    count: 0.0,
                }
            } else {
                Value::Histogram {
                    buckets: Vec::new(),
                    sum: 0.0,
                    count: 0.0,
                }
            };
            family.series.push(Series {
                labels,
                value,
                timestamp_ms: None,
            });
            family.series.len() - 1
        }
    };
    let series = &mut family.series[index];
    series.timestamp_ms = series.timestamp_ms.or(timestamp_ms);
    match (&mut series.value, bound, suffix) {
        (
            Value::Summary {
                quantiles: pairs, ..
            }
            | Value::Histogram { buckets: pairs, .. },
            Some(b),
            _,
        ) => {
            pairs.push((b, value));
        }
        (Value::Summary { sum, .. } | Value::Histogram { sum, .. }, None, "_sum") => *sum = value,
        (Value::Summary { count, .. } | Value::Histogram { count, .. }, None, _) => *count = value,
        _ => {}
    }
    Ok(())
}

/// Truncates a float to an unsigned integer count as Go's `uint64(f)` does for sane values.
fn as_count(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v.trunc()
    } else {
        0.0
    }
}

/// A family accepted from one or more files.
struct Accepted {
    help: Option<String>,
    kind: MetricType,
    files: Vec<String>,
    series: Vec<Series>,
}

/// The union of the textfile families read this scrape, by name.
#[derive(Default)]
struct Merged {
    families: BTreeMap<String, Accepted>,
    help_conflicts: BTreeMap<String, bool>,
}

impl Merged {
    /// Whether `families` can join without a type conflict.
    fn compatible(&self, families: &[Family]) -> bool {
        families.iter().all(|f| {
            self.families
                .get(&f.name)
                .is_none_or(|acc| acc.kind == f.kind)
        })
    }

    /// The accepted family that `family` collides with: `x_sum`/`x_count` against a summary
    /// or histogram `x`, `x_bucket` against a histogram `x`, or the other way round.
    fn suffix_collision(&self, family: &Family) -> Option<String> {
        let is = |name: &str, kinds: &[MetricType]| {
            self.families
                .get(name)
                .is_some_and(|acc| kinds.contains(&acc.kind))
        };
        let both = [MetricType::Summary, MetricType::Histogram];
        for (suffix, kinds) in [
            ("_sum", &both[..]),
            ("_count", &both[..]),
            ("_bucket", &both[1..]),
        ] {
            if let Some(base) = family.name.strip_suffix(suffix) {
                if is(base, kinds) {
                    return Some(base.to_string());
                }
            }
            if kinds.contains(&family.kind) {
                let derived = format!("{}{suffix}", family.name);
                if self.families.contains_key(&derived) {
                    return Some(derived);
                }
            }
        }
        None
    }

    /// Adds the families of one file; returns false when a HELP conflict was found.
    fn add(&mut self, file: &str, families: Vec<Family>) -> bool {
        let mut ok = true;
        for mut family in families {
            fill_missing_labels(&mut family.series);
            if let Some(acc) = self.families.get_mut(&family.name) {
                let conflict = self.help_conflicts.contains_key(&family.name)
                    || matches!((&acc.help, &family.help), (Some(a), Some(b)) if a != b);
                if conflict {
                    self.help_conflicts.insert(family.name.clone(), true);
                    tracing::error!(metric = %family.name, file, "inconsistent metric help text");
                    ok = false;
                    continue;
                }
                acc.files.push(file.to_string());
                // A family without HELP gets "Metric read from ...", which differs from a HELP
                // another file gave: node_exporter's registry then drops the later series.
                if acc.help.is_some() != family.help.is_some() {
                    tracing::error!(metric = %family.name, file, "metric help differs from an earlier textfile; series dropped");
                    continue;
                }
                acc.series.extend(family.series);
            } else if let Some(other) = self.suffix_collision(&family) {
                // client_golang's registry refuses such a pair (checkSuffixCollisions) and
                // node_exporter serves the rest; writing both would give two HELP lines for
                // one name as a text parser reads them.
                tracing::error!(metric = %family.name, other, file, "metric name collides with a summary or histogram; series dropped");
            } else {
                self.families.insert(
                    family.name,
                    Accepted {
                        help: family.help,
                        kind: family.kind,
                        files: vec![file.to_string()],
                        series: family.series,
                    },
                );
            }
        }
        ok
    }
}

/// Gives every series of one file's family the same label names, missing ones set to "".
fn fill_missing_labels(series: &mut [Series]) {
    let mut names: Vec<String> = Vec::new();
    for s in series.iter() {
        for (n, _) in &s.labels {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    for s in series.iter_mut() {
        for n in &names {
            if !s.labels.iter().any(|(l, _)| l == n) {
                s.labels.push((n.clone(), String::new()));
            }
        }
    }
}

fn sorted_labels(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    v.sort();
    v
}

/// Writes one accepted family; histogram and summary series are sorted by label set and
/// laid out as client_golang does (sorted bounds, `+Inf` bucket added, then sum and count).
fn write_family(sink: &mut MetricSink, name: &str, acc: &Accepted) {
    let help = acc
        .help
        .clone()
        .unwrap_or_else(|| format!("Metric read from {}", acc.files.join(", ")));
    sink.family(name, &help, acc.kind);
    let mut series: Vec<&Series> = acc.series.iter().collect();
    series.sort_by(|a, b| sorted_labels(&a.labels).cmp(&sorted_labels(&b.labels)));
    for s in series {
        let labels = sorted_labels(&s.labels);
        match &s.value {
            Value::Simple(v) => {
                sink.sample(&labels, *v);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                write_bounded(sink, &labels, "quantile", "", quantiles, None);
                sink.sample_suffixed("_sum", &labels, *sum);
                sink.sample_suffixed("_count", &labels, as_count(*count));
            }
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let counted: Vec<(f64, f64)> =
                    buckets.iter().map(|&(b, c)| (b, as_count(c))).collect();
                write_bounded(
                    sink,
                    &labels,
                    "le",
                    "_bucket",
                    &counted,
                    Some(as_count(*count)),
                );
                sink.sample_suffixed("_sum", &labels, *sum);
                sink.sample_suffixed("_count", &labels, as_count(*count));
            }
        }
    }
}

/// Writes quantiles or buckets sorted by bound (a repeated bound keeps its last value); for
/// histograms a `+Inf` bucket with the total count is added when the file had none.
fn write_bounded(
    sink: &mut MetricSink,
    labels: &[(&str, &str)],
    key: &str,
    suffix: &str,
    pairs: &[(f64, f64)],
    inf_count: Option<f64>,
) {
    let mut sorted: Vec<(f64, f64)> = Vec::new();
    for &(bound, value) in pairs {
        match sorted.iter_mut().find(|(b, _)| *b == bound) {
            Some(existing) => existing.1 = value,
            None => sorted.push((bound, value)),
        }
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(count) = inf_count {
        if sorted.last().is_none_or(|(b, _)| *b != f64::INFINITY) {
            sorted.push((f64::INFINITY, count));
        }
    }
    for (bound, value) in sorted {
        let text = format_float(bound);
        let mut with_bound: Vec<(&str, &str)> = labels.to_vec();
        with_bound.push((key, &text));
        sink.sample_suffixed(suffix, &with_bound, value);
    }
}

/// Expands one directory flag value as `filepath.Glob`, falling back to the literal path.
fn expand(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        return vec![PathBuf::from(pattern)];
    }
    let mut current = vec![PathBuf::new()];
    for (i, component) in Path::new(pattern).components().enumerate() {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &current {
            if !part.contains(['*', '?', '[']) {
                let joined = if i == 0 {
                    PathBuf::from(&*part)
                } else {
                    base.join(&*part)
                };
                next.push(joined);
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| wildcard_match(&part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        current = next;
    }
    let found: Vec<PathBuf> = current
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if found.is_empty() {
        vec![PathBuf::from(pattern)]
    } else {
        found
    }
}

/// Lexically cleans a path as Go's `filepath.Clean` (which `filepath.Join` applies to the
/// file label): no `.` or empty components, `..` resolved where possible.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Shell pattern match of one path component: `*`, `?` and `[...]` classes (`^` negates).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|skip| match_from(&p[1..], &n[skip..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                return false;
            };
            let Some(&c) = n.first() else { return false };
            let mut class = &p[1..close];
            let negate = matches!(class.first(), Some('^' | '!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && match_from(&p[close + 1..], &n[1..])
        }
        Some(&c) => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

struct TextfileCollector {
    directories: Vec<String>,
    /// The problems of the previous scrape: a problem that repeats is logged at debug level,
    /// so an unreadable file is said once, not every scrape (node_exporter says it every time).
    last_problems: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl TextfileCollector {
    fn new(directories: Vec<String>) -> Self {
        TextfileCollector {
            directories,
            last_problems: std::sync::Mutex::default(),
        }
    }

    /// Logs this scrape's problems: new ones at error level, repeated ones at debug level.
    fn log_problems(&self, problems: Vec<String>) {
        let mut last = self.last_problems.lock().unwrap_or_else(|p| p.into_inner());
        for problem in &problems {
            if last.contains(problem) {
                tracing::debug!("textfile: {problem}");
            } else {
                tracing::error!("textfile: {problem}");
            }
        }
        *last = problems.into_iter().collect();
    }
}

impl TextfileCollector {
    /// Reads, parses and validates one file; `Err` means the file counts as failed.
    fn process_file(path: &Path) -> Result<(Vec<Family>, f64), String> {
        // A FIFO or device would block or never end; only regular files are read.
        let meta = std::fs::metadata(path).map_err(|e| format!("failed to stat {path:?}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("textfile {path:?} is not a regular file"));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| format!("failed to open textfile data file {path:?}: {e}"))?;
        let families = parse_text(&bytes)
            .map_err(|e| format!("failed to parse textfile data from {path:?}: {e}"))?;
        let has_timestamps = families
            .iter()
            .any(|f| f.series.iter().any(|s| s.timestamp_ms.is_some()));
        if has_timestamps {
            return Err(format!(
                "textfile {path:?} contains unsupported client-side timestamps, skipping entire file"
            ));
        }
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("failed to stat {path:?}: {e}"))?;
        let seconds = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok((families, seconds as f64))
    }
}

impl Collector for TextfileCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut errored = false;
        let mut problems = Vec::new();
        let mut merged = Merged::default();
        let mut mtimes: BTreeMap<String, f64> = BTreeMap::new();
        let dirs: Vec<PathBuf> = self.directories.iter().flat_map(|d| expand(d)).collect();
        for dir in dirs {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    errored = true;
                    problems.push(format!(
                        "failed to read textfile collector directory {}: {e}",
                        dir.display()
                    ));
                    continue;
                }
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".prom"))
                .collect();
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let file = clean_path(&path.to_string_lossy());
                let (families, mtime) = match Self::process_file(&path) {
                    Ok(result) => result,
                    Err(e) => {
                        errored = true;
                        problems.push(format!("failed to collect textfile data: {e}"));
                        continue;
                    }
                };
                if !merged.compatible(&families) {
                    errored = true;
                    problems.push(format!(
                        "metric type conflicts with another textfile in {name}"
                    ));
                    continue;
                }
                errored |= !merged.add(&file, families);
                mtimes.insert(file, mtime);
            }
        }
        for (name, acc) in &merged.families {
            write_family(sink, name, acc);
        }
        if !mtimes.is_empty() {
            sink.gauge(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
            );
            for (file, mtime) in &mtimes {
                sink.sample(&[("file", file)], *mtime);
            }
        }
        sink.single(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            MetricType::Gauge,
            if errored { 1.0 } else { 0.0 },
        );
        self.log_problems(problems);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# HELP node_test_counter_total A test counter.
# TYPE node_test_counter_total counter
node_test_counter_total{kind="a"} 17
node_test_counter_total{kind="b",zone="x"} 1.5e+06
# just a comment
# TYPE node_test_gauge gauge
node_test_gauge NaN
node_test_untyped{path="C:\\dir",quote="say \"hi\"",nl="a\nb"} -Inf
# HELP rpc_duration_seconds RPC latency.
# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="0.1"} 3
rpc_duration_seconds_bucket{le="1"} 5
rpc_duration_seconds_bucket{le="+Inf"} 6
rpc_duration_seconds_sum 4.2
rpc_duration_seconds_count 6
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.0001
go_gc_duration_seconds{quantile="1"} 0.002
go_gc_duration_seconds_sum 0.01
go_gc_duration_seconds_count 12
"#;

    #[test]
    fn parses_all_types() {
        let fams = parse_text(GOOD.as_bytes()).unwrap();
        let names: Vec<(&str, MetricType)> =
            fams.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("node_test_counter_total", MetricType::Counter),
                ("node_test_gauge", MetricType::Gauge),
                ("node_test_untyped", MetricType::Untyped),
                ("rpc_duration_seconds", MetricType::Histogram),
                ("go_gc_duration_seconds", MetricType::Summary),
            ]
        );
        assert_eq!(fams[0].help.as_deref(), Some("A test counter."));
        assert_eq!(fams[0].series[1].value, Value::Simple(1.5e6));
        assert!(matches!(fams[1].series[0].value, Value::Simple(v) if v.is_nan()));
        assert_eq!(
            fams[2].series[0].labels,
            vec![
                ("path".to_string(), "C:\\dir".to_string()),
                ("quote".to_string(), "say \"hi\"".to_string()),
                ("nl".to_string(), "a\nb".to_string()),
            ]
        );
        assert_eq!(
            fams[3].series[0].value,
            Value::Histogram {
                buckets: vec![(0.1, 3.0), (1.0, 5.0), (f64::INFINITY, 6.0)],
                sum: 4.2,
                count: 6.0
            }
        );
        assert_eq!(
            fams[4].series[0].value,
            Value::Summary {
                quantiles: vec![(0.5, 0.0001), (1.0, 0.002)],
                sum: 0.01,
                count: 12.0
            }
        );
    }

    #[test]
    fn timestamps_and_edge_syntax() {
        let fams = parse_text(b"a 1 1700000000000\nb{x=\"1\",} 2\n  c\t3\n").unwrap();
        assert_eq!(fams[0].series[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(fams[1].series[0].labels.len(), 1);
        assert_eq!(fams[2].series[0].value, Value::Simple(3.0));
        assert!(parse_text(b"# TYPE only_type gauge\n").unwrap().is_empty());
        assert!(parse_text(b"").unwrap().is_empty());
        assert!(parse_text(b"# \xff\xfe comment\nok 1\n").is_ok());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b"1abc 1"[..],
            b"a{1x=\"v\"} 1",
            b"a{x=\"v\",x=\"w\"} 1",
            b"a{x=\"v\\q\"} 1",
            b"a{x=\"v} 1",
            b"a",
            b"a one",
            b"a 1 now",
            b"a 1 2 3",
            b"# TYPE a gauge\n# TYPE a counter\na 1",
            b"# TYPE a bogus\na 1",
            b"a 1\n# TYPE a gauge",
            b"# HELP a x\n# HELP a y\na 1",
            b"# TYPE h histogram\nh_bucket 1",
            b"# TYPE s summary\ns{quantile=\"x\"} 1",
            b"a{x=\"\xff\"} 1",
            b"\xff 1",
        ] {
            assert!(
                parse_text(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fills_missing_labels() {
        let mut fams = parse_text(b"m{a=\"1\"} 1\nm{b=\"2\"} 2\n").unwrap();
        fill_missing_labels(&mut fams[0].series);
        assert_eq!(
            sorted_labels(&fams[0].series[0].labels),
            vec![("a", "1"), ("b", "")]
        );
        assert_eq!(
            sorted_labels(&fams[0].series[1].labels),
            vec![("a", ""), ("b", "2")]
        );
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path("/a/b/../c/./d.prom"), "/a/c/d.prom");
        assert_eq!(clean_path("/a//b/"), "/a/b");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../a/.."), "..");
        assert_eq!(clean_path("a/.."), ".");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.prom", "a.prom"));
        assert!(wildcard_match("dir[0-9]", "dir5"));
        assert!(!wildcard_match("dir[^0-9]", "dir5"));
        assert!(wildcard_match("d?r", "dir"));
        assert!(!wildcard_match("*.prom", "a.txt"));
    }

    fn collect_dir(files: &[(&str, &str)]) -> String {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().to_path_buf();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        let collector = TextfileCollector::new(vec![dir.to_string_lossy().into_owned()]);
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .replace(&*dir.to_string_lossy(), "DIR")
            .lines()
            .filter(|l| !l.starts_with("node_textfile_mtime_seconds{"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Fuzz finding: a family `a_count` read before a summary `a` was written beside it, and
    /// the output then had two HELP lines for `a_count` as a text parser groups them.
    #[test]
    fn suffix_collisions_keep_the_first_family() {
        let out = collect_dir(&[
            (
                "a.prom",
                "a_count 1\n# TYPE a summary\na{quantile=\"0.5\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n",
            ),
            ("b.prom", "h_sum 3\nh_bucket 4\n"),
        ]);
        assert!(out.contains("# TYPE a_count untyped\na_count 1\n"), "{out}");
        assert!(!out.contains("# TYPE a summary"), "{out}");
        assert!(out.contains("# TYPE h histogram\n"), "{out}");
        assert!(!out.contains("h_sum 3"), "{out}");
        assert!(!out.contains("h_bucket 4"), "{out}");
        assert!(parse_text(out.as_bytes()).is_ok(), "{out}");
    }

    #[test]
    fn conflicts_between_files() {
        let out = collect_dir(&[
            ("a.prom", "# HELP m first\nm{f=\"a\"} 1\nu{f=\"a\"} 1\n"),
            ("b.prom", "# HELP m second\nm{f=\"b\"} 2\nu{f=\"b\"} 2\n"),
            ("c.prom", "# TYPE u counter\nu{f=\"c\"} 3\n"),
            ("d.prom", "u{f=\"d\"} 4\n"),
        ]);
        assert!(
            out.contains("# HELP m first\n# TYPE m untyped\nm{f=\"a\"} 1\n#"),
            "{out}"
        );
        assert!(!out.contains("m{f=\"b\"}"), "{out}");
        assert!(out.contains("# HELP u Metric read from DIR/a.prom, DIR/b.prom, DIR/d.prom\n"));
        assert!(!out.contains("u{f=\"c\"}"), "{out}");
        assert!(out.contains("u{f=\"b\"} 2\nu{f=\"d\"} 4"), "{out}");
        assert!(out.contains("node_textfile_scrape_error 1"), "{out}");
    }

    #[test]
    fn no_directory_is_no_error() {
        let collector = TextfileCollector::new(Vec::new());
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        assert_eq!(sink.sample_count(), 1);
    }
}
