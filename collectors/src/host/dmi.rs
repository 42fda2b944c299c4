//! dmi: `node_dmi_info` from the firmware tables in `/sys/class/dmi/id` (node_exporter's
//! `dmi.go` over procfs' `class_dmi.go`). Like node_exporter, the files are read once when the
//! collector is built; a label exists only if its file was readable.

use crate::roots::JoinExt;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::util::{list_dir, read};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "dmi",
    default_enabled: true,
    sources: "/sys/class/dmi/id (read at start-up)",
    flags: &[],
    build,
};

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, \
bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, \
board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, \
product_family, product_name, product_serial, product_sku, product_uuid, product_version, \
system_vendor if provided by DMI.";

/// The DMI file of each label (`chassis_type` is read by procfs but not exported).
const FILES: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

/// A DMI attribute as a label value: as Go's `strings.ToValidUTF8(.., "\u{FFFD}")`, each run
/// of invalid bytes becomes one replacement character; then surrounding white space goes.
pub fn label_value(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut replaced = false;
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            out.push_str(chunk.valid());
            replaced = false;
        }
        if !chunk.invalid().is_empty() && !replaced {
            out.push('\u{FFFD}');
            replaced = true;
        }
    }
    out.trim().to_string()
}

struct Dmi {
    labels: Vec<(&'static str, String)>,
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let dir = settings.roots.sys("class/dmi/id");
    let labels = match read_labels(&dir) {
        Ok(labels) => labels,
        // A platform without DMI: the collector reports no data on every scrape.
        Err(e) if e.is_no_data() => Vec::new(),
        Err(e) => {
            return Err(format!(
                "failed to read Desktop Management Interface (DMI) information: {e}"
            ))
        }
    };
    Ok(Box::new(Dmi { labels }))
}

fn read_labels(dir: &Path) -> Result<Vec<(&'static str, String)>, CollectError> {
    let mut labels = Vec::new();
    for name in list_dir(dir)? {
        let Some((_, label)) = FILES.iter().find(|(file, _)| *file == name) else {
            continue;
        };
        let path = dir.join_exact(&name);
        // Only regular files count; sysfs' symlinks (subsystem, ...) and directories do not.
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        match read(&path) {
            Ok(bytes) => labels.push((*label, label_value(&bytes))),
            // Serial numbers and the UUID are readable by root only.
            Err(CollectError::Io { source, .. })
                if source.kind() == ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e),
        }
    }
    Ok(labels)
}

impl Collector for Dmi {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        if self.labels.is_empty() {
            return Err(CollectError::NoData("no DMI information".to_string()));
        }
        let labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        sink.gauge("node_dmi_info", HELP).sample(&labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert_eq!(label_value(b"Dell Inc.\n"), "Dell Inc.");
        assert_eq!(label_value(b"  \n"), "");
        assert_eq!(label_value(b""), "");
        assert_eq!(label_value(b"A\xff\xfeB\n"), "A\u{FFFD}B");
        assert_eq!(label_value(b"\xffA\xff"), "\u{FFFD}A\u{FFFD}");
        assert_eq!(label_value("Société".as_bytes()), "Société");
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
