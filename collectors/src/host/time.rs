//! time: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and the clocksources
//! from `/sys/devices/system/clocksource/clocksource*/`.

use crate::roots::JoinExt;
use std::ffi::CStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, read_text};

stateless_collector!(
    "time",
    true,
    "clock_gettime(2), localtime(3), /sys/devices/system/clocksource",
    collect
);

/// One clocksource device: the available sources and the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSource {
    /// Names listed in `available_clocksource`.
    pub available: Vec<String>,
    /// Content of `current_clocksource`.
    pub current: String,
}

/// Builds a [`ClockSource`] from the text of `available_clocksource` and `current_clocksource`.
pub fn parse_clocksource(available: &str, current: &str) -> ClockSource {
    ClockSource {
        available: available
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        current: current.trim().to_string(),
    }
}

/// The local time zone's abbreviation and offset from UTC in seconds at `unix_seconds`.
pub fn local_zone(unix_seconds: i64) -> (String, i64) {
    let t = unix_seconds as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are valid, and localtime_r
    // only writes into it; `tm_zone` then points to static storage owned by libc.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return ("UTC".to_string(), 0);
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned()
        };
        (zone, tm.tm_gmtoff)
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    sink.single(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        MetricType::Gauge,
        now,
    );
    let (zone, offset) = local_zone(now as i64);
    sink.gauge(
        "node_time_zone_offset_seconds",
        "System time zone offset in seconds.",
    )
    .sample(&[("time_zone", &zone)], offset as f64);

    for (i, source) in read_clocksources(settings)?.iter().enumerate() {
        let device = i.to_string();
        sink.gauge(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        for name in &source.available {
            sink.sample(&[("clocksource", name), ("device", &device)], 1.0);
        }
        sink.gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        )
        .sample(
            &[("clocksource", &source.current), ("device", &device)],
            1.0,
        );
    }
    Ok(())
}

fn read_clocksources(settings: &Settings) -> Result<Vec<ClockSource>, CollectError> {
    let dir = settings.roots.sys("devices/system/clocksource");
    // procfs' `ClockSources` globs `clocksource[0-9]*`; `filepath.Glob` ignores errors reading
    // the directory, so an absent or unreadable one is no clocksources.
    let names = match list_dir(&dir) {
        Ok(names) => names,
        Err(e) => {
            tracing::debug!(err = %e, "no clocksources");
            return Ok(Vec::new());
        }
    };
    let mut sources = Vec::new();
    for name in names {
        let is_source = name
            .strip_prefix("clocksource")
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
        if !is_source {
            continue;
        }
        let path = dir.join_exact(&name);
        let available = read_text(&path.join_exact("available_clocksource"))?;
        let current = read_text(&path.join_exact("current_clocksource"))?;
        sources.push(parse_clocksource(&available, &current));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clocksource_files() {
        let cs = parse_clocksource("tsc kvm-clock acpi_pm \n", "tsc\n");
        assert_eq!(cs.available, vec!["tsc", "kvm-clock", "acpi_pm"]);
        assert_eq!(cs.current, "tsc");
        let empty = parse_clocksource("", "");
        assert!(empty.available.is_empty());
        assert_eq!(empty.current, "");
    }

    #[test]
    fn local_zone_has_a_name() {
        let (zone, offset) = local_zone(0);
        assert!(!zone.is_empty());
        assert!(offset.abs() <= 14 * 3600);
    }

    /// `filepath.Glob` ignores an error reading the directory: here `sys/devices/system/clocksource` is a regular
    /// file, so listing it fails with ENOTDIR, and node_exporter succeeds with no clocksources.
    #[test]
    fn unlistable_directory_is_empty_as_go_glob() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("sys/devices/system/clocksource");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let (sink, result) = crate::testing::collect_on_root(INFO, root.path()).unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(!crate::testing::render_text(&sink).contains("node_time_clocksource"));
    }
}
