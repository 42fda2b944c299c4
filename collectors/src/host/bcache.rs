//! bcache: Linux bcache statistics from `/sys/fs/bcache/<uuid>/` and its backing (`bdevN`) and
//! cache (`cacheN`) devices (`node_bcache_*`), read as procfs' `bcache` package does.

use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{list_dir, lossy, read};

/// `--collector.bcache.priorityStats`.
pub const PRIORITY_FLAG: Flag<bool> = Flag::new(
    "collector.bcache.priorityStats",
    "Expose expensive priority stats.",
    "false",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "bcache",
    default_enabled: true,
    sources: "/sys/fs/bcache/*-*/",
    flags: &[PRIORITY_FLAG.spec],
    build: |settings| {
        Ok(Box::new(BcacheCollector {
            settings: Arc::clone(settings),
            priority_stats: settings.options.get(&PRIORITY_FLAG),
        }))
    },
};

/// The bcache collector; `priority_stats` reads each cache's `priority_stats` (expensive).
struct BcacheCollector {
    settings: Arc<Settings>,
    priority_stats: bool,
}

/// The values node_exporter reports from a backing device's `writeback_rate_debug`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WritebackRateDebug {
    /// `rate:` in bytes per second.
    pub rate: u64,
    /// `target:` in bytes.
    pub target: u64,
    /// `proportional:` term.
    pub proportional: i64,
    /// `integral:` term.
    pub integral: i64,
    /// `change:` per second.
    pub change: i64,
}

/// Parses the mantissa `bch_hprint` writes (drivers/md/bcache/util.c): the quotient, then
/// one digit `t * 10 / 1024` for the remainder `t` below the unit, i.e. tenths of the unit.
/// procfs' `parsePseudoFloat` divides that digit by 10.24 instead of 10, which reads `1.5k` as
/// 1524 rather than 1536 (2.4% of a unit low per tenth); the kernel's meaning is used here.
fn parse_pseudo_float(text: &str) -> Result<f64, ParseError> {
    let bad = || ParseError::new(format!("invalid number {text:?}"));
    let mut parts = text.split('.');
    let int_part: f64 = parts.next().unwrap_or("").parse().map_err(|_| bad())?;
    match parts.next() {
        None => Ok(int_part),
        Some(frac_text) => {
            let frac: f64 = frac_text.parse().map_err(|_| bad())?;
            Ok(int_part + frac / 10f64.powi(frac_text.len() as i32))
        }
    }
}

/// Converts a value printed by bcache's `bch_hprint` (`1.5k`, `20.4G`, `512`) to a number.
pub fn dehumanize(text: &str) -> Result<u64, ParseError> {
    let Some(last) = text.chars().last() else {
        return Err(ParseError::new("zero-length reply"));
    };
    if last > '9' {
        let exponent = match last {
            'k' => 1,
            'M' => 2,
            'G' => 3,
            'T' => 4,
            'P' => 5,
            'E' => 6,
            'Z' => 7,
            'Y' => 8,
            // procfs multiplies by zero for an unknown suffix.
            _ => 0,
        };
        let multiplier = if exponent == 0 {
            0.0
        } else {
            1024f64.powi(exponent)
        };
        let mantissa = parse_pseudo_float(&text[..text.len() - last.len_utf8()])?;
        return Ok((mantissa * multiplier) as u64);
    }
    text.parse::<f64>()
        .map(|v| v as u64)
        .map_err(|_| ParseError::new(format!("invalid number {text:?}")))
}

/// [`dehumanize`] with an optional leading minus sign.
pub fn dehumanize_signed(text: &str) -> Result<i64, ParseError> {
    match text.strip_prefix('-') {
        Some(rest) => Ok((dehumanize(rest)? as i64).wrapping_neg()),
        None => Ok(dehumanize(text)? as i64),
    }
}

fn last_field(line: &str) -> &str {
    line.split_whitespace().last().unwrap_or("")
}

/// Parses `writeback_rate_debug`.
pub fn parse_writeback_rate_debug(bytes: &[u8]) -> Result<WritebackRateDebug, ParseError> {
    let mut wrd = WritebackRateDebug::default();
    for line in lossy(bytes).lines() {
        let value = last_field(line);
        if line.starts_with("rate:") {
            wrd.rate = dehumanize(value.trim_end_matches("/sec"))?;
        } else if line.starts_with("target:") {
            wrd.target = dehumanize(value)?;
        } else if line.starts_with("dirty:") {
            dehumanize(value)?;
        } else if line.starts_with("proportional:") {
            wrd.proportional = dehumanize_signed(value)?;
        } else if line.starts_with("integral:") {
            wrd.integral = dehumanize_signed(value)?;
        } else if line.starts_with("change:") {
            wrd.change = dehumanize_signed(value.trim_end_matches("/sec"))?;
        } else if line.starts_with("next io:") {
            let ms = value.trim_end_matches("ms");
            ms.parse::<i64>()
                .map_err(|_| ParseError::new(format!("invalid next io {value:?}")))?;
        }
    }
    Ok(wrd)
}

/// Parses `priority_stats` into the unused and metadata percentages.
pub fn parse_priority_stats(bytes: &[u8]) -> Result<(u64, u64), ParseError> {
    let (mut unused, mut metadata) = (0, 0);
    for line in lossy(bytes).lines() {
        let target = if line.starts_with("Unused:") {
            &mut unused
        } else if line.starts_with("Metadata:") {
            &mut metadata
        } else {
            continue;
        };
        let value = last_field(line).trim_end_matches('%');
        *target = value
            .parse::<u64>()
            .map_err(|_| ParseError::new(format!("invalid percentage {value:?}")))?;
    }
    Ok((unused, metadata))
}

/// Reads a one-value attribute (its last byte, the newline, is dropped) and dehumanizes it.
fn read_value(path: &Path) -> Result<u64, CollectError> {
    let bytes = read(path)?;
    let text = lossy(&bytes);
    let value = text.strip_suffix('\n').unwrap_or(&text);
    dehumanize(value).map_err(|e| CollectError::parse(path, e))
}

/// Like [`read_value`], but a missing file is 0 (newer kernels dropped `cache_readaheads`).
fn read_optional_value(path: &Path) -> Result<u64, CollectError> {
    if path.exists() {
        read_value(path)
    } else {
        Ok(0)
    }
}

fn parse_at<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, CollectError> {
    let bytes = read(path)?;
    parse(&bytes).map_err(|e| CollectError::parse(path, e))
}

/// Names in `dir` made of `prefix` followed by a digit and anything (the glob `prefix[0-9]*`).
fn numbered(names: &[String], prefix: &str) -> Vec<String> {
    names
        .iter()
        .filter(|n| {
            n.strip_prefix(prefix)
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c.is_ascii_digit())
        })
        .cloned()
        .collect()
}

impl Collector for BcacheCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let base = self.settings.roots.sys("fs/bcache");
        let entries = match list_dir(&base) {
            Err(e) if e.is_no_data() => return Ok(()),
            other => other?,
        };
        for uuid in entries.iter().filter(|n| n.contains('-')) {
            self.collect_set(&base.join(uuid), uuid, sink)?;
        }
        Ok(())
    }
}

/// The per-set gauges: file, metric name, help and scale.
const SET_VALUES: &[(&str, &str, &str, f64)] = &[
    ("average_key_size", "average_key_size_sectors", "Average data per key in the btree (sectors).", 1.0),
    ("btree_cache_size", "btree_cache_size_bytes", "Amount of memory currently used by the btree cache.", 1.0),
    ("cache_available_percent", "cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).", 1.0),
    ("congested", "congested", "Congestion.", 1.0),
    ("root_usage_percent", "root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high).", 1.0),
    ("tree_depth", "tree_depth", "Depth of the btree.", 1.0),
    ("internal/active_journal_entries", "active_journal_entries", "Number of journal entries that are newer than the index.", 1.0),
    ("internal/btree_nodes", "btree_nodes", "Total nodes in the btree.", 1.0),
    // The file is in microseconds (`__print_time_stat` divides by NSEC_PER_us, bcache's
    // util.h); procfs stores it as nanoseconds and node_exporter scales it by 1e-9, which
    // serves a thousandth of the duration.
    ("internal/btree_read_average_duration_us", "btree_read_average_duration_seconds", "Average btree read duration.", 1e-6),
];

/// Period statistics of `stats_total`: file, metric name and help.
const PERIOD_VALUES: &[(&str, &str, &str)] = &[
    (
        "bypassed",
        "bypassed_bytes_total",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_hits",
        "cache_hits_total",
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_misses",
        "cache_misses_total",
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_bypass_hits",
        "cache_bypass_hits_total",
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses",
        "cache_bypass_misses_total",
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_miss_collisions",
        "cache_miss_collisions_total",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
];

impl BcacheCollector {
    fn collect_set(
        &self,
        dir: &Path,
        uuid: &str,
        sink: &mut MetricSink,
    ) -> Result<(), CollectError> {
        let mut set_values = Vec::new();
        for (file, name, help, scale) in SET_VALUES {
            set_values.push((*name, *help, read_value(&dir.join(file))? as f64 * scale));
        }
        let races = read_value(&dir.join("internal/cache_read_races"))?;
        // procfs requires the set's period statistics even though none are reported.
        for period in ["stats_five_minute", "stats_total"] {
            read_period(&dir.join(period))?;
        }
        for (name, help, value) in set_values {
            sink.gauge(&format!("node_bcache_{name}"), help)
                .sample(&[("uuid", uuid)], value);
        }
        sink.counter(
            "node_bcache_cache_read_races_total",
            "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
        )
        .sample(&[("uuid", uuid)], races as f64);
        let names = list_dir(dir)?;
        for bdev in numbered(&names, "bdev") {
            collect_bdev(&dir.join(&bdev), uuid, &bdev, sink)?;
        }
        for cache in numbered(&names, "cache") {
            self.collect_cache(&dir.join(&cache), uuid, &cache, sink)?;
        }
        Ok(())
    }

    fn collect_cache(
        &self,
        dir: &Path,
        uuid: &str,
        cache: &str,
        sink: &mut MetricSink,
    ) -> Result<(), CollectError> {
        let labels = [("cache_device", cache), ("uuid", uuid)];
        let io_errors = read_value(&dir.join("io_errors"))?;
        let metadata = read_value(&dir.join("metadata_written"))?;
        let written = read_value(&dir.join("written"))?;
        let priority = if self.priority_stats {
            Some(parse_at(&dir.join("priority_stats"), parse_priority_stats)?)
        } else {
            None
        };
        sink.gauge(
            "node_bcache_io_errors",
            "Number of errors that have occurred, decayed by io_error_halflife.",
        )
        .sample(&labels, io_errors as f64);
        sink.counter(
            "node_bcache_metadata_written_bytes_total",
            "Sum of all non data writes (btree writes and all other metadata).",
        )
        .sample(&labels, metadata as f64);
        sink.counter(
            "node_bcache_written_bytes_total",
            "Sum of all data that has been written to the cache.",
        )
        .sample(&labels, written as f64);
        if let Some((unused, meta)) = priority {
            sink.gauge(
                "node_bcache_priority_stats_unused_percent",
                "The percentage of the cache that doesn't contain any data.",
            )
            .sample(&labels, unused as f64);
            sink.gauge(
                "node_bcache_priority_stats_metadata_percent",
                "Bcache's metadata overhead.",
            )
            .sample(&labels, meta as f64);
        }
        Ok(())
    }
}

/// Reads a period directory: the six required counters and the optional readaheads.
fn read_period(dir: &Path) -> Result<(Vec<u64>, u64), CollectError> {
    let mut values = Vec::new();
    for (file, _, _) in PERIOD_VALUES {
        values.push(read_value(&dir.join(file))?);
    }
    Ok((values, read_optional_value(&dir.join("cache_readaheads"))?))
}

fn collect_bdev(
    dir: &Path,
    uuid: &str,
    bdev: &str,
    sink: &mut MetricSink,
) -> Result<(), CollectError> {
    let labels = [("backing_device", bdev), ("uuid", uuid)];
    let dirty = read_value(&dir.join("dirty_data"))?;
    let wrd = parse_at(
        &dir.join("writeback_rate_debug"),
        parse_writeback_rate_debug,
    )?;
    read_period(&dir.join("stats_five_minute"))?;
    let (totals, readaheads) = read_period(&dir.join("stats_total"))?;
    let gauges = [
        (
            "dirty_data_bytes",
            "Amount of dirty data for this backing device in the cache.",
            dirty as f64,
        ),
        (
            "dirty_target_bytes",
            "Current dirty data target threshold for this backing device in bytes.",
            wrd.target as f64,
        ),
        (
            "writeback_rate",
            "Current writeback rate for this backing device in bytes.",
            wrd.rate as f64,
        ),
        (
            "writeback_rate_proportional_term",
            "Current result of proportional controller, part of writeback rate",
            wrd.proportional as f64,
        ),
        (
            "writeback_rate_integral_term",
            "Current result of integral controller, part of writeback rate",
            wrd.integral as f64,
        ),
        (
            "writeback_change",
            "Last writeback rate change step for this backing device.",
            wrd.change as f64,
        ),
    ];
    for (name, help, value) in gauges {
        sink.gauge(&format!("node_bcache_{name}"), help)
            .sample(&labels, value);
    }
    for ((_, name, help), value) in PERIOD_VALUES.iter().zip(totals) {
        sink.counter(&format!("node_bcache_{name}"), help)
            .sample(&labels, value as f64);
    }
    if readaheads != 0 {
        sink.counter(
            "node_bcache_cache_readaheads_total",
            "Count of times readahead occurred.",
        )
        .sample(&labels, readaheads as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dehumanizes() {
        assert_eq!(dehumanize("542").unwrap(), 542);
        // bch_hprint(1536) is "1.5k": q = 1, t = 512, digit 512 * 10 / 1024 = 5.
        assert_eq!(dehumanize("1.5k").unwrap(), 1536);
        // bch_hprint(21904333209) is "20.4G" (t = 409 MiB-ish, digit 3.99 -> 4 tenths).
        assert_eq!(dehumanize("20.4G").unwrap(), 21904333209);
        assert_eq!(dehumanize("2M").unwrap(), 2 * 1024 * 1024);
        assert_eq!(dehumanize("0.0k").unwrap(), 0);
        assert_eq!(
            dehumanize("3x").unwrap(),
            0,
            "unknown suffix multiplies by zero"
        );
        assert_eq!(dehumanize_signed("-2k").unwrap(), -2048);
        assert!(dehumanize("").is_err());
        assert!(dehumanize("abc").is_err());
        assert!(dehumanize("1.xk").is_err());
    }

    #[test]
    fn parses_writeback_rate_debug() {
        let text = "rate:\t\t1.1M/sec\ndirty:\t\t20.4G\ntarget:\t\t20.4G\nproportional:\t427.5k\nintegral:\t-790k\nchange:\t\t321.5k/sec\nnext io:\t17ms\n";
        let wrd = parse_writeback_rate_debug(text.as_bytes()).unwrap();
        assert_eq!(wrd.rate, 1_153_433, "1.1M is 1.1 * 2^20");
        assert_eq!(wrd.proportional, 437_760);
        assert_eq!(wrd.integral, -808_960);
        assert_eq!(wrd.change, 329_216);
        assert_eq!(
            parse_writeback_rate_debug(b"").unwrap(),
            WritebackRateDebug::default()
        );
        assert!(parse_writeback_rate_debug(b"rate:\tfoo/sec\n").is_err());
        assert!(parse_writeback_rate_debug(b"next io:\tsoon\n").is_err());
        assert!(parse_writeback_rate_debug(&[b'r', b'a', b't', b'e', b':', 0xff]).is_err());
    }

    #[test]
    fn parses_priority_stats() {
        let text = "Unused:\t\t99%\nClean:\t\t0%\nDirty:\t\t0%\nMetadata:\t1%\nAverage:\t10473\nSectors per Q:\t64000\nQuantiles:\t[0 2 3]\n";
        assert_eq!(parse_priority_stats(text.as_bytes()).unwrap(), (99, 1));
        assert_eq!(parse_priority_stats(b"").unwrap(), (0, 0));
        assert!(parse_priority_stats(b"Unused:\n").is_err());
        assert!(parse_priority_stats(b"Metadata:\tx%\n").is_err());
    }
}
