//! diskstats: `node_disk_*` from `/proc/diskstats` (14, 18 or 20 fields depending on the
//! kernel), with `node_disk_info` and the udev-derived info families from
//! `<udev data>/b<major>:<minor>` and `/sys/block/<dev>/queue/rotational`.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::{parse_file, read_optional};

/// `--collector.diskstats.device-include`.
pub const INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.diskstats.device-include",
    "Regexp of diskstats devices to include (mutually exclusive to device-exclude).",
    "",
);
/// `--collector.diskstats.device-exclude`.
pub const EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.diskstats.device-exclude",
    "Regexp of diskstats devices to exclude (mutually exclusive to device-include).",
    DEFAULT_EXCLUDE,
)
.with_aliases(&["collector.diskstats.ignored-devices"]);
const DEFAULT_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "diskstats",
    default_enabled: true,
    sources: "/proc/diskstats, /sys/block/*/queue/rotational, udev data b<major>:<minor>",
    flags: &[INCLUDE.spec, EXCLUDE.spec],
    build,
};

/// Milliseconds to seconds, as Go's `float64(ms) * (1.0 / 1000.0)`.
const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;
/// `/proc/diskstats` counts standard UNIX 512-byte sectors.
const SECTOR_SIZE: f64 = 512.0;

/// How a raw diskstats value becomes a sample.
#[derive(Clone, Copy)]
enum Scale {
    One,
    Sectors,
    Ticks,
}

/// The families of the value columns, in `/proc/diskstats` order.
const COLUMNS: [(&str, &str, MetricType, Scale); 17] = [
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        MetricType::Counter,
        Scale::Sectors,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MetricType::Counter,
        Scale::Ticks,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        MetricType::Counter,
        Scale::Sectors,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MetricType::Counter,
        Scale::Ticks,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        MetricType::Gauge,
        Scale::One,
    ),
    (
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        MetricType::Counter,
        Scale::Ticks,
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MetricType::Counter,
        Scale::Ticks,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MetricType::Counter,
        Scale::Ticks,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        MetricType::Counter,
        Scale::One,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MetricType::Counter,
        Scale::Ticks,
    ),
];

/// The ATA udev properties exported as gauges, with their families.
const ATA: [(&str, &str, &str); 3] = [
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStat {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Kernel device name.
    pub name: String,
    /// The 11, 15 or 17 value columns present on this kernel.
    pub values: Vec<u64>,
}

/// Parses `/proc/diskstats` as procfs does: lines with fewer than 14 fields are skipped, a
/// field that is not a number fails the whole file, fields beyond the 20th are ignored.
pub fn parse_diskstats(bytes: &[u8]) -> Result<Vec<DiskStat>, ParseError> {
    let text = crate::util::lossy(bytes);
    let mut out = Vec::new();
    for line in crate::util::lines(&text) {
        let mut fields = line.split_ascii_whitespace();
        let Some(major) = fields.next() else { continue };
        let major = parse_number::<u32>(major)?;
        let Some(minor) = fields.next() else { continue };
        let minor = parse_number::<u32>(minor)?;
        let Some(name) = fields.next() else { continue };
        // Sized up front: collecting through `Result` gives no size hint and grew the vector
        // three times per device.
        let mut values = Vec::with_capacity(COLUMNS.len());
        for field in fields.take(COLUMNS.len()) {
            values.push(parse_number::<u64>(field)?);
        }
        if values.len() >= 11 {
            out.push(DiskStat {
                major,
                minor,
                name: name.to_string(),
                values,
            });
        }
    }
    Ok(out)
}

fn parse_number<T: std::str::FromStr>(s: &str) -> Result<T, ParseError> {
    s.parse()
        .map_err(|_| ParseError::new(format!("invalid number {s:?} in diskstats")))
}

/// The `E:` properties of a udev database file (`E:ID_MODEL=...`).
pub fn parse_udev(bytes: &[u8]) -> HashMap<String, String> {
    crate::util::lines(&crate::util::lossy(bytes))
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Diskstats {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let (include, mut exclude) = include_exclude(&settings.options, &INCLUDE, &EXCLUDE)?;
    // node_exporter drops its default exclude when only an include pattern is given.
    if include.is_some() && settings.options.text(&EXCLUDE) == DEFAULT_EXCLUDE {
        exclude = None;
    }
    Ok(Box::new(Diskstats {
        settings: Arc::clone(settings),
        include,
        exclude,
    }))
}

impl Collector for Diskstats {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let roots = &self.settings.roots;
        let stats = parse_file(&roots.proc("diskstats"), parse_diskstats)?;
        for stat in stats {
            if !device_allowed(&stat.name, self.include.as_ref(), self.exclude.as_ref()) {
                continue;
            }
            // Missing udev data (no file, no udev at all) leaves the labels empty, as upstream.
            let udev =
                crate::util::read_bytes(roots.udev(format!("b{}:{}", stat.major, stat.minor)))
                    .map(|b| parse_udev(&b))
                    .unwrap_or_default();
            let rotational =
                read_optional(&roots.sys(format!("block/{}/queue/rotational", stat.name)))
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
            emit_device(sink, &stat, &udev, rotational);
        }
        Ok(())
    }
}

/// Writes every family of one device from its diskstats line, udev properties and the
/// `queue/rotational` flag.
pub fn emit_device(
    sink: &mut MetricSink,
    stat: &DiskStat,
    udev: &HashMap<String, String>,
    rotational: u64,
) {
    let dev = stat.name.as_str();
    let prop = |key: &str| udev.get(key).map(String::as_str).unwrap_or("");
    let serial = [
        prop("SCSI_IDENT_SERIAL"),
        prop("ID_SERIAL_SHORT"),
        prop("ID_SERIAL"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let (major, minor) = (stat.major.to_string(), stat.minor.to_string());
    let rotational = format!("{rotational:b}");
    sink.gauge("node_disk_info", "Info of /sys/block/<block_device>.")
        .sample(
            &[
                ("device", dev),
                ("major", &major),
                ("minor", &minor),
                ("path", prop("ID_PATH")),
                ("wwn", prop("ID_WWN")),
                ("model", prop("ID_MODEL")),
                ("serial", serial),
                ("revision", prop("ID_REVISION")),
                ("rotational", &rotational),
            ],
            1.0,
        );
    for ((name, help, kind, scale), &raw) in COLUMNS.iter().zip(&stat.values) {
        let value = match scale {
            Scale::One => raw as f64,
            Scale::Sectors => raw as f64 * SECTOR_SIZE,
            Scale::Ticks => raw as f64 * SECONDS_PER_TICK,
        };
        sink.family(name, help, *kind)
            .sample(&[("device", dev)], value);
    }
    if !prop("ID_FS_TYPE").is_empty() {
        sink.gauge("node_disk_filesystem_info", "Info about disk filesystem.")
            .sample(
                &[
                    ("device", dev),
                    ("type", prop("ID_FS_TYPE")),
                    ("usage", prop("ID_FS_USAGE")),
                    ("uuid", prop("ID_FS_UUID")),
                    ("version", prop("ID_FS_VERSION")),
                ],
                1.0,
            );
    }
    if !prop("DM_NAME").is_empty() {
        sink.gauge(
            "node_disk_device_mapper_info",
            "Info about disk device mapper.",
        )
        .sample(
            &[
                ("device", dev),
                ("name", prop("DM_NAME")),
                ("uuid", prop("DM_UUID")),
                ("vg_name", prop("DM_VG_NAME")),
                ("lv_name", prop("DM_LV_NAME")),
                ("lv_layer", prop("DM_LV_LAYER")),
            ],
            1.0,
        );
    }
    if !prop("ID_ATA").is_empty() {
        for (key, name, help) in ATA {
            let Some(value) = udev.get(key).and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            sink.gauge(name, help).sample(&[("device", dev)], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_formats() {
        let text = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n \
             254       0 vda 58974 8616 5220570 19124 12452 14000 3991328 14071 0 10660 35104 1918 0 573616 785 1686 1122\n \
             8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n \
             8 1 sda1 1 2 3 4\n\n \
             259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";
        let stats = parse_diskstats(text.as_bytes()).unwrap();
        let summary: Vec<(&str, usize)> = stats
            .iter()
            .map(|s| (s.name.as_str(), s.values.len()))
            .collect();
        assert_eq!(
            summary,
            [("loop0", 17), ("vda", 17), ("sda", 11), ("nvme0n1", 15)]
        );
        assert_eq!(
            (stats[1].major, stats[1].minor, stats[1].values[2]),
            (254, 0, 5220570)
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_diskstats(b"").unwrap(), vec![]);
        assert_eq!(parse_diskstats(b"8 0 sda 1 2").unwrap(), vec![]);
        assert!(parse_diskstats(b"8 0 sda 1 2 x 4 5 6 7 8 9 10 11").is_err());
        assert!(parse_diskstats(b"x 0 sda 1 2 3 4 5 6 7 8 9 10 11").is_err());
        assert!(parse_diskstats(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn udev_properties() {
        let info = parse_udev(b"S:disk/by-id/x\nE:ID_MODEL=Disk A\nE:ID_ATA=1\nE:BAD\nG:systemd\n");
        assert_eq!(info.get("ID_MODEL").map(String::as_str), Some("Disk A"));
        assert_eq!(info.len(), 2);
        assert!(parse_udev(&[0xff, 0xfe]).is_empty());
    }

    #[test]
    fn scales_values() {
        let stat = DiskStat {
            major: 8,
            minor: 0,
            name: "sda".into(),
            values: vec![1, 2, 3, 1500, 5, 6, 7, 8, 9, 10, 11],
        };
        let mut sink = MetricSink::new();
        emit_device(&mut sink, &stat, &HashMap::new(), 1);
        // info + 11 columns, no udev families.
        assert_eq!(sink.sample_count(), 12);
    }
}
