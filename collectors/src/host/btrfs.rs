//! btrfs: Btrfs filesystem statistics from `/sys/fs/btrfs/<uuid>/` (`node_btrfs_*`), read as
//! procfs' `btrfs` package does.
//!
//! node_exporter 1.12 also queries mounted filesystems with ioctls (`BTRFS_IOC_DEV_INFO`,
//! `BTRFS_IOC_GET_DEV_STATS`) for `node_btrfs_device_unused_bytes`,
//! `node_btrfs_device_errors_total` and a `btrfs_dev_uuid` label. nodex reads sysfs only, so
//! it always reports what node_exporter reports when those ioctls fail: the sysfs
//! `device_size_bytes{device,uuid}`.

use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, read};

stateless_collector!("btrfs", true, "/sys/fs/btrfs/*-*/", collect);

/// Linux counts block device sizes in 512-byte sectors.
const SECTOR_SIZE: f64 = 512.0;

/// The block group types under `allocation/`.
const BLOCK_GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

/// The `commit_stats` file (kernel 6.0+).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Number of commits.
    pub commits: u64,
    /// Duration of the last commit in milliseconds.
    pub last_commit_ms: u64,
    /// Duration of the slowest commit in milliseconds.
    pub max_commit_ms: u64,
    /// Sum of all commit durations in milliseconds.
    pub total_commit_ms: u64,
}

/// Parses `commit_stats`: `key value` lines; unknown keys are ignored.
pub fn parse_commit_stats(bytes: &[u8]) -> Result<CommitStats, ParseError> {
    let mut stats = CommitStats::default();
    for line in lossy(bytes).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [key, value] = parts[..] else {
            return Err(ParseError::new(format!(
                "invalid commit_stats line {line:?}"
            )));
        };
        let value = value
            .parse::<u64>()
            .map_err(|_| ParseError::new(format!("invalid commit_stats value {value:?}")))?;
        match key {
            "commits" => stats.commits = value,
            "last_commit_ms" => stats.last_commit_ms = value,
            "max_commit_ms" => stats.max_commit_ms = value,
            "total_commit_ms" => stats.total_commit_ms = value,
            _ => {}
        }
    }
    Ok(stats)
}

/// The raw-to-usable space ratio of a block group profile on `devices` devices (0 if unknown).
pub fn allocation_ratio(mode: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// Reads an optional sysfs file: absent is empty; other read errors are errors.
fn read_attr(path: &Path) -> Result<String, CollectError> {
    match read(path) {
        Ok(bytes) => Ok(lossy(&bytes).trim().to_string()),
        Err(CollectError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(String::new())
        }
        Err(e) => Err(e),
    }
}

/// Reads an optional numeric attribute; absent or unparsable is 0, as in procfs.
fn read_value(path: &Path) -> Result<u64, CollectError> {
    Ok(read_attr(path)?.parse::<u64>().unwrap_or(0))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("fs/btrfs");
    let entries = match list_dir(&base) {
        Err(e) if e.is_no_data() => return Ok(()),
        other => other?,
    };
    for name in entries.iter().filter(|n| n.contains('-')) {
        collect_filesystem(&base.join(name), name, sink)?;
    }
    Ok(())
}

fn collect_filesystem(dir: &Path, name: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
    let devices = list_dir_strict(&dir.join("devices"))?;
    list_dir_strict(&dir.join("features"))?;
    let mut uuid = read_attr(&dir.join("metadata_uuid"))?;
    if uuid.is_empty() {
        uuid = name.to_string();
    }
    let label = read_attr(&dir.join("label"))?;
    let commit_path = dir.join("commit_stats");
    let commits = match read(&commit_path) {
        Ok(bytes) => {
            parse_commit_stats(&bytes).map_err(|e| CollectError::parse(&commit_path, e))?
        }
        Err(CollectError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            CommitStats::default()
        }
        Err(e) => return Err(e),
    };
    let u = uuid.as_str();
    sink.gauge("node_btrfs_info", "Filesystem information")
        .sample(&[("label", &label), ("uuid", u)], 1.0);
    let rsv = read_value(&dir.join("allocation/global_rsv_size"))?;
    sink.gauge(
        "node_btrfs_global_rsv_size_bytes",
        "Size of global reserve.",
    )
    .sample(&[("uuid", u)], rsv as f64);
    write_commit_stats(sink, u, &commits);
    for kind in BLOCK_GROUP_TYPES {
        collect_allocation(
            &dir.join("allocation").join(kind),
            kind,
            devices.len(),
            u,
            sink,
        )?;
    }
    for device in &devices {
        let size = read_value(&dir.join("devices").join(device).join("size"))?;
        sink.gauge(
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
        )
        .sample(
            &[("device", device), ("uuid", u)],
            SECTOR_SIZE * size as f64,
        );
    }
    Ok(())
}

/// Lists a directory that must exist (procfs fails the whole collection otherwise).
fn list_dir_strict(path: &Path) -> Result<Vec<String>, CollectError> {
    list_dir(path).map_err(|e| match e {
        CollectError::NoData(msg) => CollectError::Other(msg),
        other => other,
    })
}

fn write_commit_stats(sink: &mut MetricSink, uuid: &str, c: &CommitStats) {
    sink.counter(
        "node_btrfs_commits_total",
        "The total number of commits that have occurred.",
    )
    .sample(&[("uuid", uuid)], c.commits as f64);
    sink.gauge(
        "node_btrfs_last_commit_seconds",
        "Duration of the most recent commit, in seconds.",
    )
    .sample(&[("uuid", uuid)], c.last_commit_ms as f64 / 1000.0);
    sink.gauge(
        "node_btrfs_max_commit_seconds",
        "Duration of the slowest commit, in seconds.",
    )
    .sample(&[("uuid", uuid)], c.max_commit_ms as f64 / 1000.0);
    sink.counter(
        "node_btrfs_commit_seconds_total",
        "Sum of the duration of all commits, in seconds.",
    )
    .sample(&[("uuid", uuid)], c.total_commit_ms as f64 / 1000.0);
}

fn collect_allocation(
    dir: &Path,
    kind: &str,
    devices: usize,
    uuid: &str,
    sink: &mut MetricSink,
) -> Result<(), CollectError> {
    let reserved = read_value(&dir.join("bytes_reserved"))?;
    sink.gauge(
        "node_btrfs_reserved_bytes",
        "Amount of space reserved for a data type",
    )
    .sample(
        &[("block_group_type", kind), ("uuid", uuid)],
        reserved as f64,
    );
    for mode in list_dir_strict(dir)? {
        let layout = dir.join(&mode);
        if !layout.is_dir() {
            continue;
        }
        let labels = [
            ("block_group_type", kind),
            ("mode", mode.as_str()),
            ("uuid", uuid),
        ];
        let used = read_value(&layout.join("used_bytes"))?;
        let total = read_value(&layout.join("total_bytes"))?;
        sink.gauge(
            "node_btrfs_used_bytes",
            "Amount of used space by a layout/data type",
        )
        .sample(&labels, used as f64);
        sink.gauge(
            "node_btrfs_size_bytes",
            "Amount of space allocated for a layout/data type",
        )
        .sample(&labels, total as f64);
        sink.gauge(
            "node_btrfs_allocation_ratio",
            "Data allocation ratio for a layout/data type",
        )
        .sample(&labels, allocation_ratio(&mode, devices));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commit_stats() {
        let text = "commits 258051\nlast_commit_ms 1000\nmax_commit_ms 51462\ntotal_commit_ms 47836090\nnew_key 3\n";
        assert_eq!(
            parse_commit_stats(text.as_bytes()).unwrap(),
            CommitStats {
                commits: 258051,
                last_commit_ms: 1000,
                max_commit_ms: 51462,
                total_commit_ms: 47836090,
            }
        );
        assert_eq!(parse_commit_stats(b"").unwrap(), CommitStats::default());
    }

    #[test]
    fn rejects_bad_commit_stats() {
        assert!(parse_commit_stats(b"commits\n").is_err());
        assert!(parse_commit_stats(b"commits 1 2\n").is_err());
        assert!(parse_commit_stats(b"commits x\n").is_err());
        assert!(parse_commit_stats(&[0xff, b' ', 0xfe]).is_err());
    }

    #[test]
    fn ratios() {
        assert_eq!(allocation_ratio("single", 1), 1.0);
        assert_eq!(allocation_ratio("raid1", 2), 2.0);
        assert_eq!(allocation_ratio("raid5", 4), 4.0 / 3.0);
        assert_eq!(allocation_ratio("raid6", 4), 2.0);
        assert_eq!(allocation_ratio("raid1c3", 3), 0.0);
    }
}
