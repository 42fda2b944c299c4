//! btrfs: Btrfs filesystem statistics from `/sys/fs/btrfs/<uuid>/` (`node_btrfs_*`), read as
//! procfs' `btrfs` package does, plus per-device sizes and error counters from the
//! `BTRFS_IOC_FS_INFO`, `BTRFS_IOC_DEV_INFO` and `BTRFS_IOC_GET_DEV_STATS` ioctls on each
//! mounted btrfs filesystem (found in `/proc/1/mountinfo`), as node_exporter does with
//! `github.com/dennwc/btrfs`. A filesystem whose ioctls fail (not mounted, not a subvolume
//! root, no permission) falls back to the sysfs `device_size_bytes{device,uuid}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::host::filesystem::mount_table::MountTable;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, read};

stateless_collector!(
    "btrfs",
    true,
    "/sys/fs/btrfs/*-*/, BTRFS_IOC_{FS_INFO,DEV_INFO,GET_DEV_STATS} on btrfs mounts",
    collect
);

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
        Err(e) if e.is_not_found() => Ok(String::new()),
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
    let filesystems: Vec<&String> = entries.iter().filter(|n| n.contains('-')).collect();
    if filesystems.is_empty() {
        return Ok(()); // btrfs is loaded but nothing is mounted: no mount table to read
    }
    let ioctl = ioctl_stats(settings);
    for name in filesystems {
        collect_filesystem(&base.join(name), name, &ioctl, sink)?;
    }
    Ok(())
}

fn collect_filesystem(
    dir: &Path,
    name: &str,
    ioctl: &HashMap<String, Vec<IoctlDevice>>,
    sink: &mut MetricSink,
) -> Result<(), CollectError> {
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
        Err(e) if e.is_not_found() => CommitStats::default(),
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
    // Filesystems are matched by UUID without dashes, as node_exporter does.
    if let Some(ioctl_devices) = ioctl.get(&uuid.replace('-', "")) {
        write_ioctl_devices(sink, u, ioctl_devices);
        return Ok(());
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

/// The error counters of `BTRFS_IOC_GET_DEV_STATS`, in the kernel's order, with their `type`.
const ERROR_TYPES: [&str; 5] = ["write", "read", "flush", "corruption", "generation"];

fn write_ioctl_devices(sink: &mut MetricSink, uuid: &str, devices: &[IoctlDevice]) {
    for dev in devices {
        // `/dev/sda` is reported as `sda`, like the sysfs device names.
        let device = dev.path.rsplit('/').next().unwrap_or_default();
        let dev_uuid = uuid_string(&dev.uuid);
        let labels = [
            ("btrfs_dev_uuid", dev_uuid.as_str()),
            ("device", device),
            ("uuid", uuid),
        ];
        sink.gauge(
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
        )
        .sample(&labels, dev.total_bytes as f64);
        sink.gauge(
            "node_btrfs_device_unused_bytes",
            "Unused bytes unused on a device that is part of the filesystem.",
        )
        .sample(&labels, dev.total_bytes.wrapping_sub(dev.bytes_used) as f64);
        sink.counter(
            "node_btrfs_device_errors_total",
            "Errors reported for the device",
        );
        for (kind, value) in ERROR_TYPES.iter().zip(dev.errors) {
            sink.sample(
                &[
                    ("btrfs_dev_uuid", dev_uuid.as_str()),
                    ("device", device),
                    ("type", kind),
                    ("uuid", uuid),
                ],
                value as f64,
            );
        }
    }
}

/// What `BTRFS_IOC_FS_INFO` returns that is used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Highest device id.
    pub max_id: u64,
    /// Number of devices.
    pub num_devices: u64,
    /// Filesystem id.
    pub fsid: [u8; 16],
}

/// One device as `BTRFS_IOC_DEV_INFO` and `BTRFS_IOC_GET_DEV_STATS` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlDevice {
    /// Device path (`/dev/sda`).
    pub path: String,
    /// Device UUID.
    pub uuid: [u8; 16],
    /// Bytes allocated on the device.
    pub bytes_used: u64,
    /// Size of the device.
    pub total_bytes: u64,
    /// write, read, flush, corruption and generation error counts.
    pub errors: [u64; 5],
}

/// Size of `struct btrfs_ioctl_fs_info_args`.
pub const FS_INFO_SIZE: usize = 1024;
/// Size of `struct btrfs_ioctl_dev_info_args`.
pub const DEV_INFO_SIZE: usize = 4096;
/// Size of `struct btrfs_ioctl_get_dev_stats`.
pub const DEV_STATS_SIZE: usize = 1032;

fn u64_at(bytes: &[u8], offset: usize) -> Result<u64, ParseError> {
    bytes
        .get(offset..offset + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .ok_or_else(|| ParseError::new(format!("btrfs ioctl reply is {} bytes", bytes.len())))
}

fn uuid_at(bytes: &[u8], offset: usize) -> Result<[u8; 16], ParseError> {
    bytes
        .get(offset..offset + 16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ParseError::new(format!("btrfs ioctl reply is {} bytes", bytes.len())))
}

/// Decodes `struct btrfs_ioctl_fs_info_args` (`max_id`, `num_devices`, `fsid` first).
pub fn decode_fs_info(bytes: &[u8]) -> Result<FsInfo, ParseError> {
    if bytes.len() != FS_INFO_SIZE {
        return Err(ParseError::new(format!("fs_info is {} bytes", bytes.len())));
    }
    Ok(FsInfo {
        max_id: u64_at(bytes, 0)?,
        num_devices: u64_at(bytes, 8)?,
        fsid: uuid_at(bytes, 16)?,
    })
}

/// Decodes `struct btrfs_ioctl_dev_info_args` (`devid`, `uuid`, `bytes_used`, `total_bytes`,
/// padding, then the NUL-padded 1024-byte `path` at offset 3072) and the `values` of
/// `struct btrfs_ioctl_get_dev_stats` (after `devid`, `nr_items` and `flags`).
pub fn decode_device(dev_info: &[u8], dev_stats: &[u8]) -> Result<IoctlDevice, ParseError> {
    if dev_info.len() != DEV_INFO_SIZE || dev_stats.len() != DEV_STATS_SIZE {
        return Err(ParseError::new(
            "btrfs device ioctl replies have the wrong size",
        ));
    }
    let path = &dev_info[DEV_INFO_SIZE - 1024..];
    let path = String::from_utf8_lossy(path).trim_matches('\0').to_string();
    let mut errors = [0u64; 5];
    for (i, e) in errors.iter_mut().enumerate() {
        *e = u64_at(dev_stats, 24 + 8 * i)?;
    }
    Ok(IoctlDevice {
        path,
        uuid: uuid_at(dev_info, 8)?,
        bytes_used: u64_at(dev_info, 24)?,
        total_bytes: u64_at(dev_info, 32)?,
        errors,
    })
}

/// A filesystem id as node_exporter keys it: lower-case hex without dashes.
pub fn fsid_hex(fsid: &[u8; 16]) -> String {
    fsid.iter().map(|b| format!("{b:02x}")).collect()
}

/// A device UUID as dennwc/btrfs prints it: dashed lower-case hex, `<zero>` when all zero.
pub fn uuid_string(uuid: &[u8; 16]) -> String {
    if uuid.iter().all(|&b| b == 0) {
        return "<zero>".to_string();
    }
    let hex = fsid_hex(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `_IOC(dir, 0x94, nr, size)` of the btrfs ioctls.
const fn btrfs_ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0x94 << 8) | nr
}
const IOC_FS_INFO: u64 = btrfs_ioc(2, 31, FS_INFO_SIZE);
const IOC_DEV_INFO: u64 = btrfs_ioc(3, 30, DEV_INFO_SIZE);
const IOC_GET_DEV_STATS: u64 = btrfs_ioc(3, 52, DEV_STATS_SIZE);
/// `BTRFS_FIRST_FREE_OBJECTID`: the inode number of a subvolume's root directory.
const SUBVOLUME_ROOT_INODE: u64 = 256;
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;

/// Runs one btrfs ioctl whose argument is `N` u64 words, in and out.
fn btrfs_ioctl<const N: usize>(
    fd: &std::fs::File,
    request: u64,
    arg: &mut [u64; N],
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `arg` is a live, writable buffer of exactly the size encoded in `request`, and
    // the kernel writes no more than that size.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg.as_mut_ptr()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn words_to_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// Opens a mount point as dennwc/btrfs's `Open(path, true)` does: it must be a directory whose
/// inode is a subvolume root on a btrfs filesystem; opened read-only with `O_NOATIME`.
fn open_subvolume(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let meta = std::fs::metadata(path)?;
    let not_btrfs = || std::io::Error::other(format!("not a btrfs subvolume: {}", path.display()));
    if meta.ino() != SUBVOLUME_ROOT_INODE || !meta.is_dir() {
        return Err(not_btrfs());
    }
    let fs = rustix::fs::statfs(path).map_err(std::io::Error::from)?;
    if fs.f_type as i64 != BTRFS_SUPER_MAGIC {
        return Err(not_btrfs());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
}

/// Queries every device of the filesystem open at `fd`.
fn query_filesystem(fd: &std::fs::File) -> std::io::Result<(FsInfo, Vec<IoctlDevice>)> {
    let invalid = |e: ParseError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut info = [0u64; FS_INFO_SIZE / 8];
    btrfs_ioctl(fd, IOC_FS_INFO, &mut info)?;
    let info = decode_fs_info(&words_to_bytes(&info)).map_err(invalid)?;
    let mut devices = Vec::new();
    for id in 0..=info.max_id {
        let mut dev_info = [0u64; DEV_INFO_SIZE / 8];
        dev_info[0] = id;
        match btrfs_ioctl(fd, IOC_DEV_INFO, &mut dev_info) {
            // Device ids need not start at 0 nor be contiguous.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => continue,
            other => other?,
        }
        let mut stats = [0u64; DEV_STATS_SIZE / 8];
        stats[0] = id;
        stats[1] = ERROR_TYPES.len() as u64;
        btrfs_ioctl(fd, IOC_GET_DEV_STATS, &mut stats)?;
        devices.push(
            decode_device(&words_to_bytes(&dev_info), &words_to_bytes(&stats)).map_err(invalid)?,
        );
        if devices.len() as u64 == info.num_devices {
            break;
        }
    }
    Ok((info, devices))
}

/// node_exporter's `getIoctlStats`: the devices of every btrfs filesystem mounted in
/// `/proc/1/mountinfo` (or `/proc/self/mountinfo`), keyed by filesystem id. Mounts that cannot
/// be queried are skipped (logged at debug level); an unreadable mount table gives no stats.
fn ioctl_stats(settings: &Settings) -> HashMap<String, Vec<IoctlDevice>> {
    let roots = &settings.roots;
    let table = MountTable::shared(settings).snapshot(roots);
    let mounts = match table {
        Ok(t) => t.mounts,
        Err(e) => {
            tracing::debug!(err = %e, "Error querying btrfs device stats with ioctl");
            return HashMap::new();
        }
    };
    let mut done_devices = std::collections::HashSet::new();
    let mut stats = HashMap::new();
    for mount in mounts.iter().filter(|m| m.fs_type == "btrfs") {
        if done_devices.contains(&mount.device) {
            continue;
        }
        let path: PathBuf = roots.root(roots.strip_rootfs(&mount.mount_point));
        let result = open_subvolume(&path).and_then(|fd| query_filesystem(&fd));
        match result {
            Ok((info, devices)) => {
                let fsid = fsid_hex(&info.fsid);
                if stats.contains_key(&fsid) {
                    continue;
                }
                done_devices.insert(mount.device.clone());
                stats.insert(fsid, devices);
            }
            Err(e) => tracing::debug!(
                mount_point = %path.display(),
                err = %e,
                "Error inspecting btrfs mountpoint"
            ),
        }
    }
    stats
}

/// Lists a directory that must exist (procfs fails the whole collection otherwise).
fn list_dir_strict(path: &Path) -> Result<Vec<String>, CollectError> {
    list_dir(path).map_err(|e| match e {
        CollectError::NoData(msg) => CollectError::Other(msg),
        CollectError::Missing(dir) => {
            CollectError::Other(format!("{} does not exist", dir.display()))
        }
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
    fn decodes_ioctl_replies() {
        let mut fs_info = vec![0u8; FS_INFO_SIZE];
        fs_info[..8].copy_from_slice(&3u64.to_ne_bytes());
        fs_info[8..16].copy_from_slice(&2u64.to_ne_bytes());
        fs_info[16..32].copy_from_slice(&[0xab; 16]);
        let info = decode_fs_info(&fs_info).unwrap();
        assert_eq!((info.max_id, info.num_devices), (3, 2));
        assert_eq!(fsid_hex(&info.fsid), "ab".repeat(16));

        let mut dev_info = vec![0u8; DEV_INFO_SIZE];
        dev_info[..8].copy_from_slice(&1u64.to_ne_bytes());
        dev_info[8..24].copy_from_slice(&(1..=16).collect::<Vec<u8>>());
        dev_info[24..32].copy_from_slice(&100u64.to_ne_bytes());
        dev_info[32..40].copy_from_slice(&1000u64.to_ne_bytes());
        dev_info[3072..3081].copy_from_slice(b"/dev/sdb1");
        let mut dev_stats = vec![0u8; DEV_STATS_SIZE];
        for (i, v) in [1u64, 2, 3, 4, 5].iter().enumerate() {
            dev_stats[24 + 8 * i..32 + 8 * i].copy_from_slice(&v.to_ne_bytes());
        }
        let dev = decode_device(&dev_info, &dev_stats).unwrap();
        assert_eq!(dev.path, "/dev/sdb1");
        assert_eq!((dev.bytes_used, dev.total_bytes), (100, 1000));
        assert_eq!(dev.errors, [1, 2, 3, 4, 5]);
        assert_eq!(
            uuid_string(&dev.uuid),
            "01020304-0506-0708-090a-0b0c0d0e0f10"
        );
        assert_eq!(uuid_string(&[0; 16]), "<zero>");
    }

    #[test]
    fn rejects_short_ioctl_replies() {
        assert!(decode_fs_info(&[]).is_err());
        assert!(decode_fs_info(&[0; 1023]).is_err());
        assert!(decode_device(&[0; DEV_INFO_SIZE], &[0; 1024]).is_err());
        assert!(decode_device(&[0; 10], &[0; DEV_STATS_SIZE]).is_err());
        // An all-zero (garbage) reply decodes to an empty device rather than failing.
        let dev = decode_device(&[0; DEV_INFO_SIZE], &[0; DEV_STATS_SIZE]).unwrap();
        assert_eq!(dev.path, "");
    }

    #[test]
    fn encodes_ioctl_numbers_like_the_kernel() {
        // From <linux/btrfs.h> on x86_64.
        assert_eq!(IOC_FS_INFO, 0x8400_941f);
        assert_eq!(IOC_DEV_INFO, 0xd000_941e);
        assert_eq!(IOC_GET_DEV_STATS, 0xc408_9434);
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
