//! netclass: `node_network_*{device}` properties from the attribute files of
//! `/sys/class/net/<iface>/` (node_exporter's sysfs path).
//!
//! `--collector.netclass.netlink` switches node_exporter to an rtnetlink reader; nodex always
//! reads sysfs and accepts the flag for compatibility.

use crate::roots::JoinExt;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::CollectError;
use crate::error::ParseError;
use crate::expfmt::{MetricSink, MetricType};
use crate::fdcache::{path_kind, Kind};
use crate::netlink::{KeptSocket, NETLINK_ROUTE, RTM_GETLINK};
use crate::options::Flag;

/// `--collector.netclass.ignored-devices`.
pub const IGNORED_DEVICES: Flag<Option<Regex>> = Flag::new(
    "collector.netclass.ignored-devices",
    "Regexp of net devices to ignore for netclass collector.",
    "^$",
);

/// `--collector.netclass.ignore-invalid-speed`.
pub const IGNORE_INVALID_SPEED: Flag<bool> = Flag::new(
    "collector.netclass.ignore-invalid-speed",
    "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
    "false",
);

/// `--collector.netclass.netlink`.
pub const NETLINK: Flag<bool> = Flag::new(
    "collector.netclass.netlink",
    "Use netlink to gather stats instead of /proc/net/dev (accepted; nodex always reads sysfs).",
    "false",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "netclass",
    default_enabled: true,
    sources: "/sys/class/net/<iface>/* (on a live sysfs, most attributes from an RTM_GETLINK dump)",
    flags: &[
        IGNORED_DEVICES.spec,
        IGNORE_INVALID_SPEED.spec,
        NETLINK.spec,
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let live = path_kind(&settings.roots.sys("class/net")) == Some(Kind::Sys);
    Ok(Box::new(NetclassCollector {
        settings: Arc::clone(settings),
        dump: live.then(|| KeptSocket::new(NETLINK_ROUTE)),
        ignored: settings.options.get(&IGNORED_DEVICES)?,
        ignore_invalid_speed: settings.options.get(&IGNORE_INVALID_SPEED),
    }))
}

struct NetclassCollector {
    settings: Arc<Settings>,
    /// On a live sysfs, the netlink socket for link dumps.
    dump: Option<KeptSocket>,
    ignored: Option<Regex>,
    ignore_invalid_speed: bool,
}

/// An interface's attribute files, trimmed, by their index in [`ATTRIBUTES`] (`None`: the
/// device does not support it). The values share one buffer (about twenty per interface).
#[derive(Debug, Default)]
pub struct Attributes {
    text: String,
    spans: [Option<(u32, u32)>; ATTRIBUTES.len()],
}

impl Attributes {
    /// The trimmed content of attribute `name`, if the device has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.by_index(ATTRIBUTES.iter().position(|a| *a == name)?)
    }

    fn by_index(&self, pos: usize) -> Option<&str> {
        let (start, end) = self.spans[pos]?;
        self.text.get(start as usize..end as usize)
    }

    fn set(&mut self, name: &str, value: &str) {
        self.set_by(name, |text| text.push_str(value));
    }

    /// Sets attribute `name` to what `write` appends to the buffer.
    fn set_by(&mut self, name: &str, write: impl FnOnce(&mut String)) {
        let set = self.set_with(name, |text| {
            write(text);
            Ok::<(), std::convert::Infallible>(())
        });
        match set {
            Ok(()) => {}
            Err(never) => match never {},
        }
    }

    /// Sets attribute `name` to what `write` appends to the buffer; an error of `write` leaves
    /// the attribute as it was.
    fn set_with<E>(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(pos) = ATTRIBUTES.iter().position(|a| *a == name) else {
            return Ok(());
        };
        let start = self.text.len();
        if let Err(e) = write(&mut self.text) {
            self.text.truncate(start);
            return Err(e);
        }
        self.spans[pos] = Some((start as u32, self.text.len() as u32));
        Ok(())
    }
}

/// Appends the decimal digits of `n`.
fn push_decimal(text: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    text.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// The attributes sysfs has and an `RTM_GETLINK` dump does not: `flags` is the device's own
/// flag word (the dump's is `dev_get_flags`, with RUNNING and LOWER_UP mixed in), and
/// `ifindex` is read to check that sysfs and the dump see the same network namespace.
const SYSFS_ONLY: &[&str] = &[
    "addr_assign_type",
    "dev_id",
    "flags",
    "ifindex",
    "name_assign_type",
];

/// Attributes sysfs answers only while the link is up (`EINVAL` otherwise), and that the dump
/// does not carry.
const SYSFS_ONLY_WHEN_UP: &[&str] = &["duplex", "speed"];

/// sysfs' `operstate` names, by `IF_OPER_*` value.
const OPERSTATES: &[&str] = &[
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

/// One link of an `RTM_GETLINK` dump: its name, index, whether it is up, and the attributes
/// that sysfs would show for it, formatted as sysfs formats them.
#[derive(Debug)]
pub struct DumpedLink {
    /// `IFLA_IFNAME`.
    pub name: String,
    /// `ifi_index`.
    pub index: u32,
    /// `IFF_UP` in `ifi_flags` (sysfs' `netif_running`).
    pub up: bool,
    /// The attributes of [`ATTRIBUTES`] the dump carries.
    pub attributes: Attributes,
}

/// Parses the links of an `RTM_GETLINK` dump into the attributes sysfs would show, applying
/// sysfs' rules: `carrier` and `dormant` only while up, `operstate` by name, `iflink` equal
/// to `ifindex` when `IFLA_LINK` is absent, an empty `ifalias` when unset, and addresses as
/// lower-case hex bytes joined by colons.
pub fn parse_link_dump(replies: &[Vec<u8>]) -> Result<Vec<DumpedLink>, ParseError> {
    use crate::netlink::{
        c_string, parse_attrs, payloads_of, IFINFOMSG_LEN, IFLA_IFNAME, RTM_NEWLINK,
    };
    use crate::util::{u16_at, u32_at};
    const IFF_UP: u32 = 0x1;
    const IFF_DORMANT: u32 = 0x20000;
    let mut links = Vec::new();
    for payload in payloads_of(replies, RTM_NEWLINK)? {
        let kind = u16_at(payload, 2)?;
        let index = u32_at(payload, 4)?;
        let flags = u32_at(payload, 8)?;
        let up = flags & IFF_UP != 0;
        let mut attrs = Attributes::default();
        let mut name = None;
        attrs.set_by("ifindex", |t| push_decimal(t, index));
        attrs.set_by("type", |t| push_decimal(t, u32::from(kind)));
        attrs.set("ifalias", "");
        if up {
            let dormant = u32::from(flags & IFF_DORMANT != 0);
            attrs.set_by("dormant", |t| push_decimal(t, dormant));
        }
        for attr in parse_attrs(payload.get(IFINFOMSG_LEN..).unwrap_or(&[]))? {
            let v = attr.value;
            let number = |text: &mut String| -> Result<(), ParseError> {
                let n = match v.len() {
                    1 => u32::from(v[0]),
                    _ => u32_at(v, 0)?,
                };
                push_decimal(text, n);
                Ok(())
            };
            match attr.kind {
                IFLA_ADDRESS => attrs.set_by("address", |t| push_hex_address(t, v)),
                IFLA_BROADCAST => attrs.set_by("broadcast", |t| push_hex_address(t, v)),
                IFLA_IFNAME => name = Some(c_string(v)),
                IFLA_MTU => attrs.set_with("mtu", number)?,
                IFLA_LINK => attrs.set_with("iflink", number)?,
                IFLA_TXQLEN => attrs.set_with("tx_queue_len", number)?,
                IFLA_OPERSTATE => {
                    if let Some(state) = v.first().and_then(|&s| OPERSTATES.get(usize::from(s))) {
                        attrs.set("operstate", state);
                    }
                }
                IFLA_LINKMODE => attrs.set_with("link_mode", number)?,
                IFLA_IFALIAS => attrs.set("ifalias", &c_string(v)),
                IFLA_GROUP => attrs.set_with("netdev_group", number)?,
                IFLA_CARRIER if up => attrs.set_with("carrier", number)?,
                IFLA_CARRIER_CHANGES => attrs.set_with("carrier_changes", number)?,
                IFLA_CARRIER_UP_COUNT => attrs.set_with("carrier_up_count", number)?,
                IFLA_CARRIER_DOWN_COUNT => attrs.set_with("carrier_down_count", number)?,
                _ => {}
            }
        }
        if attrs.get("iflink").is_none() {
            attrs.set_by("iflink", |t| push_decimal(t, index));
        }
        let name = name.ok_or_else(|| ParseError::new(format!("link {index} has no name")))?;
        links.push(DumpedLink {
            name,
            index,
            up,
            attributes: attrs,
        });
    }
    Ok(links)
}

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_IFALIAS: u16 = 20;
const IFLA_GROUP: u16 = 27;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
/// `RTEXT_FILTER_SKIP_STATS`: leave the counters out of the dump (netclass has no use for them).
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// Appends sysfs' `%pM`-style address: lower-case hex bytes joined by colons (nothing for no
/// bytes).
fn push_hex_address(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
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
    read_named(dir, ATTRIBUTES)
}

/// Reads the attributes named in `names` (of [`ATTRIBUTES`]) of an interface directory.
fn read_named<'a>(
    dir: &Path,
    names: impl IntoIterator<Item = &'a &'a str>,
) -> Result<Attributes, CollectError> {
    use std::os::unix::ffi::OsStrExt;
    let mut attrs = Attributes::default();
    let mut path = dir.as_os_str().as_bytes().to_vec();
    path.push(b'/');
    let dir_len = path.len();
    for name in names {
        path.truncate(dir_len);
        path.extend_from_slice(name.as_bytes());
        let path = Path::new(std::ffi::OsStr::from_bytes(&path));
        let read_trimmed = |text: &mut String| {
            let start = text.len();
            crate::util::append_attribute(path, text)?;
            let end = start + text[start..].trim_end().len();
            text.truncate(end);
            let lead = text[start..].len() - text[start..].trim_start().len();
            text.drain(start..start + lead);
            Ok::<(), std::io::Error>(())
        };
        match attrs.set_with(name, read_trimmed) {
            Ok(()) => {}
            Err(e) if skippable(&e) || e.kind() == ErrorKind::IsADirectory => {}
            Err(e) => return Err(CollectError::io(path, e)),
        }
    }
    Ok(attrs)
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
        .map(|e| crate::util::file_name(&e))
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
    /// Writes family by family (one block per family, not one per device and family: the
    /// renderer sorts blocks).
    fn emit(&self, sink: &mut MetricSink, interfaces: &[(String, Attributes)]) {
        let int = |attrs: &Attributes, name: &str| attrs.get(name).and_then(parse_int);
        sink.gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
        );
        for (device, attrs) in interfaces {
            let up = attrs.get("operstate") == Some("up");
            sink.sample(&[("device", device)], f64::from(u8::from(up)));
        }
        sink.gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        );
        for (device, attrs) in interfaces {
            let get = |name: &str| attrs.get(name).unwrap_or("");
            sink.sample(
                &[
                    ("device", device),
                    ("address", get("address")),
                    ("broadcast", get("broadcast")),
                    ("duplex", get("duplex")),
                    ("operstate", get("operstate")),
                    ("adminstate", admin_state(int(attrs, "flags"))),
                    ("ifalias", get("ifalias")),
                ],
                1.0,
            );
        }
        for (file, name, help, kind) in PROPERTIES {
            sink.family(name, help, *kind);
            for (device, attrs) in interfaces {
                if let Some(value) = int(attrs, file) {
                    sink.sample(&[("device", device)], value as f64);
                }
            }
        }
        sink.gauge(
            "node_network_speed_bytes",
            "Network device property: speed_bytes",
        );
        for (device, attrs) in interfaces {
            if let Some(speed) = int(attrs, "speed") {
                // Some devices report -1 when the speed is unknown.
                if speed >= 0 || !self.ignore_invalid_speed {
                    let bytes = speed.wrapping_mul(1_000_000) / 8;
                    sink.sample(&[("device", device)], bytes as f64);
                }
            }
        }
    }
}

impl NetclassCollector {
    /// The links of an `RTM_GETLINK` dump, by name, when sysfs is live and the dump answers.
    fn dumped_links(&self) -> Option<Vec<DumpedLink>> {
        let result = self.dump.as_ref()?.with(|sock| {
            let mask = RTEXT_FILTER_SKIP_STATS.to_ne_bytes();
            let replies = sock.dump(RTM_GETLINK, &[0u8; 16], &[(IFLA_EXT_MASK, &mask)])?;
            parse_link_dump(&replies).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
        });
        match result {
            Ok(links) => Some(links),
            Err(e) => {
                tracing::debug!(err = %e, "link dump failed; reading every attribute from sysfs");
                None
            }
        }
    }
}

/// Completes a dumped link's attributes from sysfs; `None` when sysfs shows another link under
/// that name (its `ifindex` differs: sysfs was mounted from another network namespace).
fn complete_from_sysfs(dir: &Path, link: DumpedLink) -> Result<Option<Attributes>, CollectError> {
    let mut attrs = link.attributes;
    let only_when_up: &[&str] = if link.up { SYSFS_ONLY_WHEN_UP } else { &[] };
    let sysfs = read_named(dir, SYSFS_ONLY.iter().chain(only_when_up))?;
    if sysfs.get("ifindex").and_then(parse_int) != Some(i64::from(link.index)) {
        return Ok(None);
    }
    for (pos, name) in ATTRIBUTES.iter().enumerate() {
        if let Some(value) = sysfs.by_index(pos) {
            attrs.set(name, value);
        }
    }
    Ok(Some(attrs))
}

impl Collector for NetclassCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let class_net = self.settings.roots.sys("class/net");
        let devices = list_devices(&class_net)?;
        // A dump of the same namespace names the same links as the sysfs listing.
        let mut dumped: Vec<DumpedLink> = self
            .dumped_links()
            .filter(|links| {
                links.len() == devices.len() && links.iter().all(|l| devices.contains(&l.name))
            })
            .unwrap_or_default();
        let mut interfaces = Vec::new();
        // node_exporter reads every interface before emitting anything.
        for device in devices {
            if self.ignored.as_ref().is_some_and(|r| r.is_match(&device)) {
                continue;
            }
            let dir = class_net.join_exact(&device);
            let from_dump = match dumped.iter().position(|l| l.name == device) {
                Some(pos) => complete_from_sysfs(&dir, dumped.swap_remove(pos))?,
                None => None,
            };
            let attrs = match from_dump {
                Some(attrs) => attrs,
                None => read_attributes(&dir)?,
            };
            interfaces.push((device, attrs));
        }
        self.emit(sink, &interfaces);
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

    /// As the kernel's `%pM`/`sysfs_format_mac`: two lower-case hex digits per byte, colons.
    #[test]
    fn hex_addresses() {
        let hex_address = |bytes: &[u8]| {
            let mut out = String::new();
            push_hex_address(&mut out, bytes);
            out
        };
        assert_eq!(hex_address(&[]), "");
        assert_eq!(hex_address(&[0x0a]), "0a");
        assert_eq!(
            hex_address(&[0x02, 0x42, 0xac, 0x11, 0x00, 0xff]),
            "02:42:ac:11:00:ff"
        );
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 1500, u32::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn admin_states() {
        assert_eq!(admin_state(None), "unknown");
        assert_eq!(admin_state(Some(0x1003)), "up");
        assert_eq!(admin_state(Some(0x1002)), "down");
    }

    /// A dump captured in a namespace with `lo` (down) and an up veth pair.
    #[test]
    fn parses_a_link_dump_as_sysfs_shows_it() {
        const LINKS: &[u8] = include_bytes!("../../../tests/fixtures/netlink/link.bin");
        let links = parse_link_dump(&[LINKS.to_vec()]).unwrap();
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["lo", "veth1", "veth0"]);
        let lo = &links[0];
        assert!(!lo.up);
        let get = |l: &DumpedLink, name: &str| l.attributes.get(name).map(str::to_string);
        assert_eq!(get(lo, "mtu").as_deref(), Some("65536"));
        assert_eq!(get(lo, "type").as_deref(), Some("772"));
        assert_eq!(get(lo, "address").as_deref(), Some("00:00:00:00:00:00"));
        assert_eq!(get(lo, "operstate").as_deref(), Some("down"));
        assert_eq!(get(lo, "iflink"), get(lo, "ifindex"));
        assert_eq!(get(lo, "ifalias").as_deref(), Some(""));
        // sysfs refuses carrier and dormant of a link that is not up.
        assert_eq!(get(lo, "carrier"), None);
        assert_eq!(get(lo, "dormant"), None);
        let (veth1, veth0) = (&links[1], &links[2]);
        assert!(veth0.up && veth1.up);
        assert_eq!(get(veth0, "carrier").as_deref(), Some("1"));
        assert_eq!(get(veth0, "dormant").as_deref(), Some("0"));
        assert_eq!(get(veth0, "iflink"), Some(veth1.index.to_string()));
        assert_eq!(get(veth0, "tx_queue_len").as_deref(), Some("1000"));
        let mac = get(veth0, "address").unwrap();
        assert!(mac.len() == 17 && mac.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()));
        assert!(!mac.bytes().any(|b| b.is_ascii_uppercase()));
        for l in &links {
            for name in SYSFS_ONLY.iter().chain(SYSFS_ONLY_WHEN_UP) {
                if *name != "ifindex" {
                    assert_eq!(get(l, name), None, "{name} comes from sysfs");
                }
            }
        }
        assert!(parse_link_dump(&[LINKS[..LINKS.len() / 2].to_vec()]).is_err());
    }

    /// On this host, the dump path (dump plus the sysfs-only attributes) writes what reading
    /// every attribute from sysfs writes.
    #[test]
    fn dump_and_sysfs_agree_on_this_host() {
        let settings = Arc::new(Settings::default());
        let collector = |dump: bool| NetclassCollector {
            settings: Arc::clone(&settings),
            dump: dump.then(|| KeptSocket::new(NETLINK_ROUTE)),
            ignored: None,
            ignore_invalid_speed: false,
        };
        let render = |collector: &NetclassCollector| {
            let mut sink = MetricSink::new();
            collector.collect(&mut sink).unwrap();
            let mut out = Vec::new();
            crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let (with_dump, sysfs_only) = (collector(true), collector(false));
        let links = with_dump.dumped_links().expect("a link dump on this host");
        let devices = list_devices(&settings.roots.sys("class/net")).unwrap();
        assert!(
            links.len() == devices.len() && links.iter().all(|l| devices.contains(&l.name)),
            "the dump and sysfs see different links here, so the dump path is not tested"
        );
        // A carrier change between the two reads makes them differ rightly: retry then.
        let mut last = None;
        for _ in 0..5 {
            let (via_dump, read) = (render(&with_dump), render(&sysfs_only));
            if via_dump == read {
                assert!(read.contains("node_network_mtu_bytes{device=\"lo\"}"));
                return;
            }
            last = Some((via_dump, read));
        }
        let (via_dump, read) = last.unwrap();
        assert_eq!(via_dump, read);
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
        let mut opts = crate::Options::default();
        opts.set(&IGNORE_INVALID_SPEED, "true");
        opts.set(&IGNORED_DEVICES, "^lo$");
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
