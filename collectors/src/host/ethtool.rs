//! ethtool: driver information, NIC statistics and link modes of every device listed in
//! `/sys/class/net`, through the `SIOCETHTOOL` ioctl (`ETHTOOL_GDRVINFO`; `ETHTOOL_GSSET_INFO`,
//! `ETHTOOL_GSTRINGS` and `ETHTOOL_GSTATS`; `ETHTOOL_GSET`), as node_exporter's
//! `safchain/ethtool` path. The ioctl reaches the devices of the network namespace nodex runs
//! in, so the sysfs root must be that namespace's (as for node_exporter).
//!
//! A device that does not answer an ioctl (`EOPNOTSUPP` for `lo`, `ENODEV` for a name sysfs
//! lists but the namespace lacks) is logged and skipped for that family; the scrape goes on.
//!
//! node_exporter 1.5 differs: no link-mode families (`node_network_*_speed_bytes`,
//! `*_port_info`, `autonegotiate*`, `pause*`), help texts with the unsanitized stat name, and
//! value 0 for stats whose names sanitising changed (fixed upstream in #3335).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::{u32_at, u64_at};

/// `--collector.ethtool.device-include`.
pub const DEVICE_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.ethtool.device-include",
    "Regexp of ethtool devices to include (mutually exclusive to device-exclude).",
    "",
);

/// `--collector.ethtool.device-exclude`.
pub const DEVICE_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.ethtool.device-exclude",
    "Regexp of ethtool devices to exclude (mutually exclusive to device-include).",
    "",
);

/// `--collector.ethtool.metrics-include`.
pub const METRICS_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.ethtool.metrics-include",
    "Regexp of ethtool stats to include.",
    ".*",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "ethtool",
    default_enabled: false,
    sources: "/sys/class/net, ioctl SIOCETHTOOL (GDRVINFO, GSSET_INFO, GSTRINGS, GSTATS, GSET) in nodex's network namespace; live only (tests/netlink_live.rs)",
    flags: &[
        DEVICE_INCLUDE.spec,
        DEVICE_EXCLUDE.spec,
        METRICS_INCLUDE.spec,
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let (include, exclude) = include_exclude(options, &DEVICE_INCLUDE, &DEVICE_EXCLUDE)?;
    // Go's MatchString is unanchored; an empty pattern matches everything.
    let metrics = options
        .get(&METRICS_INCLUDE)?
        .unwrap_or_else(|| Regex::new("").expect("empty regex"));
    Ok(Box::new(EthtoolCollector {
        settings: Arc::clone(settings),
        include,
        exclude,
        metrics,
    }))
}

struct EthtoolCollector {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
    metrics: Regex,
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSET: u32 = 0x1;
const ETHTOOL_GDRVINFO: u32 = 0x3;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
const DRVINFO_LEN: usize = 196;
const CMD_LEN: usize = 44;

/// `struct ethtool_drvinfo`'s strings and statistics count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrvInfo {
    /// Driver name.
    pub driver: String,
    /// Driver version.
    pub version: String,
    /// Firmware version.
    pub fw_version: String,
    /// Bus address.
    pub bus_info: String,
    /// Expansion ROM version.
    pub erom_version: String,
    /// Number of NIC statistics.
    pub n_stats: u32,
}

fn fixed_string(buf: &[u8], offset: usize, len: usize) -> Result<String, ParseError> {
    let field = buf
        .get(offset..offset + len)
        .ok_or_else(|| ParseError::new(format!("buffer too short for a string at {offset}")))?;
    Ok(crate::netlink::c_string(field))
}

/// Parses `struct ethtool_drvinfo` (196 bytes).
pub fn parse_drvinfo(buf: &[u8]) -> Result<DrvInfo, ParseError> {
    if buf.len() < DRVINFO_LEN {
        return Err(ParseError::new(format!(
            "ethtool_drvinfo needs {DRVINFO_LEN} bytes, got {}",
            buf.len()
        )));
    }
    Ok(DrvInfo {
        driver: fixed_string(buf, 4, 32)?,
        version: fixed_string(buf, 36, 32)?,
        fw_version: fixed_string(buf, 68, 32)?,
        bus_info: fixed_string(buf, 100, 32)?,
        erom_version: fixed_string(buf, 132, 32)?,
        n_stats: u32_at(buf, 180)?,
    })
}

/// Parses the `data` of `struct ethtool_gstrings`: `n` names of 32 bytes each.
pub fn parse_strings(data: &[u8], n: usize) -> Result<Vec<String>, ParseError> {
    (0..n)
        .map(|i| fixed_string(data, i * ETH_GSTRING_LEN, ETH_GSTRING_LEN))
        .collect()
}

/// Parses the `data` of `struct ethtool_stats`: `n` native-endian u64 values.
pub fn parse_stats(data: &[u8], n: usize) -> Result<Vec<u64>, ParseError> {
    (0..n).map(|i| u64_at(data, i * 8)).collect()
}

/// The fields of the legacy `struct ethtool_cmd` (`ETHTOOL_GSET`) node_exporter uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// Supported link modes (first 32 bits).
    pub supported: u32,
    /// Advertised link modes (first 32 bits).
    pub advertising: u32,
    /// Whether autonegotiation is on.
    pub autoneg: u8,
}

/// Parses `struct ethtool_cmd` (44 bytes).
pub fn parse_link_settings(buf: &[u8]) -> Result<LinkSettings, ParseError> {
    if buf.len() < CMD_LEN {
        return Err(ParseError::new(format!(
            "ethtool_cmd needs {CMD_LEN} bytes, got {}",
            buf.len()
        )));
    }
    Ok(LinkSettings {
        supported: u32_at(buf, 4)?,
        advertising: u32_at(buf, 8)?,
        autoneg: buf[18],
    })
}

static SANITIZE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_*[^0-9A-Za-z_]+_*").expect("static regex"));
static RECEIVED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|_)rx(_|$)").expect("static regex"));
static TRANSMITTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|_)tx(_|$)").expect("static regex"));

/// node_exporter's `SanitizeMetricName`: every run of characters outside `[0-9A-Za-z_]`,
/// with the underscores around it, becomes one `_`.
pub fn sanitize(name: &str) -> String {
    SANITIZE.replace_all(name, "_").into_owned()
}

/// node_exporter's `buildEthtoolFQName` of an already sanitized stat name: lower-cased, leading
/// underscores trimmed, `rx`/`tx` words spelled out, prefixed with `node_ethtool_`.
pub fn fq_name(sanitized: &str) -> String {
    let lower = sanitized.to_lowercase();
    let name = lower.trim_start_matches('_');
    let name = RECEIVED.replace_all(name, "${1}received${2}");
    let name = TRANSMITTED.replace_all(&name, "${1}transmitted${2}");
    format!("node_ethtool_{name}")
}

/// The families node_exporter pre-declares for some stat names (name, help).
fn predefined(stat: &str) -> Option<(&'static str, &'static str)> {
    Some(match stat {
        "rx_bytes" => (
            "node_ethtool_received_bytes_total",
            "Network interface bytes received",
        ),
        "rx_dropped" => (
            "node_ethtool_received_dropped_total",
            "Number of received frames dropped",
        ),
        "rx_errors" => (
            "node_ethtool_received_errors_total",
            "Number of received frames with errors",
        ),
        "rx_packets" => (
            "node_ethtool_received_packets_total",
            "Network interface packets received",
        ),
        "tx_bytes" => (
            "node_ethtool_transmitted_bytes_total",
            "Network interface bytes sent",
        ),
        "tx_errors" => (
            "node_ethtool_transmitted_errors_total",
            "Number of sent frames with errors",
        ),
        "tx_packets" => (
            "node_ethtool_transmitted_packets_total",
            "Network interface packets sent",
        ),
        _ => return None,
    })
}

/// One stat series to write: family name, help, value.
#[derive(Debug, Clone, PartialEq)]
pub struct StatSeries {
    /// Family name.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Value.
    pub value: f64,
}

/// Turns a device's stats into series as node_exporter's `Update`: names sanitized, filtered by
/// `metrics` (matched against the sanitized name), names that collide after sanitising dropped
/// (all of them), sorted by family name.
pub fn stat_series(names: &[String], values: &[u64], metrics: &Regex) -> Vec<StatSeries> {
    // fq name -> Some((sanitized, value)) or None once a duplicate is seen.
    let mut by_fq: BTreeMap<String, Option<(String, u64)>> = BTreeMap::new();
    for (name, value) in names.iter().zip(values) {
        let sanitized = sanitize(name);
        if !metrics.is_match(&sanitized) {
            continue;
        }
        let fq = fq_name(&sanitized);
        by_fq
            .entry(fq)
            .and_modify(|e| *e = None)
            .or_insert(Some((sanitized, *value)));
    }
    by_fq
        .into_iter()
        .filter_map(|(fq, entry)| {
            let (sanitized, value) = entry?;
            let (name, help) = match predefined(&sanitized) {
                Some((n, h)) => (n.to_string(), h.to_string()),
                None => (fq, format!("Network interface {sanitized}")),
            };
            Some(StatSeries {
                name,
                help,
                value: value as f64,
            })
        })
        .collect()
}

/// Speeds node_exporter maps from the first 32 link-mode bits: (bit, Mb/s, duplex, phy).
const SPEEDS: &[(u32, u32, &str, &str)] = &[
    (0, 10, "half", "T"),
    (1, 10, "full", "T"),
    (2, 100, "half", "T"),
    (3, 100, "full", "T"),
    (4, 1000, "half", "T"),
    (5, 1000, "full", "T"),
    (12, 10000, "full", "T"),
    (17, 1000, "full", "KX"),
    (18, 10000, "full", "KX4"),
    (19, 10000, "full", "KR"),
    (20, 10000, "full", "R_FEC"),
    (21, 20000, "full", "MLD2"),
    (22, 20000, "full", "KR2"),
    (23, 40000, "full", "KR4"),
    (24, 40000, "full", "CR4"),
    (25, 40000, "full", "SR4"),
    (26, 40000, "full", "LR4"),
    (27, 56000, "full", "KR4"),
    (28, 56000, "full", "CR4"),
    (29, 56000, "full", "SR4"),
    (30, 56000, "full", "LR4"),
    (31, 25000, "full", "CR"),
];
const PORTS: &[(u32, &str)] = &[
    (7, "TP"),
    (8, "AUI"),
    (9, "MII"),
    (10, "FIBRE"),
    (11, "BNC"),
    (16, "Backplane"),
];
const AUTONEG_BIT: u32 = 6;
const PAUSE_BIT: u32 = 13;
const ASYM_PAUSE_BIT: u32 = 14;

fn bit(modes: u32, b: u32) -> bool {
    modes & (1 << b) != 0
}

fn flag(modes: u32, b: u32) -> f64 {
    if bit(modes, b) {
        1.0
    } else {
        0.0
    }
}

/// Writes the link-mode families of one device (node_exporter's `updateSpeeds`,
/// `updatePortInfo`, `updatePortCapabilities` and `autonegotiate`).
pub fn emit_link(device: &str, link: &LinkSettings, sink: &mut MetricSink) {
    let speeds = |sink: &mut MetricSink, name: &str, help: &str, modes: u32| {
        sink.gauge(name, help);
        for (b, speed, duplex, phy) in SPEEDS {
            if bit(modes, *b) {
                let mode = format!("{speed}base{phy}");
                sink.sample(
                    &[("device", device), ("duplex", duplex), ("mode", &mode)],
                    f64::from(*speed) * 1_000_000.0 / 8.0,
                );
            }
        }
    };
    let caps = |sink: &mut MetricSink, prefix: &str, modes: u32| {
        let families = [
            ("autonegotiate", "autonegotiate", AUTONEG_BIT),
            ("pause", "pause frames", PAUSE_BIT),
            ("asymmetricpause", "asymmetric pause frames", ASYM_PAUSE_BIT),
        ];
        for (name, noun, b) in families {
            let help = match (prefix, name) {
                ("supported", _) => format!("If this port device supports {noun}"),
                (_, "autonegotiate") => "If this port device offers autonegotiate".to_string(),
                (_, "pause") => "If this port device offers pause capability".to_string(),
                _ => "If this port device offers asymmetric pause capability".to_string(),
            };
            sink.gauge(&format!("node_network_{name}_{prefix}"), &help);
            sink.sample(&[("device", device)], flag(modes, b));
        }
    };
    speeds(
        sink,
        "node_network_supported_speed_bytes",
        "Combination of speeds and features supported by network device",
        link.supported,
    );
    sink.gauge(
        "node_network_supported_port_info",
        "Type of ports or PHYs supported by network device",
    );
    for (b, name) in PORTS {
        if bit(link.supported, *b) {
            sink.sample(&[("device", device), ("type", name)], 1.0);
        }
    }
    caps(sink, "supported", link.supported);
    speeds(
        sink,
        "node_network_advertised_speed_bytes",
        "Combination of speeds and features offered by network device",
        link.advertising,
    );
    caps(sink, "advertised", link.advertising);
    sink.gauge(
        "node_network_autonegotiate",
        "If this port is using autonegotiate",
    );
    sink.sample(&[("device", device)], f64::from(link.autoneg));
}

/// An `AF_INET` datagram socket for ethtool ioctls (closed on drop).
struct IoctlSocket(std::os::fd::OwnedFd);

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

impl IoctlSocket {
    fn open() -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2) call, result checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(IoctlSocket(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(fd)
        }))
    }

    /// Runs one ethtool command on `device`; `buf` starts with the command word and is filled
    /// in by the kernel.
    fn ethtool(&self, device: &str, buf: &mut [u8]) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let name = device.as_bytes();
        if name.len() >= libc::IFNAMSIZ || name.contains(&0) {
            return Err(io::Error::from_raw_os_error(libc::ENODEV));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: buf.as_mut_ptr() as *mut libc::c_void,
            _pad: [0; 16],
        };
        req.name[..name.len()].copy_from_slice(name);
        // SAFETY: `req` is a valid ifreq whose data points to `buf`, which is large enough for
        // the command written at its start (callers size it from the kernel's own counts).
        let rc = unsafe { libc::ioctl(self.0.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn drvinfo(&self, device: &str) -> io::Result<DrvInfo> {
        let mut buf = vec![0u8; DRVINFO_LEN];
        buf[..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
        self.ethtool(device, &mut buf)?;
        parse_drvinfo(&buf).map_err(invalid)
    }

    fn link(&self, device: &str) -> io::Result<LinkSettings> {
        let mut buf = vec![0u8; CMD_LEN];
        buf[..4].copy_from_slice(&ETHTOOL_GSET.to_ne_bytes());
        self.ethtool(device, &mut buf)?;
        parse_link_settings(&buf).map_err(invalid)
    }

    /// The number of stats: `ETHTOOL_GSSET_INFO`, or the driver info's count on kernels
    /// without it.
    fn stats_count(&self, device: &str) -> io::Result<usize> {
        let mut buf = vec![0u8; 20];
        buf[..4].copy_from_slice(&ETHTOOL_GSSET_INFO.to_ne_bytes());
        buf[8..16].copy_from_slice(&(1u64 << ETH_SS_STATS).to_ne_bytes());
        match self.ethtool(device, &mut buf) {
            Ok(()) => {
                let mask = u64_at(&buf, 8).map_err(invalid)?;
                if mask & (1 << ETH_SS_STATS) == 0 {
                    return Ok(0);
                }
                Ok(u32_at(&buf, 16).map_err(invalid)? as usize)
            }
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                Ok(self.drvinfo(device)?.n_stats as usize)
            }
            Err(e) => Err(e),
        }
    }

    fn stats(&self, device: &str) -> io::Result<(Vec<String>, Vec<u64>)> {
        let n = self.stats_count(device)?;
        if n == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        // Older kernels write as many entries as the driver has at the time of the call,
        // whatever count we pass; room for a driver that grows between the calls keeps the
        // kernel inside our buffers, and only the entries we asked for are read.
        let room = n * 2 + 64;
        let mut strings = vec![0u8; 12 + room * ETH_GSTRING_LEN];
        strings[..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
        strings[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
        strings[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
        self.ethtool(device, &mut strings)?;
        let names = parse_strings(&strings[12..], n).map_err(invalid)?;
        let mut values = vec![0u8; 8 + room * 8];
        values[..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
        values[4..8].copy_from_slice(&(n as u32).to_ne_bytes());
        self.ethtool(device, &mut values)?;
        let stats = parse_stats(&values[8..], n).map_err(invalid)?;
        Ok((names, stats))
    }
}

fn invalid(e: ParseError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn log_failure(what: &str, device: &str, err: &io::Error) {
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        tracing::debug!(device, error = %err, "ethtool {what} error");
    } else {
        tracing::error!(device, error = %err, "ethtool {what} error");
    }
}

/// Lists `/sys/class/net` as procfs' `NetClassDevices`: every entry that is not a regular file.
fn net_class_devices(dir: &std::path::Path) -> Result<Vec<String>, CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CollectError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CollectError::io(dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

impl Collector for EthtoolCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.settings.roots.sys("class/net");
        let devices = match net_class_devices(&dir) {
            Ok(d) => d,
            Err(CollectError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "Could not read netclass file: {source}"
                )))
            }
            Err(e) => return Err(e),
        };
        if devices.is_empty() {
            return Err(CollectError::Other("no network devices found".into()));
        }
        let sock = IoctlSocket::open()
            .map_err(|e| CollectError::Other(format!("failed to initialize ethtool: {e}")))?;
        for device in &devices {
            if !device_allowed(device, self.include.as_ref(), self.exclude.as_ref()) {
                continue;
            }
            match sock.link(device) {
                Ok(link) => emit_link(device, &link, sink),
                Err(e) => log_failure("link info", device, &e),
            }
            match sock.drvinfo(device) {
                Ok(info) => {
                    sink.gauge(
                        "node_ethtool_info",
                        "A metric with a constant '1' value labeled by bus_info, device, driver, expansion_rom_version, firmware_version, version.",
                    );
                    sink.sample(
                        &[
                            ("bus_info", &info.bus_info),
                            ("device", device),
                            ("driver", &info.driver),
                            ("expansion_rom_version", &info.erom_version),
                            ("firmware_version", &info.fw_version),
                            ("version", &info.version),
                        ],
                        1.0,
                    );
                }
                Err(e) => log_failure("driver info", device, &e),
            }
            match sock.stats(device) {
                Ok((names, values)) => {
                    for s in stat_series(&names, &values, &self.metrics) {
                        sink.untyped(&s.name, &s.help);
                        sink.sample(&[("device", device)], s.value);
                    }
                }
                Err(e) => log_failure("stats", device, &e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drvinfo_bytes() -> Vec<u8> {
        let mut buf = vec![0u8; DRVINFO_LEN];
        buf[0..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
        buf[4..8].copy_from_slice(b"veth");
        buf[36..39].copy_from_slice(b"1.0");
        buf[100..112].copy_from_slice(b"0000:00:1f.6");
        buf[180..184].copy_from_slice(&9u32.to_ne_bytes());
        buf
    }

    #[test]
    fn drvinfo() {
        let info = parse_drvinfo(&drvinfo_bytes()).unwrap();
        assert_eq!(info.driver, "veth");
        assert_eq!(info.version, "1.0");
        assert_eq!(info.bus_info, "0000:00:1f.6");
        assert_eq!(info.fw_version, "");
        assert_eq!(info.n_stats, 9);
        assert!(parse_drvinfo(&drvinfo_bytes()[..100]).is_err());
        assert!(parse_drvinfo(&[]).is_err());
    }

    #[test]
    fn strings_and_stats() {
        let mut names = vec![0u8; 64];
        names[..8].copy_from_slice(b"rx_bytes");
        names[32..40].copy_from_slice(b"port.tx\0");
        assert_eq!(
            parse_strings(&names, 2).unwrap(),
            vec!["rx_bytes", "port.tx"]
        );
        assert!(parse_strings(&names[..40], 2).is_err());
        let mut values = Vec::new();
        values.extend_from_slice(&5u64.to_ne_bytes());
        values.extend_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(parse_stats(&values, 2).unwrap(), vec![5, u64::MAX]);
        assert!(parse_stats(&values[..12], 2).is_err());
        assert!(parse_stats(&[], 0).unwrap().is_empty());
    }

    #[test]
    fn link_settings() {
        let mut buf = vec![0u8; CMD_LEN];
        buf[4..8].copy_from_slice(&((1u32 << 5) | (1 << 7) | (1 << 6)).to_ne_bytes());
        buf[8..12].copy_from_slice(&(1u32 << 13).to_ne_bytes());
        buf[18] = 1;
        let link = parse_link_settings(&buf).unwrap();
        assert_eq!(link.autoneg, 1);
        assert!(parse_link_settings(&buf[..20]).is_err());
        let mut sink = MetricSink::new();
        emit_link("eth0", &link, &mut sink);
        let text = crate::testing::render_text(&sink);
        for line in [
            r#"node_network_supported_speed_bytes{device="eth0",duplex="full",mode="1000baseT"} 1.25e+08"#,
            r#"node_network_supported_port_info{device="eth0",type="TP"} 1"#,
            r#"node_network_autonegotiate_supported{device="eth0"} 1"#,
            r#"node_network_pause_supported{device="eth0"} 0"#,
            r#"node_network_pause_advertised{device="eth0"} 1"#,
            r#"node_network_autonegotiate{device="eth0"} 1"#,
            "# HELP node_network_asymmetricpause_advertised If this port device offers asymmetric pause capability",
            "# HELP node_network_pause_supported If this port device supports pause frames",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn names_as_node_exporter() {
        assert_eq!(sanitize("port.rx-bytes"), "port_rx_bytes");
        assert_eq!(sanitize("rx queue [0] (x)"), "rx_queue_0_x_");
        assert_eq!(
            fq_name("rx_queue_0_xdp_packets"),
            "node_ethtool_received_queue_0_xdp_packets"
        );
        assert_eq!(fq_name("__Tx"), "node_ethtool_transmitted");
        assert_eq!(fq_name("rx_rx"), "node_ethtool_received_rx");
        assert_eq!(fq_name("prx_tx_ntx"), "node_ethtool_prx_transmitted_ntx");
    }

    #[test]
    fn series_filter_duplicates_and_predefined() {
        let names: Vec<String> = [
            "rx_bytes",
            "peer_ifindex",
            "giant hdr",
            "giant.hdr",
            "port.tx-ok",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let all = Regex::new(".*").unwrap();
        let series = stat_series(&names, &[1, 2, 3, 4, 5], &all);
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "node_ethtool_peer_ifindex",
                "node_ethtool_port_transmitted_ok",
                "node_ethtool_received_bytes_total"
            ]
        );
        assert_eq!(series[1].value, 5.0, "sanitized names keep their value");
        assert_eq!(series[1].help, "Network interface port_tx_ok");
        assert_eq!(series[2].help, "Network interface bytes received");
        let only = Regex::new("^peer").unwrap();
        assert_eq!(
            stat_series(&[String::from("peer_ifindex")], &[2], &only).len(),
            1
        );
        assert!(stat_series(&[String::from("rx_bytes")], &[2], &only).is_empty());
    }
}
