//! container_memory: usage, working set, rss, cache, swap, mapped file, max usage, failcnt,
//! failures and kernel usage, with cAdvisor's v1 / v2 / v2-root rules (cadvisor.md §3).

use super::parse::{flat_keyed, flat_keyed_lookup, meminfo, single};
use super::walk::{read, read_u64, Container, Ctrl, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};

container_group!(
    "container_memory",
    "cgroup memory.usage_in_bytes, memory.max_usage_in_bytes, memory.failcnt, memory.stat, memory.kmem.usage_in_bytes (v1); memory.current, memory.peak, memory.stat, memory.swap.current, memory.events (v2); /proc/meminfo (v2 root swap)",
    emit,
    &[]
);

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

/// The `memory.stat` values the group uses, indexed like `KEYS_V1`/`KEYS_V2`.
#[derive(Default)]
struct StatKeys {
    values: [u64; 16],
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

fn stat(bytes: &[u8], keys: &[&str; 16]) -> Option<StatKeys> {
    let mut s = StatKeys::default();
    flat_keyed(bytes, |k, v| {
        for (i, want) in keys.iter().enumerate() {
            if *want == k {
                s.values[i] = v;
            }
        }
    })
    .ok()?;
    Some(s)
}

/// cAdvisor's working set (`setMemoryStats`): usage minus inactive file pages (v1
/// `total_inactive_file`, v2 `inactive_file`), 0 when inactive exceeds usage.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// v1 `memory.stat` keys that differ under `memory.use_hierarchy=1`.
const V1_HIERARCHY: [(&str, &str); 4] = [
    ("total_cache", "cache"),
    ("total_rss", "rss"),
    ("total_swap", "swap"),
    ("total_mapped_file", "mapped_file"),
];

fn read_v1(snap: &Snapshot, id: &str) -> Option<MemStats> {
    let dir = snap.hier.dir(Ctrl::Memory, id)?;
    let usage = read_u64(&dir, "memory.usage_in_bytes")?;
    let hierarchy = read_u64(&dir, "memory.use_hierarchy") == Some(1);
    let keys: [&str; 16] = if hierarchy {
        let mut k = KEYS_V1;
        for (i, (total, _)) in V1_HIERARCHY.iter().enumerate() {
            k[i] = total;
        }
        k
    } else {
        KEYS_V1
    };
    let s = stat(&read(&dir, "memory.stat")?, &keys)?.values;
    Some(MemStats {
        usage,
        max_usage: read_u64(&dir, "memory.max_usage_in_bytes").unwrap_or(0),
        working_set: working_set(usage, s[9]),
        cache: s[0],
        rss: s[1],
        swap: s[2],
        mapped_file: s[3],
        failcnt: read_u64(&dir, "memory.failcnt").unwrap_or(0),
        kernel: read_u64(&dir, "memory.kmem.usage_in_bytes").unwrap_or(0),
        faults: [s[4], s[5], s[6], s[7]],
        file: [s[8], s[9]],
        v2_only: [0; 8],
    })
}

fn read_v2(settings: &Settings, snap: &Snapshot, id: &str) -> Option<MemStats> {
    let dir = snap.hier.dir(Ctrl::Memory, id)?;
    let bytes = read(&dir, "memory.stat")?;
    let s = stat(&bytes, &KEYS_V2)?.values;
    let (usage, swap) = match read(&dir, "memory.current") {
        Some(b) => (
            single(&b).ok()?,
            read_u64(&dir, "memory.swap.current").unwrap_or(0),
        ),
        // The v2 root has no memory.current: anon + file, swap from meminfo (runc's
        // rootStatsFromMeminfo).
        None if id == "/" => {
            let swap = std::fs::read(settings.roots.proc("meminfo"))
                .ok()
                .and_then(|b| meminfo(&b).ok())
                .map(|m| m.swap_total.saturating_sub(m.swap_free))
                .unwrap_or(0);
            (s[0] + s[1], swap)
        }
        None => return None,
    };
    let [high, max] = read(&dir, "memory.events")
        .and_then(|b| flat_keyed_lookup(&b, ["high", "max"]).ok())
        .unwrap_or_default();
    Some(MemStats {
        usage,
        max_usage: read_u64(&dir, "memory.peak").unwrap_or(0),
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

/// A gauge family: name, help and the value it takes from the stats.
type Gauge = (&'static str, &'static str, fn(&MemStats) -> u64);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, MemStats)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| {
            let s = if snap.hier.v2 {
                read_v2(settings, snap, &c.id)
            } else {
                read_v1(snap, &c.id)
            };
            s.map(|s| (c, s))
        })
        .collect();
    let gauge = MetricType::Gauge;
    let gauges: [Gauge; 10] = [
        (
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            |s| s.usage,
        ),
        (
            "container_memory_max_usage_bytes",
            "Maximum memory usage recorded in bytes",
            |s| s.max_usage,
        ),
        (
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            |s| s.working_set,
        ),
        (
            "container_memory_cache",
            "Number of bytes of page cache memory.",
            |s| s.cache,
        ),
        ("container_memory_rss", "Size of RSS in bytes.", |s| s.rss),
        ("container_memory_swap", "Container swap usage in bytes.", |s| {
            s.swap
        }),
        (
            "container_memory_mapped_file",
            "Size of memory mapped files in bytes.",
            |s| s.mapped_file,
        ),
        (
            "container_memory_kernel_usage",
            "Size of kernel memory allocated in bytes.",
            |s| s.kernel,
        ),
        (
            "container_memory_total_active_file_bytes",
            "Current total active file in bytes.",
            |s| s.file[0],
        ),
        (
            "container_memory_total_inactive_file_bytes",
            "Current total inactive file in bytes.",
            |s| s.file[1],
        ),
    ];
    for (name, help, get) in gauges {
        family(
            sink,
            snap,
            (name, help, gauge),
            stats.iter().map(|(c, s)| (*c, vec![], get(s) as f64)),
        );
    }
    family(
        sink,
        snap,
        (
            "container_memory_failcnt",
            "Number of memory usage hits limits",
            MetricType::Counter,
        ),
        stats.iter().map(|(c, s)| (*c, vec![], s.failcnt as f64)),
    );
    let v2_only = [
        (
            "container_memory_events_high_total",
            "Cumulative count of memory.high throttle events for the container",
            MetricType::Counter,
        ),
        (
            "container_memory_events_max_total",
            "Cumulative count of memory.max limit hit events for the container",
            MetricType::Counter,
        ),
        (
            "container_memory_file_dirty_bytes",
            "Number of bytes of file cache that has been modified but not yet written back to disk.",
            gauge,
        ),
        (
            "container_memory_file_writeback_bytes",
            "Number of bytes of file cache that is currently being written back to disk.",
            gauge,
        ),
        (
            "container_memory_pgscan_total",
            "Cumulative number of pages scanned by the page reclaim algorithm.",
            MetricType::Counter,
        ),
        (
            "container_memory_pgsteal_total",
            "Cumulative number of pages reclaimed by the page reclaim algorithm.",
            MetricType::Counter,
        ),
        (
            "container_memory_workingset_refault_file_total",
            "Cumulative number of refaults of previously evicted file pages.",
            MetricType::Counter,
        ),
        (
            "container_memory_workingset_refault_anon_total",
            "Cumulative number of refaults of previously evicted anonymous pages.",
            MetricType::Counter,
        ),
    ];
    for (i, desc) in v2_only.into_iter().enumerate() {
        family(
            sink,
            snap,
            desc,
            stats.iter().map(|(c, s)| (*c, vec![], s.v2_only[i] as f64)),
        );
    }
    let kinds = [
        ("pgfault", "container"),
        ("pgmajfault", "container"),
        ("pgfault", "hierarchy"),
        ("pgmajfault", "hierarchy"),
    ];
    family(
        sink,
        snap,
        (
            "container_memory_failures_total",
            "Cumulative count of memory allocation failures.",
            MetricType::Counter,
        ),
        stats.iter().flat_map(|(c, s)| {
            kinds.iter().zip(s.faults).map(|((t, scope), v)| {
                (*c, vec![("failure_type", *t), ("scope", *scope)], v as f64)
            })
        }),
    );
    Ok(())
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
        let v = stat(V1_STAT, &KEYS_V1).expect("parses").values;
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
