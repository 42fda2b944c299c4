//! Tasks: `cgroup.procs`, `pids.current`, `pids.max`; and the PSI `*.pressure` and OOM-kill
//! counters, which are one file each.

use super::parse::{pids, pressure, Pressure};
use super::{CgResult, CgroupError, Ctrl, Hierarchies};

/// The processes and thread counts of one container.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Threads {
    /// The pids of `cgroup.procs`.
    pub procs: Vec<u32>,
    /// `pids.current`; where absent, the `cgroup.procs` count on v2 and 0 on v1 (as runc).
    pub current: u64,
    /// `pids.max` (0 = unlimited or absent).
    pub max: u64,
}

/// `container_threads` where the cgroup has no `pids.current` (the root, or the pids
/// controller not enabled for it): runc's v2 `statPids` falls back to counting the lines of
/// `cgroup.procs` (libcontainer/cgroups/fs2/pids.go `statPidsFromCgroupProcs`); v1 reports 0.
fn threads_without_pids_controller(v2: bool, procs: usize) -> u64 {
    if v2 {
        procs as u64
    } else {
        0
    }
}

/// The PSI files of a cgroup2 directory: cpu, memory, io.
const PRESSURE_FILES: [&str; 3] = ["cpu.pressure", "memory.pressure", "io.pressure"];

impl Hierarchies {
    /// The processes of container `id` (its pids hierarchy, else its cpu one) and its threads.
    pub fn threads(&self, id: &str) -> CgResult<Threads> {
        let dir = self
            .dir(Ctrl::Pids, id)
            .filter(|d| d.is_dir())
            .or_else(|| self.dir(Ctrl::Cpu, id))
            .ok_or(CgroupError::Missing("cgroup.procs"))?;
        let procs = dir.parse("cgroup.procs", pids)?;
        let (current, max) = match dir.u64("pids.current") {
            Ok(current) => (current, dir.limit("pids.max").ok().flatten().unwrap_or(0)),
            Err(_) => (threads_without_pids_controller(self.v2, procs.len()), 0),
        };
        Ok(Threads {
            procs,
            current,
            max,
        })
    }

    /// The first process of container `id`, from the `cgroup.procs` of its pids, cpu or
    /// memory hierarchy (the first that lists one).
    pub fn first_pid(&self, id: &str) -> Option<u32> {
        [Ctrl::Pids, Ctrl::Cpu, Ctrl::Memory]
            .iter()
            .filter_map(|c| self.dir(*c, id))
            .find_map(|d| {
                CgroupError::log(d.parse("cgroup.procs", pids))?
                    .first()
                    .copied()
            })
    }

    /// The PSI counters of container `id` (cpu, memory, io), from its directory in the
    /// cgroup2 hierarchy (pure v2, or hybrid's `unified`, whose directories the walk keeps
    /// too); `None` without one.
    pub fn pressure(&self, id: &str) -> Option<[CgResult<Pressure>; 3]> {
        let dir = self.unified_dir(id)?;
        Some(PRESSURE_FILES.map(|file| dir.parse(file, pressure)))
    }

    /// The OOM kills counted for container `id`'s own cgroup: v1 `memory.oom_control`, v2
    /// `memory.events.local` (kernel ≥ 5.2) or else `memory.events`; `None` (in `Ok`) when the
    /// file has no `oom_kill` (kernel < 4.13).
    pub fn oom_kills(&self, id: &str) -> CgResult<Option<u64>> {
        let file = if self.v2 {
            "memory.events.local"
        } else {
            "memory.oom_control"
        };
        let dir = self.need(Ctrl::Memory, id, file)?;
        let [kills] = match dir.keys(file, ["oom_kill"]) {
            // As before any parse: a local file that cannot be read falls back.
            Err(e) if self.v2 && !matches!(e, CgroupError::Parse { .. }) => {
                dir.keys("memory.events", ["oom_kill"])?
            }
            other => other?,
        };
        Ok(kills)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_threads_fall_back_to_cgroup_procs() {
        assert_eq!(threads_without_pids_controller(true, 3), 3);
        assert_eq!(threads_without_pids_controller(false, 3), 0);
    }
}
