//! Memory values with cAdvisor's v1 / v2 / v2-root rules (google/cadvisor
//! `container/libcontainer/handler.go` `setMemoryStats`): v1 `memory.usage_in_bytes`,
//! `memory.max_usage_in_bytes`, `memory.failcnt`, `memory.stat`, `memory.kmem.usage_in_bytes`,
//! `memory.use_hierarchy`; v2 `memory.current`, `memory.peak`, `memory.stat`,
//! `memory.swap.current`, `memory.events`.

use super::parse::{flat_keyed, single};
use super::{CgResult, CgroupError, Ctrl, Dir, Hierarchies};
use crate::error::ParseError;

/// Memory values of one container, in bytes (counters as counts).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct MemStats {
    /// Usage.
    pub usage: u64,
    /// Peak usage (v1 max_usage_in_bytes, v2 memory.peak or 0).
    pub max_usage: u64,
    /// Working set: usage − inactive_file, floored at 0.
    pub working_set: u64,
    /// Page cache.
    pub cache: u64,
    /// Anonymous memory.
    pub rss: u64,
    /// Swap.
    pub swap: u64,
    /// Mapped files.
    pub mapped_file: u64,
    /// Limit hits (v1 only).
    pub failcnt: u64,
    /// Kernel memory (v1 only).
    pub kernel: u64,
    /// pgfault, pgmajfault of the container and of the hierarchy.
    pub faults: [u64; 4],
    /// Active and inactive file pages.
    pub file: [u64; 2],
    /// v2 only (0 on v1, as cAdvisor): memory.events high and max, file_dirty,
    /// file_writeback, pgscan, pgsteal, workingset_refault_file, workingset_refault_anon.
    pub v2_only: [u64; 8],
}

/// Both `container_memory_failures_total` scopes take the cgroup's own `pgfault` and
/// `pgmajfault` (not v1's `total_*`), as cAdvisor's `setMemoryStats` does.
const KEYS_V1: [&str; 16] = [
    "cache",
    "rss",
    "swap",
    "mapped_file",
    "pgfault",
    "pgmajfault",
    "pgfault",
    "pgmajfault",
    "total_active_file",
    "total_inactive_file",
    "",
    "",
    "",
    "",
    "",
    "",
];

const KEYS_V2: [&str; 16] = [
    "file",
    "anon",
    "",
    "file_mapped",
    "pgfault",
    "pgmajfault",
    "pgfault",
    "pgmajfault",
    "active_file",
    "inactive_file",
    "file_dirty",
    "file_writeback",
    "pgscan",
    "pgsteal",
    "workingset_refault_file",
    "workingset_refault_anon",
];

/// v1 `memory.stat` keys that differ under `memory.use_hierarchy=1`.
const V1_HIERARCHY: [(&str, &str); 4] = [
    ("total_cache", "cache"),
    ("total_rss", "rss"),
    ("total_swap", "swap"),
    ("total_mapped_file", "mapped_file"),
];

/// The `memory.stat` values the reader uses, indexed like `KEYS_V1`/`KEYS_V2`.
fn stat(bytes: &[u8], keys: &[&str; 16]) -> Result<[u64; 16], ParseError> {
    let mut values = [0; 16];
    flat_keyed(bytes, |k, v| {
        for (i, want) in keys.iter().enumerate() {
            if *want == k {
                values[i] = v;
            }
        }
    })?;
    Ok(values)
}

/// cAdvisor's working set (`setMemoryStats`): usage minus inactive file pages (v1
/// `total_inactive_file`, v2 `inactive_file`), 0 when inactive exceeds usage.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// An optional one-number file: 0 when it is missing or unreadable.
fn or_zero(dir: &Dir<'_>, file: &'static str) -> u64 {
    dir.u64(file).unwrap_or(0)
}

impl Hierarchies {
    /// The memory values of container `id`. The v2 root has no `memory.current`: its usage is
    /// anon + file and its swap is `root_swap()` (runc's `rootStatsFromMeminfo`).
    pub fn memory(&self, id: &str, root_swap: impl FnOnce() -> u64) -> CgResult<MemStats> {
        let dir = self.need(Ctrl::Memory, id, "memory.stat")?;
        if self.v2 {
            memory_v2(&dir, id, root_swap)
        } else {
            memory_v1(&dir)
        }
    }
}

fn memory_v1(dir: &Dir<'_>) -> CgResult<MemStats> {
    let usage = dir.u64("memory.usage_in_bytes")?;
    let hierarchy = dir.u64("memory.use_hierarchy").ok() == Some(1);
    let mut keys = KEYS_V1;
    if hierarchy {
        for (i, (total, _)) in V1_HIERARCHY.iter().enumerate() {
            keys[i] = total;
        }
    }
    let s = dir.parse("memory.stat", |b| stat(b, &keys))?;
    Ok(MemStats {
        usage,
        max_usage: or_zero(dir, "memory.max_usage_in_bytes"),
        working_set: working_set(usage, s[9]),
        cache: s[0],
        rss: s[1],
        swap: s[2],
        mapped_file: s[3],
        failcnt: or_zero(dir, "memory.failcnt"),
        kernel: or_zero(dir, "memory.kmem.usage_in_bytes"),
        faults: [s[4], s[5], s[6], s[7]],
        file: [s[8], s[9]],
        v2_only: [0; 8],
    })
}

fn memory_v2(dir: &Dir<'_>, id: &str, root_swap: impl FnOnce() -> u64) -> CgResult<MemStats> {
    let s = dir.parse("memory.stat", |b| stat(b, &KEYS_V2))?;
    let (usage, swap) = match dir.read("memory.current") {
        Ok(b) => (
            single(&b).map_err(|error| CgroupError::Parse {
                path: dir.path().join("memory.current"),
                error,
            })?,
            or_zero(dir, "memory.swap.current"),
        ),
        Err(_) if id == "/" => (s[0] + s[1], root_swap()),
        Err(e) => return Err(e),
    };
    let [high, max] = dir
        .keys("memory.events", ["high", "max"])
        .unwrap_or_default();
    Ok(MemStats {
        usage,
        max_usage: or_zero(dir, "memory.peak"),
        working_set: working_set(usage, s[9]),
        cache: s[0],
        rss: s[1],
        swap,
        mapped_file: s[3],
        failcnt: 0,
        kernel: 0,
        faults: [s[4], s[5], s[6], s[7]],
        file: [s[8], s[9]],
        v2_only: [
            high.unwrap_or(0),
            max.unwrap_or(0),
            s[10],
            s[11],
            s[12],
            s[13],
            s[14],
            s[15],
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 memory.stat (kernel Documentation/admin-guide/cgroup-v1/memory.rst, 5.2 stat file).
    const V1_STAT: &[u8] = b"cache 8192\nrss 4096\nmapped_file 0\npgfault 310\npgmajfault 2\n\
total_cache 16384\ntotal_rss 12288\ntotal_pgfault 152000\ntotal_pgmajfault 40\n\
total_inactive_file 4096\ntotal_active_file 8192\n";

    #[test]
    fn v1_failure_scopes_use_the_cgroups_own_counters() {
        let v = stat(V1_STAT, &KEYS_V1).expect("parses");
        // cAdvisor sets ContainerData and HierarchicalData both from "pgfault"/"pgmajfault".
        assert_eq!([v[4], v[5], v[6], v[7]], [310, 2, 310, 2]);
        assert_eq!([v[8], v[9]], [8192, 4096]);
    }

    #[test]
    fn working_set_floors_at_zero() {
        assert_eq!(working_set(20480, 4096), 16384);
        assert_eq!(working_set(4096, 8192), 0);
    }
}
