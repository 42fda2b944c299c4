//! The cgroup reader: finds the mounted hierarchies (v1, v2 or hybrid), walks them once per
//! scrape keeping directory descriptors ([`tree`]), and reads each container's files into
//! typed stats ([`CpuStats`], [`MemStats`], ...) with errors that name the file. It is the
//! only code that opens cgroup files and the only code that asks whether the host is v1 or
//! v2; the container groups map its stats to metrics.

mod cpu;
mod dir;
mod io;
mod limits;
mod memory;
pub mod parse;
mod procs;
mod times;
pub mod tree;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cpu::{v1_bandwidth, v2_stats, CpuStats};
pub use dir::{CgResult, CgroupError, Dir};
pub use io::{io_stat_tables, DiskIo};
pub use limits::{cpu_max_spec, weight_to_shares, CpuSpec, MemorySpec};
pub use memory::{working_set, MemStats};
pub use parse::{BlkioEntry, Pressure};
pub use procs::Threads;
pub use times::CgroupTimes;

use crate::error::CollectError;
use crate::hash::FastMap;
use crate::roots::Roots;
use dir::Listed;

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
    v2: bool,
    v1: [Option<PathBuf>; 5],
    /// The cgroup2 mount (pure v2, or `unified` on a hybrid host).
    unified: Option<PathBuf>,
    /// Directory descriptors the walk that found the cgroups opened or reused ([`tree`]).
    kept: Arc<Kept>,
}

/// One hierarchy's kept directories by cgroup id.
pub(crate) type KeptDirs = FastMap<Box<str>, KeptDir>;

/// A directory a walk found, for its scrape's reads and the next walk: its descriptor while
/// the walk's budget lasted, else what its listing showed.
pub(crate) struct KeptDir {
    /// Shared with the next walk's entry when that walk finds the directory again; `None`
    /// beyond the budget (the groups open the directory by path).
    fd: Option<Arc<OwnedFd>>,
    /// Its inode number: a cgroup removed and made again under the same name is a new
    /// directory, opened anew.
    ino: u64,
    /// The optional files its listing held.
    listed: Listed,
    /// When a listing found no subdirectory in it (`None`: it had some, or was not listed).
    leaf_listed_at: Option<std::time::Instant>,
}

/// The cgroup directories a walk opened or reused, per hierarchy root and cgroup id. They live
/// as long as the snapshot and the next walk: that walk reuses those it finds again and drops
/// the rest, so a removed cgroup's descriptor is closed by the first walk that does not find it.
#[derive(Default)]
pub(crate) struct Kept {
    roots: Vec<(PathBuf, KeptDirs)>,
    /// The CPU quota file of each container read so far this scrape (container_cpu and
    /// container_spec both need it; the second reads it from here).
    cpu_quota: std::sync::Mutex<FastMap<Box<str>, Arc<[u8]>>>,
    /// The numbers of the kept descriptors, sorted ([`Hierarchies::holds_fd`]).
    fds: Vec<std::os::fd::RawFd>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.roots.iter().map(|(_, m)| m.len()).sum();
        write!(f, "Kept({n} directories)")
    }
}

impl Hierarchies {
    /// True on a pure cgroup2 host (the controllers are not in v1 hierarchies).
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// True when a cgroup2 hierarchy is mounted (pure v2, or hybrid's `unified`).
    pub fn has_unified(&self) -> bool {
        self.unified.is_some()
    }

    /// The directories the walk kept, for the next walk ([`tree::walk`]'s `prev`).
    pub(crate) fn kept(&self) -> Arc<Kept> {
        Arc::clone(&self.kept)
    }

    /// True when descriptor `fd` of this process is one of the walk's kept directories: they
    /// live only for the scrape and are not counted as nodex's own open files.
    pub fn holds_fd(&self, fd: std::os::fd::RawFd) -> bool {
        self.kept.fds.binary_search(&fd).is_ok()
    }

    /// The directory of container `id` in controller `ctrl`'s hierarchy, if it is mounted.
    pub fn dir<'a>(&'a self, ctrl: Ctrl, id: &'a str) -> Option<Dir<'a>> {
        let base = if self.v2 {
            self.unified.as_ref()
        } else {
            let i = CTRLS.iter().position(|(c, _)| *c == ctrl)?;
            self.v1[i].as_ref()
        }?;
        Some(self.handle(base, id))
    }

    /// [`Hierarchies::dir`], or `Missing(file)` when the controller is not mounted.
    fn need<'a>(&'a self, ctrl: Ctrl, id: &'a str, file: &'static str) -> CgResult<Dir<'a>> {
        self.dir(ctrl, id).ok_or(CgroupError::Missing(file))
    }

    /// The container's directory in the cgroup2 hierarchy (pure v2 or hybrid).
    pub fn unified_dir<'a>(&'a self, id: &'a str) -> Option<Dir<'a>> {
        self.unified.as_ref().map(|b| self.handle(b, id))
    }

    fn handle<'a>(&'a self, base: &'a Path, id: &'a str) -> Dir<'a> {
        let kept = self
            .kept
            .roots
            .iter()
            .find(|(root, _)| root.as_os_str() == base.as_os_str())
            .and_then(|(_, m)| m.get(id));
        Dir::with_kept(
            base,
            id,
            kept.and_then(|d| d.fd.as_deref()).map(|fd| fd.as_fd()),
            kept.map_or(Listed::ALL, |d| d.listed),
        )
    }

    /// The CPU quota file (v1 `cpu.cfs_quota_us`, v2 `cpu.max`) of container `id` in `dir`,
    /// read once per scrape: container_cpu and container_spec both need it.
    fn cpu_quota_file(&self, dir: &Dir<'_>, id: &str) -> CgResult<Arc<[u8]>> {
        let file = if self.v2 {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us"
        };
        let memo = || {
            self.kept
                .cpu_quota
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(bytes) = memo().get(id) {
            return Ok(Arc::clone(bytes));
        }
        let bytes: Arc<[u8]> = dir.read(file)?.into();
        memo().insert(id.into(), Arc::clone(&bytes));
        Ok(bytes)
    }

    /// Every directory of container `id`: one per mounted controller hierarchy and the cgroup2
    /// one, without repeats (a cgroup exists once per hierarchy).
    pub fn all_dirs(&self, id: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = CTRLS
            .iter()
            .filter_map(|(c, _)| self.dir(*c, id))
            .chain(self.unified_dir(id))
            .map(|d| d.path().to_path_buf())
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// The hierarchy roots to walk, those whose directories the groups open most first (the
    /// walk keeps directory descriptors in this order until its budget is spent): memory
    /// (memory, oom, spec), cpu (cpu, spec), pids (process, spec), then cpuacct and blkio;
    /// with whether the walk takes the cgroups it finds there. On a hybrid host the `unified`
    /// tree comes last, walked only for its descriptors (container_pressure reads the twins of
    /// the containers there): the containers are those of the controller hierarchies.
    fn walk_roots(&self) -> Vec<(PathBuf, bool)> {
        if self.v2 {
            return self.unified.iter().map(|u| (u.clone(), true)).collect();
        }
        let mut roots: Vec<(PathBuf, bool)> = Vec::new();
        for ctrl in [
            Ctrl::Memory,
            Ctrl::Cpu,
            Ctrl::Pids,
            Ctrl::Cpuacct,
            Ctrl::Blkio,
        ] {
            let i = CTRLS.iter().position(|(c, _)| *c == ctrl);
            if let Some(root) = i.and_then(|i| self.v1[i].as_ref()) {
                if !roots.iter().any(|(r, _)| r == root) {
                    roots.push((root.clone(), true));
                }
            }
        }
        if let Some(unified) = &self.unified {
            if !roots.is_empty() && !roots.iter().any(|(r, _)| r == unified) {
                roots.push((unified.clone(), false));
            }
        }
        roots
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

/// Finds the cgroup mounts in `<procfs>/1/mountinfo` (the host's view with hostPID) or
/// `<procfs>/self/mountinfo`. No usable mount is `NoData`.
pub fn discover(roots: &Roots) -> Result<Hierarchies, CollectError> {
    for who in ["1", "self"] {
        let path = roots.proc(format!("{who}/mountinfo"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mounts = match parse::cgroup_mounts(&bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("unparsable {}: {e}", path.display());
                continue;
            }
        };
        if let Some(h) = hierarchies(roots, &mounts) {
            return Ok(h);
        }
    }
    Err(CollectError::NoData("no cgroup file system mounted".into()))
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
    fn hierarchies_from_mounts() {
        let mounts = |text: &str| parse::cgroup_mounts(text.as_bytes()).expect("mountinfo");
        let base = std::env::temp_dir().join(format!("nodex-hier-{}", std::process::id()));
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
        let _ = std::fs::remove_dir_all(&base);
    }
}
