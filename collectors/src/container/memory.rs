//! container_memory: usage, working set, rss, cache, swap, mapped file, max usage, failcnt,
//! failures and kernel usage, with cAdvisor's v1 / v2 / v2-root rules (google/cadvisor
//! `container/libcontainer/handler.go` `setMemoryStats`).

use super::cgroup::{CgroupError, MemStats};
use super::machine::meminfo;
use super::walk::{Container, Kind, Snapshot};
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

/// The host's swap in use (`SwapTotal - SwapFree` of `/proc/meminfo`), the v2 root's swap.
fn root_swap(settings: &Settings) -> u64 {
    std::fs::read(settings.roots.proc("meminfo"))
        .ok()
        .and_then(|b| meminfo(&b).ok())
        .map(|m| m.swap_total.saturating_sub(m.swap_free))
        .unwrap_or(0)
}

/// A gauge family: name, help and the value it takes from the stats.
type Gauge = (&'static str, &'static str, fn(&MemStats) -> u64);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, MemStats)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| {
            let s = snap.hier.memory(&c.id, || root_swap(settings));
            CgroupError::log(s).map(|s| (c, s))
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
