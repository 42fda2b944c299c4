//! arp: `node_arp_entries{device}` from `/proc/net/arp`.
//!
//! node_exporter reads the neighbour table over netlink by default (`--collector.arp.netlink`),
//! counting IPv4 entries not in state NUD_NOARP; `/proc/net/arp` lists exactly those entries,
//! so nodex always reads the file and accepts the flag for compatibility.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, FlagKind, FlagSpec};
use crate::util::parse_file;

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "arp",
    default_enabled: true,
    sources: "/proc/net/arp",
    flags: &[
        FlagSpec {
            name: "collector.arp.device-include",
            help: "Regexp of arp devices to include (mutually exclusive to device-exclude).",
            kind: FlagKind::Value,
            default: "",
            aliases: &[],
        },
        FlagSpec {
            name: "collector.arp.device-exclude",
            help: "Regexp of arp devices to exclude (mutually exclusive to device-include).",
            kind: FlagKind::Value,
            default: "",
            aliases: &[],
        },
        FlagSpec {
            name: "collector.arp.netlink",
            help: "Use netlink to gather stats instead of /proc/net/arp (accepted; nodex always reads /proc/net/arp).",
            kind: FlagKind::Bool,
            default: "true",
            aliases: &[],
        },
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let (include, exclude) = include_exclude(
        &settings.options,
        "collector.arp.device-include",
        "collector.arp.device-exclude",
    )?;
    Ok(Box::new(ArpCollector {
        settings: Arc::clone(settings),
        include,
        exclude,
    }))
}

struct ArpCollector {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

/// Parses `/proc/net/arp` into entry counts per device, as procfs' `parseARPEntries`: the
/// 9-column header and blank lines are skipped, every other line must have 6 columns with a
/// valid IP address and hardware address.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, u64>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut counts = BTreeMap::new();
    for line in crate::util::lines(text) {
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        match columns.as_slice() {
            [] => {}
            cols if cols.len() == 9 => {}
            [ip, _hw_type, _flags, mac, _mask, device] => {
                ip.parse::<IpAddr>()
                    .map_err(|_| ParseError::new(format!("invalid IP address {ip:?}")))?;
                if !valid_mac(mac) {
                    return Err(ParseError::new(format!("invalid HW address {mac:?}")));
                }
                *counts.entry(device.to_string()).or_insert(0) += 1;
            }
            cols => {
                return Err(ParseError::new(format!(
                    "{} columns found, but expected 6",
                    cols.len()
                )))
            }
        }
    }
    Ok(counts)
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() >= 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())
}

impl Collector for ArpCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let counts = parse_file(&self.settings.roots.proc("net/arp"), parse)?;
        sink.gauge("node_arp_entries", "ARP entries by device");
        for (device, count) in &counts {
            if device_allowed(device, self.include.as_ref(), self.exclude.as_ref()) {
                sink.sample(&[("device", device)], *count as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.2         0x1         0x2         02:42:0a:00:00:02     *        docker0
";

    #[test]
    fn counts_per_device() {
        let c = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(c.get("eth0"), Some(&2));
        assert_eq!(c.get("docker0"), Some(&1));
    }

    #[test]
    fn empty_and_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"192.0.2.1 0x1 0x2 02:fc:00:00:00:05 *\n").is_err());
        assert!(parse(b"nonsense 0x1 0x2 02:fc:00:00:00:05 * eth0\n").is_err());
        assert!(parse(b"192.0.2.1 0x1 0x2 zz:fc:00:00:00:05 * eth0\n").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
