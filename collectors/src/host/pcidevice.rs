//! pcidevice: PCI devices under `/sys/bus/pci/devices` (`node_pcidevice_*`), read as procfs'
//! `PciDevices`; with `--collector.pcidevice.names`, vendor, device, subsystem and class names
//! from a `pci.ids` file (`--collector.pcidevice.idsfile`, else `/usr/share/misc/pci.ids` or
//! `/usr/share/hwdata/pci.ids` below `--path.rootfs`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;

/// `--collector.pcidevice.idsfile`.
pub const IDSFILE: Flag<String> = Flag::new(
    "collector.pcidevice.idsfile",
    "Path to pci.ids file to use for PCI device identification.",
    "",
);

/// `--collector.pcidevice.names`.
pub const NAMES: Flag<bool> = Flag::new(
    "collector.pcidevice.names",
    "Enable PCI device name resolution (requires pci.ids file).",
    "false",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "pcidevice",
    default_enabled: false,
    sources: "/sys/bus/pci/devices, pci.ids",
    flags: &[IDSFILE.spec, NAMES.spec],
    build,
};

const DEFAULT_IDS_PATHS: [&str; 2] = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"];

/// A `segment:bus:device.function` address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// PCI segment (domain).
    pub segment: i64,
    /// Bus.
    pub bus: i64,
    /// Device.
    pub device: i64,
    /// Function.
    pub function: i64,
}

impl Location {
    /// The four label values, formatted as procfs' `Strings()`.
    pub fn strings(&self) -> [String; 4] {
        [
            format!("{:04x}", self.segment),
            format!("{:02x}", self.bus),
            format!("{:02x}", self.device),
            format!("{:x}", self.function),
        ]
    }
}

fn hex_i32(s: &str) -> Option<i64> {
    let v = i64::from_str_radix(s, 16).ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&v)
        .then_some(v)
}

/// Parses `0000:0a:00.0`.
pub fn parse_location(text: &str) -> Result<Location, ParseError> {
    let bad = || ParseError::new(format!("invalid location {text:?}"));
    let parts: Vec<&str> = text.split(':').collect();
    let [segment, bus, rest] = parts[..] else {
        return Err(bad());
    };
    let (device, function) = rest.split_once('.').ok_or_else(bad)?;
    if function.contains('.') {
        return Err(bad());
    }
    Ok(Location {
        segment: hex_i32(segment).ok_or_else(bad)?,
        bus: hex_i32(bus).ok_or_else(bad)?,
        device: hex_i32(device).ok_or_else(bad)?,
        function: hex_i32(function).ok_or_else(bad)?,
    })
}

/// Go's `strconv.ParseInt(s, 0, 32)`: decimal, `0x` hex, `0o`/leading-0 octal, `0b` binary.
pub fn parse_int_base0(text: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::new(format!("invalid integer {text:?}"));
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(bad());
    }
    let magnitude = i64::from_str_radix(&digits, radix).map_err(|_| bad())?;
    let value = if negative { -magnitude } else { magnitude };
    if !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&value) {
        return Err(bad());
    }
    Ok(value)
}

/// Parses a link speed attribute: `8.0 GT/s PCIe` is 8.0 (GT/s); empty or `Unknown...` is
/// `None`; any other unit is an error.
pub fn parse_link_speed(text: &str) -> Result<Option<f64>, ParseError> {
    if text.is_empty() || text.starts_with("Unknown") {
        return Ok(None);
    }
    let (number, unit) = text
        .split_once(' ')
        .ok_or_else(|| ParseError::new(format!("invalid link speed {text:?}")))?;
    if unit != "GT/s PCIe" {
        return Err(ParseError::new(format!(
            "unknown unit for link speed {text:?}"
        )));
    }
    number
        .trim()
        .parse::<f64>()
        .map(Some)
        .map_err(|_| ParseError::new(format!("invalid link speed {text:?}")))
}

/// One device, with the attributes node_exporter exports.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Its address.
    pub location: Location,
    /// The parent device's address (`None` when the parent is a host bridge `pci*`).
    pub parent: Option<Location>,
    /// class, vendor, device, subsystem_vendor, subsystem_device, revision.
    pub ids: [i64; 6],
    /// `numa_node`.
    pub numa_node: i64,
    /// `max_link_speed` in GT/s.
    pub max_link_speed: Option<f64>,
    /// `max_link_width`.
    pub max_link_width: Option<f64>,
    /// `current_link_speed` in GT/s.
    pub current_link_speed: Option<f64>,
    /// `current_link_width`.
    pub current_link_width: Option<f64>,
    /// `sriov_drivers_autoprobe`.
    pub sriov_drivers_autoprobe: Option<bool>,
    /// `sriov_numvfs`.
    pub sriov_numvfs: Option<u64>,
    /// `sriov_totalvfs`.
    pub sriov_totalvfs: Option<u64>,
    /// `sriov_vf_total_msix`.
    pub sriov_vf_total_msix: Option<i64>,
    /// `d3cold_allowed`.
    pub d3cold_allowed: Option<bool>,
    /// `power_state`.
    pub power_state: Option<String>,
}

/// Reads an optional attribute: absent is `None`, other errors fail.
fn optional(path: &Path) -> Result<Option<String>, CollectError> {
    let text = std::fs::read(path).map_err(|e| CollectError::io(path, e));
    Ok(text
        .if_present()?
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string()))
}

fn read_device(devices: &Path, name: &str) -> Result<Device, CollectError> {
    let path = devices.join(name);
    let target = std::fs::read_link(&path).map_err(|e| CollectError::io(&path, e))?;
    let base = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let parse_err = |e: ParseError| CollectError::parse(&path, e);
    let location = parse_location(&base(Some(&target))).map_err(parse_err)?;
    let parent_name = base(target.parent());
    let parent = if parent_name.starts_with("pci") {
        None
    } else {
        Some(parse_location(&parent_name).map_err(parse_err)?)
    };
    let mut ids = [0i64; 7];
    let required = [
        "class",
        "vendor",
        "device",
        "subsystem_vendor",
        "subsystem_device",
        "revision",
        "numa_node",
    ];
    for (slot, file) in ids.iter_mut().zip(required) {
        let p = path.join(file);
        let text = crate::util::read_trimmed(&p)?;
        *slot = parse_int_base0(&text).map_err(|e| CollectError::parse(&p, e))?;
    }
    let attr = |file: &str| -> Result<Option<(String, std::path::PathBuf)>, CollectError> {
        let p = path.join(file);
        Ok(optional(&p)?.filter(|v| !v.is_empty()).map(|v| (v, p)))
    };
    let speed = |file: &str| -> Result<Option<f64>, CollectError> {
        match attr(file)? {
            Some((v, p)) => parse_link_speed(&v).map_err(|e| CollectError::parse(&p, e)),
            None => Ok(None),
        }
    };
    let width = |file: &str| -> Result<Option<f64>, CollectError> {
        match attr(file)? {
            Some((v, _)) if v.starts_with("Unknown") => Ok(None),
            Some((v, p)) => v.parse::<i64>().map(|w| Some(w as f64)).map_err(|_| {
                CollectError::parse(&p, ParseError::new(format!("invalid link width {v:?}")))
            }),
            None => Ok(None),
        }
    };
    let number = |file: &str| -> Result<Option<i64>, CollectError> {
        match attr(file)? {
            Some((v, p)) => v.parse::<i64>().map(Some).map_err(|_| {
                CollectError::parse(&p, ParseError::new(format!("invalid integer {v:?}")))
            }),
            None => Ok(None),
        }
    };
    let unsigned = |file: &str| -> Result<Option<u64>, CollectError> {
        match attr(file)? {
            Some((v, p)) => v.parse::<u32>().map(|n| Some(u64::from(n))).map_err(|_| {
                CollectError::parse(&p, ParseError::new(format!("invalid integer {v:?}")))
            }),
            None => Ok(None),
        }
    };
    // procfs validates the other SR-IOV attributes too, though they are not exported.
    for file in ["sriov_offset", "sriov_stride", "sriov_vf_device"] {
        unsigned(file)?;
    }
    let [class, vendor, device, sub_vendor, sub_device, revision, numa_node] = ids;
    Ok(Device {
        location,
        parent,
        ids: [class, vendor, device, sub_vendor, sub_device, revision],
        numa_node,
        max_link_speed: speed("max_link_speed")?,
        max_link_width: width("max_link_width")?,
        current_link_speed: speed("current_link_speed")?,
        current_link_width: width("current_link_width")?,
        sriov_drivers_autoprobe: number("sriov_drivers_autoprobe")?.map(|v| v != 0),
        sriov_numvfs: unsigned("sriov_numvfs")?,
        sriov_totalvfs: unsigned("sriov_totalvfs")?,
        sriov_vf_total_msix: number("sriov_vf_total_msix")?,
        d3cold_allowed: number("d3cold_allowed")?.map(|v| v != 0),
        power_state: attr("power_state")?.map(|(v, _)| v),
    })
}

/// Names from a `pci.ids` file, keyed by lower-case hex ids.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PciIds {
    vendors: HashMap<String, String>,
    devices: HashMap<(String, String), String>,
    subsystems: HashMap<(String, String, String), String>,
    classes: HashMap<String, String>,
    subclasses: HashMap<String, String>,
    prog_ifs: HashMap<String, String>,
}

/// Splits `id  name` at the first double space, trimming both.
fn id_and_name(line: &str) -> Option<(&str, &str)> {
    line.split_once("  ").map(|(a, b)| (a.trim(), b.trim()))
}

impl PciIds {
    /// Parses a `pci.ids` file with node_exporter's line rules (vendors, devices and
    /// subsystems; `C` classes, subclasses and programming interfaces). Lines it cannot place
    /// are ignored, so any text parses.
    pub fn parse(text: &str) -> PciIds {
        let mut ids = PciIds::default();
        let (mut vendor, mut device) = (String::new(), String::new());
        let (mut base_class, mut subclass) = (String::new(), String::new());
        let mut in_class = false;
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("C ") {
                if let Some((id, name)) = id_and_name(line) {
                    let id = id[1..].trim().to_string();
                    ids.classes.insert(id.clone(), name.to_string());
                    base_class = id;
                    in_class = true;
                }
                continue;
            }
            let one_tab = line.starts_with('\t') && !line.starts_with("\t\t");
            let two_tabs = line.starts_with("\t\t") && !line.starts_with("\t\t\t");
            if in_class && one_tab {
                if let Some((id, name)) = id_and_name(&line[1..]) {
                    if !base_class.is_empty() {
                        subclass = format!("{base_class}{id}");
                        ids.subclasses.insert(subclass.clone(), name.to_string());
                    }
                }
                continue;
            }
            if in_class && two_tabs {
                if let Some((id, name)) = id_and_name(&line[2..]) {
                    if !subclass.is_empty() {
                        ids.prog_ifs
                            .insert(format!("{subclass}{id}"), name.to_string());
                    }
                }
                continue;
            }
            if !line.starts_with('\t') {
                if let Some((id, name)) = id_and_name(line) {
                    vendor = id.to_string();
                    ids.vendors.insert(vendor.clone(), name.to_string());
                    device.clear();
                    in_class = false;
                }
                continue;
            }
            if one_tab {
                if let Some((id, name)) = id_and_name(&line[1..]) {
                    if !vendor.is_empty() {
                        device = id.to_string();
                        ids.devices
                            .insert((vendor.clone(), device.clone()), name.to_string());
                    }
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("\t\t") {
                if let Some((id, name)) = id_and_name(rest) {
                    let parts: Vec<&str> = id.split_whitespace().collect();
                    if let [sv, sd] = parts[..] {
                        if !vendor.is_empty() && !device.is_empty() {
                            ids.subsystems.insert(
                                (vendor.clone(), device.clone(), format!("{sv}:{sd}")),
                                name.to_string(),
                            );
                        }
                    }
                }
            }
        }
        ids
    }

    /// Vendor name, or the id without `0x` when unknown.
    pub fn vendor(&self, id: &str) -> String {
        let id = id.trim_start_matches("0x").to_lowercase();
        self.vendors.get(&id).cloned().unwrap_or(id)
    }

    /// Device name, or the device id without `0x` when unknown.
    pub fn device(&self, vendor: &str, device: &str) -> String {
        let v = vendor.trim_start_matches("0x").to_lowercase();
        let d = device.trim_start_matches("0x").to_lowercase();
        self.devices.get(&(v, d.clone())).cloned().unwrap_or(d)
    }

    /// Subsystem name, or the subsystem device id without `0x` when unknown.
    pub fn subsystem(
        &self,
        vendor: &str,
        device: &str,
        sub_vendor: &str,
        sub_device: &str,
    ) -> String {
        let strip = |s: &str| s.trim_start_matches("0x").to_string();
        let key = (
            strip(vendor),
            strip(device),
            format!("{}:{}", strip(sub_vendor), strip(sub_device)),
        );
        self.subsystems
            .get(&key)
            .cloned()
            .unwrap_or_else(|| strip(sub_device))
    }

    /// The most specific class name (programming interface, subclass, base class), or
    /// `Unknown class (<id>)`.
    pub fn class(&self, class_id: &str) -> String {
        let id = class_id.trim_start_matches("0x").to_lowercase();
        let lookups: [(usize, &HashMap<String, String>); 3] = [
            (6, &self.prog_ifs),
            (4, &self.subclasses),
            (2, &self.classes),
        ];
        for (len, map) in lookups {
            if let Some(name) = id.get(..len).and_then(|k| map.get(k)) {
                return name.clone();
            }
        }
        format!("Unknown class ({id})")
    }
}

struct PcideviceCollector {
    settings: Arc<Settings>,
    names: Option<PciIds>,
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let names = settings.options.get(&NAMES).then(|| load_ids(settings));
    Ok(Box::new(PcideviceCollector {
        settings: Arc::clone(settings),
        names,
    }))
}

/// Loads `pci.ids` once at start-up; an unreadable file leaves every name unresolved, as in
/// node_exporter (which logs it at debug level).
fn load_ids(settings: &Settings) -> PciIds {
    let explicit = settings.options.get(&IDSFILE);
    let candidates: Vec<std::path::PathBuf> = if explicit.is_empty() {
        DEFAULT_IDS_PATHS
            .iter()
            .map(|p| settings.roots.root(p))
            .collect()
    } else {
        vec![explicit.into()]
    };
    for path in candidates {
        match std::fs::read(&path) {
            Ok(bytes) => return PciIds::parse(&String::from_utf8_lossy(&bytes)),
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "Failed to open PCI IDs file")
            }
        }
    }
    PciIds::default()
}

const POWER_STATES: [&str; 7] = ["D0", "D1", "D2", "D3hot", "D3cold", "unknown", "error"];

impl Collector for PcideviceCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.settings.roots.sys("bus/pci/devices");
        let mut devices = Vec::new();
        for name in crate::util::list_dir(&dir)? {
            let device = read_device(&dir, &name).map_err(|e| match e {
                CollectError::Io { ref source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    CollectError::NoData(e.to_string())
                }
                other => CollectError::Other(format!("error obtaining PCI device info: {other}")),
            })?;
            devices.push(device);
        }
        devices.sort_by_key(|d| d.location.strings());
        sink.gauge(
            "node_pcidevice_info",
            "Non-numeric data from /sys/bus/pci/devices/<location>, value is always 1.",
        );
        for d in &devices {
            let loc = d.location.strings();
            let parent = d
                .parent
                .map(|p| p.strings())
                .unwrap_or_else(|| ["*", "*", "*", "*"].map(String::from));
            let [class, vendor, device, sub_vendor, sub_device, revision] = d.ids;
            let class_id = format!("0x{class:06x}");
            let vendor_id = format!("0x{vendor:04x}");
            let device_id = format!("0x{device:04x}");
            let sub_vendor_id = format!("0x{sub_vendor:04x}");
            let sub_device_id = format!("0x{sub_device:04x}");
            let revision = format!("0x{revision:02x}");
            let mut labels: Vec<(&str, String)> = vec![
                ("segment", loc[0].clone()),
                ("bus", loc[1].clone()),
                ("device", loc[2].clone()),
                ("function", loc[3].clone()),
                ("parent_segment", parent[0].clone()),
                ("parent_bus", parent[1].clone()),
                ("parent_device", parent[2].clone()),
                ("parent_function", parent[3].clone()),
                ("class_id", class_id.clone()),
                ("vendor_id", vendor_id.clone()),
                ("device_id", device_id.clone()),
                ("subsystem_vendor_id", sub_vendor_id.clone()),
                ("subsystem_device_id", sub_device_id.clone()),
                ("revision", revision),
            ];
            if let Some(ids) = &self.names {
                labels.push(("vendor_name", ids.vendor(&vendor_id)));
                labels.push(("device_name", ids.device(&vendor_id, &device_id)));
                labels.push(("subsystem_vendor_name", ids.vendor(&sub_vendor_id)));
                labels.push((
                    "subsystem_device_name",
                    ids.subsystem(&vendor_id, &device_id, &sub_vendor_id, &sub_device_id),
                ));
                labels.push(("class_name", ids.class(&class_id)));
            }
            let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sink.sample(&refs, 1.0);
        }
        type Field = fn(&Device) -> f64;
        let families: [(&str, &str, Field); 9] = [
            (
                "node_pcidevice_max_link_transfers_per_second",
                "Value of maximum link's transfers per second (T/s)",
                |d| d.max_link_speed.map_or(-1.0, |s| s * 1e9),
            ),
            (
                "node_pcidevice_max_link_width",
                "Value of maximum link's width (number of lanes)",
                |d| d.max_link_width.unwrap_or(-1.0),
            ),
            (
                "node_pcidevice_current_link_transfers_per_second",
                "Value of current link's transfers per second (T/s)",
                |d| d.current_link_speed.map_or(-1.0, |s| s * 1e9),
            ),
            (
                "node_pcidevice_current_link_width",
                "Value of current link's width (number of lanes)",
                |d| d.current_link_width.unwrap_or(-1.0),
            ),
            (
                "node_pcidevice_d3cold_allowed",
                "Whether the PCIe device supports D3cold power state (0/1).",
                |d| f64::from(u8::from(d.d3cold_allowed == Some(true))),
            ),
            (
                "node_pcidevice_sriov_drivers_autoprobe",
                "Whether SR-IOV drivers autoprobe is enabled for the device (0/1).",
                |d| f64::from(u8::from(d.sriov_drivers_autoprobe == Some(true))),
            ),
            (
                "node_pcidevice_sriov_numvfs",
                "Number of Virtual Functions (VFs) currently enabled for SR-IOV.",
                |d| d.sriov_numvfs.unwrap_or(0) as f64,
            ),
            (
                "node_pcidevice_sriov_totalvfs",
                "Total number of Virtual Functions (VFs) supported by the device.",
                |d| d.sriov_totalvfs.unwrap_or(0) as f64,
            ),
            (
                "node_pcidevice_sriov_vf_total_msix",
                "Total number of MSI-X vectors for Virtual Functions.",
                |d| d.sriov_vf_total_msix.unwrap_or(0) as u64 as f64,
            ),
        ];
        for (name, help, value) in families {
            sink.gauge(name, help);
            for d in &devices {
                let l = d.location.strings();
                sink.sample(
                    &[
                        ("segment", &l[0]),
                        ("bus", &l[1]),
                        ("device", &l[2]),
                        ("function", &l[3]),
                    ],
                    value(d),
                );
            }
        }
        sink.gauge(
            "node_pcidevice_power_state",
            "PCIe device power state, one of: D0, D1, D2, D3hot, D3cold, unknown or error.",
        );
        for d in &devices {
            let Some(current) = &d.power_state else {
                continue;
            };
            let l = d.location.strings();
            for state in POWER_STATES {
                sink.sample(
                    &[
                        ("segment", &l[0]),
                        ("bus", &l[1]),
                        ("device", &l[2]),
                        ("function", &l[3]),
                        ("state", state),
                    ],
                    f64::from(u8::from(state == current)),
                );
            }
        }
        sink.gauge(
            "node_pcidevice_numa_node",
            "NUMA node number for the PCI device. -1 indicates unknown or not available.",
        );
        for d in devices.iter().filter(|d| d.numa_node != -1) {
            let l = d.location.strings();
            sink.sample(
                &[
                    ("segment", &l[0]),
                    ("bus", &l[1]),
                    ("device", &l[2]),
                    ("function", &l[3]),
                ],
                d.numa_node as f64,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            parse_location("0000:0a:00.1").unwrap(),
            Location {
                segment: 0,
                bus: 10,
                device: 0,
                function: 1
            }
        );
        assert_eq!(
            parse_location("0000:0a:00.1").unwrap().strings(),
            ["0000", "0a", "00", "1"]
        );
        assert!(parse_location("").is_err());
        assert!(parse_location("0000:0a").is_err());
        assert!(parse_location("0000:0a:00").is_err());
        assert!(parse_location("pci0000:00").is_err());
        assert!(parse_location("zz:0a:00.0").is_err());
    }

    #[test]
    fn parses_ids_like_parseint_base_0() {
        assert_eq!(parse_int_base0("0x030000").unwrap(), 0x030000);
        assert_eq!(parse_int_base0("-1").unwrap(), -1);
        assert_eq!(parse_int_base0("0").unwrap(), 0);
        assert!(parse_int_base0("").is_err());
        assert!(parse_int_base0("0x").is_err());
        assert!(
            parse_int_base0("0x1ffffffff").is_err(),
            "out of 32-bit range"
        );
        assert!(parse_int_base0("vendor").is_err());
    }

    #[test]
    fn parses_link_speeds() {
        assert_eq!(parse_link_speed("8.0 GT/s PCIe").unwrap(), Some(8.0));
        assert_eq!(parse_link_speed("2.5 GT/s PCIe").unwrap(), Some(2.5));
        assert_eq!(parse_link_speed("Unknown").unwrap(), None);
        assert_eq!(parse_link_speed("").unwrap(), None);
        assert!(parse_link_speed("8.0 GB/s").is_err());
        assert!(parse_link_speed("fast").is_err());
    }

    const IDS: &str = "# pci.ids excerpt\n1002  Advanced Micro Devices, Inc. [AMD/ATI]\n\t687f  Vega 10 XL/XT [Radeon RX Vega 56/64]\n\t\t1043 0555  ROG Strix RX Vega 56\n8086  Intel Corporation\n\t3e92  CoffeeLake-S GT2 [UHD Graphics 630]\nC 03  Display controller\n\t00  VGA compatible controller\n\t\t00  VGA controller\nC 06  Bridge\n\t04  PCI bridge\n";

    #[test]
    fn resolves_names_from_pci_ids() {
        let ids = PciIds::parse(IDS);
        assert_eq!(
            ids.vendor("0x1002"),
            "Advanced Micro Devices, Inc. [AMD/ATI]"
        );
        assert_eq!(ids.vendor("0xabcd"), "abcd");
        assert_eq!(
            ids.device("0x1002", "0x687f"),
            "Vega 10 XL/XT [Radeon RX Vega 56/64]"
        );
        assert_eq!(ids.device("0x8086", "0x0001"), "0001");
        assert_eq!(
            ids.subsystem("0x1002", "0x687f", "0x1043", "0x0555"),
            "ROG Strix RX Vega 56"
        );
        assert_eq!(
            ids.subsystem("0x1002", "0x687f", "0x1043", "0x0556"),
            "0556"
        );
        assert_eq!(ids.class("0x030000"), "VGA controller");
        assert_eq!(ids.class("0x060400"), "PCI bridge");
        assert_eq!(ids.class("0x060100"), "Bridge");
        assert_eq!(ids.class("0x120000"), "Unknown class (120000)");
        assert_eq!(PciIds::parse(""), PciIds::default());
        assert_eq!(PciIds::parse("\u{fffd}\t\tgarbage"), PciIds::default());
    }

    #[test]
    fn missing_directory_fails_the_collector() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_err());
        assert!(sink.is_empty());
    }
}
