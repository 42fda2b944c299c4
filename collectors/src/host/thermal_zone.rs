//! thermal_zone: zone temperatures and cooling device states from `/sys/class/thermal`.

use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, parse_i64};

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
    crate::util::read_bytes(dir.join(name))
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .map_err(|_| ReadError::Skip)
}

fn parse_attr<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, ReadError> {
    let text = read_attr(dir, name)?;
    parse(&text).map_err(|e| ReadError::Fail(CollectError::parse(&dir.join(name), e)))
}

/// Type and temperature of one zone; `Ok(None)` for a disabled or unreadable zone.
fn read_zone(dir: &Path) -> Result<Option<(String, f64)>, CollectError> {
    match crate::util::read_bytes(dir.join("mode")) {
        Ok(mode) if is_disabled(&String::from_utf8_lossy(&mode)) => return Ok(None),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {}
        Err(_) => return Ok(None),
    }
    let zone = (|| {
        let kind = read_attr(dir, "type")?;
        read_attr(dir, "policy")?;
        let temp = parse_attr(dir, "temp", parse_temp)?;
        Ok((kind, temp))
    })();
    match zone {
        Ok(z) => Ok(Some(z)),
        Err(ReadError::Skip) => Ok(None),
        Err(ReadError::Fail(e)) => Err(e),
    }
}

/// Type, current and maximum state of one cooling device; `Ok(None)` when unreadable.
fn read_cooling_device(dir: &Path) -> Result<Option<(String, f64, f64)>, CollectError> {
    let device = (|| {
        let kind = read_attr(dir, "type")?;
        let max = parse_attr(dir, "max_state", parse_i64)?;
        let cur = parse_attr(dir, "cur_state", parse_i64)?;
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
    let names = match list_dir(&base) {
        Ok(names) => names,
        // No thermal class at all: globbing finds no zones, which is not an error.
        Err(e) if e.is_no_data() => return Ok(()),
        Err(CollectError::Io { source, .. }) if source.kind() == ErrorKind::PermissionDenied => {
            return Err(CollectError::NoData("class/thermal is not readable".into()))
        }
        Err(e) => return Err(e),
    };
    for (dir, zone) in numbered(&names, "thermal_zone") {
        if let Some((kind, temp)) = read_zone(&base.join(dir))? {
            sink.family(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                MetricType::Gauge,
            )
            .sample(&[("type", &kind), ("zone", &zone)], temp);
        }
    }
    for (dir, name) in numbered(&names, "cooling_device") {
        if let Some((kind, cur, max)) = read_cooling_device(&base.join(dir))? {
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
}
