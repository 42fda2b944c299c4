//! selinux: whether SELinux is enabled, its configured and current modes, and the AVC
//! statistics from the selinuxfs mount (`<sysfs>/fs/selinux`).

use crate::roots::JoinExt;
use std::io::ErrorKind;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_u64_prefixed, read_optional};

stateless_collector!(
    "selinux",
    true,
    "/sys/fs/selinux, /etc/selinux/config, /proc/self/attr/current",
    collect
);

/// The mode named by `SELINUX=` in `/etc/selinux/config`, as go-selinux's
/// `DefaultEnforceMode`: enforcing 1, permissive 0, anything else (disabled, absent) -1.
/// go-selinux `readConfig` (go-selinux/selinux_linux.go) trims the line, takes the first
/// `SELINUX=` line and strips only quotes from the value, so `SELINUX= enforcing` is -1.
pub fn parse_config_mode(bytes: &[u8]) -> i64 {
    let text = lossy(bytes);
    let mode = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SELINUX="))
        .map(|v| v.trim_matches('"'))
        .unwrap_or("");
    match mode {
        "enforcing" => 1,
        "permissive" => 0,
        _ => -1,
    }
}

/// AVC cache counters summed over all lines of `avc/cache_stats`:
/// lookups, hits, misses, allocations, reclaims, frees. Each run of digits is parsed as
/// node_exporter's `parseAVCStats` does, with `strconv.ParseUint(v, 0, 64)`.
pub fn parse_avc_stats(bytes: &[u8]) -> Result<[u64; 6], ParseError> {
    let text = lossy(bytes);
    let mut sums = [0u64; 6];
    for line in text.lines().skip(1) {
        let values: Vec<&str> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .collect();
        if values.len() != 6 {
            return Err(ParseError::new(format!("invalid AVC stat line: {line}")));
        }
        for (sum, v) in sums.iter_mut().zip(values) {
            *sum = sum.wrapping_add(parse_u64_prefixed(v)?);
        }
    }
    Ok(sums)
}

/// `avc/hash_stats`: entries, buckets used, buckets available, longest chain, as
/// node_exporter's `parseAVCHashStats`: three lines, `TrimPrefix` of `entries: ` and
/// `longest chain: ` (a line without the prefix is parsed whole), the text after
/// `buckets used: ` split at `/`, and every value `ParseUint(v, 0, 64)` untrimmed. Where Go
/// indexes past a missing separator (a panic), this is an error.
pub fn parse_avc_hash_stats(bytes: &[u8]) -> Result<[u64; 4], ParseError> {
    let text = lossy(bytes);
    let mut lines = text.lines();
    let entries_line = lines.next().unwrap_or("");
    let buckets_line = lines.next().unwrap_or("");
    let longest_line = lines.next().unwrap_or("");
    let entries = entries_line
        .strip_prefix("entries: ")
        .unwrap_or(entries_line);
    let invalid = || ParseError::new(format!("invalid buckets line {buckets_line:?}"));
    let buckets = buckets_line
        .split("buckets used: ")
        .nth(1)
        .ok_or_else(invalid)?;
    let mut tuple = buckets.split('/');
    let used = tuple.next().ok_or_else(invalid)?;
    let available = tuple.next().ok_or_else(invalid)?;
    let longest = longest_line
        .strip_prefix("longest chain: ")
        .unwrap_or(longest_line);
    Ok([
        parse_u64_prefixed(entries)?,
        parse_u64_prefixed(used)?,
        parse_u64_prefixed(available)?,
        parse_u64_prefixed(longest)?,
    ])
}

/// The selinuxfs `enforce` file as go-selinux's `EnforceMode`: `strconv.Atoi` of the
/// untrimmed bytes, -1 on any error. The kernel writes `"%d"` with no newline
/// (security/selinux/selinuxfs.c `sel_read_enforce`).
pub fn parse_enforce(bytes: &[u8]) -> i64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1)
}

/// `avc/cache_threshold` as node_exporter's `readUintFromFile`: `ParseUint` base 10 of the
/// whitespace-trimmed text.
pub fn parse_threshold(bytes: &[u8]) -> Result<u64, ParseError> {
    let text = lossy(bytes);
    let t = text.trim();
    Some(t)
        .filter(|t| !t.starts_with('+'))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| ParseError::new(format!("invalid unsigned integer {t:?}")))
}

/// go-selinux's `GetEnabled`: selinuxfs is mounted and the process label is not `kernel`.
fn enabled(settings: &Settings) -> bool {
    if !settings.roots.sys("fs/selinux/enforce").exists() {
        return false;
    }
    read_optional(&settings.roots.proc("self/attr/current"))
        .map(|label| label.strip_suffix('\0').unwrap_or(&label) != "kernel")
        .unwrap_or(true)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let gauge = MetricType::Gauge;
    if !enabled(settings) {
        sink.single(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            gauge,
            0.0,
        );
        return Ok(());
    }
    sink.single(
        "node_selinux_enabled",
        "SELinux is enabled, 1 is true, 0 is false",
        gauge,
        1.0,
    );
    let config_mode = match std::fs::read(settings.roots.root("etc/selinux/config")) {
        Ok(bytes) => parse_config_mode(&bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => -1,
        Err(_) => -1,
    };
    sink.single(
        "node_selinux_config_mode",
        "Configured SELinux enforcement mode",
        gauge,
        config_mode as f64,
    );
    let fs = settings.roots.sys("fs/selinux");
    let current_mode = std::fs::read(fs.join_exact("enforce")).map_or(-1, |b| parse_enforce(&b));
    sink.single(
        "node_selinux_current_mode",
        "Current SELinux enforcement mode",
        gauge,
        current_mode as f64,
    );

    let stats = parse_file(&fs.join_exact("avc/cache_stats"), parse_avc_stats)?;
    let counters = [
        ("node_selinux_avc_lookups_total", "SELinux AVC lookups"),
        ("node_selinux_avc_hits_total", "SELinux AVC hits"),
        ("node_selinux_avc_misses_total", "SELinux AVC misses"),
        (
            "node_selinux_avc_allocations_total",
            "SELinux AVC allocations",
        ),
        ("node_selinux_avc_reclaims_total", "SELinux AVC reclaims"),
        ("node_selinux_avc_frees_total", "SELinux AVC frees"),
    ];
    for ((name, help), value) in counters.iter().zip(stats) {
        sink.single(name, help, MetricType::Counter, value as f64);
    }
    let hash = parse_file(&fs.join_exact("avc/hash_stats"), parse_avc_hash_stats)?;
    let gauges = [
        ("node_selinux_avc_hash_entries", "SELinux AVC hash entries"),
        (
            "node_selinux_avc_hash_buckets_used",
            "SELinux AVC hash buckets used",
        ),
        (
            "node_selinux_avc_hash_buckets_available",
            "SELinux AVC hash buckets available",
        ),
        (
            "node_selinux_avc_hash_longest_chain",
            "SELinux AVC hash longest chain",
        ),
    ];
    for ((name, help), value) in gauges.iter().zip(hash) {
        sink.single(name, help, gauge, value as f64);
    }
    let threshold = parse_file(&fs.join_exact("avc/cache_threshold"), parse_threshold)?;
    sink.single(
        "node_selinux_avc_threshold",
        "SELinux AVC threshold",
        gauge,
        threshold as f64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_modes() {
        let cfg =
            b"# This file controls the state of SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";
        assert_eq!(parse_config_mode(cfg), 1);
        assert_eq!(parse_config_mode(b"SELINUX=permissive\n"), 0);
        assert_eq!(parse_config_mode(b"SELINUX=disabled\n"), -1);
        assert_eq!(parse_config_mode(b""), -1);
        assert_eq!(parse_config_mode(&[0xff, 0xfe]), -1);
    }

    #[test]
    fn avc_stats() {
        let text =
            b"lookups hits misses allocations reclaims frees\n100 90 10 10 0 5\n50 40 10 10 0 1\n";
        assert_eq!(parse_avc_stats(text).unwrap(), [150, 130, 20, 20, 0, 6]);
        assert_eq!(parse_avc_stats(b"").unwrap(), [0; 6]);
        assert!(parse_avc_stats(b"header\n1 2 3\n").is_err());
        // node_exporter's ParseUint(v, 0, 64) on each digit run: a leading 0 is octal.
        assert_eq!(parse_avc_stats(b"h\n010 1 1 1 1 1\n").unwrap()[0], 8);
        assert!(parse_avc_stats(b"h\n09 1 1 1 1 1\n").is_err());
        assert!(parse_avc_stats(b"header\n\xff\xfe").is_err());
    }

    #[test]
    fn avc_hash_stats() {
        let text = b"entries: 510\nbuckets used: 293/512\nlongest chain: 5\n";
        assert_eq!(parse_avc_hash_stats(text).unwrap(), [510, 293, 512, 5]);
        assert!(parse_avc_hash_stats(b"").is_err());
        assert!(parse_avc_hash_stats(b"entries: 1\nbuckets used: 2\n").is_err());
        assert!(parse_avc_hash_stats(b"entries: x\n").is_err());
    }

    /// go-selinux `readConfig`: the first `SELINUX=` line wins and the value is not
    /// whitespace-trimmed (old code: last line, trimmed).
    #[test]
    fn config_mode_as_go_selinux_read_config() {
        assert_eq!(
            parse_config_mode(b"SELINUX=enforcing\nSELINUX=permissive\n"),
            1
        );
        assert_eq!(parse_config_mode(b"SELINUX= enforcing\n"), -1);
        assert_eq!(parse_config_mode(b"  SELINUX=\"permissive\"  \n"), 0);
    }

    /// `parseAVCHashStats` parses values untrimmed and a line without its prefix whole.
    #[test]
    fn hash_stats_as_node_exporter() {
        assert!(
            parse_avc_hash_stats(b"entries: 5 \nbuckets used: 1/2\nlongest chain: 3\n").is_err()
        );
        assert!(
            parse_avc_hash_stats(b"entries: 5\nbuckets used: 1 / 2\nlongest chain: 3\n").is_err()
        );
        assert_eq!(
            parse_avc_hash_stats(b"5\nbuckets used: 1/2/9\nlongest chain: 3\n").unwrap(),
            [5, 1, 2, 3]
        );
        assert!(parse_avc_hash_stats(b"entries: 5\nbuckets used: 12\nlongest chain: 3\n").is_err());
    }

    /// `EnforceMode` is `Atoi` of the raw bytes; `cache_threshold` is `ParseUint` base 10.
    #[test]
    fn enforce_and_threshold_as_go() {
        assert_eq!(parse_enforce(b"1"), 1);
        assert_eq!(parse_enforce(b"0"), 0);
        assert_eq!(parse_enforce(b"1\n"), -1);
        assert_eq!(parse_enforce(b""), -1);
        assert_eq!(parse_threshold(b"512\n").unwrap(), 512);
        assert!(parse_threshold(b"1.5").is_err());
        assert!(parse_threshold(b"-1").is_err());
        assert!(parse_threshold(b"+1").is_err());
    }
}
