//! Cgroup creation times, from directory mtimes, cached while the cgroup lives.

use std::sync::Mutex;

use rustix::fs::Stat;

use super::{Ctrl, Dir, Hierarchies};
use crate::hash::FastMap;

/// Cgroup times already computed, per container id, with the inodes of the directories they
/// were computed from: a living cgroup keeps its directories (and so its creation time), a
/// cgroup removed and created again under the same name gets new inodes.
#[derive(Default)]
pub struct CgroupTimes(Mutex<FastMap<Box<str>, CgroupTime>>);

/// The inodes of a cgroup's cpu, memory and pids directories, and its time.
type CgroupTime = ([u64; 3], f64);

impl CgroupTimes {
    /// Forgets the cgroups not in `ids` (sorted).
    pub fn retain(&self, ids: &[String]) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| ids.binary_search_by(|x| x.as_str().cmp(id)).is_ok());
    }

    /// The cgroup time of container `id` (unix seconds, not clamped): the earliest mtime of
    /// its cpu, memory and pids directories and of their `cgroup.clone_children` (v1) or
    /// `cgroup.events` (v2), the markers cAdvisor's raw handler uses for the creation time.
    /// Computed once while the cgroup lives (same directory inodes), as cAdvisor keeps a
    /// container's creation time from when it first saw it.
    pub fn get(&self, hier: &Hierarchies, id: &str) -> Option<f64> {
        let marker = if hier.v2 {
            "cgroup.events"
        } else {
            "cgroup.clone_children"
        };
        let mut dirs: Vec<Dir<'_>> = [Ctrl::Cpu, Ctrl::Memory, Ctrl::Pids]
            .iter()
            .filter_map(|c| hier.dir(*c, id))
            .collect();
        dirs.dedup();
        let own: Vec<Option<Stat>> = dirs.iter().map(|d| d.stat(None)).collect();
        let mut inodes = [0u64; 3];
        for (slot, st) in inodes.iter_mut().zip(&own) {
            *slot = st.as_ref().map_or(0, |st| st.st_ino);
        }
        let complete = own.iter().all(Option::is_some);
        let mut times = self.0.lock().unwrap_or_else(|p| p.into_inner());
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
