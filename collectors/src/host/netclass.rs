//! netclass: `node_network_*{device}` properties from the attribute files of
//! `/sys/class/net/<iface>/` (node_exporter's sysfs path).
//!
//! `--collector.netclass.netlink` switches node_exporter to an rtnetlink reader; nodex always
//! reads sysfs and accepts the flag for compatibility.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::options::{FlagKind, FlagSpec};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "netclass",
    default_enabled: true,
    sources: "/sys/class/net/<iface>/*",
    flags: &[
        FlagSpec {
            name: "collector.netclass.ignored-devices",
            help: "Regexp of net devices to ignore for netclass collector.",
            kind: FlagKind::Value,
            default: "^$",
            aliases: &[],
        },
        FlagSpec {
            name: "collector.netclass.ignore-invalid-speed",
            help: "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
            kind: FlagKind::Bool,
            default: "false",
            aliases: &[],
        },
        FlagSpec {
            name: "collector.netclass.netlink",
            help: "Use netlink to gather stats instead of /proc/net/dev (accepted; nodex always reads sysfs).",
            kind: FlagKind::Bool,
            default: "false",
            aliases: &[],
        },
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(NetclassCollector {
        settings: Arc::clone(settings),
        ignored: settings
            .options
            .regex("collector.netclass.ignored-devices")?,
        ignore_invalid_speed: settings
            .options
            .bool("collector.netclass.ignore-invalid-speed"),
    }))
}

struct NetclassCollector {
    settings: Arc<Settings>,
    ignored: Option<Regex>,
    ignore_invalid_speed: bool,
}

/// An interface's attribute files, trimmed, by their index in [`ATTRIBUTES`] (`None`: the
/// device does not support it).
#[derive(Debug, Default)]
pub struct Attributes([Option<String>; ATTRIBUTES.len()]);

impl Attributes {
    /// The trimmed content of attribute `name`, if the device has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        let pos = ATTRIBUTES.iter().position(|a| *a == name)?;
        self.0[pos].as_deref()
    }
}

/// Parses an integer attribute as Go's `strconv.ParseInt(s, 0, 64)` (procfs' `PInt64`): decimal,
/// or `0x`/`0o`/`0b`/leading-`0` prefixed; anything else is absent.
pub fn parse_int(value: &str) -> Option<i64> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let prefixed = |p: &str| {
        digits
            .get(..2)
            .filter(|head| head.eq_ignore_ascii_case(p))
            .map(|_| &digits[2..])
    };
    let (radix, body) = if let Some(hex) = prefixed("0x") {
        (16, hex)
    } else if let Some(oct) = prefixed("0o") {
        (8, oct)
    } else if let Some(bin) = prefixed("0b") {
        (2, bin)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = if body.contains('_') {
        i64::from_str_radix(&body.replace('_', ""), radix).ok()?
    } else {
        i64::from_str_radix(body, radix).ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// node_exporter's `getAdminState`: from the IFF_UP bit of `flags`.
pub fn admin_state(flags: Option<i64>) -> &'static str {
    match flags {
        None => "unknown",
        Some(f) if f & 1 == 1 => "up",
        Some(_) => "down",
    }
}

/// True for read errors procfs skips silently (attribute not supported by this device).
fn skippable(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidInput
    ) || err.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// The attribute files the exported families use; node_exporter's procfs reads every file of
/// the directory, but only these reach the output, and each sysfs read costs a syscall round.
const ATTRIBUTES: &[&str] = &[
    "addr_assign_type",
    "address",
    "broadcast",
    "carrier",
    "carrier_changes",
    "carrier_down_count",
    "carrier_up_count",
    "dev_id",
    "dormant",
    "duplex",
    "flags",
    "ifalias",
    "ifindex",
    "iflink",
    "link_mode",
    "mtu",
    "name_assign_type",
    "netdev_group",
    "operstate",
    "speed",
    "tx_queue_len",
    "type",
];

/// Reads the exported attributes of an interface directory, skipping those the device does not
/// support, as procfs' `parseNetClassIface` does.
fn read_attributes(dir: &Path) -> Result<Attributes, CollectError> {
    use std::os::unix::ffi::OsStrExt;
    let mut attrs = Attributes::default();
    let mut path = dir.as_os_str().as_bytes().to_vec();
    path.push(b'/');
    let dir_len = path.len();
    for (slot, name) in attrs.0.iter_mut().zip(ATTRIBUTES) {
        path.truncate(dir_len);
        path.extend_from_slice(name.as_bytes());
        let path = Path::new(std::ffi::OsStr::from_bytes(&path));
        match crate::util::read_attribute(path) {
            Ok(text) => *slot = Some(trimmed(text)),
            Err(e) if skippable(&e) || e.kind() == ErrorKind::IsADirectory => {}
            Err(e) => return Err(CollectError::io(path, e)),
        }
    }
    Ok(attrs)
}

/// `text` without surrounding white space, reusing its allocation.
fn trimmed(mut text: String) -> String {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    text
}

/// Interface names below `class/net`: every entry that is not a regular file.
fn list_devices(class_net: &Path) -> Result<Vec<String>, CollectError> {
    let entries = match std::fs::read_dir(class_net) {
        Ok(e) => e,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
            return Err(CollectError::NoData(format!(
                "could not read {}: {e}",
                class_net.display()
            )))
        }
        Err(e) => return Err(CollectError::io(class_net, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// One integer property: its sysfs file, metric name, help and type.
macro_rules! property {
    ($file:literal, $suffix:literal, $kind:ident) => {
        (
            $file,
            concat!("node_network_", $suffix),
            concat!("Network device property: ", $suffix),
            MetricType::$kind,
        )
    };
}

/// Integer properties: (sysfs file, metric name, help, type).
const PROPERTIES: &[(&str, &str, &str, MetricType)] = &[
    property!("addr_assign_type", "address_assign_type", Gauge),
    property!("carrier", "carrier", Gauge),
    property!("carrier_changes", "carrier_changes_total", Counter),
    property!("carrier_up_count", "carrier_up_changes_total", Counter),
    property!("carrier_down_count", "carrier_down_changes_total", Counter),
    property!("dev_id", "device_id", Gauge),
    property!("dormant", "dormant", Gauge),
    property!("flags", "flags", Gauge),
    property!("ifindex", "iface_id", Gauge),
    property!("iflink", "iface_link", Gauge),
    property!("link_mode", "iface_link_mode", Gauge),
    property!("mtu", "mtu_bytes", Gauge),
    property!("netdev_group", "net_dev_group", Gauge),
    property!("name_assign_type", "name_assign_type", Gauge),
    property!("tx_queue_len", "transmit_queue_length", Gauge),
    property!("type", "protocol_type", Gauge),
];

impl NetclassCollector {
    fn emit(&self, sink: &mut MetricSink, device: &str, attrs: &Attributes) {
        let text = |name: &str| attrs.get(name).unwrap_or("");
        let int = |name: &str| attrs.get(name).and_then(parse_int);
        let operstate = text("operstate");
        sink.gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
        )
        .sample(
            &[("device", device)],
            f64::from(u8::from(operstate == "up")),
        );
        sink.gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        )
        .sample(
            &[
                ("device", device),
                ("address", text("address")),
                ("broadcast", text("broadcast")),
                ("duplex", text("duplex")),
                ("operstate", operstate),
                ("adminstate", admin_state(int("flags"))),
                ("ifalias", text("ifalias")),
            ],
            1.0,
        );
        for (file, name, help, kind) in PROPERTIES {
            if let Some(value) = int(file) {
                sink.family(name, help, *kind)
                    .sample(&[("device", device)], value as f64);
            }
        }
        if let Some(speed) = int("speed") {
            // Some devices report -1 when the speed is unknown.
            if speed >= 0 || !self.ignore_invalid_speed {
                let bytes = speed.wrapping_mul(1_000_000) / 8;
                sink.gauge(
                    "node_network_speed_bytes",
                    "Network device property: speed_bytes",
                )
                .sample(&[("device", device)], bytes as f64);
            }
        }
    }
}

impl Collector for NetclassCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let class_net = self.settings.roots.sys("class/net");
        let mut interfaces = Vec::new();
        // node_exporter reads every interface before emitting anything.
        for device in list_devices(&class_net)? {
            if self.ignored.as_ref().is_some_and(|r| r.is_match(&device)) {
                continue;
            }
            let attrs = read_attributes(&class_net.join(&device))?;
            interfaces.push((device, attrs));
        }
        for (device, attrs) in &interfaces {
            self.emit(sink, device, attrs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_integers() {
        assert_eq!(parse_int("1500"), Some(1500));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x1003"), Some(0x1003));
        assert_eq!(parse_int("0x0"), Some(0));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("up"), None);
        assert_eq!(parse_int("--1"), None);
        assert_eq!(parse_int("\u{fffd}"), None);
    }

    #[test]
    fn admin_states() {
        assert_eq!(admin_state(None), "unknown");
        assert_eq!(admin_state(Some(0x1003)), "up");
        assert_eq!(admin_state(Some(0x1002)), "down");
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.unwrap_err().is_no_data());
        assert!(sink.is_empty());
    }

    #[test]
    fn ignore_invalid_speed_drops_negative_speed() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut opts = crate::Options::with_defaults();
        opts.set("collector.netclass.ignore-invalid-speed", "true");
        opts.set("collector.netclass.ignored-devices", "^lo$");
        let settings = Arc::new(Settings::new(crate::Roots::fixture(&base), opts));
        let collector = (INFO.build)(&settings).unwrap();
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("node_network_speed_bytes{device=\"eth0\"} 1.25e+09\n"));
        assert!(!text.contains("node_network_speed_bytes{device=\"docker0\"}"));
        assert!(!text.contains("device=\"lo\""));
    }
}
