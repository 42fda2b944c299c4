//! Cgroup discovery and the per-scrape walk shared by the container groups.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use regex::Regex;
use rustix::fs::{fstat, openat, statat, AtFlags, FileType, Mode, OFlags, RawDir, Stat, CWD};

use super::flags;
use super::layout;
use super::parse;
use super::runtime::{self, ContainerLogs, Meta, MetaCache, Runtime, StateDirs};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::LabelSets;
use crate::hash::FastMap;
use crate::options::Flag;
use crate::roots::Roots;
use crate::util;

/// The container flags, parsed once when the first group is built.
#[derive(Debug)]
pub struct Config {
    include: Option<Regex>,
    exclude: Option<Regex>,
    max_depth: usize,
    /// Whether stats samples carry explicit timestamps.
    pub timestamps: bool,
    cadvisor_labels: bool,
    allowlist: Vec<String>,
    state: StateDirs,
    pod_log_dir: PathBuf,
    container_log_dir: PathBuf,
    /// Whether PSI is emitted for pod and sandbox cgroups too.
    pub pressure_pod_level: bool,
}

impl Config {
    /// Reads the `collector.container.*` flags; errors name the flag.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let o = &settings.options;
        let r = &settings.roots;
        let labels = o.get(&flags::LABELS);
        let cadvisor_labels = match labels.as_str() {
            "kubelet" | "" => false,
            "cadvisor" => true,
            other => {
                return Err(format!(
                    "invalid --{} {other:?} (kubelet|cadvisor)",
                    flags::LABELS.name()
                ))
            }
        };
        let dir = |flag: &Flag<String>| r.root(o.get(flag));
        Ok(Config {
            include: o.get(&flags::CGROUP_INCLUDE)?,
            exclude: o.get(&flags::CGROUP_EXCLUDE)?,
            max_depth: o.get(&flags::MAX_DEPTH)?,
            timestamps: o.get(&flags::TIMESTAMPS),
            cadvisor_labels,
            allowlist: o
                .get(&flags::LABEL_ALLOWLIST)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            state: StateDirs {
                docker: dir(&flags::DOCKER_ROOT),
                containerd: dir(&flags::CONTAINERD_STATE),
                crio: vec![dir(&flags::CRIO_ROOT), dir(&flags::CRIO_RUNROOT)],
            },
            pod_log_dir: dir(&flags::POD_LOG_DIR),
            container_log_dir: dir(&flags::CONTAINER_LOG_DIR),
            pressure_pod_level: o.get(&flags::PRESSURE_POD_LEVEL),
        })
    }
}

/// The controllers whose files the groups read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctrl {
    /// `cpu` (v1 shares/quota/cfs stats; v2 everything cpu).
    Cpu,
    /// `cpuacct` (v1 usage).
    Cpuacct,
    /// `memory`.
    Memory,
    /// `pids`.
    Pids,
    /// `blkio` (v2 `io`).
    Blkio,
}

const CTRLS: [(Ctrl, &str); 5] = [
    (Ctrl::Cpu, "cpu"),
    (Ctrl::Cpuacct, "cpuacct"),
    (Ctrl::Memory, "memory"),
    (Ctrl::Pids, "pids"),
    (Ctrl::Blkio, "blkio"),
];

/// The mounted hierarchies, mapped below the configured roots.
#[derive(Clone, Debug, Default)]
pub struct Hierarchies {
    /// True when the controllers live in a cgroup2 hierarchy (pure v2).
    pub v2: bool,
    v1: [Option<PathBuf>; 5],
    /// The cgroup2 mount (pure v2, or `unified` on a hybrid host).
    pub unified: Option<PathBuf>,
    /// Directory descriptors the walk that found the cgroups opened, kept for its scrape.
    kept: Arc<Kept>,
}

/// The cgroup directories a walk opened, per hierarchy root and container id. They live as
/// long as the snapshot, which is dropped when the scrape's last group is done with it
/// ([`Shared::finish`]), so no descriptor outlives the scrape and pins a removed cgroup.
#[derive(Default)]
struct Kept {
    roots: Vec<(PathBuf, FastMap<Box<str>, OwnedFd>)>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.roots.iter().map(|(_, m)| m.len()).sum();
        write!(f, "Kept({n} directories)")
    }
}

impl Hierarchies {
    /// The directory of container `id` in controller `ctrl`'s hierarchy, if it is mounted.
    pub fn dir(&self, ctrl: Ctrl, id: &str) -> Option<Dir<'_>> {
        let base = if self.v2 {
            self.unified.as_ref()
        } else {
            let i = CTRLS.iter().position(|(c, _)| *c == ctrl)?;
            self.v1[i].as_ref()
        }?;
        Some(self.handle(base, id))
    }

    /// The container's directory in the cgroup2 hierarchy (pure v2 or hybrid).
    pub fn unified_dir(&self, id: &str) -> Option<Dir<'_>> {
        self.unified.as_ref().map(|b| self.handle(b, id))
    }

    fn handle(&self, base: &Path, id: &str) -> Dir<'_> {
        let kept = self
            .kept
            .roots
            .iter()
            .find(|(root, _)| root.as_os_str() == base.as_os_str())
            .and_then(|(_, m)| m.get(id))
            .map(|fd| fd.as_fd());
        Dir {
            path: join_id(base, id),
            kept,
            opened: OnceCell::new(),
        }
    }

    /// Every directory of container `id`: one per mounted controller hierarchy and the cgroup2
    /// one, without repeats (a cgroup exists once per hierarchy).
    pub fn all_dirs(&self, id: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = CTRLS
            .iter()
            .filter_map(|(c, _)| self.dir(*c, id))
            .chain(self.unified_dir(id))
            .map(|d| d.path)
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// The hierarchy roots to walk, those whose directories the groups open most first (the
    /// walk keeps directory descriptors in this order until its budget is spent): memory
    /// (memory, oom, spec), cpu (cpu, spec), pids (process, spec), then cpuacct and blkio.
    fn walk_roots(&self) -> Vec<PathBuf> {
        if self.v2 {
            return self.unified.iter().cloned().collect();
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        for ctrl in [
            Ctrl::Memory,
            Ctrl::Cpu,
            Ctrl::Pids,
            Ctrl::Cpuacct,
            Ctrl::Blkio,
        ] {
            let i = CTRLS.iter().position(|(c, _)| *c == ctrl);
            if let Some(root) = i.and_then(|i| self.v1[i].as_ref()) {
                if !roots.contains(root) {
                    roots.push(root.clone());
                }
            }
        }
        roots
    }
}

/// One container's directory in one hierarchy. Files are opened relative to a descriptor of
/// the directory (a path lookup of one component, not of the whole cgroup path: on kernfs each
/// component is a `d_lookup` plus a revalidation, and whole-path opens were most of a scrape's
/// CPU). The descriptor is the walk's when it kept one, else the directory is opened on first
/// use and closed when the handle is dropped. Derefs to the directory's path.
pub struct Dir<'a> {
    path: PathBuf,
    kept: Option<BorrowedFd<'a>>,
    opened: OnceCell<Option<OwnedFd>>,
}

/// Opening a directory by path follows symlinks (a fixture's or a host's `cpu` -> `cpu,cpuacct`).
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// A child found by the walk is a real directory, never a symlink (as `read_dir`'s file type).
const CHILD_FLAGS: OFlags = DIR_FLAGS.union(OFlags::NOFOLLOW);

impl Dir<'_> {
    /// A handle on `path` with no kept descriptor (opened on first use).
    pub fn new(path: PathBuf) -> Self {
        Dir {
            path,
            kept: None,
            opened: OnceCell::new(),
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        if let Some(fd) = self.kept {
            return Some(fd);
        }
        self.opened
            .get_or_init(|| openat(CWD, &self.path, DIR_FLAGS, Mode::empty()).ok())
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// True when the directory exists (was found by the walk or can be opened now).
    pub fn is_dir(&self) -> bool {
        self.fd().is_some()
    }

    /// `stat` of the directory itself (`None`) or of an entry in it.
    pub fn stat(&self, entry: Option<&str>) -> Option<Stat> {
        let fd = self.fd()?;
        match entry {
            None => fstat(fd).ok(),
            Some(name) => statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).ok(),
        }
    }
}

impl std::ops::Deref for Dir<'_> {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl PartialEq for Dir<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl std::fmt::Debug for Dir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dir({})", self.path.display())
    }
}

/// Something cgroup files are opened in: a [`Dir`] handle or a plain path.
pub trait CgroupDir {
    /// Opens `file` in it for reading; `None` when it (or the cgroup) is gone.
    fn open_file(&self, file: &str) -> Option<OwnedFd>;
}

const FILE_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::CLOEXEC);

impl CgroupDir for Dir<'_> {
    fn open_file(&self, file: &str) -> Option<OwnedFd> {
        openat(self.fd()?, file, FILE_FLAGS, Mode::empty()).ok()
    }
}

impl CgroupDir for Path {
    fn open_file(&self, file: &str) -> Option<OwnedFd> {
        openat(CWD, self.join(file), FILE_FLAGS, Mode::empty()).ok()
    }
}

impl CgroupDir for PathBuf {
    fn open_file(&self, file: &str) -> Option<OwnedFd> {
        self.as_path().open_file(file)
    }
}

fn join_id(base: &Path, id: &str) -> PathBuf {
    let rel = id.trim_start_matches('/');
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// Maps a mount point from mountinfo below the roots: `/sys/...` goes below `--path.sysfs`
/// (a DaemonSet sees the host's `/sys/fs/cgroup` at `/host/sys/fs/cgroup`), a path already
/// below the sysfs root is kept, anything else goes below `--path.rootfs`.
pub fn map_mount_point(roots: &Roots, mount_point: &str) -> PathBuf {
    let sysfs = roots.sysfs.to_string_lossy();
    let sysfs = sysfs.trim_end_matches('/');
    if !sysfs.is_empty() && sysfs != "/sys" && mount_point.starts_with(&format!("{sysfs}/")) {
        return PathBuf::from(mount_point);
    }
    match mount_point.strip_prefix("/sys/") {
        Some(rest) => roots.sys(rest),
        None => roots.root(mount_point),
    }
}

/// Builds the hierarchies from the cgroup mounts of mountinfo; `None` when none is usable.
pub fn hierarchies(roots: &Roots, mounts: &[parse::CgroupMount]) -> Option<Hierarchies> {
    let mut h = Hierarchies::default();
    for m in mounts {
        let dir = map_mount_point(roots, &m.mount_point);
        if !dir.is_dir() {
            continue;
        }
        if m.v2 {
            h.unified.get_or_insert(dir);
            continue;
        }
        for (i, (_, name)) in CTRLS.iter().enumerate() {
            if m.controllers.iter().any(|c| c == name) && h.v1[i].is_none() {
                h.v1[i] = Some(dir.clone());
            }
        }
    }
    if h.v1.iter().all(Option::is_none) {
        h.unified.as_ref()?;
        h.v2 = true;
    }
    Some(h)
}

/// What kind of cgroup a container is, which decides its labels and families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The hierarchy root `/`.
    Root,
    /// A system service, slice, QoS level or unknown cgroup.
    Raw,
    /// A Kubernetes pod cgroup (`...pod<uid>`).
    Pod,
    /// A runtime container.
    App,
    /// A pod sandbox (pause container): network series only.
    Sandbox,
}

/// One container of a snapshot.
#[derive(Debug)]
pub struct Container {
    /// The cgroup path relative to the hierarchy root.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// Label pairs, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Index of its labels in `Snapshot::label_sets`.
    pub set: u32,
    /// Runtime metadata, if a runtime knows it.
    pub meta: Option<Arc<Meta>>,
}

/// The result of one walk.
pub struct Snapshot {
    /// When the walk finished (unix ms), the timestamp of stats samples.
    pub time_ms: i64,
    /// When the walk finished (unix seconds), for `container_last_seen`.
    pub time_secs: f64,
    /// The mounted hierarchies.
    pub hier: Hierarchies,
    /// The containers, sorted by id.
    pub containers: Vec<Container>,
    /// The containers' labels, encoded once for all the groups' samples.
    pub label_sets: Arc<LabelSets>,
    /// Per runtime present, whether its metadata could be read.
    pub runtimes: Vec<(Runtime, bool)>,
    /// The flags.
    pub config: Arc<Config>,
    /// The scrape it was taken for (`Settings::scrape_epoch`).
    epoch: u64,
    /// Groups done with it ([`Shared::finish`]).
    done: AtomicUsize,
    times: Arc<CgroupTimes>,
}

/// Cgroup times already computed, per container id, with the inodes of the directories they
/// were computed from: a living cgroup keeps its directories (and so its creation time), a
/// cgroup removed and created again under the same name gets new inodes.
#[derive(Default)]
struct CgroupTimes(Mutex<FastMap<Box<str>, CgroupTime>>);

/// The inodes of a cgroup's cpu, memory and pids directories, and its time.
type CgroupTime = ([u64; 3], f64);

impl Snapshot {
    /// The cgroup time of container `id` (unix seconds, not clamped): the earliest mtime of
    /// its cpu, memory and pids directories and of their `cgroup.clone_children` (v1) or
    /// `cgroup.events` (v2), the markers cAdvisor's raw handler uses for the creation time.
    /// Computed once while the cgroup lives (same directory inodes), as cAdvisor keeps a
    /// container's creation time from when it first saw it.
    pub fn cgroup_time(&self, id: &str) -> Option<f64> {
        let marker = if self.hier.v2 {
            "cgroup.events"
        } else {
            "cgroup.clone_children"
        };
        let mut dirs: Vec<Dir<'_>> = [Ctrl::Cpu, Ctrl::Memory, Ctrl::Pids]
            .iter()
            .filter_map(|c| self.hier.dir(*c, id))
            .collect();
        dirs.dedup();
        let own: Vec<Option<Stat>> = dirs.iter().map(|d| d.stat(None)).collect();
        let mut inodes = [0u64; 3];
        for (slot, st) in inodes.iter_mut().zip(&own) {
            *slot = st.as_ref().map_or(0, |st| st.st_ino);
        }
        let complete = own.iter().all(Option::is_some);
        let mut times = self.times.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, t)) = times.get(id) {
            if complete && *seen == inodes {
                return Some(*t);
            }
        }
        let secs = |st: &Stat| {
            (st.st_mtime >= 0).then(|| st.st_mtime as f64 + st.st_mtime_nsec as f64 / 1e9)
        };
        let t = dirs
            .iter()
            .zip(&own)
            .flat_map(|(d, st)| {
                [
                    st.as_ref().and_then(secs),
                    d.stat(Some(marker)).as_ref().and_then(secs),
                ]
            })
            .flatten()
            .reduce(f64::min)?;
        if complete {
            times.insert(id.into(), (inodes, t));
        }
        Some(t)
    }
}

/// State shared by the groups of one `Settings`: flags, metadata cache, last snapshot.
pub struct Shared {
    config: Arc<Config>,
    meta: MetaCache,
    warned: Mutex<Vec<Runtime>>,
    last: Mutex<Option<Arc<Snapshot>>>,
    /// Groups built on this state: when that many are done with a snapshot, its scrape is over.
    groups: AtomicUsize,
    times: Arc<CgroupTimes>,
}

impl Shared {
    /// Shared state for these flags.
    pub fn new(config: Config) -> Self {
        Shared {
            config: Arc::new(config),
            meta: MetaCache::default(),
            warned: Mutex::new(Vec::new()),
            last: Mutex::new(None),
            groups: AtomicUsize::new(0),
            times: Arc::default(),
        }
    }

    /// Counts a group that takes snapshots from this state.
    pub fn add_group(&self) {
        self.groups.fetch_add(1, Ordering::AcqRel);
    }

    /// The snapshot of this scrape: the walk taken for the current scrape if there is one, else
    /// a new walk, so every group of a scrape sees one walk and no scrape sees an older one.
    /// Groups that ask while a walk runs wait for it instead of walking again.
    pub fn snapshot(&self, settings: &Settings) -> Result<Arc<Snapshot>, CollectError> {
        let epoch = settings.scrape_epoch();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = last.as_ref().filter(|s| epoch != 0 && s.epoch == epoch) {
            return Ok(Arc::clone(s));
        }
        // An earlier scrape's snapshot (one whose groups did not all run) goes first, with
        // its descriptors.
        *last = None;
        let mut snap = self.walk(&settings.roots)?;
        snap.epoch = epoch;
        let snap = Arc::new(snap);
        if epoch != 0 {
            *last = Some(Arc::clone(&snap));
        }
        Ok(snap)
    }

    /// A group is done with `snap`. Once every group is, the snapshot is forgotten, so it (and
    /// the directory descriptors it keeps) is dropped as soon as the last group lets go.
    pub fn finish(&self, snap: &Arc<Snapshot>) {
        let done = snap.done.fetch_add(1, Ordering::AcqRel) + 1;
        if done >= self.groups.load(Ordering::Acquire) {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_ref().is_some_and(|s| Arc::ptr_eq(s, snap)) {
                *last = None;
            }
        }
    }

    fn walk(&self, roots: &Roots) -> Result<Snapshot, CollectError> {
        let mut hier = discover(roots)?;
        let cfg = &self.config;
        let mut walker = Walker {
            cfg,
            budget: kept_budget(),
            ids: Vec::new(),
            dents: vec![MaybeUninit::uninit(); 16 * 1024],
        };
        let mut kept = Kept::default();
        for root in hier.walk_roots() {
            let mut fds = FastMap::default();
            if let Ok(fd) = openat(CWD, &root, DIR_FLAGS, Mode::empty()) {
                walker.dir(fd, String::new(), 0, &mut fds);
            }
            kept.roots.push((root, fds));
        }
        hier.kept = Arc::new(kept);
        let mut ids = walker.ids;
        ids.sort();
        ids.dedup();
        ids.retain(|id| {
            crate::options::device_allowed(id, cfg.include.as_ref(), cfg.exclude.as_ref())
        });
        self.times
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| ids.binary_search_by(|x| x.as_str().cmp(id)).is_ok());
        let containerd_ns =
            util::list_dir_paths(&cfg.state.containerd.join("io.containerd.runtime.v2.task"))
                .unwrap_or_default();
        let mut found: Vec<(String, layout::Layout<'_>, Option<Arc<Meta>>)> = ids
            .iter()
            .map(|id| {
                let l = layout::parse(id);
                let meta = l
                    .container_id
                    .and_then(|cid| self.meta.lookup(&cfg.state, &containerd_ns, cid, l.hint));
                (id.clone(), l, meta)
            })
            .collect();
        self.meta
            .retain(|cid| found.iter().any(|(_, l, _)| l.container_id == Some(cid)));
        let runtimes = runtime::state_access(&cfg.state);
        runtime::warn_unreadable(&self.warned, &runtimes, &cfg.state, &cfg.container_log_dir);
        fill_from_logs(cfg, &mut found);
        let pods = pod_names(cfg, &found);
        let mut label_sets = LabelSets::new();
        let containers = found
            .drain(..)
            .map(|(id, l, meta)| {
                let mut c = container(cfg, id, &l, meta, &pods);
                let pairs: Vec<(&str, &str)> = c
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                c.set = label_sets.push(&pairs);
                c
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Snapshot {
            time_ms: now.as_millis() as i64,
            time_secs: now.as_secs_f64(),
            hier,
            containers,
            label_sets: Arc::new(label_sets),
            runtimes,
            config: Arc::clone(cfg),
            epoch: 0,
            done: AtomicUsize::new(0),
            times: Arc::clone(&self.times),
        })
    }
}

/// Finds the cgroup mounts in `<procfs>/1/mountinfo` (the host's view with hostPID) or
/// `<procfs>/self/mountinfo`. No usable mount is `NoData`.
pub fn discover(roots: &Roots) -> Result<Hierarchies, CollectError> {
    for who in ["1", "self"] {
        let path = roots.proc(format!("{who}/mountinfo"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(mounts) = parse::cgroup_mounts(&bytes) else {
            tracing::debug!("unparsable {}", path.display());
            continue;
        };
        if let Some(h) = hierarchies(roots, &mounts) {
            return Ok(h);
        }
    }
    Err(CollectError::NoData("no cgroup file system mounted".into()))
}

/// The most directory descriptors one walk keeps, whatever the descriptor limit.
const MAX_KEPT: u64 = 1 << 16;

/// How many directory descriptors a walk may keep: half of what the soft descriptor limit
/// leaves after the descriptors kept for procfs/sysfs files and some headroom for sockets,
/// capped at [`MAX_KEPT`]. Directories beyond it are opened again when a group reads them.
fn kept_budget() -> usize {
    use rustix::process::{getrlimit, Resource};
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(MAX_KEPT * 4);
    let reserved = crate::fdcache::MAX_OPEN as u64 + 256;
    (soft.saturating_sub(reserved) / 2).min(MAX_KEPT) as usize
}

/// One walk over the hierarchies: every directory is opened relative to its parent's
/// descriptor and listed with `getdents64` into one buffer, so no path is looked up twice.
struct Walker<'c> {
    cfg: &'c Config,
    budget: usize,
    ids: Vec<String>,
    dents: Vec<MaybeUninit<u8>>,
}

impl Walker<'_> {
    fn dir(
        &mut self,
        fd: OwnedFd,
        id: String,
        depth: usize,
        kept: &mut FastMap<Box<str>, OwnedFd>,
    ) {
        let mut children: Vec<CString> = Vec::new();
        if self.cfg.max_depth == 0 || depth < self.cfg.max_depth {
            let mut entries = RawDir::new(fd.as_fd(), &mut self.dents);
            while let Some(Ok(e)) = entries.next() {
                let name = e.file_name();
                if matches!(name.to_bytes(), b"." | b"..") {
                    continue;
                }
                let is_dir = match e.file_type() {
                    FileType::Directory => true,
                    FileType::Unknown => statat(fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                    _ => false,
                };
                if is_dir {
                    children.push(name.to_owned());
                }
            }
        }
        let key = if id.is_empty() {
            "/".to_string()
        } else {
            id.clone()
        };
        for name in children {
            let Ok(name_str) = name.to_str() else {
                continue;
            };
            if let Ok(child) = openat(fd.as_fd(), name.as_c_str(), CHILD_FLAGS, Mode::empty()) {
                self.dir(child, format!("{id}/{name_str}"), depth + 1, kept);
            }
        }
        let cfg = self.cfg;
        if self.budget > 0
            && crate::options::device_allowed(&key, cfg.include.as_ref(), cfg.exclude.as_ref())
        {
            self.budget -= 1;
            kept.insert(key.clone().into_boxed_str(), fd);
        }
        self.ids.push(key);
    }
}

fn pod_names(
    cfg: &Config,
    found: &[(String, layout::Layout<'_>, Option<Arc<Meta>>)],
) -> HashMap<String, (String, String)> {
    let mut pods: HashMap<String, (String, String)> = HashMap::new();
    let wanted = found.iter().any(|(_, l, _)| l.is_pod);
    if !wanted {
        return pods;
    }
    for (_, l, meta) in found {
        let Some(m) = meta else { continue };
        let uid = if m.pod_uid.is_empty() {
            l.pod_uid.clone().unwrap_or_default()
        } else {
            m.pod_uid.clone()
        };
        if !uid.is_empty() && !m.pod.is_empty() {
            pods.insert(uid, (m.namespace.clone(), m.pod.clone()));
        }
    }
    for (uid, names) in runtime::pod_log_dirs(&cfg.pod_log_dir) {
        pods.entry(uid).or_insert(names);
    }
    pods
}

/// Names the runtime containers whose state could not be read from the kubelet's log layout
/// (see [`runtime::meta_from_logs`]); reads the log directories only when one is missing.
fn fill_from_logs(cfg: &Config, found: &mut [(String, layout::Layout<'_>, Option<Arc<Meta>>)]) {
    let missing = |(_, l, m): &(String, layout::Layout<'_>, Option<Arc<Meta>>)| {
        l.container_id.is_some() && m.is_none()
    };
    if !found.iter().any(missing) {
        return;
    }
    let Some(logs) = ContainerLogs::read(&cfg.container_log_dir) else {
        return;
    };
    let pods = runtime::pod_log_dirs(&cfg.pod_log_dir);
    let k8s = cfg
        .state
        .containerd
        .join("io.containerd.runtime.v2.task/k8s.io");
    for (_, l, meta) in found.iter_mut().filter(|f| missing(f)) {
        let Some(cid) = l.container_id else { continue };
        *meta =
            runtime::meta_from_logs(&logs, &pods, cid, l.pod_uid.as_deref(), &k8s).map(Arc::new);
    }
}

fn container(
    cfg: &Config,
    id: String,
    l: &layout::Layout<'_>,
    meta: Option<Arc<Meta>>,
    pods: &HashMap<String, (String, String)>,
) -> Container {
    let kind = match &meta {
        _ if id == "/" => Kind::Root,
        Some(m) if m.sandbox => Kind::Sandbox,
        Some(_) => Kind::App,
        None if l.is_pod => Kind::Pod,
        None => Kind::Raw,
    };
    let empty = Meta::default();
    let m = meta.as_deref().unwrap_or(&empty);
    let (namespace, pod) = match (kind, l.pod_uid.as_ref().and_then(|u| pods.get(u))) {
        (Kind::Pod, Some((ns, pod))) => (ns.as_str(), pod.as_str()),
        _ => (m.namespace.as_str(), m.pod.as_str()),
    };
    let mut labels: Vec<(String, String)> = if cfg.cadvisor_labels {
        let mut v = vec![
            ("id".to_string(), id.clone()),
            ("image".to_string(), m.image.clone()),
            ("name".to_string(), m.name.clone()),
        ];
        let runtime: BTreeMap<&str, &str> = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for key in &cfg.allowlist {
            v.push((
                format!("container_label_{}", util::sanitize_metric_name(key)),
                runtime.get(key.as_str()).copied().unwrap_or("").to_string(),
            ));
        }
        v
    } else {
        [
            ("container", m.container.as_str()),
            ("id", id.as_str()),
            ("image", m.image.as_str()),
            ("name", m.name.as_str()),
            ("namespace", namespace),
            ("pod", pod),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    labels.sort();
    Container {
        id,
        kind,
        labels,
        set: 0,
        meta,
    }
}

/// Reads a cgroup file of a container; `None` when the file (or the cgroup) is gone.
/// Open, read to the end, close: no `stat` or `lseek` for a size hint (cgroup files report
/// size 0 anyway; `std`'s `read_to_end` on a `File` asks for both, 6% of a container scrape).
pub fn read<D: CgroupDir + ?Sized>(dir: &D, file: &str) -> Option<Vec<u8>> {
    let fd = dir.open_file(file)?;
    let mut buf = Vec::with_capacity(512);
    loop {
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(buf.capacity());
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(0) => return Some(buf),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
}

/// Reads and parses a one-number cgroup file; `None` if absent or malformed.
pub fn read_u64<D: CgroupDir + ?Sized>(dir: &D, file: &str) -> Option<u64> {
    read(dir, file).and_then(|b| parse::single(&b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_mount_points_below_roots() {
        let mut r = Roots::default();
        assert_eq!(
            map_mount_point(&r, "/sys/fs/cgroup/cpu,cpuacct"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        r.sysfs = PathBuf::from("/host/sys");
        r.rootfs = PathBuf::from("/host/root");
        assert_eq!(
            map_mount_point(&r, "/sys/fs/cgroup/memory"),
            PathBuf::from("/host/sys/fs/cgroup/memory")
        );
        assert_eq!(
            map_mount_point(&r, "/host/sys/fs/cgroup"),
            PathBuf::from("/host/sys/fs/cgroup")
        );
        assert_eq!(
            map_mount_point(&r, "/cgroup2"),
            PathBuf::from("/host/root/cgroup2")
        );
    }

    #[test]
    fn flags_are_checked() {
        let settings = |flag: &crate::FlagSpec, value: &str| {
            let mut o = crate::options::Options::default();
            o.set_spec(flag, vec![value.to_string()]);
            Settings::new(Roots::default(), o)
        };
        let ok = Config::from_settings(&settings(&flags::LABELS.spec, "cadvisor"));
        assert!(ok.is_ok_and(|c| c.cadvisor_labels && c.allowlist.len() == 3));
        let bad = Config::from_settings(&settings(&flags::LABELS.spec, "docker"));
        assert!(bad.unwrap_err().contains("collector.container.labels"));
        let bad = Config::from_settings(&settings(&flags::CGROUP_EXCLUDE.spec, "("));
        assert!(bad
            .unwrap_err()
            .contains("collector.container.cgroup-exclude"));
        let bad = Config::from_settings(&settings(&flags::MAX_DEPTH.spec, "-1"));
        assert!(bad.unwrap_err().contains("collector.container.max-depth"));
        let default = Config::from_settings(&settings(&flags::TIMESTAMPS.spec, "false"))
            .expect("defaults are valid");
        let exclude = default.exclude.expect("default exclude");
        assert!(exclude.is_match("/system.slice/var-lib-docker.mount"));
        assert!(exclude.is_match(&format!(
            "/kubepods.slice/x.slice/crio-conmon-{}.scope",
            "a".repeat(64)
        )));
        assert!(!exclude.is_match("/system.slice/docker.service"));
    }

    #[test]
    fn hierarchies_from_mounts() {
        let mounts = |text: &str| parse::cgroup_mounts(text.as_bytes()).expect("mountinfo");
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        for d in [
            "sys/fs/cgroup/cpu,cpuacct",
            "sys/fs/cgroup/memory",
            "sys/fs/cgroup/unified",
        ] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        let roots = Roots::fixture(&base);
        let hybrid = mounts(
            "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             3 0 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             4 0 0:4 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
        );
        let h = hierarchies(&roots, &hybrid).expect("hybrid");
        assert!(!h.v2);
        let cg = base.join("sys/fs/cgroup");
        let path = |d: Option<Dir<'_>>| d.map(|d| d.path().to_path_buf());
        assert_eq!(
            path(h.dir(Ctrl::Cpuacct, "/a")),
            Some(cg.join("cpu,cpuacct/a"))
        );
        assert_eq!(path(h.dir(Ctrl::Cpu, "/")), Some(cg.join("cpu,cpuacct")));
        assert_eq!(
            path(h.dir(Ctrl::Pids, "/a")),
            None,
            "unmounted dir is ignored"
        );
        assert_eq!(path(h.unified_dir("/a")), Some(cg.join("unified/a")));
        let pure = mounts("3 0 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
        let h = hierarchies(&roots, &pure).expect("v2");
        assert!(h.v2);
        assert_eq!(path(h.dir(Ctrl::Memory, "/a")), Some(cg.join("unified/a")));
        assert!(hierarchies(&roots, &[]).is_none());
    }

    #[test]
    fn joins_ids() {
        let b = Path::new("/x");
        assert_eq!(join_id(b, "/"), PathBuf::from("/x"));
        assert_eq!(join_id(b, "/a/b"), PathBuf::from("/x/a/b"));
    }
}
