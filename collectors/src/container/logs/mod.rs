//! container_logs: per container, the size, file count, bytes written (a counter kept across
//! rotations), rotations and last write time of its log files, and the size and free space of the
//! file systems holding them. Costs one `lstat` per log file and one directory listing per
//! container; no log content is read.
//!
//! Names follow the container families (`container_` prefix, unit suffixes; cAdvisor exports no
//! log series, the kubelet's only one is `kubelet_container_log_filesystem_used_bytes`):
//! `container_log_` + what is measured. The file-system pair uses the `machine_` prefix of
//! cAdvisor's node-level families, labelled with the directory (as given in the flags).
//!
//! Containers come from the shared cgroup walk and keep its labels: a container with a
//! Kubernetes pod has its kubelet directory `<pod-log-dir>/<ns>_<pod>_<uid>/<container>/`, any
//! other runtime container its Docker json-file directory `<docker-root>/containers/<id>/`.
//! Directories that do not exist are skipped silently (containerd without Kubernetes keeps none).
//! Symlinks, FIFOs and other non-regular files in a log directory are never opened or followed.
//!
//! Over 500 lines: the group's flags, its state across scrapes and the emission of its eleven
//! families share one state type; the work itself is in the submodules.

pub mod files;
pub mod lines;
pub mod positions;
pub mod read;
pub mod track;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::layout;
use super::walk::{Config, Container, Kind, Shared, Snapshot};
use crate::collector::{Collector, CollectorInfo, Settings};
use crate::container::flags;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::options::{Flag, FlagSpec};
use files::Layout;
use lines::{Format, STREAMS};
use read::Reads;
use track::{FileStat, Tracker};

/// Most directory entries looked at in one container's log directory.
pub const MAX_FILES: usize = 4096;

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "container_logs",
    default_enabled: true,
    sources: "lstat of /var/log/pods/<ns>_<pod>_<uid>/<container>/* and \
              <docker-root>/containers/<id>/<id>-json.log*; statvfs of their file systems",
    flags: FLAGS,
    build,
};

/// `--collector.container_logs.count-lines`.
pub const COUNT_LINES: Flag<bool> = Flag::new(
    "collector.container_logs.count-lines",
    "Read the bytes appended to container log files (once each) and export lines and \
     bytes per stream (container_log_lines_total, container_log_stream_bytes_total).",
    "false",
);

/// `--collector.container_logs.fluentd-pos-files`.
pub const FLUENTD_POS_FILES: Flag<String> = Flag::new(
    "collector.container_logs.fluentd-pos-files",
    "Comma-separated Fluentd in_tail pos_file paths (below --path.rootfs) for \
     container_log_shipper_lag_bytes{shipper=\"fluentd\"}.",
    "",
);

/// `--collector.container_logs.promtail-positions-files`.
pub const PROMTAIL_POSITIONS_FILES: Flag<String> = Flag::new(
    "collector.container_logs.promtail-positions-files",
    "Comma-separated Promtail or Grafana Alloy positions.yaml paths (below \
     --path.rootfs) for container_log_shipper_lag_bytes{shipper=\"promtail\"}.",
    "",
);

/// `--collector.container_logs.vector-checkpoints-files`.
pub const VECTOR_CHECKPOINTS_FILES: Flag<String> = Flag::new(
    "collector.container_logs.vector-checkpoints-files",
    "Comma-separated Vector checkpoints.json paths (below --path.rootfs; dev_inode \
     fingerprints only) for container_log_shipper_lag_bytes{shipper=\"vector\"}.",
    "",
);

/// `--collector.container_logs.read-budget-bytes`.
pub const READ_BUDGET_BYTES: Flag<u64> = Flag::new(
    "collector.container_logs.read-budget-bytes",
    "Most log bytes read per scrape with count-lines; the rest is read by later scrapes.",
    "67108864",
);

const FLAGS: &[FlagSpec] = &[
    COUNT_LINES.spec,
    FLUENTD_POS_FILES.spec,
    PROMTAIL_POSITIONS_FILES.spec,
    VECTOR_CHECKPOINTS_FILES.spec,
    READ_BUDGET_BYTES.spec,
];

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let config = Config::from_settings(settings)?;
    let shared = settings
        .shared
        .get_or_init("container", || Shared::new(config));
    let o = &settings.options;
    let pod_flag = o.get(&flags::POD_LOG_DIR);
    let docker_flag = o.get(&flags::DOCKER_ROOT);
    let docker_containers = Path::new(&docker_flag).join("containers");
    let budget = o.get(&READ_BUDGET_BYTES)?;
    let count_lines = o.get(&COUNT_LINES).then_some(budget);
    let list = |flag: &Flag<String>| -> Vec<PathBuf> {
        o.get(flag)
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| settings.roots.root(p))
            .collect()
    };
    let shippers = [
        (Shipper::Fluentd, list(&FLUENTD_POS_FILES)),
        (Shipper::Promtail, list(&PROMTAIL_POSITIONS_FILES)),
        (Shipper::Vector, list(&VECTOR_CHECKPOINTS_FILES)),
    ]
    .into_iter()
    .filter(|(_, files)| !files.is_empty())
    .collect();
    Ok(Box::new(Logs {
        settings: Arc::clone(settings),
        shared,
        pod_log_dir: settings.roots.root(&pod_flag),
        docker_dir: settings.roots.root(&docker_containers),
        fs_labels: [pod_flag, docker_containers.to_string_lossy().into_owned()],
        count_lines,
        shippers,
        read_cursor: AtomicUsize::new(0),
        state: Mutex::new(HashMap::new()),
    }))
}

struct Logs {
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    pod_log_dir: PathBuf,
    docker_dir: PathBuf,
    /// The two roots as the flags name them (the `path` label).
    fs_labels: [String; 2],
    /// With line counting, the per-scrape read budget.
    count_lines: Option<u64>,
    /// Where the next scrape starts spending the read budget (round robin over containers).
    read_cursor: AtomicUsize,
    /// Shippers whose position files are read, with the files.
    shippers: Vec<(Shipper, Vec<PathBuf>)>,
    /// Per log directory, the counters' state; only directories of the last scrape.
    state: Mutex<HashMap<PathBuf, Entry>>,
}

/// A log shipper whose position files nodex reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shipper {
    Fluentd,
    Promtail,
    Vector,
}

impl Shipper {
    fn label(self) -> &'static str {
        match self {
            Shipper::Fluentd => "fluentd",
            Shipper::Promtail => "promtail",
            Shipper::Vector => "vector",
        }
    }

    fn parse(self, bytes: &[u8]) -> Result<Vec<positions::Position>, positions::PositionsError> {
        match self {
            Shipper::Fluentd => Ok(positions::fluentd(bytes)),
            Shipper::Promtail => positions::promtail(bytes),
            Shipper::Vector => positions::vector(bytes),
        }
    }
}

/// Largest position file read.
const MAX_POSITIONS_FILE: u64 = 64 << 20;

/// One shipper's positions, indexed by inode and by the path's last three components
/// (`<ns>_<pod>_<uid>/<container>/<file>` or `containers/<id>/<file>`), so the shipper's own
/// mount path does not matter.
#[derive(Default)]
struct PositionIndex {
    by_ino: HashMap<u64, u64>,
    by_key: HashMap<String, u64>,
}

fn last3(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.rsplit('/').take(3).collect();
    (parts.len() == 3).then(|| format!("{}/{}/{}", parts[2], parts[1], parts[0]))
}

fn read_positions(shipper: Shipper, files: &[PathBuf]) -> Option<PositionIndex> {
    use std::io::Read;
    let mut index = PositionIndex::default();
    let mut any = false;
    for path in files {
        let mut bytes = Vec::new();
        let read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .and_then(|f| {
                if !f.metadata()?.is_file() {
                    return Err(std::io::Error::other("not a regular file"));
                }
                f.take(MAX_POSITIONS_FILE).read_to_end(&mut bytes)
            });
        if let Err(e) = read {
            tracing::debug!("{}: {e}", path.display());
            continue;
        }
        match shipper.parse(&bytes) {
            Ok(list) => {
                any = true;
                for p in list {
                    if let Some(ino) = p.ino {
                        index.by_ino.insert(ino, p.offset);
                    }
                    if let Some(key) = p.path.as_deref().and_then(last3) {
                        index.by_key.insert(key, p.offset);
                    }
                }
            }
            Err(e) => tracing::debug!("{}: {e}", path.display()),
        }
    }
    any.then_some(index)
}

/// Bytes of the container's plain files the shipper has not read, if it knows any of them.
fn lag(index: &PositionIndex, dir: &Path, s: &Scan) -> Option<u64> {
    let parts: Vec<String> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [leaf, parent] = parts.as_slice() else {
        return None;
    };
    let mut total: Option<u64> = None;
    for (f, name) in s.files.iter().zip(&s.names) {
        if f.role == files::Role::Compressed {
            continue;
        }
        let key = format!("{parent}/{leaf}/{}", name.to_string_lossy());
        let offset = index.by_ino.get(&f.ino).or_else(|| index.by_key.get(&key));
        if let Some(off) = offset {
            *total.get_or_insert(0) += f.size.saturating_sub(*off);
        }
    }
    total
}

/// The state kept for one log directory.
struct Entry {
    tracker: Tracker,
    reads: Option<Reads>,
}

/// One container's log directory and how its files are named.
fn log_dir(c: &Container, pod_log_dir: &Path, docker_dir: &Path) -> Option<(PathBuf, Layout)> {
    if c.kind != Kind::App {
        return None;
    }
    let m = c.meta.as_deref()?;
    let l = layout::parse(&c.id);
    if !m.pod.is_empty() && !m.namespace.is_empty() && !m.container.is_empty() {
        let uid = if m.pod_uid.is_empty() {
            l.pod_uid.clone()?
        } else {
            m.pod_uid.clone()
        };
        let dir = pod_log_dir
            .join(format!("{}_{}_{}", m.namespace, m.pod, uid))
            .join(&m.container);
        return Some((dir, Layout::Kubelet));
    }
    let cid = l.container_id?;
    Some((docker_dir.join(cid), Layout::Docker(cid.to_string())))
}

/// What one scan of a log directory found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// The log files (regular files only).
    pub files: Vec<FileStat>,
    /// Their names, aligned with `files`.
    pub names: Vec<OsString>,
    /// Their total size (`st_size`, what `du -b` sums).
    pub bytes: u64,
    /// The newest modification time of a log file (unix seconds).
    pub mtime: Option<f64>,
}

/// Lists `dir` and `lstat`s the files `layout` names as logs; `None` when `dir` is not a
/// directory (absent, or a symlink: never followed).
pub fn scan(dir: &Path, layout: &Layout) -> Option<Scan> {
    if !std::fs::symlink_metadata(dir).ok()?.is_dir() {
        return None;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!("{}: {e}", dir.display());
            return None;
        }
    };
    let mut s = Scan::default();
    for entry in entries.filter_map(Result::ok).take(MAX_FILES) {
        let name = entry.file_name();
        let Some(role) = name.to_str().and_then(|n| layout.classify(n)) else {
            continue;
        };
        // DirEntry::metadata is lstat: a symlink is reported as one, not followed.
        let Ok(md) = entry.metadata() else { continue };
        if !md.file_type().is_file() {
            continue;
        }
        s.bytes += md.len();
        let mtime = md.mtime() as f64 + md.mtime_nsec() as f64 / 1e9;
        if s.mtime.is_none_or(|m| m < mtime) {
            s.mtime = Some(mtime);
        }
        s.files.push(FileStat {
            ino: md.ino(),
            size: md.len(),
            role,
        });
        s.names.push(name);
    }
    Some(s)
}

/// One container's row of values.
struct Row {
    bytes: u64,
    files: usize,
    written: u64,
    rotations: u64,
    mtime: Option<f64>,
    /// Lines and bytes per stream, with line counting.
    streams: Option<([u64; 2], [u64; 2])>,
    /// Per shipper that knows the container's files, the bytes it has not read.
    lag: Vec<(&'static str, u64)>,
}

impl Logs {
    fn rows<'a>(&self, snap: &'a Snapshot) -> Vec<(&'a Container, Row)> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut next: HashMap<PathBuf, Entry> = HashMap::with_capacity(state.len());
        let mut rows = Vec::new();
        let mut budget = self.count_lines.unwrap_or(0);
        let mut to_read: Vec<(usize, PathBuf, Scan, Format)> = Vec::new();
        let shippers: Vec<(Shipper, PositionIndex)> = self
            .shippers
            .iter()
            .filter_map(|(sh, files)| read_positions(*sh, files).map(|i| (*sh, i)))
            .collect();
        for c in &snap.containers {
            let Some((dir, layout)) = log_dir(c, &self.pod_log_dir, &self.docker_dir) else {
                continue;
            };
            if next.contains_key(&dir) {
                continue;
            }
            let Some(s) = scan(&dir, &layout) else {
                continue;
            };
            let format = match layout {
                Layout::Kubelet => Format::Cri,
                Layout::Docker(_) => Format::DockerJson,
            };
            let entry = match state.remove(&dir) {
                Some(mut e) => {
                    e.tracker.update(&s.files);
                    if e.reads.is_some() {
                        to_read.push((rows.len(), dir.clone(), s.clone(), format));
                    }
                    e
                }
                None => Entry {
                    tracker: Tracker::new(&s.files),
                    reads: self.count_lines.map(|_| Reads::new(&s.files)),
                },
            };
            rows.push((
                c,
                Row {
                    bytes: s.bytes,
                    files: s.files.len(),
                    written: entry.tracker.written,
                    rotations: entry.tracker.rotations,
                    mtime: s.mtime,
                    streams: entry.reads.as_ref().map(Reads::totals),
                    lag: shippers
                        .iter()
                        .filter_map(|(sh, idx)| lag(idx, &dir, &s).map(|l| (sh.label(), l)))
                        .collect(),
                },
            ));
            next.insert(dir, entry);
        }
        // Containers share the read budget; each scrape starts at the next one, so a container
        // writing more than the budget does not starve those after it.
        if !to_read.is_empty() {
            let n = to_read.len();
            let start = self.read_cursor.fetch_add(1, Ordering::Relaxed) % n;
            for k in 0..n {
                let (row, dir, s, format) = &to_read[(start + k) % n];
                if let Some(r) = next.get_mut(dir).and_then(|e| e.reads.as_mut()) {
                    r.update(dir, &s.files, &s.names, *format, &mut budget);
                    rows[*row].1.streams = Some(r.totals());
                }
            }
        }
        *state = next;
        rows
    }

    fn filesystems(&self, sink: &mut MetricSink) {
        let mut seen = Vec::new();
        for (dir, label) in [&self.pod_log_dir, &self.docker_dir]
            .into_iter()
            .zip(&self.fs_labels)
        {
            let Ok(st) = rustix::fs::statvfs(dir) else {
                continue;
            };
            if seen.contains(&st.f_fsid) {
                continue;
            }
            seen.push(st.f_fsid);
            let frsize = st.f_frsize;
            for (name, help, blocks) in [
                (
                    "machine_log_filesystem_size_bytes",
                    "Size of the file system holding container logs",
                    st.f_blocks,
                ),
                (
                    "machine_log_filesystem_avail_bytes",
                    "Bytes of the file system holding container logs available to non-root users",
                    st.f_bavail,
                ),
            ] {
                sink.gauge(name, help)
                    .sample(&[("path", label.as_str())], (blocks * frsize) as f64);
            }
        }
    }
}

impl Collector for Logs {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let snap = self.shared.snapshot(&self.settings)?;
        let rows = self.rows(&snap);
        type Get = fn(&Row) -> Option<f64>;
        let families: [(&str, &str, MetricType, Get); 5] = [
            (
                "container_log_files_bytes",
                "Bytes of the container's log files (current, rotated and compressed)",
                MetricType::Gauge,
                |r| Some(r.bytes as f64),
            ),
            (
                "container_log_files",
                "Number of the container's log files",
                MetricType::Gauge,
                |r| Some(r.files as f64),
            ),
            (
                "container_log_written_bytes_total",
                "Bytes the runtime wrote to the container's log files, counted across rotations",
                MetricType::Counter,
                |r| Some(r.written as f64),
            ),
            (
                "container_log_rotations_total",
                "Rotations of the container's current log file seen",
                MetricType::Counter,
                |r| Some(r.rotations as f64),
            ),
            (
                "container_log_last_write_time_seconds",
                "Last modification time of the container's log files (unix seconds)",
                MetricType::Gauge,
                |r| r.mtime,
            ),
        ];
        for (name, help, kind, get) in families {
            super::family(
                sink,
                &snap,
                (name, help, kind),
                rows.iter()
                    .filter_map(|(c, r)| get(r).map(|v| (*c, vec![], v))),
            );
        }
        if self.count_lines.is_some() {
            type Pick = fn(&([u64; 2], [u64; 2])) -> &[u64; 2];
            let per_stream: [(&str, &str, Pick); 2] = [
                (
                    "container_log_lines_total",
                    "Full log lines the container wrote per stream, read from appended log bytes",
                    |t| &t.0,
                ),
                (
                    "container_log_stream_bytes_total",
                    "Log file bytes per stream, read from appended log bytes",
                    |t| &t.1,
                ),
            ];
            for (name, help, pick) in per_stream {
                super::family(
                    sink,
                    &snap,
                    (name, help, MetricType::Counter),
                    rows.iter().flat_map(|(c, r)| {
                        r.streams.iter().flat_map(move |t| {
                            STREAMS
                                .iter()
                                .zip(pick(t))
                                .map(move |(s, v)| (*c, vec![("stream", *s)], *v as f64))
                        })
                    }),
                );
            }
        }
        super::family(
            sink,
            &snap,
            (
                "container_log_shipper_lag_bytes",
                "Bytes of the container's uncompressed log files the shipper has not read yet",
                MetricType::Gauge,
            ),
            rows.iter().flat_map(|(c, r)| {
                r.lag
                    .iter()
                    .map(move |(sh, l)| (*c, vec![("shipper", *sh)], *l as f64))
            }),
        );
        self.filesystems(sink);
        Ok(())
    }
}
