//! ksmd (off by default): `node_ksmd_*` from `/sys/kernel/mm/ksm/*`. Files the kernel does
//! not have (e.g. `general_profit` before 6.7, `merge_across_nodes` without NUMA) are skipped.

use crate::collector::Settings;
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::roots::JoinExt;
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_u64};

stateless_collector!("ksmd", false, "/sys/kernel/mm/ksm/*", collect);

/// File, metric name, HELP, type and the divisor applied to the value.
const FILES: &[(&str, &str, &str, MetricType, f64)] = &[
    (
        "full_scans",
        "node_ksmd_full_scans_total",
        "How many times all mergeable areas have been scanned.",
        MetricType::Counter,
        1.0,
    ),
    (
        "general_profit",
        "node_ksmd_general_profit_bytes",
        "How effective is KSM. ksm_saved_pages * sizeof(page) - (all_rmap_items) * sizeof(rmap_item)",
        MetricType::Gauge,
        1.0,
    ),
    (
        "merge_across_nodes",
        "node_ksmd_merge_across_nodes",
        "Specifies if pages from different NUMA nodes can be merged.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "pages_shared",
        "node_ksmd_pages_shared",
        "How many shared pages are being used.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "pages_sharing",
        "node_ksmd_pages_sharing",
        "How many more sites are sharing them i.e. how much saved.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "pages_to_scan",
        "node_ksmd_pages_to_scan",
        "How many pages to scan before ksmd goes to sleep.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "pages_unshared",
        "node_ksmd_pages_unshared",
        "How many pages unique but repeatedly checked for merging.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "pages_volatile",
        "node_ksmd_pages_volatile",
        "How many pages changing too fast to be placed in a tree.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "run",
        "node_ksmd_run",
        "The status of ksmd. stopped = 0, running = 1",
        MetricType::Gauge,
        1.0,
    ),
    (
        "sleep_millisecs",
        "node_ksmd_sleep_seconds",
        "How many seconds ksmd should sleep before next scan.",
        MetricType::Gauge,
        1000.0,
    ),
];

/// Parses a ksm attribute: an unsigned integer, as node_exporter's `readUintFromFile`.
pub fn parse(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(lossy(bytes).trim())
}

/// Parses `general_profit`, which the kernel prints as a signed `long` (`%ld` in
/// `general_profit_show`, mm/ksm.c): it is negative while the rmap items cost more than the
/// merged pages save. node_exporter's `readUintFromFile` fails the collector on such a value;
/// the kernel's type wins here.
pub fn parse_signed(bytes: &[u8]) -> Result<i64, ParseError> {
    let text = lossy(bytes);
    let text = text.trim();
    text.parse::<i64>()
        .map_err(|_| ParseError::new(format!("invalid integer {text:?}")))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let dir = settings.roots.sys("kernel/mm/ksm");
    for (file, name, help, kind, divisor) in FILES {
        let path = dir.join_exact(file);
        let value = if *file == "general_profit" {
            parse_file(&path, parse_signed)
                .if_present()?
                .map(|v| v as f64)
        } else {
            parse_file(&path, parse).if_present()?.map(|v| v as f64)
        };
        let Some(value) = value else {
            continue;
        };
        sink.single(name, help, *kind, value / divisor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(parse(b"20\n").unwrap(), 20);
        assert!(parse(b"").is_err());
        assert!(parse(b"-4096\n").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn general_profit_is_signed() {
        assert_eq!(parse_signed(b"-1679360\n").unwrap(), -1679360);
        assert_eq!(parse_signed(b"4096\n").unwrap(), 4096);
        assert!(parse_signed(b"x\n").is_err());
    }
}
