//! container_process: `container_processes`, `container_threads`, `container_threads_max`,
//! `container_file_descriptors`, `container_sockets` (cgroup.procs, pids.current, pids.max and
//! `/proc/<pid>/fd` of the container's processes) and `container_ulimits_soft` (the
//! `/proc/<pid>/limits` of the runtime's init process, or pid 1 for `/`, as cAdvisor's root pid).

use super::cgroup::parse::max_open_files_soft;
use super::cgroup::CgroupError;
use super::walk::{Container, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::roots::Roots;

container_group!(
    "container_process",
    "cgroup cgroup.procs, pids.current, pids.max; /proc/<pid>/fd, /proc/<pid>/limits",
    emit,
    &[]
);

/// Process counts of one container.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProcStats {
    /// Processes in `cgroup.procs`.
    pub processes: u64,
    /// `pids.current`; where absent, the `cgroup.procs` count on v2 and 0 on v1 (as runc).
    pub threads: u64,
    /// `pids.max` (0 = unlimited).
    pub threads_max: u64,
    /// Open file descriptors of those processes.
    pub fds: u64,
    /// Of which sockets.
    pub sockets: u64,
    /// Soft "Max open files" of the runtime's init process (-1 unlimited), when there is one.
    pub max_open_files: Option<i64>,
}

/// Counts the fds and socket fds of a process, leaving out those `skip` names; a process that
/// exited counts nothing. Links are read relative to the open `fd` directory: a whole-path
/// `readlink` per descriptor walked `/proc/<pid>/fd/` again each time and was most of this
/// group's cost.
fn count_fds(roots: &Roots, pid: u32, skip: &dyn Fn(i32) -> bool) -> (u64, u64) {
    use rustix::fs::{openat, readlinkat, Dir, Mode, OFlags, CWD};
    let dir = roots.proc(format!("{pid}/fd"));
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(fd) = openat(CWD, &dir, flags, Mode::empty()) else {
        return (0, 0);
    };
    let Ok(mut entries) = Dir::read_from(&fd) else {
        return (0, 0);
    };
    let mut fds = 0;
    let mut sockets = 0;
    let mut link = Vec::with_capacity(64);
    while let Some(Ok(entry)) = entries.read() {
        let name = entry.file_name();
        if name.to_bytes().starts_with(b".") {
            continue;
        }
        let number = std::str::from_utf8(name.to_bytes())
            .ok()
            .and_then(|n| n.parse().ok());
        if number.is_some_and(skip) {
            continue;
        }
        fds += 1;
        if let Ok(target) = readlinkat(&fd, name, std::mem::take(&mut link)) {
            if target.as_bytes().starts_with(b"socket:") {
                sockets += 1;
            }
            link = target.into_bytes();
        }
    }
    (fds, sockets)
}

/// cAdvisor's root pid, whose `/proc/<pid>/limits` gives `container_ulimits_soft`: the runtime's
/// init process, and pid 1 for the root cgroup (container/raw/handler.go `newRawContainerHandler`);
/// other raw cgroups have none.
fn root_pid(c: &Container) -> Option<u32> {
    match c.kind {
        Kind::Root => Some(1),
        _ => c.meta.as_ref().and_then(|m| m.pid),
    }
}

/// This process's pid as the procfs below `roots` numbers it (its `self` link), which differs
/// from `getpid` when nodex runs in a pid namespace of its own and reads the host's procfs.
fn own_pid(roots: &Roots) -> Option<u32> {
    std::fs::read_link(roots.proc("self"))
        .ok()?
        .to_str()?
        .parse()
        .ok()
}

fn read_stats(
    roots: &Roots,
    snap: &Snapshot,
    c: &Container,
    own: Option<u32>,
) -> Option<ProcStats> {
    let t = CgroupError::log(snap.hier.threads(&c.id))?;
    let mut s = ProcStats {
        processes: t.procs.len() as u64,
        threads: t.current,
        threads_max: t.max,
        max_open_files: root_pid(c)
            .and_then(|pid| std::fs::read(roots.proc(format!("{pid}/limits"))).ok())
            .and_then(|b| max_open_files_soft(&b).ok()),
        ..ProcStats::default()
    };
    // nodex's own container: the walk's directory descriptors are the scrape's, held only
    // until it ends; counted, they would scale its count with the node's containers (and cost
    // a `readlink` each).
    let walk_fd = |fd: i32| snap.hier.holds_fd(fd);
    let none = |_: i32| false;
    for pid in t.procs {
        let skip: &dyn Fn(i32) -> bool = if Some(pid) == own { &walk_fd } else { &none };
        let (fds, sockets) = count_fds(roots, pid, skip);
        s.fds += fds;
        s.sockets += sockets;
    }
    Some(s)
}

/// A gauge family: name, help and the value it takes from the stats.
type Gauge = (&'static str, &'static str, fn(&ProcStats) -> u64);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let own = own_pid(&settings.roots);
    let stats: Vec<(&Container, ProcStats)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| read_stats(&settings.roots, snap, c, own).map(|s| (c, s)))
        .collect();
    let families: [Gauge; 5] = [
        (
            "container_processes",
            "Number of processes running inside the container.",
            |s| s.processes,
        ),
        (
            "container_threads",
            "Number of threads running inside the container",
            |s| s.threads,
        ),
        (
            "container_threads_max",
            "Maximum number of threads allowed inside the container, infinity if value is zero",
            |s| s.threads_max,
        ),
        (
            "container_file_descriptors",
            "Number of open file descriptors for the container.",
            |s| s.fds,
        ),
        (
            "container_sockets",
            "Number of open sockets for the container.",
            |s| s.sockets,
        ),
    ];
    for (name, help, get) in families {
        family(
            sink,
            snap,
            (name, help, MetricType::Gauge),
            stats.iter().map(|(c, s)| (*c, vec![], get(s) as f64)),
        );
    }
    family(
        sink,
        snap,
        (
            "container_ulimits_soft",
            "Soft ulimit values for the container root process. Unlimited if -1, except priority and nice",
            MetricType::Gauge,
        ),
        stats.iter().filter_map(|(c, s)| {
            s.max_open_files
                .map(|v| (*c, vec![("ulimit", "max_open_files")], v as f64))
        }),
    );
    Ok(())
}
