//! arp: `node_arp_entries{device}` from `/proc/net/arp`.
//!
//! node_exporter reads the neighbour table over netlink by default (`--collector.arp.netlink`),
//! counting IPv4 entries not in state NUD_NOARP; `/proc/net/arp` lists exactly those entries,
//! so nodex always reads the file and accepts the flag for compatibility.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::parse_file;

/// `--collector.arp.device-include`.
pub const DEVICE_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.arp.device-include",
    "Regexp of arp devices to include (mutually exclusive to device-exclude).",
    "",
);

/// `--collector.arp.device-exclude`.
pub const DEVICE_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.arp.device-exclude",
    "Regexp of arp devices to exclude (mutually exclusive to device-include).",
    "",
);

/// `--collector.arp.netlink`.
pub const NETLINK: Flag<bool> = Flag::new(
    "collector.arp.netlink",
    "Use netlink to gather stats instead of /proc/net/arp (accepted; nodex always reads /proc/net/arp).",
    "true",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "arp",
    default_enabled: true,
    sources: "/proc/net/arp",
    flags: &[DEVICE_INCLUDE.spec, DEVICE_EXCLUDE.spec, NETLINK.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let (include, exclude) = include_exclude(&settings.options, &DEVICE_INCLUDE, &DEVICE_EXCLUDE)?;
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

/// Parses `/proc/net/arp` into entry counts per device, as procfs' `parseARPEntries`
/// (arp.go): the 9-column header and blank lines are skipped, every other line must have 6
/// columns, a hardware address `net.ParseMAC` accepts and flags `strconv.ParseUint(s, 0, 8)`
/// accepts. The IP address is not checked (procfs keeps a nil `net.ParseIP`).
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, u64>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut counts = BTreeMap::new();
    for line in crate::util::lines(text) {
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        match columns.as_slice() {
            [] => {}
            cols if cols.len() == 9 => {}
            [_ip, _hw_type, flags, mac, _mask, device] => {
                if !valid_mac(mac) {
                    return Err(ParseError::new(format!("invalid HW address {mac:?}")));
                }
                if parse_go_uint8(flags).is_none() {
                    return Err(ParseError::new(format!("invalid flags {flags:?}")));
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

/// Whether Go's `net.ParseMAC` accepts `mac`: 6, 8 or 20 octets as `xx:xx:..` or
/// `xx-xx-..`, or as dot-separated groups of four hex digits.
fn valid_mac(mac: &str) -> bool {
    let b = mac.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    let ok_count = |n: usize| matches!(n, 6 | 8 | 20);
    if b[2] == b':' || b[2] == b'-' {
        let sep = b[2];
        if !(b.len() + 1).is_multiple_of(3) || !ok_count((b.len() + 1) / 3) {
            return false;
        }
        b.chunks(3)
            .all(|c| hex(&c[..2]) && (c.len() == 2 || c[2] == sep))
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !ok_count(2 * (b.len() + 1) / 5) {
            return false;
        }
        b.chunks(5)
            .all(|c| hex(&c[..4]) && (c.len() == 4 || c[4] == b'.'))
    } else {
        false
    }
}

/// Go's `strconv.ParseUint(s, 0, 8)`: decimal, `0x` hex, `0o`/leading-`0` octal or `0b`
/// binary, at most 255.
fn parse_go_uint8(s: &str) -> Option<u8> {
    let lower = s.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u8::from_str_radix(digits, radix).ok()
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

    /// Go's net.ParseMAC forms: colon, hyphen and dotted, 6, 8 or 20 octets.
    #[test]
    fn mac_forms_as_go() {
        for ok in [
            "02:fc:00:00:00:05",
            "02-FC-00-00-00-05",
            "02fc.0000.0005",
            "02:fc:00:00:00:05:06:07",
            "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
        ] {
            assert!(valid_mac(ok), "{ok}");
        }
        for bad in [
            "02:fc:00:00:00",
            "02:fc-00:00:00:05",
            "02:fc:00:00:00:05:06",
            "zz:fc:00:00:00:05",
        ] {
            assert!(!valid_mac(bad), "{bad}");
        }
        assert_eq!(parse_go_uint8("0x2"), Some(2));
        assert_eq!(parse_go_uint8("010"), Some(8));
        assert_eq!(parse_go_uint8("6"), Some(6));
        assert_eq!(parse_go_uint8("256"), None);
    }

    #[test]
    fn empty_and_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"192.0.2.1 0x1 0x2 02:fc:00:00:00:05 *\n").is_err());
        assert_eq!(
            parse(b"nonsense 0x1 0x2 02:fc:00:00:00:05 * eth0\n")
                .unwrap()
                .get("eth0"),
            Some(&1),
            "procfs does not check the IP address"
        );
        assert!(parse(b"192.0.2.1 0x1 0xg 02:fc:00:00:00:05 * eth0\n").is_err());
        assert!(parse(b"192.0.2.1 0x1 0x100 02:fc:00:00:00:05 * eth0\n").is_err());
        assert!(parse(b"192.0.2.1 0x1 0x2 zz:fc:00:00:00:05 * eth0\n").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
