//! thermal_zone: zone temperatures and cooling device states from `/sys/class/thermal`.

use crate::roots::JoinExt;
use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, parse_i64, parse_u64};

stateless_collector!(
    "thermal_zone",
    true,
    "/sys/class/thermal/thermal_zone*, /sys/class/thermal/cooling_device*",
    collect
);

/// Parses a millidegree Celsius `temp` attribute into degrees Celsius.
pub fn parse_temp(text: &str) -> Result<f64, ParseError> {
    Ok(parse_i64(text)? as f64 / 1000.0)
}

/// Whether a zone's `mode` attribute disables it (procfs skips disabled zones).
pub fn is_disabled(mode: &str) -> bool {
    mode.trim() == "disabled"
}

/// Why reading one zone or device did not give a value.
enum ReadError {
    /// An I/O error: procfs skips the zone or device.
    Skip,
    /// Bad content: the collector fails.
    Fail(CollectError),
}

fn read_attr(dir: &Path, name: &str) -> Result<String, ReadError> {
    crate::util::read_bytes(dir.join_exact(name))
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .map_err(|_| ReadError::Skip)
}

fn parse_attr<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, ReadError> {
    let text = read_attr(dir, name)?;
    parse(&text).map_err(|e| ReadError::Fail(CollectError::parse(&dir.join_exact(name), e)))
}

/// Type and temperature of one zone; `Ok(None)` for a disabled or unreadable zone.
fn read_zone(dir: &Path) -> Result<Option<(String, f64)>, CollectError> {
    match crate::util::read_bytes(dir.join_exact("mode")) {
        Ok(mode) if is_disabled(&String::from_utf8_lossy(&mode)) => return Ok(None),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {}
        Err(_) => return Ok(None),
    }
    let zone = (|| {
        let kind = read_attr(dir, "type")?;
        read_attr(dir, "policy")?;
        let temp = parse_attr(dir, "temp", parse_temp)?;
        read_passive(dir)?;
        Ok((kind, temp))
    })();
    match zone {
        Ok(z) => Ok(Some(z)),
        Err(ReadError::Skip) => Ok(None),
        Err(ReadError::Fail(e)) => Err(e),
    }
}

/// Type, current and maximum state of one cooling device; `Ok(None)` when unreadable.
/// The optional `passive` trip point, read (not exported) as procfs' `parseClassThermalZone`
/// does: absent or unreadable for permissions is fine, another read error skips the zone, and
/// a value that is not an unsigned integer fails the collector
/// (<https://github.com/prometheus/procfs/blob/master/sysfs/class_thermal.go>).
fn read_passive(dir: &Path) -> Result<(), ReadError> {
    let path = dir.join_exact("passive");
    match crate::util::read_bytes(&path) {
        Ok(bytes) => parse_u64(String::from_utf8_lossy(&bytes).trim())
            .map(drop)
            .map_err(|e| ReadError::Fail(CollectError::parse(&path, e))),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => Ok(()),
        Err(_) => Err(ReadError::Skip),
    }
}

/// Reads a cooling device attribute: procfs' `ClassCoolingDeviceStats` skips the device only
/// for the errors its `canIgnoreError` lists (absent, permission, `EOPNOTSUPP`, `EINVAL`); any
/// other read error fails the collector
/// (<https://github.com/prometheus/procfs/blob/master/sysfs/class_cooling_device.go>).
fn read_cooling_attr(dir: &Path, name: &str) -> Result<String, ReadError> {
    let path = dir.join_exact(name);
    match crate::util::read_bytes(&path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).trim().to_string()),
        Err(e)
            if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied)
                || matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) =>
        {
            Err(ReadError::Skip)
        }
        Err(e) => Err(ReadError::Fail(CollectError::io(&path, e))),
    }
}

fn read_cooling_device(dir: &Path) -> Result<Option<(String, f64, f64)>, CollectError> {
    let number = |name: &str| {
        let text = read_cooling_attr(dir, name)?;
        parse_i64(&text).map_err(|e| ReadError::Fail(CollectError::parse(&dir.join_exact(name), e)))
    };
    let device = (|| {
        let kind = read_cooling_attr(dir, "type")?;
        let max = number("max_state")?;
        let cur = number("cur_state")?;
        Ok((kind, cur as f64, max as f64))
    })();
    match device {
        Ok(d) => Ok(Some(d)),
        Err(ReadError::Skip) => Ok(None),
        Err(ReadError::Fail(e)) => Err(e),
    }
}

/// Entries of `dir` named `<prefix><digit>...`, with the part after the prefix.
fn numbered(names: &[String], prefix: &str) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| {
            let id = n.strip_prefix(prefix)?;
            id.starts_with(|c: char| c.is_ascii_digit())
                .then(|| (n.clone(), id.to_string()))
        })
        .collect()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("class/thermal");
    // procfs finds zones and cooling devices with `filepath.Glob`, which ignores errors
    // reading the directory: an absent, unreadable or non-directory class is no zones, and the
    // collector succeeds empty.
    let names = match list_dir(&base) {
        Ok(names) => names,
        Err(e) => {
            tracing::debug!(err = %e, "no thermal zones");
            return Ok(());
        }
    };
    for (dir, zone) in numbered(&names, "thermal_zone") {
        if let Some((kind, temp)) = read_zone(&base.join_exact(dir))? {
            sink.family(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                MetricType::Gauge,
            )
            .sample(&[("type", &kind), ("zone", &zone)], temp);
        }
    }
    for (dir, name) in numbered(&names, "cooling_device") {
        if let Some((kind, cur, max)) = read_cooling_device(&base.join_exact(dir))? {
            let labels = [("name", name.as_str()), ("type", kind.as_str())];
            sink.family(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                MetricType::Gauge,
            )
            .sample(&labels, cur);
            sink.family(
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                MetricType::Gauge,
            )
            .sample(&labels, max);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures() {
        assert_eq!(parse_temp("49925\n").unwrap(), 49.925);
        assert_eq!(parse_temp("-5000").unwrap(), -5.0);
        assert!(parse_temp("").is_err());
        assert!(parse_temp("4992").is_ok());
        assert!(parse_temp("\u{fffd}").is_err());
    }

    /// A zone (or cooling device) directory holding `files`, removed on drop.
    fn zone_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const ZONE: [(&str, &str); 3] = [
        ("type", "acpitz\n"),
        ("policy", "step_wise\n"),
        ("temp", "27800\n"),
    ];

    #[test]
    fn passive_is_checked_as_procfs_does() {
        // Absent: the zone is read.
        let zone = zone_dir(&ZONE);
        assert_eq!(
            read_zone(zone.path()).unwrap(),
            Some(("acpitz".into(), 27.8))
        );
        // A valid trip point (millidegrees): read and not exported.
        let zone = zone_dir(&[ZONE[0], ZONE[1], ZONE[2], ("passive", "0\n")]);
        assert!(read_zone(zone.path()).unwrap().is_some());
        // Not an unsigned integer: procfs' SysReadUintFromFile error fails the collector.
        let zone = zone_dir(&[ZONE[0], ZONE[1], ZONE[2], ("passive", "-1\n")]);
        assert!(read_zone(zone.path()).is_err());
        // Unreadable for another reason (here EISDIR): the zone is skipped.
        let zone = zone_dir(&ZONE);
        std::fs::create_dir(zone.path().join("passive")).unwrap();
        assert_eq!(read_zone(zone.path()).unwrap(), None);
    }

    #[test]
    fn cooling_device_errors_as_procfs() {
        let files = [
            ("type", "Processor\n"),
            ("max_state", "3\n"),
            ("cur_state", "-1\n"),
        ];
        let dev = zone_dir(&files);
        assert_eq!(
            read_cooling_device(dev.path()).unwrap(),
            Some(("Processor".into(), -1.0, 3.0))
        );
        // Absent attribute: canIgnoreError, the device is skipped.
        let dev = zone_dir(&files[..2]);
        assert_eq!(read_cooling_device(dev.path()).unwrap(), None);
        // A read error outside canIgnoreError (here EISDIR) fails the collector.
        let dev = zone_dir(&files[..2]);
        std::fs::create_dir(dev.path().join("cur_state")).unwrap();
        assert!(read_cooling_device(dev.path()).is_err());
    }

    #[test]
    fn modes() {
        assert!(is_disabled("disabled\n"));
        assert!(!is_disabled("enabled\n"));
        assert!(!is_disabled(""));
    }

    #[test]
    fn numbered_entries() {
        let names: Vec<String> = ["cooling_device0", "thermal_zone1", "thermal_zonex", "power"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            numbered(&names, "thermal_zone"),
            vec![("thermal_zone1".to_string(), "1".to_string())]
        );
        assert_eq!(numbered(&names, "cooling_device").len(), 1);
    }

    /// `filepath.Glob` ignores an error reading the directory: here `sys/class/thermal` is a regular
    /// file, so listing it fails with ENOTDIR, and node_exporter succeeds with no zones.
    #[test]
    fn unlistable_directory_is_empty_as_go_glob() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("sys/class/thermal");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let (sink, result) = crate::testing::collect_on_root(INFO, root.path()).unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(!crate::testing::render_text(&sink).contains("node_thermal_zone_temp"));
    }
}
