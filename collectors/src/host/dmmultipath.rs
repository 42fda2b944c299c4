//! dmmultipath: device-mapper multipath maps from `/sys/block/dm-*` whose `dm/uuid` starts
//! with `mpath-` (node_exporter's `dmmultipath_linux.go` over procfs'
//! `blockdevice/dm_multipath.go`), with the state of every path device in `slaves/`.

use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, no_data_if, parse_u64, read, read_trimmed, MISSING};

stateless_collector!("dmmultipath", true, "/sys/block/dm-*", collect);

/// A multipath map.
struct Device {
    name: String,
    sysfs_name: String,
    uuid: String,
    suspended: bool,
    size_bytes: u64,
    paths: Vec<(String, String)>,
}

/// Parses a one-number attribute (`dm/suspended`, `size` in 512-byte sectors).
pub fn parse_number(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

/// Whether a path device's state counts as active: SCSI `running` or NVMe `live`.
pub fn is_path_active(state: &str) -> bool {
    state == "running" || state == "live"
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let block = settings.roots.sys("block");
    // procfs scans every map before node_exporter emits; a missing or unreadable file on the
    // way is ErrNoData.
    let devices = read_devices(&block)
        .map_err(no_data_if(MISSING))
        .map_err(denied_as_no_data)?;
    for device in &devices {
        emit(device, sink);
    }
    Ok(())
}

fn denied_as_no_data(err: CollectError) -> CollectError {
    match err {
        CollectError::Io { ref source, .. } if source.kind() == ErrorKind::PermissionDenied => {
            CollectError::NoData(err.to_string())
        }
        other => other,
    }
}

fn read_devices(block: &Path) -> Result<Vec<Device>, CollectError> {
    let mut devices = Vec::new();
    for entry in list_dir(block)? {
        if !entry.starts_with("dm-") {
            continue;
        }
        let dir = block.join(&entry);
        let uuid = match read_trimmed(&dir.join("dm/uuid")) {
            Ok(uuid) => uuid,
            // Without dm/uuid it is no device-mapper device.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        if !uuid.starts_with("mpath-") {
            continue;
        }
        let number = |rel: &str| {
            let path = dir.join(rel);
            parse_number(&read(&path)?).map_err(|e| CollectError::parse(&path, e))
        };
        devices.push(Device {
            name: read_trimmed(&dir.join("dm/name"))?,
            suspended: number("dm/suspended")? == 1,
            size_bytes: number("size")?.wrapping_mul(512),
            paths: read_paths(block, &dir.join("slaves"))?,
            sysfs_name: entry,
            uuid,
        });
    }
    Ok(devices)
}

/// The path devices of a map with their `device/state`; no `slaves/` directory is no paths.
fn read_paths(block: &Path, slaves: &Path) -> Result<Vec<(String, String)>, CollectError> {
    let names = match list_dir(slaves) {
        Ok(names) => names,
        Err(e) if e.is_no_data() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    names
        .into_iter()
        .map(|name| {
            let state = read_trimmed(&block.join(&name).join("device/state"))?;
            Ok((name, state))
        })
        .collect()
}

fn emit(d: &Device, sink: &mut MetricSink) {
    let labels = [("device", d.name.as_str()), ("sysfs_name", &d.sysfs_name)];
    sink.gauge(
        "node_dmmultipath_device_info",
        "Non-numeric information about a DM-multipath device.",
    )
    .sample(
        &[
            ("device", &d.name),
            ("sysfs_name", &d.sysfs_name),
            ("uuid", &d.uuid),
        ],
        1.0,
    );
    let active_paths = d.paths.iter().filter(|(_, s)| is_path_active(s)).count();
    let rows = [
        (
            "node_dmmultipath_device_active",
            "Whether the multipath device-mapper device is active (1) or suspended (0).",
            if d.suspended { 0.0 } else { 1.0 },
        ),
        (
            "node_dmmultipath_device_size_bytes",
            "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
            d.size_bytes as f64,
        ),
        (
            "node_dmmultipath_device_paths",
            "Number of paths for a multipath device.",
            d.paths.len() as f64,
        ),
        (
            "node_dmmultipath_device_paths_active",
            "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
            active_paths as f64,
        ),
        (
            "node_dmmultipath_device_paths_failed",
            "Number of paths not in active state for a multipath device.",
            (d.paths.len() - active_paths) as f64,
        ),
    ];
    for (name, help, value) in rows {
        sink.gauge(name, help).sample(&labels, value);
    }
    for (path, state) in &d.paths {
        sink.gauge(
            "node_dmmultipath_path_state",
            "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
        )
        .sample(&[("device", &d.name), ("path", path), ("state", state)], 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number(b"104857600\n").unwrap(), 104_857_600);
        assert_eq!(parse_number(b"0\n").unwrap(), 0);
        assert!(parse_number(b"").is_err());
        assert!(parse_number(b"yes").is_err());
        assert!(parse_number(&[0xff]).is_err());
    }

    #[test]
    fn active_states() {
        assert!(is_path_active("running"));
        assert!(is_path_active("live"));
        assert!(!is_path_active("offline"));
        assert!(!is_path_active("transport-offline"));
        assert!(!is_path_active("blocked"));
        assert!(!is_path_active(""));
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
