//! conntrack: `node_nf_conntrack_*` from `/proc/sys/net/netfilter/nf_conntrack_{count,max}` and the
//! per-CPU statistics in `/proc/net/stat/nf_conntrack` (summed over CPUs).

use std::io::ErrorKind;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{parse_file, read_number};

stateless_collector!(
    "conntrack",
    true,
    "/proc/sys/net/netfilter/nf_conntrack_{count,max}, /proc/net/stat/nf_conntrack",
    collect
);

/// The conntrack statistics node_exporter exports, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackStats {
    /// Successful searches.
    pub found: u64,
    /// Packets that could not be tracked.
    pub invalid: u64,
    /// Packets already connected to an entry.
    pub ignore: u64,
    /// Entries inserted.
    pub insert: u64,
    /// Failed insertions.
    pub insert_failed: u64,
    /// Packets dropped by conntrack.
    pub drop: u64,
    /// Entries dropped to make room.
    pub early_drop: u64,
    /// Lookups restarted by hash table resizes.
    pub search_restart: u64,
}

/// Parses `/proc/net/stat/nf_conntrack`: a header line, then one line of 16 or 17 hex fields per
/// CPU, read by position as procfs' `parseConntrackStatEntry` does.
pub fn parse_stat(bytes: &[u8]) -> Result<ConntrackStats, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut lines = crate::util::lines(text);
    lines
        .next()
        .ok_or_else(|| ParseError::new("missing header line"))?;
    let mut sum = ConntrackStats::default();
    for line in lines {
        let values = line
            .split_ascii_whitespace()
            .map(|f| {
                u64::from_str_radix(f, 16)
                    .map_err(|_| ParseError::new(format!("invalid hex value {f:?}")))
            })
            .collect::<Result<Vec<u64>, ParseError>>()?;
        if !(16..=17).contains(&values.len()) {
            return Err(ParseError::new(format!(
                "invalid number of fields: {}",
                values.len()
            )));
        }
        let at = |i: usize| values.get(i).copied().unwrap_or(0);
        sum.found += at(2);
        sum.invalid += at(4);
        sum.ignore += at(5);
        sum.insert += at(8);
        sum.insert_failed += at(9);
        sum.drop += at(10);
        sum.early_drop += at(11);
        // search_restart is missing before Linux 2.6.35 (16 fields).
        sum.search_restart += at(16);
    }
    Ok(sum)
}

/// Absent conntrack files mean the module is not loaded: node_exporter's ErrNoData.
fn no_data_if_missing(err: CollectError) -> CollectError {
    match err {
        CollectError::Io { ref source, .. } if source.kind() == ErrorKind::NotFound => {
            CollectError::NoData("conntrack probably not loaded".into())
        }
        other => other,
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let roots = &settings.roots;
    let count = read_number(&roots.proc("sys/net/netfilter/nf_conntrack_count"))
        .map_err(no_data_if_missing)?;
    sink.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
    )
    .sample(&[], count);
    let max = read_number(&roots.proc("sys/net/netfilter/nf_conntrack_max"))
        .map_err(no_data_if_missing)?;
    sink.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
    )
    .sample(&[], max);
    let stats =
        parse_file(&roots.proc("net/stat/nf_conntrack"), parse_stat).map_err(no_data_if_missing)?;
    let families: [(&str, &str, u64); 8] = [
        ("found", "Number of searched entries which were successful.", stats.found),
        ("invalid", "Number of packets seen which can not be tracked.", stats.invalid),
        (
            "ignore",
            "Number of packets seen which are already connected to a conntrack entry.",
            stats.ignore,
        ),
        ("insert", "Number of entries inserted into the list.", stats.insert),
        (
            "insert_failed",
            "Number of entries for which list insertion was attempted but failed.",
            stats.insert_failed,
        ),
        ("drop", "Number of packets dropped due to conntrack failure.", stats.drop),
        (
            "early_drop",
            "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
            stats.early_drop,
        ),
        (
            "search_restart",
            "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
            stats.search_restart,
        ),
    ];
    for (suffix, help, value) in families {
        sink.gauge(&format!("node_nf_conntrack_stat_{suffix}"), help)
            .sample(&[], value as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000006  00000000 00000001 00000000 00000002 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 0000000a
00000006  00000000 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001
";

    #[test]
    fn sums_cpus() {
        let s = parse_stat(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.found, 17);
        assert_eq!(s.invalid, 2);
        assert_eq!(s.ignore, 3);
        assert_eq!(s.insert, 4);
        assert_eq!(s.insert_failed, 5);
        assert_eq!(s.drop, 6);
        assert_eq!(s.early_drop, 7);
        assert_eq!(s.search_restart, 11);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_stat(b"").is_err());
        assert_eq!(parse_stat(b"entries\n").unwrap(), ConntrackStats::default());
        assert!(parse_stat(b"entries found\n00000001 00000002\n").is_err());
        assert!(parse_stat(b"h\n0000000g 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n").is_err());
        assert!(parse_stat(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.unwrap_err().is_no_data());
        assert!(sink.is_empty());
    }
}
