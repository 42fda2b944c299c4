//! fibrechannel: Fibre Channel HBAs from `/sys/class/fc_host/<host>` (node_exporter's
//! `fibrechannel_linux.go` over procfs' `class_fibrechannel.go`): one info series with the host
//! attributes and the `statistics/` counters the HBA implements.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_u64_prefixed, read, read_trimmed};

stateless_collector!("fibrechannel", true, "/sys/class/fc_host", collect);

/// Host attributes, in the order of the info labels after `fc_host`.
const ATTRIBUTES: &[&str] = &[
    "speed",
    "port_state",
    "port_type",
    "port_id",
    "port_name",
    "fabric_name",
    "symbolic_name",
    "supported_classes",
    "supported_speeds",
    "dev_loss_tmo",
];

/// `statistics/` files, the metric each becomes (without `node_fibrechannel_`) and its HELP.
const COUNTERS: &[(&str, &str, &str)] = &[
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

/// Normalises a host attribute as procfs does: the WWN-style attributes (`port_id`,
/// `port_name`, `node_name`, `fabric_name`) lose their `0x` prefix (the first two characters).
pub fn attribute_value(name: &str, raw: &str) -> String {
    let hex = matches!(name, "port_id" | "port_name" | "node_name" | "fabric_name");
    match raw.get(2..) {
        Some(rest) if hex && !rest.is_empty() => rest.to_string(),
        _ => raw.to_string(),
    }
}

/// Parses a statistics file (`0x1f3a`, or decimal). `None` is the all-ones value an HBA
/// reports for a counter it does not implement.
pub fn parse_statistic(bytes: &[u8]) -> Result<Option<u64>, ParseError> {
    let value = parse_u64_prefixed(lossy(bytes).trim())?;
    Ok((value != u64::MAX).then_some(value))
}

struct Host {
    name: String,
    attributes: Vec<String>,
    counters: Vec<(&'static (&'static str, &'static str, &'static str), u64)>,
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/fc_host");
    // procfs parses every host before node_exporter emits; a missing class or statistics
    // directory is ErrNoData (list_dir reports it as such).
    let hosts = list_dir(&class)?
        .into_iter()
        .map(|name| read_host(&class.join(&name), name))
        .collect::<Result<Vec<_>, _>>()?;
    for host in &hosts {
        emit(host, sink);
    }
    Ok(())
}

fn read_host(dir: &Path, name: String) -> Result<Host, CollectError> {
    let mut attributes = Vec::with_capacity(ATTRIBUTES.len());
    for attribute in ATTRIBUTES {
        // Drivers may leave attributes out (node_exporter#2919): absent is an empty label.
        let value = match read_trimmed(&dir.join(attribute)) {
            Ok(raw) => attribute_value(attribute, &raw),
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e),
        };
        attributes.push(value);
    }
    let statistics = dir.join("statistics");
    let mut counters = Vec::new();
    for file in list_dir(&statistics)? {
        let Some(spec) = COUNTERS.iter().find(|c| c.0 == file) else {
            continue;
        };
        let path = statistics.join(&file);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let bytes = match read(&path) {
            Ok(bytes) => bytes,
            // Write-only and unsupported attributes are skipped, as procfs does.
            Err(CollectError::Io { source, .. })
                if source.kind() == ErrorKind::NotFound
                    || source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        let value = parse_statistic(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        if let Some(value) = value {
            counters.push((spec, value));
        }
    }
    Ok(Host {
        name,
        attributes,
        counters,
    })
}

fn emit(host: &Host, sink: &mut MetricSink) {
    let mut labels = vec![("fc_host", host.name.as_str())];
    labels.extend(
        ATTRIBUTES
            .iter()
            .copied()
            .zip(host.attributes.iter().map(String::as_str)),
    );
    sink.gauge(
        "node_fibrechannel_info",
        "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
    )
    .sample(&labels, 1.0);
    for ((_, metric, help), value) in &host.counters {
        sink.counter(&format!("node_fibrechannel_{metric}"), help)
            .sample(&[("fc_host", &host.name)], *value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_wwn_prefixes() {
        assert_eq!(
            attribute_value("port_name", "0x100000109b3c2a41"),
            "100000109b3c2a41"
        );
        assert_eq!(attribute_value("port_id", "0x010a00"), "010a00");
        assert_eq!(attribute_value("fabric_name", "0x0"), "0");
        assert_eq!(attribute_value("port_id", "0x"), "0x");
        assert_eq!(attribute_value("speed", "16 Gbit"), "16 Gbit");
        assert_eq!(attribute_value("port_name", "é1"), "1");
    }

    #[test]
    fn parses_statistics() {
        assert_eq!(parse_statistic(b"0x1f\n").unwrap(), Some(31));
        assert_eq!(parse_statistic(b"12\n").unwrap(), Some(12));
        assert_eq!(parse_statistic(b"0xffffffffffffffff\n").unwrap(), None);
        assert!(parse_statistic(b"").is_err());
        assert!(parse_statistic(b"0x").is_err());
        assert!(parse_statistic(b"n/a").is_err());
        assert!(parse_statistic(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
