//! netdev: `node_network_{receive,transmit}_*_total{device}` from `/proc/net/dev`.
//!
//! node_exporter reads the link statistics over netlink by default (`--collector.netdev.netlink`).
//! `/proc/net/dev` prints the same kernel counters for the reading process's network namespace,
//! already folded the way node_exporter folds the netlink fields (drop + missed, frame + length +
//! over + crc, carrier + aborted + heartbeat + window), so nodex always reads the file and emits
//! the netlink path's names; `receive_nohandler`, which the file lacks, comes from
//! `/sys/class/net/<dev>/statistics/rx_nohandler`. The flag is accepted for compatibility.
//! `--collector.netdev.enable-detailed-metrics` emits the unfolded netlink names, taking the
//! fields the file does not carry from `/sys/class/net/<dev>/statistics/`.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::{parse_file, parse_u64, read_optional};

/// `--collector.netdev.device-include`.
pub const DEVICE_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.netdev.device-include",
    "Regexp of net devices to include (mutually exclusive to device-exclude).",
    "",
)
.with_aliases(&["collector.netdev.device-whitelist"]);

/// `--collector.netdev.device-exclude`.
pub const DEVICE_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.netdev.device-exclude",
    "Regexp of net devices to exclude (mutually exclusive to device-include).",
    "",
)
.with_aliases(&["collector.netdev.device-blacklist"]);

/// `--collector.netdev.address-info`.
pub const ADDRESS_INFO: Flag<bool> = Flag::new(
    "collector.netdev.address-info",
    "Collect address-info for every device",
    "false",
);

/// `--collector.netdev.enable-detailed-metrics`.
pub const ENABLE_DETAILED_METRICS: Flag<bool> = Flag::new(
    "collector.netdev.enable-detailed-metrics",
    "Use (incompatible) metric names that provide more detailed stats on Linux",
    "false",
);

/// `--collector.netdev.netlink`.
pub const NETLINK: Flag<bool> = Flag::new(
    "collector.netdev.netlink",
    "Use netlink to gather stats instead of /proc/net/dev (accepted; nodex always reads /proc/net/dev).",
    "true",
);

/// `--collector.netdev.label-ifalias`.
pub const LABEL_IFALIAS: Flag<bool> = Flag::new(
    "collector.netdev.label-ifalias",
    "Add ifAlias label",
    "false",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "netdev",
    default_enabled: true,
    sources: "/proc/net/dev, /sys/class/net/<dev>/statistics, getifaddrs(3) for address-info",
    flags: &[
        DEVICE_INCLUDE.spec,
        DEVICE_EXCLUDE.spec,
        ADDRESS_INFO.spec,
        ENABLE_DETAILED_METRICS.spec,
        NETLINK.spec,
        LABEL_IFALIAS.spec,
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let (include, exclude) = include_exclude(options, &DEVICE_INCLUDE, &DEVICE_EXCLUDE)?;
    Ok(Box::new(NetdevCollector {
        settings: Arc::clone(settings),
        include,
        exclude,
        address_info: options.get(&ADDRESS_INFO),
        detailed: options.get(&ENABLE_DETAILED_METRICS),
        label_ifalias: options.get(&LABEL_IFALIAS),
    }))
}

struct NetdevCollector {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
    address_info: bool,
    detailed: bool,
    label_ifalias: bool,
}

pub use crate::procfs::net_dev::{parse, DevStats};

/// Where one exported counter comes from.
#[derive(Clone, Copy)]
enum Source {
    Rx(usize),
    Tx(usize),
    /// A file below `/sys/class/net/<dev>/statistics/` (0 when unreadable, as netlink reports
    /// 0 for fields an older kernel does not fill in).
    Sys(&'static str),
}

/// One exported statistic: its metric name and help, from node_exporter's field name.
macro_rules! statistic {
    ($field:literal, $source:expr) => {
        (
            concat!("node_network_", $field, "_total"),
            concat!("Network device statistic ", $field, "."),
            $source,
        )
    };
}

/// The names (and help) the netlink path emits after node_exporter's `legacy` folding.
const LEGACY: &[(&str, &str, Source)] = &[
    statistic!("receive_bytes", Source::Rx(0)),
    statistic!("receive_packets", Source::Rx(1)),
    statistic!("receive_errs", Source::Rx(2)),
    statistic!("receive_drop", Source::Rx(3)),
    statistic!("receive_fifo", Source::Rx(4)),
    statistic!("receive_frame", Source::Rx(5)),
    statistic!("receive_compressed", Source::Rx(6)),
    statistic!("receive_multicast", Source::Rx(7)),
    statistic!("receive_nohandler", Source::Sys("rx_nohandler")),
    statistic!("transmit_bytes", Source::Tx(0)),
    statistic!("transmit_packets", Source::Tx(1)),
    statistic!("transmit_errs", Source::Tx(2)),
    statistic!("transmit_drop", Source::Tx(3)),
    statistic!("transmit_fifo", Source::Tx(4)),
    statistic!("transmit_colls", Source::Tx(5)),
    statistic!("transmit_carrier", Source::Tx(6)),
    statistic!("transmit_compressed", Source::Tx(7)),
];

/// The unfolded netlink names of `--collector.netdev.enable-detailed-metrics`.
const DETAILED: &[(&str, &str, Source)] = &[
    statistic!("receive_bytes", Source::Rx(0)),
    statistic!("receive_packets", Source::Rx(1)),
    statistic!("receive_errors", Source::Rx(2)),
    statistic!("receive_dropped", Source::Sys("rx_dropped")),
    statistic!("receive_fifo_errors", Source::Rx(4)),
    statistic!("receive_frame_errors", Source::Sys("rx_frame_errors")),
    statistic!("receive_length_errors", Source::Sys("rx_length_errors")),
    statistic!("receive_over_errors", Source::Sys("rx_over_errors")),
    statistic!("receive_crc_errors", Source::Sys("rx_crc_errors")),
    statistic!("receive_missed_errors", Source::Sys("rx_missed_errors")),
    statistic!("receive_compressed", Source::Rx(6)),
    statistic!("receive_nohandler", Source::Sys("rx_nohandler")),
    statistic!("multicast", Source::Rx(7)),
    statistic!("transmit_bytes", Source::Tx(0)),
    statistic!("transmit_packets", Source::Tx(1)),
    statistic!("transmit_errors", Source::Tx(2)),
    statistic!("transmit_dropped", Source::Tx(3)),
    statistic!("transmit_fifo_errors", Source::Tx(4)),
    statistic!("collisions", Source::Tx(5)),
    statistic!("transmit_carrier_errors", Source::Sys("tx_carrier_errors")),
    statistic!("transmit_aborted_errors", Source::Sys("tx_aborted_errors")),
    statistic!(
        "transmit_heartbeat_errors",
        Source::Sys("tx_heartbeat_errors")
    ),
    statistic!("transmit_window_errors", Source::Sys("tx_window_errors")),
    statistic!("transmit_compressed", Source::Tx(7)),
];

impl NetdevCollector {
    fn value(&self, dev: &DevStats, source: Source) -> f64 {
        match source {
            Source::Rx(i) => dev.rx.get(i).copied().unwrap_or(0) as f64,
            Source::Tx(i) => dev.tx.get(i).copied().unwrap_or(0) as f64,
            Source::Sys(file) => {
                let path = self
                    .settings
                    .roots
                    .sys(format!("class/net/{}/statistics/{file}", dev.name));
                read_optional(&path)
                    .and_then(|s| parse_u64(&s).ok())
                    .unwrap_or(0) as f64
            }
        }
    }

    fn ifalias(&self, device: &str) -> String {
        read_optional(
            &self
                .settings
                .roots
                .sys(format!("class/net/{device}/ifalias")),
        )
        .unwrap_or_default()
    }
}

impl Collector for NetdevCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let devices = parse_file(&self.settings.roots.proc("net/dev"), parse)?;
        if self.label_ifalias {
            // node_exporter fails the scrape when it cannot read the net class.
            crate::util::list_dir(&self.settings.roots.sys("class/net"))?;
        }
        let fields = if self.detailed { DETAILED } else { LEGACY };
        let devices: Vec<(&DevStats, Option<String>)> = devices
            .iter()
            .filter(|dev| device_allowed(&dev.name, self.include.as_ref(), self.exclude.as_ref()))
            .map(|dev| (dev, self.label_ifalias.then(|| self.ifalias(&dev.name))))
            .collect();
        // Family by family: one block per family for the renderer to sort, not one per device.
        for (name, help, source) in fields {
            sink.counter(name, help);
            for (dev, alias) in &devices {
                let value = self.value(dev, *source);
                match alias {
                    Some(alias) => sink.sample(&[("device", &dev.name), ("ifalias", alias)], value),
                    None => sink.sample(&[("device", &dev.name)], value),
                };
            }
        }
        if self.address_info {
            sink.gauge(
                "node_network_address_info",
                "node network address by device",
            );
            for addr in interface_addresses()? {
                let prefix = addr.prefix.to_string();
                sink.sample(
                    &[
                        ("device", &addr.device),
                        ("address", &addr.address.to_string()),
                        ("netmask", &prefix),
                        ("scope", scope(&addr.address)),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

/// One interface address as `getifaddrs(3)` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// Interface name.
    pub device: String,
    /// The address.
    pub address: IpAddr,
    /// Prefix length of the netmask.
    pub prefix: u32,
}

/// Go's scope classification in node_exporter's `scope()`: loopback and link-local addresses
/// are `link-local`, `ff01::/16`-style multicast is `interface-local`, global unicast (which in
/// Go includes private ranges) is `global`, anything else is empty.
pub fn scope(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => scope_v4(&v4),
            None => scope_v6(v6),
        },
    }
}

fn scope_v4(ip: &Ipv4Addr) -> &'static str {
    let o = ip.octets();
    let link_local_multicast = o[0] == 224 && o[1] == 0 && o[2] == 0;
    if ip.is_loopback() || ip.is_link_local() || link_local_multicast {
        "link-local"
    } else if !ip.is_unspecified() && !ip.is_broadcast() && !ip.is_multicast() {
        "global"
    } else {
        ""
    }
}

fn scope_v6(ip: &Ipv6Addr) -> &'static str {
    let o = ip.octets();
    let multicast = o[0] == 0xff;
    let link_local_unicast = o[0] == 0xfe && o[1] & 0xc0 == 0x80;
    if ip.is_loopback() || link_local_unicast || (multicast && o[1] & 0x0f == 0x02) {
        "link-local"
    } else if multicast && o[1] & 0x0f == 0x01 {
        "interface-local"
    } else if !ip.is_unspecified() && !multicast {
        "global"
    } else {
        ""
    }
}

/// Number of leading one bits of a netmask.
pub fn prefix_len(mask: &[u8]) -> u32 {
    let mut n = 0;
    for byte in mask {
        n += byte.leading_ones();
        if *byte != 0xff {
            break;
        }
    }
    n
}

/// Converts a socket address of family AF_INET or AF_INET6 to its IP and raw address bytes.
///
/// # Safety
/// `sa` must be null or point to a valid `sockaddr` of the family it declares.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<(IpAddr, Vec<u8>)> {
    if sa.is_null() {
        return None;
    }
    match i32::from((*sa).sa_family) {
        libc::AF_INET => {
            let sin = &*(sa as *const libc::sockaddr_in);
            let bytes = sin.sin_addr.s_addr.to_ne_bytes();
            Some((IpAddr::V4(Ipv4Addr::from(bytes)), bytes.to_vec()))
        }
        libc::AF_INET6 => {
            let sin6 = &*(sa as *const libc::sockaddr_in6);
            let bytes = sin6.sin6_addr.s6_addr;
            Some((IpAddr::V6(Ipv6Addr::from(bytes)), bytes.to_vec()))
        }
        _ => None,
    }
}

/// Every IPv4 and IPv6 address of every interface of this process's network namespace, as Go's
/// `net.Interfaces()` / `Addrs()` return them (they use netlink; `getifaddrs` is its libc form).
fn interface_addresses() -> Result<Vec<InterfaceAddress>, CollectError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(CollectError::Other(format!(
            "could not get network interfaces: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed; its name is a
        // NUL-terminated string and its addresses are null or valid for their family.
        unsafe {
            let ifa = &*cur;
            if let Some((address, _)) = sockaddr_ip(ifa.ifa_addr) {
                let prefix = sockaddr_ip(ifa.ifa_netmask).map_or(0, |(_, m)| prefix_len(&m));
                out.push(InterfaceAddress {
                    device: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                    address,
                    prefix,
                });
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   37690      97    0    0    0     0          0         0    37690      97    0    0    0     0       0          0
  eth0: 135661856    3915    1    2    3     4          5         6   195902    2402    7    8    9    10      11          12
";

    #[test]
    fn parses_real_file() {
        let d = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name, "lo");
        assert_eq!(d[1].rx, [135661856, 3915, 1, 2, 3, 4, 5, 6]);
        assert_eq!(d[1].tx, [195902, 2402, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn empty_and_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        let header = SAMPLE.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(parse(format!("{header}\n  eth0: 1 2 3\n").as_bytes()).is_err());
        assert!(parse(format!("{header}\n  eth0 1 2 3\n").as_bytes()).is_err());
        assert!(parse(
            format!("{header}\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n").as_bytes()
        )
        .is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn scopes_like_go() {
        let s = |a: &str| scope(&a.parse().unwrap());
        assert_eq!(s("127.0.0.1"), "link-local");
        assert_eq!(s("169.254.1.1"), "link-local");
        assert_eq!(s("10.0.0.1"), "global");
        assert_eq!(s("255.255.255.255"), "");
        assert_eq!(s("::1"), "link-local");
        assert_eq!(s("fe80::1"), "link-local");
        assert_eq!(s("ff02::1"), "link-local");
        assert_eq!(s("ff01::1"), "interface-local");
        assert_eq!(s("fd00::2"), "global");
        assert_eq!(s("ff05::1"), "");
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len(&[255, 255, 255, 0]), 24);
        assert_eq!(prefix_len(&[255, 255, 240, 0]), 20);
        assert_eq!(prefix_len(&[0; 16]), 0);
        assert_eq!(prefix_len(&[255; 16]), 128);
    }

    fn render(options: &[(&crate::FlagSpec, &str)]) -> String {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut opts = crate::Options::default();
        for (k, v) in options {
            opts.set_spec(k, vec![v.to_string()]);
        }
        let settings = Arc::new(Settings::new(crate::Roots::fixture(&base), opts));
        let collector = (INFO.build)(&settings).unwrap();
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ifalias_label_and_filter() {
        let text = render(&[
            (&LABEL_IFALIAS.spec, "true"),
            (&DEVICE_INCLUDE.spec, "^eth"),
        ]);
        assert!(text
            .contains("node_network_receive_drop_total{device=\"eth0\",ifalias=\"uplink\"} 5\n"));
        assert!(!text.contains("device=\"lo\""));
    }

    #[test]
    fn detailed_metrics_unfold_counters() {
        let text = render(&[(&ENABLE_DETAILED_METRICS.spec, "true")]);
        assert!(text.contains("node_network_receive_dropped_total{device=\"eth0\"} 4\n"));
        assert!(text.contains("node_network_receive_missed_errors_total{device=\"eth0\"} 1\n"));
        assert!(text.contains("node_network_transmit_window_errors_total{device=\"eth0\"} 1\n"));
        assert!(text.contains("node_network_collisions_total{device=\"lo\"} 0\n"));
        assert!(!text.contains("receive_drop_total"));
    }
}
