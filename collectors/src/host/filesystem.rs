//! filesystem: `node_filesystem_*` for every mount of `/proc/1/mountinfo` (or
//! `/proc/self/mountinfo` when pid 1 is hidden), with sizes from `statfs`.
//!
//! `statfs` of a local file system that answers from memory (ext4, xfs, tmpfs, ...) runs on the
//! collector's thread; every other one on a bounded pool of dedicated threads ([`stat_pool`]):
//! a hung mount is reported with `device_error="mountpoint timeout"` and never stalls a scrape
//! for longer than `--collector.filesystem.mount-timeout`, unlike node_exporter whose first
//! scrape that hits the hang blocks. The mount table is kept until procfs reports a change
//! ([`mount_table`]). The parsing, filtering and family emission here are pure.

pub mod mount_table;
pub mod stat_pool;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regex::Regex;

use self::mount_table::MountTable;
use self::stat_pool::{FsStat, Outcome, StatPool, StatResult};
use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, FlagKind, FlagSpec, Options};
use crate::procfs::mountinfo;
use crate::roots::Roots;

const MP_INCLUDE: &str = "collector.filesystem.mount-points-include";
const MP_EXCLUDE: &str = "collector.filesystem.mount-points-exclude";
const FS_INCLUDE: &str = "collector.filesystem.fs-types-include";
const FS_EXCLUDE: &str = "collector.filesystem.fs-types-exclude";
const MOUNT_TIMEOUT: &str = "collector.filesystem.mount-timeout";
const STAT_WORKERS: &str = "collector.filesystem.stat-workers";

const DEFAULT_MP_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
const DEFAULT_FS_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

/// The `device_error` label of a mount whose `statfs` did not return in time.
pub const TIMEOUT_ERROR: &str = "mountpoint timeout";

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "filesystem",
    default_enabled: true,
    sources: "/proc/1/mountinfo (or /proc/self/mountinfo), statfs",
    flags: &[
        FlagSpec {
            name: MP_EXCLUDE,
            help: "Regexp of mount points to exclude for filesystem collector. (mutually exclusive to mount-points-include)",
            kind: FlagKind::Value,
            default: DEFAULT_MP_EXCLUDE,
            aliases: &["collector.filesystem.ignored-mount-points"],
        },
        FlagSpec {
            name: MP_INCLUDE,
            help: "Regexp of mount points to include for filesystem collector. (mutually exclusive to mount-points-exclude)",
            kind: FlagKind::Value,
            default: "",
            aliases: &[],
        },
        FlagSpec {
            name: FS_EXCLUDE,
            help: "Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-include)",
            kind: FlagKind::Value,
            default: DEFAULT_FS_EXCLUDE,
            aliases: &["collector.filesystem.ignored-fs-types"],
        },
        FlagSpec {
            name: FS_INCLUDE,
            help: "Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-exclude)",
            kind: FlagKind::Value,
            default: "",
            aliases: &[],
        },
        FlagSpec {
            name: MOUNT_TIMEOUT,
            help: "how long to wait for a mount to respond before marking it as stale",
            kind: FlagKind::Value,
            default: "5s",
            aliases: &[],
        },
        FlagSpec {
            name: STAT_WORKERS,
            help: "how many stat calls to process simultaneously",
            kind: FlagKind::Value,
            default: "4",
            aliases: &[],
        },
    ],
    build,
};

/// One line of mountinfo, as the collector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount source (`device` label).
    pub device: String,
    /// Mount point with `\040` and `\011` decoded (only those, as node_exporter) and invalid
    /// UTF-8 replaced.
    pub mount_point: String,
    /// The mount point bytes with every kernel escape decoded (the path `statfs` is given).
    pub mount_point_raw: Vec<u8>,
    /// File-system type.
    pub fs_type: String,
    /// Device major number, as text.
    pub major: String,
    /// Device minor number, as text.
    pub minor: String,
    /// Per-mount options (field 6).
    pub mount_options: String,
    /// Super-block options (last field).
    pub super_options: String,
}

impl Mount {
    /// node_exporter's read-only rule: `ro` among the mount or super options, or ext4's
    /// `emergency_ro` among the super options.
    pub fn readonly(&self) -> bool {
        self.mount_options.split(',').any(|o| o == "ro")
            || self
                .super_options
                .split(',')
                .any(|o| o == "ro" || o == "emergency_ro")
    }
}

/// Parses `/proc/<pid>/mountinfo` with procfs' rules: at least 10 space-separated fields, the
/// `-` separator fourth from the end, numeric ids and a `major:minor` pair. Any malformed line
/// fails the whole file.
pub fn parse_mountinfo(bytes: &[u8]) -> Result<Vec<Mount>, ParseError> {
    Ok(mountinfo::parse(bytes)?.iter().map(mount).collect())
}

/// node_exporter's view of one mountinfo line.
fn mount(line: &mountinfo::Line<'_>) -> Mount {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Mount {
        device: lossy(line.source),
        // The label as node_exporter writes it; statfs gets the path the kernel means, so a
        // mount point with a backslash or newline is measured (node_exporter's statfs of the
        // half-decoded path fails there).
        mount_point: lossy(&unescape_space_and_tab(line.mount_point)),
        mount_point_raw: mountinfo::unescape_octal(line.mount_point),
        fs_type: lossy(line.fs_type),
        major: line.major.to_string(),
        minor: line.minor.to_string(),
        mount_options: lossy(line.mount_options),
        super_options: lossy(line.super_options),
    }
}

/// node_exporter's `parseFilesystemLabels` decodes only `\040` (space) and `\011` (tab) in
/// the mount point, in that order (`strings.ReplaceAll`); procfs keeps the field as the kernel
/// wrote it, so `\012`, `\134` and `\043` stay literal in the `mountpoint` label.
fn unescape_space_and_tab(field: &[u8]) -> Vec<u8> {
    fn replace(input: &[u8], from: &[u8; 4], to: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            if input.get(i..i + 4) == Some(from.as_slice()) {
                out.push(to);
                i += 4;
            } else {
                out.extend_from_slice(input.get(i..=i).unwrap_or_default());
                i += 1;
            }
        }
        out
    }
    replace(&replace(field, b"\\040", b' '), b"\\011", b'\t')
}

/// Mount-point and fs-type filters, each an include/exclude pair.
#[derive(Debug, Clone)]
pub struct Filters {
    mp_include: Option<Regex>,
    mp_exclude: Option<Regex>,
    fs_include: Option<Regex>,
    fs_exclude: Option<Regex>,
}

impl Filters {
    /// Reads the four regex flags; as node_exporter, an include pattern given alone replaces
    /// the default exclude instead of combining with it.
    pub fn from_options(options: &Options) -> Result<Self, String> {
        let pair = |inc: &str, exc: &str, default: &str| {
            let (inc_re, mut exc_re) = include_exclude(options, inc, exc)?;
            if inc_re.is_some() && options.value(exc) == default {
                exc_re = None;
            }
            Ok::<_, String>((inc_re, exc_re))
        };
        let (mp_include, mp_exclude) = pair(MP_INCLUDE, MP_EXCLUDE, DEFAULT_MP_EXCLUDE)?;
        let (fs_include, fs_exclude) = pair(FS_INCLUDE, FS_EXCLUDE, DEFAULT_FS_EXCLUDE)?;
        Ok(Filters {
            mp_include,
            mp_exclude,
            fs_include,
            fs_exclude,
        })
    }

    /// True if the mount passes both filters.
    pub fn allows(&self, mount: &Mount) -> bool {
        device_allowed(
            &mount.mount_point,
            self.mp_include.as_ref(),
            self.mp_exclude.as_ref(),
        ) && device_allowed(
            &mount.fs_type,
            self.fs_include.as_ref(),
            self.fs_exclude.as_ref(),
        )
    }
}

/// Writes the families of `mounts` (already filtered, mount points already relative to the
/// rootfs) from the outcome of their stat calls, keyed by mount point. Series are written once
/// per (device, mount point, fs type, device error, major, minor), as node_exporter.
pub fn emit(sink: &mut MetricSink, mounts: &[Mount], outcomes: &HashMap<String, Outcome>) {
    let mut seen = HashSet::new();
    // (mount, device_error, stat, readonly) of each series, de-duplicated.
    let mut rows = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let outcome = outcomes
            .get(&mount.mount_point)
            .unwrap_or(&Outcome::Timeout);
        let (error, stat, readonly) = match outcome {
            // node_exporter skips the read-only check for stuck mounts: readonly is 0.
            Outcome::Timeout => (TIMEOUT_ERROR, None, false),
            Outcome::Done(Err(e)) => (e.as_str(), None, mount.readonly()),
            Outcome::Done(Ok(s)) => ("", Some(s), mount.readonly()),
        };
        let key = (
            &mount.device,
            &mount.mount_point,
            &mount.fs_type,
            error,
            &mount.major,
            &mount.minor,
        );
        if seen.insert(key) {
            rows.push((mount, error, stat, readonly));
        }
    }
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    // Family by family: one block per family for the renderer to sort, not one per mount.
    sink.gauge(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    );
    for (mount, error, stat, _) in &rows {
        sink.sample(&labels(mount, error), flag(stat.is_none()));
    }
    sink.gauge("node_filesystem_readonly", "Filesystem read-only status.");
    for (mount, error, _, readonly) in &rows {
        sink.sample(&labels(mount, error), flag(*readonly));
    }
    let sizes: [SizeFamily; 5] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            |s| s.size,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |s| s.free,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |s| s.avail,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            |s| s.files,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |s| s.files_free,
        ),
    ];
    for (name, help, value) in sizes {
        sink.gauge(name, help);
        for (mount, error, stat, _) in &rows {
            if let Some(stat) = stat {
                sink.sample(&labels(mount, error), value(stat));
            }
        }
    }
    sink.gauge(
        "node_filesystem_mount_info",
        "Filesystem mount information.",
    );
    for (mount, _, stat, _) in &rows {
        if stat.is_some() {
            sink.sample(
                &[
                    ("device", mount.device.as_str()),
                    ("major", mount.major.as_str()),
                    ("minor", mount.minor.as_str()),
                    ("mountpoint", mount.mount_point.as_str()),
                ],
                1.0,
            );
        }
    }
    // node_exporter >= 1.10 emits this macOS family as 0 on Linux too.
    sink.gauge(
        "node_filesystem_purgeable_bytes",
        "Filesystem space available including purgeable space (MacOS specific).",
    );
    for (mount, error, stat, _) in &rows {
        if stat.is_some() {
            sink.sample(&labels(mount, error), 0.0);
        }
    }
}

/// Go's text for an errno, as node_exporter puts it in `device_error`.
pub fn errno_text(errno: i32) -> String {
    if errno == libc::ESTALE {
        return "stale NFS file handle".to_string();
    }
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {errno}"),
    }
}

/// A size family: name, help, and the statfs number it reports.
type SizeFamily = (&'static str, &'static str, fn(&FsStat) -> f64);

/// The labels of a mount's size and state series.
fn labels<'a>(mount: &'a Mount, error: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("device", mount.device.as_str()),
        ("mountpoint", mount.mount_point.as_str()),
        ("fstype", mount.fs_type.as_str()),
        ("device_error", error),
    ]
}

/// `statfs` of one path, converted as node_exporter does (counts × `f_bsize`).
pub fn statfs(path: &Path) -> StatResult {
    match rustix::fs::statvfs(path) {
        Ok(s) => {
            let bsize = s.f_bsize as f64;
            Ok(FsStat {
                size: s.f_blocks as f64 * bsize,
                free: s.f_bfree as f64 * bsize,
                avail: s.f_bavail as f64 * bsize,
                files: s.f_files as f64,
                files_free: s.f_ffree as f64,
            })
        }
        Err(e) => Err(errno_text(e.raw_os_error())),
    }
}

/// Where to `statfs` a mount point: below the rootfs, from the fully decoded bytes (the label
/// keeps node_exporter's partial decoding; the path must be the one the kernel means).
fn stat_path(roots: &Roots, mount: &Mount) -> PathBuf {
    let root = roots.rootfs.as_os_str().as_bytes();
    let raw = mount.mount_point_raw.as_slice();
    let stripped = match raw.strip_prefix(root) {
        Some(rest) if root != b"/" && (rest.is_empty() || rest.starts_with(b"/")) => rest,
        _ => raw,
    };
    roots.root(OsStr::from_bytes(stripped))
}

struct Filesystem {
    settings: Arc<Settings>,
    filters: Filters,
    pool: StatPool,
    table: Arc<MountTable>,
    /// The mounts to report and their stat requests, derived from the mount table generation
    /// they carry.
    prepared: Mutex<Option<Arc<Prepared>>>,
}

/// The filtered mounts of one mount table generation, with their mount points relative to
/// the rootfs, and what to stat for each: on the collector's own thread, or through the pool.
struct Prepared {
    generation: u64,
    mounts: Vec<Mount>,
    inline: Vec<(String, PathBuf)>,
    pooled: Vec<(String, PathBuf)>,
}

/// File systems whose `statfs` answers from memory (superblock counters) and cannot hang on a
/// server, a daemon or a device: stat on the collector's thread, sparing the hand-off to the
/// pool (two thread wake-ups per scrape). Network, FUSE and everything else goes through the
/// pool and its timeout.
fn never_blocks(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "ext2" | "ext3" | "ext4" | "xfs" | "tmpfs" | "ramfs" | "vfat" | "exfat" | "f2fs"
    )
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let filters = Filters::from_options(&settings.options)?;
    let timeout = settings.options.duration(MOUNT_TIMEOUT)?;
    let workers = settings.options.usize(STAT_WORKERS)?;
    Ok(Box::new(Filesystem {
        settings: Arc::clone(settings),
        filters,
        pool: StatPool::new(workers, timeout, Box::new(statfs)),
        table: MountTable::shared(settings),
        prepared: Mutex::new(None),
    }))
}

impl Filesystem {
    fn prepared(&self) -> Result<Arc<Prepared>, CollectError> {
        let roots = &self.settings.roots;
        let table = self.table.snapshot(roots)?;
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = prepared
            .as_ref()
            .filter(|p| p.generation == table.generation)
        {
            return Ok(Arc::clone(p));
        }
        let mut mounts = Vec::new();
        for mount in table.mounts.iter() {
            let mut mount = mount.clone();
            let stripped = roots.strip_rootfs(&mount.mount_point);
            if stripped.len() != mount.mount_point.len() {
                mount.mount_point = stripped.to_string();
            }
            if self.filters.allows(&mount) {
                mounts.push(mount);
            }
        }
        let (mut inline, mut pooled) = (Vec::new(), Vec::new());
        for m in &mounts {
            let request = (m.mount_point.clone(), stat_path(roots, m));
            if never_blocks(&m.fs_type) {
                inline.push(request);
            } else {
                pooled.push(request);
            }
        }
        let fresh = Arc::new(Prepared {
            generation: table.generation,
            mounts,
            inline,
            pooled,
        });
        *prepared = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

impl Collector for Filesystem {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let prepared = self.prepared()?;
        let mut outcomes = if prepared.pooled.is_empty() {
            HashMap::new()
        } else {
            self.pool.stat_all(&prepared.pooled)
        };
        for (mount_point, path) in &prepared.inline {
            outcomes.insert(mount_point.clone(), Outcome::Done(statfs(path)));
        }
        emit(sink, &prepared.mounts, &outcomes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict
28 27 0:25 / /mnt/tools ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard
43 27 8:1 / /mnt/with\\040space\\011tab rw master:3 - ext4 /dev/sda1 rw,emergency_ro
44 27 8:2 / /mnt/bad\xff rw - ext4 /dev/sda2 rw
";

    #[test]
    fn parses_mountinfo() {
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        assert_eq!(mounts.len(), 6);
        let root = &mounts[1];
        assert_eq!(
            (
                root.device.as_str(),
                root.mount_point.as_str(),
                root.fs_type.as_str()
            ),
            ("/dev/vda", "/", "ext4")
        );
        assert_eq!((root.major.as_str(), root.minor.as_str()), ("254", "0"));
        assert!(!root.readonly());
        assert!(mounts[2].readonly());
        assert_eq!(mounts[3].mount_point, "/var/lib/docker");
        assert_eq!(mounts[4].mount_point, "/mnt/with space\ttab");
        assert!(mounts[4].readonly(), "emergency_ro");
        assert_eq!(mounts[5].mount_point, "/mnt/bad\u{fffd}");
        assert_eq!(mounts[5].mount_point_raw, b"/mnt/bad\xff");
    }

    /// node_exporter decodes only `\040` and `\011`; the kernel's other escapes (`\012`
    /// newline, `\134` backslash, `\043` `#`; `seq_path_root` in fs/proc_namespace.c) stay
    /// literal. Old code decoded every octal escape.
    #[test]
    fn only_space_and_tab_are_unescaped() {
        let line = b"45 27 8:3 / /mnt/a\\134b\\012c\\040d rw - ext4 /dev/sda3 rw\n";
        let mounts = parse_mountinfo(line).unwrap();
        assert_eq!(mounts[0].mount_point, "/mnt/a\\134b\\012c d");
        assert_eq!(mounts[0].mount_point_raw, b"/mnt/a\\b\nc d");
    }

    #[test]
    fn rejects_bad_mountinfo() {
        assert_eq!(parse_mountinfo(b"").unwrap(), vec![]);
        assert!(parse_mountinfo(b"27 1 254:0 / / rw - ext4").is_err());
        assert!(parse_mountinfo(b"27 1 254:0 / / rw x ext4 /dev/vda rw y").is_err());
        assert!(parse_mountinfo(b"27 1 254-0 / / rw shared:1 - ext4 /dev/vda rw").is_err());
        assert!(parse_mountinfo(b"x 1 254:0 / / rw shared:1 - ext4 /dev/vda rw").is_err());
        assert!(parse_mountinfo(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn default_filters() {
        let filters = Filters::from_options(&Options::with_defaults()).unwrap();
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        let kept: Vec<&str> = mounts
            .iter()
            .filter(|m| filters.allows(m))
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                "/",
                "/mnt/tools",
                "/var/lib/docker",
                "/mnt/with space\ttab",
                "/mnt/bad\u{fffd}"
            ]
        );
    }

    #[test]
    fn include_alone_replaces_default_exclude() {
        let mut options = Options::with_defaults();
        options.set(MP_INCLUDE, "^/(proc|mnt/tools)$");
        let filters = Filters::from_options(&options).unwrap();
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        let kept: Vec<&str> = mounts
            .iter()
            .filter(|m| filters.allows(m))
            .map(|m| m.mount_point.as_str())
            .collect();
        // `/proc` passes the mount-point include but its fs type stays excluded.
        assert_eq!(kept, ["/mnt/tools"]);
        options.set(MP_INCLUDE, "(");
        assert!(Filters::from_options(&options)
            .unwrap_err()
            .contains(MP_INCLUDE));
    }

    #[test]
    fn emits_by_outcome() {
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        let stat = FsStat {
            size: 4.0,
            free: 3.0,
            avail: 2.0,
            files: 1.0,
            files_free: 0.0,
        };
        let mut outcomes = HashMap::new();
        outcomes.insert("/".to_string(), Outcome::Done(Ok(stat)));
        outcomes.insert(
            "/mnt/tools".to_string(),
            Outcome::Done(Err("permission denied".into())),
        );
        let mut sink = MetricSink::new();
        // `/` twice (an over-mount) is written once; mounts without an outcome time out.
        let list = [
            mounts[1].clone(),
            mounts[1].clone(),
            mounts[2].clone(),
            mounts[3].clone(),
        ];
        emit(&mut sink, &list, &outcomes);
        // `/`: error, readonly, 5 sizes, mount_info, purgeable; the others: error, readonly.
        assert_eq!(sink.sample_count(), 9 + 2 + 2);
    }

    #[test]
    fn errno_texts_match_go() {
        assert_eq!(errno_text(libc::ENOENT), "no such file or directory");
        assert_eq!(errno_text(libc::EACCES), "permission denied");
        assert_eq!(
            errno_text(libc::ENOTCONN),
            "transport endpoint is not connected"
        );
        assert_eq!(errno_text(libc::ESTALE), "stale NFS file handle");
    }
}
