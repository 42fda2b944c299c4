//! nvme: NVMe controllers and their namespaces from `/sys/class/nvme/<device>` (node_exporter's
//! `nvme_linux.go` over procfs' `class_nvme.go`).

use std::path::Path;

use regex::Regex;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, no_data_if, parse_u64, read, read_trimmed, MISSING};

stateless_collector!("nvme", true, "/sys/class/nvme", collect);

/// Controller attributes, in the order of the `node_nvme_info` labels after `device`.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("firmware_rev", "firmware_revision"),
    ("model", "model"),
    ("serial", "serial"),
    ("state", "state"),
    ("cntlid", "cntlid"),
];

/// The namespace id of a namespace directory below a controller. procfs 0.21.1 (the one
/// node_exporter 1.12 uses) only matches the native-multipath path devices `nvme<C>c<C>n<N>`;
/// plain `nvme0n1` directories (multipath disabled) are not found (procfs#821, fixed later).
pub fn namespace_id(dir_name: &str) -> Option<String> {
    static PATTERN: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let pattern = PATTERN
        .get_or_init(|| Regex::new(r"nvme\d+c\d+n(\d+)").ok())
        .as_ref()?;
    Some(pattern.captures(dir_name)?.get(1)?.as_str().to_string())
}

/// Parses a numeric namespace attribute (`size`, `nuse`, `logical_block_size`).
pub fn parse_number(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

struct Namespace {
    id: String,
    ana_state: String,
    size: u64,
    used: u64,
    logical_block_size: u64,
}

struct Controller {
    name: String,
    attributes: Vec<String>,
    namespaces: Vec<Namespace>,
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/nvme");
    let controllers = read_controllers(&class).map_err(no_data_if(MISSING))?;
    for controller in &controllers {
        emit(controller, sink);
    }
    Ok(())
}

fn read_controllers(class: &Path) -> Result<Vec<Controller>, CollectError> {
    let mut controllers = Vec::new();
    for name in list_dir(class)? {
        let dir = class.join(&name);
        let attributes = ATTRIBUTES
            .iter()
            .map(|(file, _)| read_trimmed(&dir.join(file)))
            .collect::<Result<_, _>>()?;
        let namespaces = list_dir(&dir)?
            .iter()
            .filter(|entry| dir.join(entry).is_dir())
            .filter_map(|entry| Some((namespace_id(entry)?, dir.join(entry))))
            .map(|(id, path)| read_namespace(&path, id))
            .collect();
        controllers.push(Controller {
            name,
            attributes,
            namespaces,
        });
    }
    Ok(controllers)
}

/// Namespace attributes are best effort: unreadable numbers are 0, a missing `ana_state`
/// (no native multipath) is `unknown`.
fn read_namespace(dir: &Path, id: String) -> Namespace {
    let number = |file: &str| {
        read(&dir.join(file))
            .ok()
            .and_then(|b| parse_number(&b).ok())
            .unwrap_or(0)
    };
    let ana_state = read_trimmed(&dir.join("ana_state")).unwrap_or_else(|_| "unknown".to_string());
    Namespace {
        id,
        ana_state,
        size: number("size"),
        used: number("nuse"),
        logical_block_size: number("queue/logical_block_size"),
    }
}

fn emit(controller: &Controller, sink: &mut MetricSink) {
    let mut labels = vec![("device", controller.name.as_str())];
    labels.extend(
        ATTRIBUTES
            .iter()
            .map(|(_, label)| *label)
            .zip(controller.attributes.iter().map(String::as_str)),
    );
    sink.gauge(
        "node_nvme_info",
        "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
    )
    .sample(&labels, 1.0);
    for ns in &controller.namespaces {
        let labels = [("device", controller.name.as_str()), ("nsid", &ns.id)];
        sink.gauge(
            "node_nvme_namespace_info",
            "Information about NVMe namespaces. Value is always 1",
        )
        .sample(
            &[
                ("device", &controller.name),
                ("nsid", &ns.id),
                ("ana_state", &ns.ana_state),
            ],
            1.0,
        );
        // procfs multiplies both `size` and `nuse` by the logical block size, so capacity and
        // size are the same value.
        let capacity = ns.size.wrapping_mul(ns.logical_block_size);
        let size = capacity;
        let used = ns.used.wrapping_mul(ns.logical_block_size);
        for (name, help, value) in [
            ("node_nvme_namespace_capacity_bytes", "Capacity of the NVMe namespace in bytes. Computed as namespace_size * namespace_logical_block_size", capacity),
            ("node_nvme_namespace_size_bytes", "Size of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/size", size),
            ("node_nvme_namespace_used_bytes", "Used space of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/nuse", used),
            ("node_nvme_namespace_logical_block_size_bytes", "Logical block size of the NVMe namespace in bytes. Usually 4Kb. Available in /sys/class/nvme/<device>/<namespace>/queue/logical_block_size", ns.logical_block_size),
        ] {
            sink.gauge(name, help).sample(&labels, value as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_namespace_directories() {
        assert_eq!(namespace_id("nvme0c0n1").as_deref(), Some("1"));
        assert_eq!(namespace_id("nvme0c0n2").as_deref(), Some("2"));
        assert_eq!(namespace_id("nvme12c3n10").as_deref(), Some("10"));
        assert_eq!(namespace_id("nvme0n1"), None);
        assert_eq!(namespace_id("ng0n1"), None);
        assert_eq!(namespace_id("nvme0"), None);
        assert_eq!(namespace_id("power"), None);
        assert_eq!(namespace_id("hwmon1"), None);
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number(b"1953525168\n").unwrap(), 1_953_525_168);
        assert!(parse_number(b"").is_err());
        assert!(parse_number(b"4k").is_err());
        assert!(parse_number(&[0xff]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
